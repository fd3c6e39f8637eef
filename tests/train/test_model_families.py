"""The same code path on other model families: tiny random Idefics3, LLaVA and a text-only Llama.

Batched ``[chosen; rejected]`` log-probs must equal each pair run alone: this
fails if the collator pairs images with the wrong rows (mixed text/image batches).
"""

from __future__ import annotations

import pytest
import torch

from mmpr_builder.train.collator import MPODataCollator
from mmpr_builder.train.data import load_pairs, prepare_pairs
from mmpr_builder.train.mpo_trainer import response_logps
from mmpr_builder.train.run import load_model, load_processor
from mpo_helpers import make_trainer, params


@pytest.mark.parametrize("family", ["tiny_vlm_dir", "tiny_llava_dir"])
def test_vlm_batch_equals_pairs_alone_and_trains(family, request, shards_dir, tmp_path):
    model_dir = request.getfixturevalue(family)
    processor = load_processor(model_dir)
    ds, report = prepare_pairs(load_pairs(shards_dir), processor)
    assert report.kept == 12
    model, collator = load_model(model_dir, torch.float32).eval(), MPODataCollator(processor)
    rows = [ds[6], ds[0], ds[7], ds[1]]  # image, text, image, text
    with torch.no_grad():
        batched, _ = response_logps(model, collator(rows))
        alone = [response_logps(model, collator([r]))[0] for r in rows]
    want = torch.cat([torch.stack([a[0] for a in alone]), torch.stack([a[1] for a in alone])])
    assert torch.allclose(batched, want, atol=2e-3), (batched, want)
    trainer = make_trainer(model_dir, ds.select([0, 6, 1, 7]), tmp_path, max_steps=1, warmup_steps=0,
                           learning_rate=1e-3, per_device_train_batch_size=4)
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    assert sum(not torch.equal(before[k], after[k]) for k in before) > len(before) // 2


def test_text_llm_skips_image_rows_and_trains(tiny_llm_dir, shards_dir, tmp_path):
    processor = load_processor(tiny_llm_dir)
    ds, report = prepare_pairs(load_pairs(shards_dir), processor)
    assert report.kept == 6 and report.skipped == {"images_need_vision_model": 6}
    assert "<|im_start|>user\n" in ds[0]["prompt_text"]
    trainer = make_trainer(tiny_llm_dir, ds, tmp_path, max_steps=1, warmup_steps=0, learning_rate=1e-3)
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    assert all(not torch.equal(before[k], after[k]) for k in before)


def test_non_native_vision_model_is_refused(tmp_path):
    from transformers import CLIPConfig

    from mmpr_builder.errors import ModelError
    from mmpr_builder.train.run import is_vlm

    CLIPConfig().save_pretrained(tmp_path)  # has a vision tower, is not an image-text-to-text model
    with pytest.raises(ModelError, match="does not load natively"):
        is_vlm(str(tmp_path))
