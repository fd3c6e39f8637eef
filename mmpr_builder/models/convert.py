"""``mmpr models convert``: a remote-code InternVL2/2.5 checkpoint -> the transformers-native InternVL layout.

The source is a folder laid out as OpenGVLab's InternVL2/2.5 Hub repositories
(``architectures: ["InternVLChatModel"]``, ``model_type: internvl_chat``,
``modeling_internvl_chat.py`` beside the weights); the result is laid out as
``OpenGVLab/InternVL3-*-hf`` (``InternVLForConditionalGeneration``, model_type
``internvl``), which transformers loads without remote code and ``mmpr train``
trains. The model's own code is never run: the config is read as JSON and the
weights as safetensors; only the tokenizer is loaded with ``trust_remote_code``
(InternLM2's tokenizer class ships with the checkpoint) and re-saved as a plain
``tokenizers`` tokenizer.

What changes (source: transformers' ``models/internvl/convert_internvl_weights_to_hf.py``,
huggingface/transformers@015d3b27, whose key tables are followed exactly; the
script itself is not importable as a library: it needs ``einops``, runs the
remote code and only knows a fixed list of Hub ids):

- InternViT: ``vision_model.*`` -> ``model.vision_tower.*`` with
  :data:`VISION_KEYS`; the fused ``attn.qkv`` (rows ``[q; k; v]``, as
  ``InternAttention._naive_attn`` reshapes it) is split into ``q_proj``/``k_proj``/``v_proj``.
- Projector ``mlp1.{0,1,3}`` -> ``model.multi_modal_projector.{layer_norm,linear_1,linear_2}``.
- LLM: ``language_model.model.*`` -> ``model.language_model.*``, the LM head to
  ``lm_head``. Qwen2, Llama and Phi-3 keep their names (the remote code uses
  transformers' own classes or copies of them). InternLM2 becomes a Llama text
  model (:data:`INTERNLM2_KEYS`); its fused ``wqkv`` is laid out per key/value
  head as ``[q x groups, k, v]`` (``InternLM2Attention.forward``: ``b q (h gs d) -> b q h gs d``)
  and is split accordingly (:func:`split_internlm2_wqkv`).
- Config: ``select_layer`` -> ``vision_feature_layer``, ``downsample_ratio``
  kept, ``image_seq_length`` = (image size / patch size)^2 x downsample_ratio^2
  (``InternVLChatModel.num_image_token``), word embeddings untied (InternVL2 never ties them).
- Processor: ``GotOcr2ImageProcessor`` with the checkpoint's tile size and
  ``min_dynamic_patch``/``max_dynamic_patch``, the tokenizer with
  ``start_image_token``/``end_image_token``/``context_image_token``, and the
  ``-hf`` chat template (ChatML; ``<|user|>``/``<|end|>`` for the Phi-3 model);
  see :mod:`mmpr_builder.models.convert_tokenizer`.

What cannot be converted is refused with :class:`~mmpr_builder.errors.ModelError`
(the field and what to do): another LLM architecture, pixel shuffle ``ps_version``
``v1`` (transformers implements ``v2`` only), dynamic tiling without a thumbnail,
missing files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mmpr_builder.errors import ModelError
from mmpr_builder.models import chat_templates as tpl
from mmpr_builder.models.convert_tokenizer import convert_tokenizer

#: InternViT key renames, in order (regex -> replacement), from ``ORIGINAL_TO_CONVERTED_KEY_MAPPING_VISION``.
VISION_KEYS = {
    r"layers": r"layer",
    r"class_embedding": r"cls_token",
    r"position_embedding": r"position_embeddings",
    r"patch_embedding": r"patch_embeddings.projection",
    r"ls(\d+)": r"lambda_\1",
    r"attn.proj": r"attention.projection_layer",
    r"attn.dropout": r"attention.projection_dropout",
    r"attn": r"attention",
    r"norm1": r"layernorm_before",
    r"norm2": r"layernorm_after",
}

#: InternLM2 -> Llama key renames, from ``ORIGINAL_TO_CONVERTED_KEY_MAPPING_TEXT_LLAMA`` (``wqkv`` is split apart).
INTERNLM2_KEYS = {
    r"tok_embeddings": r"embed_tokens",
    r"attention.wo": r"self_attn.o_proj",
    r"feed_forward.w1": r"mlp.gate_proj",
    r"feed_forward.w2": r"mlp.down_proj",
    r"feed_forward.w3": r"mlp.up_proj",
    r"attention_norm": r"input_layernorm",
    r"ffn_norm": r"post_attention_layernorm",
}

#: Projector renames, from ``ORIGINAL_TO_CONVERTED_KEY_MAPPING_MULTI``.
PROJECTOR_KEYS = {"mlp1.0.": "layer_norm.", "mlp1.1.": "linear_1.", "mlp1.3.": "linear_2."}

#: LLM architectures of InternVL2/2.5 checkpoints -> the transformers ``model_type`` of the converted text model.
TEXT_MODEL_TYPES = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama", "InternLM2ForCausalLM": "llama",
                    "Phi3ForCausalLM": "phi3"}

#: ``config.template`` values (InternVL's ``conversation.py``) -> the converted chat template.
CHAT_TEMPLATES = {"Hermes-2": tpl.INTERNVL_HF, "internlm2-chat": tpl.INTERNVL_HF,
                  "internlm2-chat-v3": tpl.INTERNVL_HF, "internvl2_5": tpl.INTERNVL_HF,
                  "phi3-chat": tpl.INTERNVL_HF_PHI3}

#: Keys of the remote LLM config that mean nothing to transformers' own text configs (``UNNECESSARY_CONFIG_KEYS``).
DROPPED_TEXT_KEYS = {"_name_or_path", "_attn_implementation_autoset", "auto_map", "use_bfloat16", "use_flash_attn",
                     "bias", "attn_implementation", "architectures", "transformers_version", "torch_dtype", "dtype"}

#: Bumped when the converted layout changes, so cached conversions are redone.
CONVERTER_VERSION = 1
PROVENANCE_FILE = "mmpr_convert.json"


def read_source_config(src: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a remote-code InternVL checkpoint, checked for what the converter needs.

    Raises:
        ModelError: no readable ``config.json``; not ``InternVLChatModel``; an LLM
            architecture other than :data:`TEXT_MODEL_TYPES`; ``ps_version`` v1;
            dynamic tiling without a thumbnail; an unknown chat ``template``.
    """
    from mmpr_builder.models.families import read_config

    cfg = read_config(src)
    archs = cfg.get("architectures") or []
    if "InternVLChatModel" not in archs and cfg.get("model_type") != "internvl_chat":
        raise ModelError(f"{src}: not a remote-code InternVL checkpoint (architectures {archs}, model_type "
                         f"{cfg.get('model_type')!r}); `mmpr models convert` takes InternVLChatModel checkpoints")
    for key in ("vision_config", "llm_config"):
        if not isinstance(cfg.get(key), dict):
            raise ModelError(f"{src}/config.json: no {key}; an InternVLChatModel config has vision_config and "
                             "llm_config")
    llm_arch = (cfg["llm_config"].get("architectures") or ["(none)"])[0]
    if llm_arch not in TEXT_MODEL_TYPES:
        raise ModelError(f"{src}: its language model is {llm_arch}, which the converter does not map to a "
                         f"transformers text model (it converts {', '.join(TEXT_MODEL_TYPES)}); train it with "
                         "InternVL's own scripts (`mmpr export --format internvl`) or a -hf checkpoint instead")
    if cfg.get("ps_version", "v1") != "v2":
        raise ModelError(f"{src}: pixel shuffle ps_version {cfg.get('ps_version', 'v1')!r}; transformers' InternVL "
                         "implements only 'v2' (InternVL 1.5 and later), so the converted model would see transposed "
                         "images; use an InternVL2/2.5 checkpoint")
    if cfg.get("dynamic_image_size") and not cfg.get("use_thumbnail"):
        raise ModelError(f"{src}: dynamic tiles without a thumbnail (use_thumbnail false); transformers' "
                         "GotOcr2ImageProcessor always adds one, so the converted model would see other images")
    template = cfg.get("template")
    if template not in CHAT_TEMPLATES:
        raise ModelError(f"{src}: chat template {template!r} is not one the converter knows "
                         f"({', '.join(CHAT_TEMPLATES)})")
    return cfg


