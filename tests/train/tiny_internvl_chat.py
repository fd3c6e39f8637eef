"""Tiny remote-code InternVL2 checkpoints (``InternVLChatModel``), laid out as OpenGVLab's Hub repositories.

The folder holds ``config.json`` with ``auto_map``, the original modelling
files (vendored from OpenGVLab/InternVL under ``tests/data/internvl_remote``,
see its README for the source commit and the patches), random seeded weights
in ``model.safetensors`` and a tokenizer with InternVL's image tokens (for
InternLM2, a sentencepiece ``tokenizer.model`` with InternLM2's own tokenizer
classes, as InternVL2-8B ships it). The
model is built by the original ``InternVLChatModel`` class itself, so the
weight names are the ones a real checkpoint has. Sizes: InternViT of width 32
(1 layer, 56x56 tiles of 14x14 patches, pixel shuffle 0.5: 4 tokens per tile,
up to 2 tiles plus a thumbnail); a 2-layer LLM of width 32 (Qwen2, InternLM2 or
Llama; 4 query heads over 2 key/value heads).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REMOTE_CODE = Path(__file__).resolve().parents[1] / "data" / "internvl_remote"
AUTO_MAP = {"AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
            "AutoModel": "modeling_internvl_chat.InternVLChatModel",
            "AutoModelForCausalLM": "modeling_internvl_chat.InternVLChatModel"}
IMAGE_TOKENS = ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"]


def _llm_config(arch: str, tok) -> dict:
    # InternVL2-8B's embeddings hold exactly its tokens (92544 sentencepiece + 9 added); others rounded up to 64
    vocab = len(tok) if arch == "InternLM2ForCausalLM" else (len(tok) + 63) // 64 * 64
    common = dict(architectures=[arch], vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                  torch_dtype="bfloat16", tie_word_embeddings=False, rope_theta=1000000.0)
    if arch == "Qwen2ForCausalLM":
        return dict(common, model_type="qwen2")
    if arch == "InternLM2ForCausalLM":  # as InternVL2-8B: dynamic NTK rope, no biases
        return dict(common, model_type="internlm2", bias=False, hidden_act="silu", attn_implementation="eager",
                    rope_scaling={"type": "dynamic", "factor": 2.0},
                    auto_map={"AutoConfig": "configuration_internlm2.InternLM2Config",
                              "AutoModel": "modeling_internlm2.InternLM2ForCausalLM",
                              "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM"})
    if arch == "Phi3ForCausalLM":  # as InternVL2-4B (Phi-3-mini): fused qkv_proj and gate_up_proj
        return dict(common, model_type="phi3", rope_scaling=None, sliding_window=None)
    return dict(common, model_type=arch.removesuffix("ForCausalLM").lower())


def _internlm2_tokenizer(out: Path):
    """InternLM2's tokenizer layout in ``out``: a sentencepiece BPE ``tokenizer.model`` (trained here,
    single-threaded, on the GSM8K questions of ``sample_data``; byte fallback, chat tokens as user-defined pieces), InternLM2's own
    tokenizer classes and a ``tokenizer_config.json`` naming them, with InternVL's image tokens added after the
    sentencepiece vocabulary (as InternVL2-8B's ``added_tokens_decoder``). Returns the original slow tokenizer."""
    import sentencepiece as spm

    from mmpr_builder.models.chat_templates import INTERNVL_CHAT

    items = (REMOTE_CODE.parents[2] / "sample_data" / "mathqa" / "items.jsonl").read_text().splitlines()
    corpus = out / "corpus.txt"
    extra = "\n中文：这张图里有几只猫？ émoji ß\n"  # a few non-ASCII characters for the probes
    corpus.write_text("\n".join(json.loads(x)["question"] for x in items) + extra)
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(out / "tokenizer"), vocab_size=600, model_type="bpe", byte_fallback=True,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"], unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=1.0, num_threads=1, minloglevel=2, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=False)
    corpus.unlink()
    (out / "tokenizer.vocab").unlink()
    size = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model")).get_piece_size()
    added = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    decoder = {str(i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                        "special": True} for i, c in [*enumerate(added), *enumerate(IMAGE_TOKENS, start=size)]}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer",
                                       "tokenization_internlm2_fast.InternLM2TokenizerFast"]},
        "tokenizer_class": "InternLM2Tokenizer", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "</s>",
        "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "added_tokens_decoder": decoder,
        "chat_template": INTERNVL_CHAT}, indent=2) + "\n")
    return load_internlm2_tokenizer(out)


