"""``run_mpo``: shards + model name + MPOConfig -> a trained model in the output folder.

What ``mmpr train`` calls. Writes into ``output_dir``: the model (or LoRA
adapter) and processor, ``checkpoint-*/`` (with ``mpo_state.json``),
``metrics.jsonl`` (one line per logging step: loss terms, ``bco/delta``,
rewards, margins, accuracies, learning rate) and ``train_summary.json``
(pairs read, kept and skipped by cause, steps, runtime, pairs/s, reference
cache file, the class of the module the reference pass ran through:
``FullyShardedDataParallel`` under FSDP, ``null`` on a cache hit).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from mmpr_builder.errors import ConfigError, ModelError
from mmpr_builder.train.families import image_only_processor_class, train_family, transformers_class
from mmpr_builder.train.mpo_config import MPOConfig

logger = logging.getLogger(__name__)


def resolve_dtype(config: MPOConfig) -> torch.dtype:
    """The policy's load dtype. ``auto``: bfloat16 for LoRA on a CUDA GPU (frozen base weights),
    float32 otherwise (full fine-tuning keeps float32 master weights; bf16 is autocast)."""
    if config.model_dtype != "auto":
        return getattr(torch, config.model_dtype)
    if config.use_lora and torch.cuda.is_available() and config.bf16:
        return torch.bfloat16
    return torch.float32


def is_vlm(path: str, trust_remote_code: bool = False) -> bool:
    """True when the model's config type is an image-text-to-text model in transformers.

    Raises:
        ModelError: no config can be read, or the model has a vision tower that
            transformers cannot load natively (remote-code VLMs such as the
            original InternVL checkpoints: use their ``-hf`` versions).
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the config of model {path!r}: {exc}") from exc
    if cfg.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return True
    if getattr(cfg, "vision_config", None) is not None:
        raise ModelError(f"{path!r} ({cfg.model_type}) is a vision-language model that transformers does not load "
                         "natively; convert a remote-code InternVL2/2.5 checkpoint with `mmpr models convert SRC DST` "
                         "(`mmpr train --model` does it for InternVLChatModel) or train an HF-native checkpoint "
                         "(e.g. OpenGVLab/InternVL3-8B-hf, Qwen/Qwen2.5-VL-7B-Instruct, HuggingFaceTB/SmolVLM-Instruct)")
    return False


def load_model(path: str, dtype: torch.dtype, trust_remote_code: bool = False) -> torch.nn.Module:
    """Load a VLM with its family's class (:data:`~mmpr_builder.train.families.TRAIN_FAMILIES`, else
    ``AutoModelForImageTextToText``) or, for other configs, a causal LM.

    Raises:
        ModelError: the folder or Hub id cannot be loaded.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    cls = AutoModelForCausalLM
    if is_vlm(path, trust_remote_code):
        family = train_family(AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).model_type)
        cls = transformers_class(family.model_class) if family else AutoModelForImageTextToText
    try:
        return cls.from_pretrained(path, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {path!r} for training: {exc}") from exc


def load_processor(path: str, trust_remote_code: bool = False) -> Any:
    """The processor of a VLM (its family's processor, images only where the family's carries a
    torchvision video processor; else ``AutoProcessor``), ``AutoTokenizer`` of a text-only model;
    with a pad token set.

    Raises:
        ModelError: no processor/tokenizer, or no chat template.
    """
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    auto = AutoTokenizer
    if is_vlm(path, trust_remote_code):
        family = train_family(AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).model_type)
        auto = AutoProcessor
        if family is not None and family.image_only:
            auto = image_only_processor_class(transformers_class(family.processor_class))
    try:
        processor = auto.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the processor of {path!r}: {exc}") from exc
    tok = getattr(processor, "tokenizer", None) or processor
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not (getattr(processor, "chat_template", None) or getattr(tok, "chat_template", None)):
        raise ModelError(f"{path!r} has no chat template; MPO trains on chat-formatted pairs")
    return processor


#: Processor settings an image-only processor does not write (its video processor's among them).
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json")


def carry_processor_files(model: str, output_dir: str | Path, trust_remote_code: bool = False) -> list[str]:
    """Copy the model's own processor settings (:data:`PROCESSOR_FILES`) into ``output_dir``.

    Only for families loaded with an image-only processor
    (:func:`~mmpr_builder.train.families.image_only_processor_class`): what it
    saved lacks the video processor, so the trained model would not load with
    ``AutoProcessor`` where torchvision is installed. When the source (local
    folder or Hub cache) has any of these files, the output gets exactly the
    source's set: its files are copied over the saved ones, saved ones it lacks
    are removed (the output is laid out as the checkpoint it came from).

    Returns:
        The names copied.
    """
    import shutil

    from transformers import AutoConfig
    from transformers.utils import cached_file

    family = train_family(AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code).model_type)
    if family is None or not family.image_only:
        return []
    found = {name: cached_file(model, name, _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False) for name in PROCESSOR_FILES}
    found = {name: src for name, src in found.items() if src is not None}
    if not found:
        return []
    for name in PROCESSOR_FILES:
        dst = Path(output_dir) / name
        if name in found:
            shutil.copyfile(found[name], dst)
        elif dst.is_file():
            dst.unlink()
    return sorted(found)


def apply_lora(model: torch.nn.Module, config: MPOConfig) -> torch.nn.Module:
    """Wrap ``model`` with peft LoRA adapters per ``config.lora_*``.

    Raises:
        ConfigError: peft is not installed.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError("--lora needs peft: pip install 'mmpr-builder[train]'") from exc
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
    if config.gradient_checkpointing:
        model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks need an input with grad
    return get_peft_model(model, lora)