def _side(value: int | list[int]) -> int:
    """A square size given as ``n`` or ``[n, n]``, in pixels."""
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def image_size_of(cfg: dict[str, Any]) -> int:
    """Tile side in pixels: ``force_image_size`` or the vision tower's ``image_size``."""
    return _side(cfg.get("force_image_size") or cfg["vision_config"]["image_size"])


def num_image_tokens(cfg: dict[str, Any]) -> int:
    """LLM tokens per tile, as ``InternVLChatModel.num_image_token``: (size / patch)^2 x downsample_ratio^2."""
    patch = _side(cfg["vision_config"]["patch_size"])
    return int((image_size_of(cfg) // patch) ** 2 * (cfg.get("downsample_ratio", 0.5) ** 2))


def internvl_config(cfg: dict[str, Any], image_token_id: int):
    """The ``InternVLConfig`` of the converted model.

    Args:
        cfg: the source ``config.json`` (checked by :func:`read_source_config`).
        image_token_id: id of ``<IMG_CONTEXT>`` in the tokenizer.
    """
    from transformers import CONFIG_MAPPING, InternVLConfig, InternVLVisionConfig

    v = cfg["vision_config"]
    size, patch = image_size_of(cfg), v["patch_size"]
    vision = InternVLVisionConfig(
        hidden_size=v["hidden_size"], num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"], intermediate_size=v["intermediate_size"],
        hidden_act=v.get("hidden_act", "gelu"), norm_type=v.get("norm_type", "rms_norm"),
        layer_norm_eps=v.get("layer_norm_eps", 1e-6), attention_bias=v.get("qkv_bias", True),
        use_qk_norm=v.get("qk_normalization", False), attention_dropout=v.get("attention_dropout", 0.0),
        projection_dropout=v.get("dropout", 0.0), image_size=[size, size],
        patch_size=[patch, patch] if isinstance(patch, int) else list(patch),
        num_channels=v.get("num_channels", 3), use_absolute_position_embeddings=True, use_mean_pooling=True,
        initializer_range=v.get("initializer_range", 0.02))
    llm = cfg["llm_config"]
    arch = llm["architectures"][0]
    text = {k: val for k, val in llm.items() if k not in DROPPED_TEXT_KEYS and k != "model_type"}
    if arch == "InternLM2ForCausalLM":  # the same decoder as Llama (InternLM2Attention is LlamaAttention, fused)
        text["attention_bias"] = bool(llm.get("bias", False))
        text["head_dim"] = llm["hidden_size"] // llm["num_attention_heads"]
    text["tie_word_embeddings"] = False  # InternVLChatConfig forces untied embeddings for every size
    text_config = CONFIG_MAPPING[TEXT_MODEL_TYPES[arch]](**text)
    text_config.architectures = [f"{type(text_config).__name__.removesuffix('Config')}ForCausalLM"]
    dtype = llm.get("torch_dtype") or llm.get("dtype") or cfg.get("torch_dtype") or "bfloat16"
    out = InternVLConfig(vision_config=vision, text_config=text_config, image_token_id=image_token_id,
                         image_seq_length=num_image_tokens(cfg), downsample_ratio=cfg.get("downsample_ratio", 0.5),
                         projector_hidden_act="gelu", vision_feature_layer=cfg.get("select_layer", -1),
                         vision_feature_select_strategy="default", tie_word_embeddings=False)
    out.architectures = ["InternVLForConditionalGeneration"]
    out.dtype = dtype
    return out


def _sub_all(table: dict[str, str], key: str) -> str:
    for pattern, repl in table.items():
        key = re.sub(pattern, repl, key)
    return key


def split_internlm2_wqkv(wqkv, num_heads: int, num_kv_heads: int):
    """Split InternLM2's fused ``wqkv`` weight into Llama's ``q_proj``, ``k_proj``, ``v_proj`` weights.

    Layout (``InternLM2Attention.forward``): the output rows are ``num_kv_heads``
    blocks, each ``[q heads of the group (num_heads / num_kv_heads), k head, v head]``
    of ``head_dim`` rows each.

    Args:
        wqkv: ``[(num_heads + 2 * num_kv_heads) * head_dim, hidden]`` weight
            (or ``[...]`` bias: a 1-D tensor is split the same way).
    Returns:
        ``(q [num_heads * head_dim, ...], k [num_kv_heads * head_dim, ...], v [num_kv_heads * head_dim, ...])``.
    """
    groups = num_heads // num_kv_heads
    head_dim = wqkv.shape[0] // (num_heads + 2 * num_kv_heads)
    blocks = wqkv.reshape(num_kv_heads, groups + 2, head_dim, *wqkv.shape[1:])
    q = blocks[:, :groups].reshape(num_heads * head_dim, *wqkv.shape[1:]).clone()
    k = blocks[:, -2].reshape(num_kv_heads * head_dim, *wqkv.shape[1:]).clone()
    v = blocks[:, -1].reshape(num_kv_heads * head_dim, *wqkv.shape[1:]).clone()
    return q, k, v


def _vision_weights(key: str, tensor, dim: int) -> list[tuple[str, Any]]:
    """``vision_model.<rest>`` -> ``model.vision_tower.<renamed>``; ``attn.qkv`` rows ``[q; k; v]`` split in three."""
    new = "model.vision_tower." + _sub_all(VISION_KEYS, key.removeprefix("vision_model."))
    if ".attention.qkv." not in new:
        return [(new, tensor)]
    return [(new.replace(".attention.qkv.", f".attention.{part}_proj."), tensor[i * dim:(i + 1) * dim].clone())
            for i, part in enumerate("qkv")]


def _projector_weights(key: str, tensor) -> list[tuple[str, Any]]:
    """``mlp1.{0,1,3}.*`` -> ``model.multi_modal_projector.{layer_norm,linear_1,linear_2}.*``."""
    prefix = key[:len("mlp1.0.")]
    if prefix not in PROJECTOR_KEYS:
        raise ModelError(f"unexpected projector weight {key!r} (mlp1 is LayerNorm, Linear, GELU, Linear)")
    return [("model.multi_modal_projector." + PROJECTOR_KEYS[prefix] + key[len(prefix):], tensor)]


def _language_weights(key: str, tensor, llm: dict[str, Any]) -> list[tuple[str, Any]]:
    """``language_model.model.*`` -> ``model.language_model.*`` (InternLM2 renamed to Llama, ``wqkv`` split);
    the LM head (``lm_head``, InternLM2's ``output``) -> ``lm_head``."""
    rest = key.removeprefix("language_model.")
    if rest.split(".")[0] in ("lm_head", "output"):
        return [("lm_head." + rest.split(".", 1)[1], tensor)]
    if not rest.startswith("model."):
        raise ModelError(f"unexpected language model weight {key!r}")
    rest = "model.language_model." + rest.removeprefix("model.")
    if llm["architectures"][0] != "InternLM2ForCausalLM":
        return [(rest, tensor)]
    if ".attention.wqkv." in rest:
        heads = llm["num_attention_heads"]
        qkv = split_internlm2_wqkv(tensor, heads, llm.get("num_key_value_heads") or heads)
        return [(rest.replace(".attention.wqkv.", f".self_attn.{part}_proj."), t) for part, t in zip("qkv", qkv)]
    return [(_sub_all(INTERNLM2_KEYS, rest), tensor)]


def convert_state_dict(weights: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Rename and split the source weights into ``InternVLForConditionalGeneration`` keys.

    Args:
        weights: source state dict (``vision_model.*``, ``mlp1.*``, ``language_model.*``).
        cfg: the source ``config.json``.
    Raises:
        ModelError: a key outside the three parts of an InternVLChatModel.
    """
    out: dict[str, Any] = {}
    for key, tensor in weights.items():
        if key.startswith("vision_model."):
            out.update(_vision_weights(key, tensor, cfg["vision_config"]["hidden_size"]))
        elif key.startswith("mlp1."):
            out.update(_projector_weights(key, tensor))
        elif key.startswith("language_model."):
            out.update(_language_weights(key, tensor, cfg["llm_config"]))
        else:
            raise ModelError(f"unexpected weight {key!r}: an InternVLChatModel has vision_model.*, mlp1.* and "
                             "language_model.* only")
    return out


def load_source_weights(src: str | Path) -> dict[str, Any]:
    """Every tensor of the checkpoint: ``model.safetensors`` or the shards named by ``model.safetensors.index.json``.

    Raises:
        ModelError: no safetensors weights (``pytorch_model.bin`` only: re-save them as safetensors first).
    """
    from safetensors.torch import load_file

    src = Path(src)
    index = src / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (src / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise ModelError(f"{src}: no model.safetensors or model.safetensors.index.json; the converter reads "
                         "safetensors weights (the OpenGVLab InternVL2/2.5 repositories ship them)")
    weights: dict[str, Any] = {}
    for name in files:
        if not (src / name).is_file():
            raise ModelError(f"{src}: weight shard {name} named in the index is missing (an interrupted download?)")
        weights.update(load_file(str(src / name)))
    return weights


def image_processor(cfg: dict[str, Any]):
    """``GotOcr2ImageProcessorPil`` with InternVL's preprocessing: tiles of the checkpoint's size, bicubic,
    ImageNet mean/std, ``min_dynamic_patch``..``max_dynamic_patch`` tiles plus a thumbnail (one tile when
    ``dynamic_image_size`` is false)."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    size = image_size_of(cfg)
    return GotOcr2ImageProcessorPil(
        size={"height": size, "width": size}, crop_to_patches=bool(cfg.get("dynamic_image_size", False)),
        min_patches=int(cfg.get("min_dynamic_patch", 1)), max_patches=int(cfg.get("max_dynamic_patch", 12)),
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_convert_rgb=True)


def convert_internvl_chat(src: str | Path, dst: str | Path, *, trust_remote_code: bool = True,
                          overwrite: bool = False) -> Path:
    """Convert the remote-code InternVL checkpoint in folder ``src`` into folder ``dst`` (module docstring).

    The result is written into a temporary folder beside ``dst`` and renamed into
    place, so an interrupted run leaves no half-written ``dst``. ``dst`` gets the
    weights (safetensors, the source dtypes), ``config.json``,
    ``generation_config.json``, the processor files, the chat template and
    :data:`PROVENANCE_FILE` (source, source config hash, converter version).

    Args:
        src: local folder of the checkpoint.
        dst: output folder.
        trust_remote_code: allow the checkpoint's tokenizer code (InternLM2); its model code never runs.
        overwrite: replace an existing ``dst``.
    Returns:
        ``dst``.
    Raises:
        ModelError: as :func:`read_source_config`, :func:`load_source_weights`,
            :func:`~mmpr_builder.models.convert_tokenizer.convert_tokenizer`; ``dst`` exists (without
            ``overwrite``); the
            converted weights do not match ``InternVLForConditionalGeneration``'s.
    """
    import torch
    from huggingface_hub import save_torch_state_dict
    from transformers import GenerationConfig, InternVLForConditionalGeneration, InternVLProcessor

    from mmpr_builder.train.families import image_only_processor_class

    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise ModelError(f"{dst} exists; pass --overwrite to replace it")
    cfg = read_source_config(src)
    tok = convert_tokenizer(src, CHAT_TEMPLATES[cfg["template"]], cfg["llm_config"]["vocab_size"], trust_remote_code)
    config = internvl_config(cfg, tok.context_image_token_id)
    state = convert_state_dict(load_source_weights(src), cfg)
    with torch.device("meta"):
        expected = set(InternVLForConditionalGeneration(config).state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelError(f"{src}: converted weights do not fit InternVLForConditionalGeneration "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]}); the checkpoint differs from "
                         "the InternVL2/2.5 layout the converter knows")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        save_torch_state_dict(state, tmp, max_shard_size="5GB")
        config.save_pretrained(tmp)
        stops = [tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|end|>") if t in tok.get_vocab()]
        GenerationConfig(eos_token_id=stops or config.text_config.eos_token_id,
                         bos_token_id=config.text_config.bos_token_id,
                         pad_token_id=tok.pad_token_id).save_pretrained(tmp)
        processor_cls = image_only_processor_class(InternVLProcessor)
        processor_cls(image_processor=image_processor(cfg), tokenizer=tok, chat_template=tok.chat_template,
                      image_seq_length=num_image_tokens(cfg)).save_pretrained(tmp)
        (tmp / PROVENANCE_FILE).write_text(json.dumps({
            "source": str(src), "source_config_sha256": config_hash(src), "converter_version": CONVERTER_VERSION,
            "llm_architecture": cfg["llm_config"]["architectures"][0]}, indent=2) + "\n")
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def config_hash(src: str | Path) -> str:
    """SHA-256 of the source ``config.json`` bytes (recorded in :data:`PROVENANCE_FILE`)."""
    return hashlib.sha256((Path(src) / "config.json").read_bytes()).hexdigest()


def source_fingerprint(src: str | Path) -> str:
    """SHA-256 over the source folder's resolved path, ``config.json`` bytes and the name, size and
    modification time (ns) of its weight and tokenizer files: a checkpoint re-saved in place (same config,
    new weights) gets another cache folder."""
    src = Path(src).resolve()
    h = hashlib.sha256(str(src).encode() + b"\0" + (src / "config.json").read_bytes())
    for f in sorted(src.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".model", ".txt") or f.name.startswith("tokenizer")
                            or f.name.endswith(".index.json")):
            st = f.stat()
            h.update(f"\0{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def converted_dir(src: str | Path, name: str) -> Path:
    """Cache folder of the conversion of ``src``:
    ``$MMPR_CACHE/models/converted/<name>-<source fingerprint>-v<converter version>`` (:func:`source_fingerprint`)."""
    from mmpr_builder.models.embedded import cache_dir

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[-80:] or "model"
    return cache_dir() / "models" / "converted" / f"{slug}-{source_fingerprint(src)[:12]}-v{CONVERTER_VERSION}"


def download_checkpoint(repo_id: str) -> Path:
    """Local folder of a Hub checkpoint (``huggingface_hub.snapshot_download``; the HF cache first).

    Raises:
        ModelError: it cannot be fetched.
    """
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.py", "*.model",
                                                                "*.txt", "*.tiktoken"]))
    except Exception as e:  # noqa: BLE001 - huggingface_hub raises many types (HTTP, offline, auth)
        raise ModelError(f"cannot download {repo_id!r} to convert it ({type(e).__name__}: {e}); download it "
                         f"(`hf download {repo_id}`) and pass the folder, or convert it with "
                         "`mmpr models convert`") from e


def ensure_converted(path: str, name: str | None = None, *, trust_remote_code: bool = True) -> Path:
    """The transformers-native copy of the remote-code checkpoint ``path`` (a folder or Hub id), converting once.

    The copy lives in :func:`converted_dir`; a finished conversion (one with
    :data:`PROVENANCE_FILE`) is reused.

    Raises:
        ModelError: as :func:`convert_internvl_chat` and :func:`download_checkpoint`.
    """
    src = Path(path).expanduser()
    if not src.is_dir():
        src = download_checkpoint(path)
    dst = converted_dir(src, name or path)
    if (dst / PROVENANCE_FILE).is_file():
        return dst
    return convert_internvl_chat(src, dst, trust_remote_code=trust_remote_code, overwrite=True)
