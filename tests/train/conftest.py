"""Fixtures for the MPO trainer tests: real pair shards, the embedded model, a tiny random Idefics3."""

from __future__ import annotations

from pathlib import Path

import pytest

from pair_shards import math_rows, vqa_rows, write_shard


@pytest.fixture(scope="session")
def shards_dir(tmp_path_factory) -> Path:
    """A build-like output folder: ``data/`` with a text shard and an image shard (6 + 6 pairs)."""
    root = tmp_path_factory.mktemp("pairs")
    write_shard(math_rows(6), root / "data" / "shard-00000.parquet")
    write_shard(vqa_rows(6), root / "data" / "shard-00001.parquet")
    return root


@pytest.fixture(scope="session")
def embedded_dir() -> str:
    from mmpr_builder.models.aliases import resolve_model

    return resolve_model(None).path


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory, embedded_dir) -> str:
    """A tiny random Idefics3 (2 text layers of width 32, 1 vision layer) with the embedded model's processor."""
    import torch
    from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration

    cfg = Idefics3Config.from_pretrained(embedded_dir)
    tc = cfg.text_config
    tc.hidden_size, tc.intermediate_size, tc.num_hidden_layers = 32, 64, 2
    tc.num_attention_heads, tc.num_key_value_heads, tc.head_dim = 2, 1, 16
    vc = cfg.vision_config
    vc.hidden_size, vc.intermediate_size, vc.num_hidden_layers, vc.num_attention_heads = 32, 64, 1, 2
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(cfg).to(torch.float32)
    out = tmp_path_factory.mktemp("tiny_vlm")
    model.save_pretrained(out)
    AutoProcessor.from_pretrained(embedded_dir).save_pretrained(out)
    return str(out)


CHATML_PARTS = (
    "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image>\\n' -}}{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}{{- '<|im_end|>\\n' -}}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _tiny_llama(vocab: int):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, pad_token_id=2)


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory, embedded_dir) -> str:
    """A tiny random LLaVA (CLIP vision tower, 28x28 images, 4 image tokens) with a ChatML template."""
    import torch
    from transformers import AutoTokenizer, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    tok.chat_template = CHATML_PARTS
    processor = LlavaProcessor(
        image_processor=LlavaImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tok, patch_size=14, vision_feature_select_strategy="default", chat_template=CHATML_PARTS,
        image_token="<image>", num_additional_image_tokens=1)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                     num_attention_heads=2, image_size=28, patch_size=14),
                      text_config=_tiny_llama((len(tok) + 63) // 64 * 64), vision_feature_layer=-1,
                      image_token_id=tok.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default")
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_llava")
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    processor.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory, embedded_dir) -> str:
    """A tiny random text-only Llama with the embedded model's tokenizer (string-content ChatML template)."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_llm")
    LlamaForCausalLM(_tiny_llama((len(tok) + 63) // 64 * 64)).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def build_out(tmp_path_factory) -> Path:
    """The real build pipeline (``run_build``: sources, prompts, labelers, pairing, shard writer) over the
    bundled easy-VQA images and GSM8K questions, with the engine double of ``tests/fake_engine.py``.

    Two real builds (fake engine): ``1-vqa`` (image pairs) and ``2-mathqa`` (text pairs), 2 items each;
    returns a folder laid out as a build output whose ``data/`` holds the pair shards of both."""
    import json
    import shutil

    from fake_engine import FakeEngine
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import assemble

    root = tmp_path_factory.mktemp("builds")
    for name, source in (("1-vqa", "vqa"), ("2-mathqa", "mathqa")):
        items_file = Path(__file__).resolve().parents[2] / "sample_data" / source / "items.jsonl"
        items = [json.loads(x) for x in items_file.read_text().splitlines()]
        cfg = assemble(source, run_flags={"out_dir": str(root / name), "limit": 2},
                       recipe_flags={"sampling": {"num_samples": 4}})
        summary = run_build(cfg, engine=FakeEngine({i["id"]: str(i["answer"]) for i in items}), progress=False)
        assert summary["pairs"]["total"] > 0, summary
    pairs = root / "pairs" / "data"  # the pair shards of both builds, image shards first
    pairs.mkdir(parents=True)
    for shard in sorted(root.glob("*/data/*.parquet")):
        shutil.copyfile(shard, pairs / f"{shard.parents[1].name}-{shard.name}")
    return root / "pairs"