def load_internlm2_tokenizer(folder: str | Path):
    """The original slow ``InternLM2Tokenizer`` (sentencepiece) of ``folder``."""
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    return get_class_from_dynamic_module("tokenization_internlm2.InternLM2Tokenizer", str(folder)).from_pretrained(
        str(folder))


def build_internvl_chat(out: Path, embedded_dir: str, llm: str = "Qwen2ForCausalLM",
                        template: str = "Hermes-2") -> Path:
    """Write a tiny remote-code InternVL2 checkpoint with LLM ``llm`` into ``out`` (seeded: same weights each time).

    ``Qwen2ForCausalLM`` is laid out as InternVL2-1B/InternVL2.5-1B, ``InternLM2ForCausalLM``
    as InternVL2-8B (the paper's model).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from mmpr_builder.models.chat_templates import INTERNVL_CHAT

    out.mkdir(parents=True, exist_ok=True)
    for f in REMOTE_CODE.glob("*.py"):
        shutil.copyfile(f, out / f.name)
    if llm == "InternLM2ForCausalLM":
        tok = _internlm2_tokenizer(out)
    else:
        tok = AutoTokenizer.from_pretrained(embedded_dir)
        tok.add_special_tokens({"additional_special_tokens": IMAGE_TOKENS}, replace_extra_special_tokens=False)
        tok.chat_template = INTERNVL_CHAT
        tok.save_pretrained(out)
    config = {
        "architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "auto_map": AUTO_MAP,
        "template": template, "select_layer": -1, "downsample_ratio": 0.5, "ps_version": "v2",
        "force_image_size": 56, "dynamic_image_size": True, "use_thumbnail": True, "min_dynamic_patch": 1,
        "max_dynamic_patch": 2, "pad2square": False, "use_backbone_lora": 0, "use_llm_lora": 0,
        "torch_dtype": "bfloat16",
        "vision_config": {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b", "hidden_size": 32,
                          "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                          "image_size": 56, "patch_size": 14, "num_channels": 3, "qkv_bias": True,
                          "qk_normalization": False, "norm_type": "layer_norm", "layer_norm_eps": 1e-6,
                          "hidden_act": "gelu", "drop_path_rate": 0.0, "dropout": 0.0, "attention_dropout": 0.0,
                          "initializer_factor": 0.1, "initializer_range": 0.02, "use_flash_attn": False},
        "llm_config": _llm_config(llm, tok),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    config_cls = get_class_from_dynamic_module(AUTO_MAP["AutoConfig"], str(out))
    model_cls = get_class_from_dynamic_module(AUTO_MAP["AutoModel"], str(out))
    torch.manual_seed(0)
    model = model_cls(config_cls.from_pretrained(str(out)), use_flash_attn=False)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move every weight off its init value (norms, biases, layer scales too)
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    return out


def load_remote_model(folder: str | Path):
    """The original ``InternVLChatModel`` of ``folder`` in float32 (eager attention), via ``trust_remote_code``,
    with ``img_context_token_id`` set from the folder's tokenizer (as ``chat()`` does)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    config_cls = get_class_from_dynamic_module(AUTO_MAP["AutoConfig"], str(folder))
    model_cls = get_class_from_dynamic_module(AUTO_MAP["AutoModel"], str(folder))
    model = model_cls(config_cls.from_pretrained(str(folder)), use_flash_attn=False)
    model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")), strict=True)
    tok_file = Path(folder) / "tokenizer.model"
    tok = load_internlm2_tokenizer(folder) if tok_file.is_file() else AutoTokenizer.from_pretrained(str(folder))
    model.img_context_token_id = tok.convert_tokens_to_ids("<IMG_CONTEXT>")
    return model.to(torch.float32).eval()
