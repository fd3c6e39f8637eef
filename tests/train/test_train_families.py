"""`mmpr train` on tiny random models of every trainable family, from real `mmpr build` shards.

Families: Idefics3 (SmolVLM), LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL, InternVL
(native layout) and a text-only LLM, each built offline by ``tiny_families``.
The shards come from the real build pipeline (the ``build_out`` fixture of
``conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmpr_builder.errors import ConfigError
from mmpr_builder.train.collator import MPODataCollator
from mmpr_builder.train.data import load_pairs, prepare_pairs, tokenizer_of
from mmpr_builder.train.families import train_family
from mmpr_builder.train.mpo_trainer import response_logps
from mmpr_builder.train.run import load_model, load_processor
from mpo_helpers import train_cli
from tiny_families import BUILDERS

VISION_FAMILIES = ["idefics3", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "internvl"]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory, embedded_dir):
    """family name -> folder of its tiny model (built on first use)."""
    built: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in built:
            built[name] = str(BUILDERS[name](tmp_path_factory.mktemp(f"tiny_{name}"), embedded_dir))
        return built[name]

    return get


def _image_row_index(ds) -> int:
    return next(i for i in range(len(ds)) if ds[i]["images"])


@pytest.mark.parametrize("family", VISION_FAMILIES)
def test_vision_family_labels_images_and_batches(family, family_dirs, build_out):
    """Labels cover the response tokens only; the image placeholder is expanded (never cut: a pair that
    does not fit is skipped); a mixed text/image batch gives each pair the log-probs it has alone."""
    model_dir = family_dirs(family)
    processor = load_processor(model_dir)
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_dir).model_type
    assert train_family(model_type) is not None, model_type
    ds, report = prepare_pairs(load_pairs(build_out), processor)
    assert report.kept == report.total > 0 and not report.skipped
    i_img = _image_row_index(ds)
    i_txt = next(i for i in range(len(ds)) if not ds[i]["images"])
    row = ds[i_img]

    batch = MPODataCollator(processor)([row])
    tok = tokenizer_of(processor)
    for k, ids in enumerate((row["chosen_ids"], row["rejected_ids"])):
        mask = batch["completion_mask"][k].bool()
        assert batch["input_ids"][k][mask].tolist() == ids  # labels = exactly the response tokens
        assert mask.nonzero()[0].item() == row["prompt_len"]
    image_token_id = tok.convert_tokens_to_ids(train_family(model_type).image_token)
    n_image_tokens = int((batch["input_ids"][0] == image_token_id).sum())
    assert n_image_tokens > 1  # the placeholder was expanded to the image's features
    assert int((batch["input_ids"][0][row["prompt_len"]:] == image_token_id).sum()) == 0

    short = row["prompt_len"] + 1  # the image row does not fit with its response: skipped, not truncated
    with pytest.raises(ConfigError, match=r"(?s)1 x too_long.*image tokens are never truncated"):
        prepare_pairs(load_pairs(build_out).select([i_img]), processor, max_length=short)

    model, collator = load_model(model_dir, torch.float32).eval(), MPODataCollator(processor)
    rows = [ds[i_img], ds[i_txt], ds[i_img + 1], ds[i_txt + 1]]
    with torch.no_grad():
        batched, _ = response_logps(model, collator(rows))
        alone = [response_logps(model, collator([r]))[0] for r in rows]
    want = torch.cat([torch.stack([a[0] for a in alone]), torch.stack([a[1] for a in alone])])
    assert torch.allclose(batched, want, atol=2e-3), (batched, want)


@pytest.mark.parametrize("family", [*VISION_FAMILIES, "text"])
def test_mmpr_train_runs_for_family(family, family_dirs, build_out, tmp_path):
    """`mmpr train --model DIR` for 2 steps: every weight group of the language model changes, each MPO
    term is logged each step, and at step 1 the DPO term is ln 2 (the cached reference, computed with
    the images, equals the policy)."""
    from safetensors.torch import load_file

    model_dir = family_dirs(family)
    image_only = family not in ("text", "idefics3")
    if image_only:  # as a real checkpoint: a video processor config our image-only processor does not write
        (Path(model_dir) / "video_preprocessor_config.json").write_text('{"video_processor_type": "x"}\n')
    result, out = train_cli(build_out, model_dir, tmp_path)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 2
    if family == "text":
        assert summary["pairs"]["skipped"] == {"images_need_vision_model": summary["pairs"]["total"]
                                               - summary["pairs"]["kept"]}
    else:
        assert summary["pairs"]["kept"] == summary["pairs"]["total"]
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert [s["step"] for s in steps] == [1, 2]
    for s in steps:
        for term in ("loss/sigmoid", "loss/bco_pair", "loss/sft"):
            assert s[term] == s[term] and abs(s[term]) < 1e6, (term, s)  # logged and finite
        assert s["loss"] == pytest.approx(0.8 * s["loss/sigmoid"] + 0.2 * s["loss/bco_pair"] + s["loss/sft"],
                                          rel=1e-4)
    assert steps[0]["loss/sigmoid"] == pytest.approx(0.693147, abs=1e-4)
    assert steps[1]["loss/sigmoid"] != pytest.approx(0.693147, abs=1e-6)  # the policy moved off the reference
    before, after = load_file(str(Path(model_dir) / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    lm = [k for k in before if "layers.0." in k and "vision" not in k and "visual" not in k]
    assert lm and all(not torch.equal(before[k], after[k]) for k in lm), lm
    if family != "text":
        processor = load_processor(str(out))  # the saved processor loads back the same way
        assert type(processor).__name__ == type(load_processor(model_dir)).__name__
    if image_only:  # the output carries the source's processor files, video processor included
        for name in ("processor_config.json", "video_preprocessor_config.json"):
            assert (out / name).read_text() == (Path(model_dir) / name).read_text()
