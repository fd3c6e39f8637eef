"""Tiny randomly initialised models of each trainable family, built offline (seeded, a few MB).

Each builder takes the embedded model's tokenizer, adds the family's special
tokens (image placeholders such as ``<|image_pad|>``, ``<image>``,
``<IMG_CONTEXT>``) and a chat template in the family's format, builds the model
from the family's config class with tiny widths, and saves model and processor
(the family's processor class with its PIL image processor) into a folder, as a
real checkpoint of that family is laid out. The templates follow the ones the
released checkpoints ship (Qwen2-VL-Instruct, llava-onevision-qwen2-ov-hf,
InternVL3-hf), trimmed to images and text.
"""

from __future__ import annotations

from pathlib import Path

# Qwen2-VL / Qwen2.5-VL: ChatML, an image part is <|vision_start|><|image_pad|><|vision_end|>.
QWEN2_VL_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# LLaVA-OneVision (Qwen2 LM): role then a space; the images of a message first, then its text after newlines.
LLAVA_ONEVISION_TEMPLATE = (
    "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + ' ' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- else -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'image') -%}{{- '<image>' -}}{%- endfor -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'text') -%}{{- '\\n' + part['text'] -}}"
    "{%- endfor -%}{%- endif -%}{{- '<|im_end|>' -}}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# InternVL (transformers-native layout): ChatML, an image part is <IMG_CONTEXT> + newline;
# the processor expands it to <img> + <IMG_CONTEXT> x (tokens per tile x tiles) + </img>.
INTERNVL_TEMPLATE = (
    "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<IMG_CONTEXT>\\n' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _tokenizer(embedded_dir: str, special: list[str], template: str, named: dict[str, str] | None = None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_dir, extra_special_tokens=named or {})
    tok.add_special_tokens({"additional_special_tokens": special}, replace_extra_special_tokens=False)
    tok.chat_template = template
    return tok


def _vocab(tok) -> int:
    return (len(tok) + 63) // 64 * 64


def _text(model_type: str, tok, **extra) -> dict:
    """A 2-layer, 32-wide language model config over ``tok``'s vocabulary (rounded up to 64)."""
    return dict(model_type=model_type, vocab_size=_vocab(tok), hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                **extra)


def build_qwen2_vl(out: Path, embedded_dir: str, version: str = "2") -> Path:
    """Tiny Qwen2-VL (``version="2"``) or Qwen2.5-VL (``"2.5"``): 14-px patches merged 2x2, images
    resized to at most 56x56 pixels (4 image tokens)."""
    import torch
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from mmpr_builder.train.families import image_only_processor_class

    tok = _tokenizer(embedded_dir, ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
                     QWEN2_VL_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                                      "<|video_pad|>")}
    rope = {"rope_type": "default", "mrope_section": [2, 2, 4], "rope_theta": 10000.0}
    common = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if version == "2":
        from transformers import Qwen2VLConfig as Config, Qwen2VLForConditionalGeneration as Model, Qwen2VLProcessor as Proc

        vision = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, in_chans=3)
        text_type = "qwen2_vl_text"
    else:
        from transformers import Qwen2_5_VLConfig as Config, Qwen2_5_VLForConditionalGeneration as Model
        from transformers import Qwen2_5_VLProcessor as Proc

        vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, in_chans=3, window_size=56,
                      fullatt_block_indexes=[0])
        text_type = "qwen2_5_vl_text"
    cfg = Config(vision_config=vision, text_config=_text(text_type, tok, rope_parameters=rope), **common)
    torch.manual_seed(0)
    Model(cfg).save_pretrained(out)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=56 * 56)
    image_only_processor_class(Proc)(image_processor=image_processor, tokenizer=tok,
                                     chat_template=QWEN2_VL_TEMPLATE).save_pretrained(out)
    return out


def build_llava_onevision(out: Path, embedded_dir: str) -> Path:
    """Tiny LLaVA-OneVision: SigLIP tower on 28x28 images (4 tokens per view), any-resolution grid up to
    56x56 (base view + tiles + one newline token per row)."""
    import torch
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    from mmpr_builder.train.families import image_only_processor_class

    tok = _tokenizer(embedded_dir, ["<image>", "<video>"], LLAVA_ONEVISION_TEMPLATE)
    pinpoints = [[28, 28], [28, 56], [56, 28], [56, 56]]
    cfg = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14),
        text_config=_text("qwen2", tok), image_token_id=tok.convert_tokens_to_ids("<image>"),
        video_token_id=tok.convert_tokens_to_ids("<video>"), image_grid_pinpoints=pinpoints,
        vision_feature_layer=-1, vision_feature_select_strategy="full")
    torch.manual_seed(0)
    LlavaOnevisionForConditionalGeneration(cfg).save_pretrained(out)
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints)
    image_only_processor_class(LlavaOnevisionProcessor)(
        image_processor=image_processor, tokenizer=tok, chat_template=LLAVA_ONEVISION_TEMPLATE, num_image_tokens=4,
        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9").save_pretrained(out)
    return out


def build_internvl(out: Path, embedded_dir: str) -> Path:
    """Tiny InternVL (native layout): 56x56 tiles of 14x14 patches, pixel shuffle 0.5 (4 tokens per tile),
    at most 2 tiles plus a thumbnail per image; Qwen2 LM."""
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from mmpr_builder.train.families import image_only_processor_class

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}
    tok = _tokenizer(embedded_dir, [], INTERNVL_TEMPLATE, named)
    cfg = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=[56, 56], patch_size=[14, 14]),
        text_config=_text("qwen2", tok), image_token_id=tok.context_image_token_id, downsample_ratio=0.5,
        image_seq_length=4)
    torch.manual_seed(0)
    InternVLForConditionalGeneration(cfg).save_pretrained(out)
    image_processor = GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}, crop_to_patches=True, max_patches=2)
    image_only_processor_class(InternVLProcessor)(image_processor=image_processor, tokenizer=tok,
                                                  chat_template=INTERNVL_TEMPLATE, image_seq_length=4).save_pretrained(out)
    return out


def build_idefics3(out: Path, embedded_dir: str) -> Path:
    """Tiny Idefics3 (SmolVLM layout) with the embedded model's processor and chat template."""
    import torch
    from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration

    cfg = Idefics3Config.from_pretrained(embedded_dir)
    tc = cfg.text_config
    tc.hidden_size, tc.intermediate_size, tc.num_hidden_layers = 32, 64, 2
    tc.num_attention_heads, tc.num_key_value_heads, tc.head_dim = 2, 1, 16
    vc = cfg.vision_config
    vc.hidden_size, vc.intermediate_size, vc.num_hidden_layers, vc.num_attention_heads = 32, 64, 1, 2
    torch.manual_seed(0)
    Idefics3ForConditionalGeneration(cfg).to(torch.float32).save_pretrained(out)
    AutoProcessor.from_pretrained(embedded_dir).save_pretrained(out)
    return out


def build_text_llm(out: Path, embedded_dir: str) -> Path:
    """Tiny text-only Llama with the embedded model's tokenizer and ChatML template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    cfg = LlamaConfig(**{k: v for k, v in _text("llama", tok).items() if k != "model_type"}, head_dim=16)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


BUILDERS = {
    "idefics3": build_idefics3,
    "text": build_text_llm,
    "qwen2_vl": lambda out, emb: build_qwen2_vl(out, emb, "2"),
    "qwen2_5_vl": lambda out, emb: build_qwen2_vl(out, emb, "2.5"),
    "llava_onevision": build_llava_onevision,
    "internvl": build_internvl,
}
