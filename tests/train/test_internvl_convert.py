"""`mmpr models convert`: remote-code InternVL2 -> InternVLForConditionalGeneration, checked against the original code.

The reference is the original ``InternVLChatModel`` forward (OpenGVLab's
modelling files, vendored in ``tests/data/internvl_remote``), run on tiny
random checkpoints built by that same class (``tiny_internvl_chat``): the
converted model must give the same logits on a prompt with a multi-tile image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from mmpr_builder.errors import ModelError
from mmpr_builder.models.convert import PROVENANCE_FILE, convert_internvl_chat, ensure_converted, split_internlm2_wqkv
from mpo_helpers import train_cli
from tiny_internvl_chat import build_internvl_chat, load_internlm2_tokenizer, load_remote_model

# InternVL2-1B/2.5-1B-like, InternVL2-8B-like (the paper's), InternVL2-4B-like. A Llama LLM takes the Qwen2 path
# (transformers' own class on both sides, names kept), so it is not run again here.
LLMS = ["Qwen2ForCausalLM", "InternLM2ForCausalLM", "Phi3ForCausalLM"]
TEMPLATES = {"Phi3ForCausalLM": "phi3-chat", "InternLM2ForCausalLM": "internlm2-chat"}


@pytest.fixture(scope="module")
def remote_dirs(tmp_path_factory, embedded_dir):
    """LLM architecture -> folder of a tiny remote-code InternVL2 checkpoint (built on first use)."""
    built: dict[str, Path] = {}

    def get(llm: str) -> Path:
        if llm not in built:
            built[llm] = build_internvl_chat(tmp_path_factory.mktemp(f"remote_{llm}"), embedded_dir, llm,
                                             TEMPLATES.get(llm, "Hermes-2"))
        return built[llm]

    return get


@pytest.fixture(scope="module")
def qwen2_processor(remote_dirs, tmp_path_factory):
    """The processor of the converted tiny Qwen2 checkpoint, and the source config."""
    from mmpr_builder.train.run import load_processor

    src = remote_dirs("Qwen2ForCausalLM")
    dst = convert_internvl_chat(src, tmp_path_factory.mktemp("converted") / "hf")
    return load_processor(str(dst)), json.loads((src / "config.json").read_text())


def _image():
    import numpy as np
    from PIL import Image

    return Image.fromarray((np.random.RandomState(0).rand(70, 120, 3) * 255).astype("uint8"))  # 2 tiles + thumbnail


@pytest.mark.parametrize("llm", LLMS)
def test_converted_model_gives_the_remote_code_logits(llm, remote_dirs, tmp_path):
    """Same logits (fp32) as the original InternVLChatModel on a chat prompt with an image of 2 tiles + thumbnail;
    config, processor and tokenizer carry the checkpoint's tiling, image tokens and template."""
    from mmpr_builder.train.run import load_model, load_processor

    src = remote_dirs(llm)
    dst = convert_internvl_chat(src, tmp_path / "hf")
    config = json.loads((dst / "config.json").read_text())
    assert config["architectures"] == ["InternVLForConditionalGeneration"] and config["model_type"] == "internvl"
    assert config["text_config"]["model_type"] == {"Qwen2ForCausalLM": "qwen2", "InternLM2ForCausalLM": "llama",
                                                   "Phi3ForCausalLM": "phi3", "LlamaForCausalLM": "llama"}[llm]
    assert config["image_seq_length"] == 4 and config["downsample_ratio"] == 0.5
    assert config["tie_word_embeddings"] is False and config["vision_feature_layer"] == -1
    assert not list(dst.glob("*.py"))  # no remote code in the converted folder
    processor = load_processor(str(dst))
    assert type(processor).__name__ == "InternVLProcessor"
    ip = processor.image_processor
    assert (ip.size.height, ip.size.width, ip.min_patches, ip.max_patches, ip.crop_to_patches) == (56, 56, 1, 2, True)
    tok = processor.tokenizer
    assert (tok.start_image_token, tok.end_image_token, tok.context_image_token) == ("<img>", "</img>", "<IMG_CONTEXT>")
    assert tok.context_image_token_id == config["image_token_id"]

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True) + "A red square."
    if llm == "Phi3ForCausalLM":  # InternVL2-4B's phi3-chat format
        assert text.startswith("<|user|>\n<IMG_CONTEXT>\nWhat is shown?<|end|>\n<|assistant|>\n")
    else:
        assert text.startswith("<|im_start|>user\n<IMG_CONTEXT>\nWhat is shown?<|im_end|>\n<|im_start|>assistant\n")
    inputs = processor(text=[text], images=[_image()], return_tensors="pt")
    if llm == "InternLM2ForCausalLM":  # embeddings filled exactly, as InternVL2-8B: <video> lies beyond them
        assert tok.convert_tokens_to_ids("<video>") == config["text_config"]["vocab_size"]
    if llm == "InternLM2ForCausalLM":  # the sentencepiece tokenizer converted: same ids as InternLM2Tokenizer itself
        original = load_internlm2_tokenizer(src)
        expanded = processor.tokenizer.decode(inputs["input_ids"][0])
        assert expanded.startswith("<s><|im_start|>user\n<img><IMG_CONTEXT>")
        for probe in (expanded.removeprefix("<s>"), "  two  spaces\n\n中文：猫？ émoji 🙂 3+4=7"):
            assert tok(probe).input_ids == original(probe).input_ids, probe
        assert inputs["input_ids"][0].tolist() == original(expanded.removeprefix("<s>")).input_ids
    assert inputs["pixel_values"].shape == (3, 3, 56, 56)
    assert int((inputs["input_ids"] == tok.context_image_token_id).sum()) == 3 * 4

    model = load_model(str(dst), torch.float32).eval()
    assert type(model).__name__ == "InternVLForConditionalGeneration"
    remote = load_remote_model(src)
    with torch.no_grad():
        got = model(**inputs).logits
        want = remote(pixel_values=inputs["pixel_values"], input_ids=inputs["input_ids"],
                      attention_mask=inputs["attention_mask"],
                      image_flags=torch.ones(inputs["pixel_values"].shape[0], 1, dtype=torch.long)).logits
    assert got.shape == want.shape == (1, inputs["input_ids"].shape[1], config["text_config"]["vocab_size"])
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), (got - want).abs().max()
    # the image matters: other pixels move the logits (so the check above covers the vision path)
    with torch.no_grad():
        other = model(**{**inputs, "pixel_values": torch.zeros_like(inputs["pixel_values"])}).logits
    assert (other - got).abs().max() > 1e-3


