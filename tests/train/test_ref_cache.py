"""The cached reference pass: same numbers as the reference model itself (image rows too), keyed, reused."""

from __future__ import annotations

import pytest
import torch

from mmpr_builder.train import ref_cache
from mmpr_builder.train.collator import MPODataCollator
from mmpr_builder.train.data import load_pairs, prepare_pairs
from mmpr_builder.train.mpo_trainer import response_logps
from mmpr_builder.train.run import load_model, load_processor
from mpo_helpers import make_trainer


@pytest.fixture(scope="module")
def dataset(shards_dir, tiny_vlm_dir):
    return prepare_pairs(load_pairs(shards_dir), load_processor(tiny_vlm_dir))[0]


def test_fingerprint_and_key(tiny_vlm_dir):
    model = load_model(tiny_vlm_dir, torch.float32)
    fp = ref_cache.model_fingerprint(model)
    assert fp == ref_cache.model_fingerprint(load_model(tiny_vlm_dir, torch.float32))
    with torch.no_grad():
        model.lm_head.weight[0, 0] += 1.0  # tied to the embeddings: the first sampled value
    assert ref_cache.model_fingerprint(model) != fp
    from mmpr_builder.train.mpo_config import MPOConfig
    from mmpr_builder.train.run import apply_lora

    plain = load_model(tiny_vlm_dir, torch.float32)
    lora = apply_lora(load_model(tiny_vlm_dir, torch.float32), MPOConfig(output_dir="unused", use_lora=True))
    assert ref_cache.model_fingerprint(lora) == ref_cache.model_fingerprint(plain) == fp  # reference = base model
    k = ref_cache.cache_key(fp, "data", {"max_length": 10})
    assert k != ref_cache.cache_key(fp, "data", {"max_length": 11})
    assert k != ref_cache.cache_key(fp, "other", {"max_length": 10})


def test_cache_file_round_trip(tmp_path):
    path = tmp_path / "k.parquet"
    ref_cache.save_cached(path, ["a", "b"], [-1.0, -2.0], [-3.0, -4.0])
    assert ref_cache.load_cached(path, ["a", "b"]) == ([-1.0, -2.0], [-3.0, -4.0])
    assert ref_cache.load_cached(path, ["a", "c"]) is None  # other rows: not this cache
    assert not list(tmp_path.glob(".*tmp"))


def test_reference_pass_matches_the_model_and_is_reused(tiny_vlm_dir, dataset, tmp_path, monkeypatch):
    trainer = make_trainer(tiny_vlm_dir, dataset, tmp_path, ref_batch_size=4)
    trainer.prepare_reference()
    ds = trainer.train_dataset
    assert trainer.ref_cache_file.is_file() and len(ds) == 12
    # each pair alone (no padding) through the same model
    model, collator = trainer.model.eval(), MPODataCollator(trainer.processing_class)
    with torch.no_grad():
        for i in (0, 5, 6, 11):  # text rows and image rows
            logps, _ = response_logps(model, collator([dataset[i]]))
            assert ds[i]["ref_chosen_logps"] == pytest.approx(logps[0].item(), abs=1e-3)
            assert ds[i]["ref_rejected_logps"] == pytest.approx(logps[1].item(), abs=1e-3)

    def boom(*args, **kwargs):
        raise AssertionError("the reference pass ran again")

    monkeypatch.setattr(ref_cache, "compute_reference", boom)
    again = make_trainer(tiny_vlm_dir, dataset, tmp_path)  # same weights, data and settings
    again.prepare_reference()
    assert again.train_dataset["ref_chosen_logps"] == ds["ref_chosen_logps"]
    changed = make_trainer(tiny_vlm_dir, dataset, tmp_path, max_length=2048)  # other tokenisation settings
    with pytest.raises(AssertionError, match="ran again"):
        changed.prepare_reference()