def run_mpo(data: str | Path, config: MPOConfig, model: str, *, model_name: str | None = None,
            trust_remote_code: bool = False, resume_from_checkpoint: str | bool | None = None) -> dict[str, Any]:
    """Train ``model`` with MPO on the pair shards in ``data``; outputs go to ``config.output_dir``.

    The caller resolves the model (``mmpr train`` turns an alias into a folder or
    Hub id with :func:`mmpr_builder.models.aliases.resolve_model`) and the
    reference cache folder (``config.ref_cache_dir``).

    Args:
        data: a shard file or a folder (``mmpr build`` output or Parquet files).
        config: training arguments; ``config.output_dir`` is the output folder.
        model: local folder or Hub id of the model to train.
        model_name: the name recorded in the summary (default: ``model``).
        trust_remote_code: the model needs its own modelling code (or'ed with
            ``config.trust_remote_code``).
        resume_from_checkpoint: a checkpoint folder, or True for the last one in the output folder.
    Returns:
        The summary written to ``train_summary.json``.
    Raises:
        ConfigError, ModelError: bad data, config or model (before any training).
    """
    from mmpr_builder.train.data import load_pairs, prepare_pairs
    from mmpr_builder.train.mpo_trainer import MPOTrainer

    trust = config.trust_remote_code or trust_remote_code
    processor = load_processor(model, trust)
    pairs = load_pairs(data)
    prepared, report = prepare_pairs(pairs, processor, config.max_length, config.dataset_num_proc)
    logger.info(report.message(config.max_length))
    dtype = resolve_dtype(config)
    policy = load_model(model, dtype, trust)
    ref_model = None
    if config.use_lora:
        policy = apply_lora(policy, config)
    elif config.ref_online:
        ref_model = load_model(model, dtype, trust)
    trainer = MPOTrainer(policy, config, prepared, processor, ref_model=ref_model)
    result = trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    trainer.save_model(config.output_dir)
    if trainer.args.should_save:
        carry_processor_files(model, config.output_dir, trust)
    trainer.save_mpo_state(config.output_dir)
    summary = {
        "model": model_name or model, "model_path": model, "data": str(data), "pairs": report.to_dict(),
        "global_step": result.global_step, "train_loss": result.training_loss, "metrics": result.metrics,
        "pairs_per_second": result.metrics.get("train_samples_per_second"),
        "ref_cache_file": str(trainer.ref_cache_file) if trainer.ref_cache_file else None,
        "reference_seconds": trainer.reference_seconds, "reference_pass_model": trainer.reference_pass_model,
        "bco_delta": trainer.baseline.mean, "config": {k: v for k, v in config.to_dict().items()
                                                        if not k.startswith("_") and "token" not in k},
    }
    if trainer.args.should_save:
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