@pytest.mark.parametrize("size", [(120, 70), (50, 200), (56, 56), (300, 90), (33, 41)])
def test_converted_image_processor_gives_internvl_pixel_values(size, qwen2_processor):
    """The converted GotOcr2 image processor tiles and normalises as InternVL's own `dynamic_preprocess` +
    eval transform (vendored in tests/data/internvl_remote/preprocess_internvl.py) with the checkpoint's
    tile size, min/max_dynamic_patch and thumbnail."""
    import sys

    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "internvl_remote"))
    try:
        from preprocess_internvl import build_transform, dynamic_preprocess
    finally:
        sys.path.pop(0)
    processor, cfg = qwen2_processor
    image = Image.fromarray((np.random.RandomState(sum(size)).rand(size[1], size[0], 3) * 255).astype("uint8"))
    tiles = dynamic_preprocess(image, min_num=cfg["min_dynamic_patch"], max_num=cfg["max_dynamic_patch"],
                               image_size=cfg["force_image_size"], use_thumbnail=cfg["use_thumbnail"])
    want = np.stack([build_transform(cfg["force_image_size"])(t) for t in tiles])
    got = processor.image_processor(images=[image], return_tensors="np")["pixel_values"]
    assert got.shape == want.shape
    assert np.allclose(got, want, atol=1e-5), np.abs(got - want).max()


def test_wqkv_split_matches_internlm2_attention_layout():
    """The split follows InternLM2Attention's `b q (h gs d) -> b q h gs d` reading: per key/value head,
    its query heads, then its key, then its value (rows numbered to see where each lands)."""
    heads, kv_heads, head_dim = 4, 2, 3
    rows = torch.arange((heads + 2 * kv_heads) * head_dim).float()[:, None].expand(-1, 5)
    q, k, v = split_internlm2_wqkv(rows, heads, kv_heads)
    # kv head 0 owns rows 0..11: q heads 0,1 (rows 0-5), k (6-8), v (9-11); kv head 1 rows 12..23
    assert q[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]
    assert k[:, 0].tolist() == [6, 7, 8, 18, 19, 20]
    assert v[:, 0].tolist() == [9, 10, 11, 21, 22, 23]


def _copy_config_only(src: Path, dst: Path, **changes) -> Path:
    dst.mkdir()
    config = json.loads((src / "config.json").read_text())
    for key, value in changes.items():
        target, _, field = key.rpartition(".")
        (config[target] if target else config)[field] = value
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_unconvertible_checkpoints_are_refused_with_the_reason(remote_dirs, tmp_path):
    src = remote_dirs("Qwen2ForCausalLM")
    mistral = _copy_config_only(src, tmp_path / "mistral", **{"llm_config.architectures": ["MistralForCausalLM"]})
    with pytest.raises(ModelError, match=r"language model is MistralForCausalLM.*converts Qwen2ForCausalLM, "
                                         r"LlamaForCausalLM, InternLM2ForCausalLM, Phi3ForCausalLM"):
        convert_internvl_chat(mistral, tmp_path / "out")
    v1 = _copy_config_only(src, tmp_path / "v1", ps_version="v1")
    with pytest.raises(ModelError, match="ps_version 'v1'"):
        convert_internvl_chat(v1, tmp_path / "out")
    no_weights = tmp_path / "no_weights"
    shutil.copytree(src, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ModelError, match="no model.safetensors"):
        convert_internvl_chat(no_weights, tmp_path / "out")
    with pytest.raises(ModelError, match="not a remote-code InternVL checkpoint"):
        convert_internvl_chat(_copy_config_only(src, tmp_path / "plain", architectures=["LlamaForCausalLM"],
                                                model_type="llama"), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_mmpr_models_convert_cli(remote_dirs, tmp_path):
    """`mmpr models convert SRC DST` writes the folder; a second run refuses to overwrite it without --overwrite."""
    from typer.testing import CliRunner

    from mmpr_builder.cli import app

    src, dst = remote_dirs("Qwen2ForCausalLM"), tmp_path / "converted"
    result = CliRunner().invoke(app, ["models", "convert", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(dst)
    assert json.loads((dst / PROVENANCE_FILE).read_text())["llm_architecture"] == "Qwen2ForCausalLM"
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "chat_template.jinja",
            "generation_config.json"} <= {p.name for p in dst.iterdir()}
    again = CliRunner().invoke(app, ["models", "convert", str(src), str(dst)])
    assert isinstance(again.exception, ModelError) and "pass --overwrite" in str(again.exception)
    assert CliRunner().invoke(app, ["models", "convert", str(src), str(dst), "--overwrite"]).exit_code == 0


def test_mmpr_train_converts_remote_internvl_into_the_cache(remote_dirs, build_out, tmp_path, monkeypatch):
    """`mmpr train --model <remote-code folder>` converts once into $MMPR_CACHE and trains the copy for 2 steps;
    the cached copy is reused, and a checkpoint with the same config but other weights is converted anew."""
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("MMPR_CACHE", str(tmp_path / "cache"))
    src = remote_dirs("InternLM2ForCausalLM")
    result, out = train_cli(build_out, src, tmp_path)
    assert result.exit_code == 0, result.output
    converted = list((tmp_path / "cache" / "models" / "converted").iterdir())
    assert len(converted) == 1 and (converted[0] / PROVENANCE_FILE).is_file()
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["model_path"] == str(converted[0])
    assert summary["pairs"]["kept"] == summary["pairs"]["total"] > 0
    before, after = load_file(str(converted[0] / "model.safetensors")), load_file(str(out / "model.safetensors"))
    lm = [k for k in before if "language_model.layers.0." in k]
    assert lm and all(not torch.equal(before[k].float(), after[k].float()) for k in lm)
    stamp = (converted[0] / "model.safetensors").stat().st_mtime_ns
    assert ensure_converted(str(src), str(src)) == converted[0]  # reused, not converted again
    assert (converted[0] / "model.safetensors").stat().st_mtime_ns == stamp
    copy = tmp_path / "resaved"  # the same checkpoint with other weights (a fine-tuned copy): converted anew
    shutil.copytree(src, copy)
    weights = load_file(str(copy / "model.safetensors"))
    weights["mlp1.1.weight"] = weights["mlp1.1.weight"] * 2
    save_file(weights, str(copy / "model.safetensors"))
    redone = ensure_converted(str(copy), str(src))
    assert redone != converted[0]
    assert torch.equal(load_file(str(redone / "model.safetensors"))["model.multi_modal_projector.linear_1.weight"],
                       weights["mlp1.1.weight"])


def test_mmpr_train_alias_that_cannot_be_fetched_says_what_to_do(build_out, tmp_path, monkeypatch):
    """`mmpr train --model internvl2-8b` offline with an empty Hub cache: the download for the conversion fails
    with a ModelError naming the repository and the two ways out (download it, or convert a folder)."""
    import huggingface_hub.constants as hub_constants
    import typer
    from typer.testing import CliRunner

    from mmpr_builder.train.cli import train_command

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("MMPR_CACHE", str(tmp_path / "cache"))
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["train", "--data", str(build_out), "--output", str(tmp_path / "out"),
                                      "--model", "internvl2-8b", "--max-steps", "1"])
    assert isinstance(result.exception, ModelError), result.output
    message = str(result.exception)
    assert "cannot download 'OpenGVLab/InternVL2-8B' to convert it" in message
    assert "hf download OpenGVLab/InternVL2-8B" in message and "mmpr models convert" in message
    assert not (tmp_path / "cache" / "models" / "converted").exists() and not (tmp_path / "out").exists()
