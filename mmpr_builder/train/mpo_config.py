"""MPOConfig: the training arguments of the MPO trainer (a ``transformers.TrainingArguments``).

Only the MPO fields are declared here; everything else (batch size, gradient
accumulation, bf16, gradient checkpointing, DeepSpeed/FSDP, saving, resuming)
is transformers'. Some defaults differ from ``TrainingArguments`` and follow
the MPO recipe (arXiv 2411.10442, section 4.1 and the InternVL MPO scripts):
lr 5e-6, cosine schedule, 3% warmup, weight decay 0.05, one epoch, beta 0.1,
loss weights 0.8 / 0.2 / 1.0.

Layering for the CLI (as TRL's parser): defaults, then a YAML file of field
names (:meth:`MPOConfig.from_yaml`, unknown keys are an error), then flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from mmpr_builder.errors import ConfigError
from mmpr_builder.registry import did_you_mean
from mmpr_builder.train.losses import MPO_LOSS_TYPE, MPO_LOSS_WEIGHTS, check_loss_config

BCO_DELTA_MODES = ("step", "lagged", "none")
MODEL_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class MPOConfig(TrainingArguments):
    """Arguments of :class:`~mmpr_builder.train.mpo_trainer.MPOTrainer`.

    See each field's ``help``. Raises :class:`~mmpr_builder.errors.ConfigError`
    on construction for a bad combination (mismatched ``loss_type`` /
    ``loss_weights``, unknown loss type, ``beta <= 0``, ...).
    """

    # --- the loss ---
    beta: float = field(default=0.1, metadata={"help": "KL strength beta of the DPO and BCO terms (paper: 0.1)."})
    loss_type: list[str] = field(
        default_factory=lambda: list(MPO_LOSS_TYPE),
        metadata={"help": "Loss terms, as TRL's list: any of sigmoid (DPO), bco_pair (BCO), sft. "
                          "MPO = [sigmoid, bco_pair, sft]."})
    loss_weights: list[float] | None = field(
        default_factory=lambda: list(MPO_LOSS_WEIGHTS),
        metadata={"help": "One weight per loss_type entry (paper: 0.8, 0.2, 1.0). None = all 1.0."})
    bco_delta: str = field(
        default="step",
        metadata={"help": "BCO reward shift delta (running mean of rewards). 'step': the mean includes the "
                          "current optimizer step's rewards from all micro-batches and ranks, as if the step were "
                          "one batch (with gradient accumulation > 1 this costs one extra no-grad forward per "
                          "micro-batch); 'lagged': the mean of the previous steps only (no extra cost); 'none': "
                          "no shift (TRL >= 0.29's bco_pair).",
                  "choices": list(BCO_DELTA_MODES)})
    # --- data ---
    max_length: int | None = field(
        default=4096,
        metadata={"help": "Most tokens of prompt (image tokens included) + response. Longer pairs are skipped "
                          "and counted, never truncated (truncation would cut image tokens). None = no limit."})
    dataset_num_proc: int | None = field(
        default=None, metadata={"help": "Processes for tokenising the pairs (datasets.map num_proc)."})
    # --- reference model ---
    ref_online: bool = field(
        default=False,
        metadata={"help": "Run the reference model every step (a second copy in memory; with LoRA the base "
                          "model with adapters off) instead of caching its log-probs in a first pass."})
    ref_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Folder of cached reference log-probs (`mmpr train` default: $MMPR_CACHE/ref_logps; "
                          "None: the reference pass is not cached). Files are keyed by model weights, data "
                          "fingerprint and tokenisation settings."})
    ref_batch_size: int | None = field(
        default=None, metadata={"help": "Pairs per batch in the reference pass (default: per_device_train_batch_size)."})
    # --- model ---
    model_dtype: str = field(
        default="auto",
        metadata={"help": "dtype to load the policy in: auto (float32 on CPU, bfloat16 on a CUDA GPU with "
                          "bf16), float32, bfloat16 or float16.", "choices": list(MODEL_DTYPES)})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow models that ship their own modelling code."})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | str = field(
        default="all-linear", metadata={"help": "Modules to adapt: peft's 'all-linear' or a list of names."})
    # --- TrainingArguments fields with MPO-recipe defaults ---
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak learning rate (MPO recipe: 5e-6)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning rate schedule."})
    warmup_steps: float = field(
        default=0.03, metadata={"help": "Warmup: steps (int) or a ratio of all steps in [0, 1) (MPO: 3%)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (MPO recipe: 0.05)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the pairs (MPO recipe: 1)."})
    per_device_train_batch_size: int = field(default=2, metadata={"help": "Pairs per device per micro-batch."})
    logging_steps: float = field(default=1, metadata={"help": "Log (and write metrics.jsonl) every N steps."})
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 mixed precision; default: on for a CUDA GPU that supports it."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator needs the prepared columns."})

    def __post_init__(self):
        self.loss_type, self.loss_weights = check_loss_config(self.loss_type, self.loss_weights)
        if not self.beta > 0:
            raise ConfigError(f"beta must be > 0, got {self.beta}")
        if self.bco_delta not in BCO_DELTA_MODES:
            raise ConfigError(_choice_error("bco_delta", self.bco_delta, BCO_DELTA_MODES))
        if self.model_dtype not in MODEL_DTYPES:
            raise ConfigError(_choice_error("model_dtype", self.model_dtype, MODEL_DTYPES))
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"max_length must be >= 2 or None, got {self.max_length}")
        if self.ref_batch_size is not None and self.ref_batch_size < 1:
            raise ConfigError(f"ref_batch_size must be >= 1, got {self.ref_batch_size}")
        if self.use_lora and self.lora_r < 1:
            raise ConfigError(f"lora_r must be >= 1, got {self.lora_r}")
        if self.remove_unused_columns:
            raise ConfigError("remove_unused_columns must be False for MPO (the collator reads prepared columns)")
        if self.bf16 is None:
            self.bf16 = _cuda_bf16() and not self.fp16 and not self.use_cpu
        super().__post_init__()

    @classmethod
    def field_names(cls) -> list[str]:
        """All settable field names (MPO's and TrainingArguments')."""
        return [f.name for f in dataclasses.fields(cls) if f.init]

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> MPOConfig:
        """Build a config from defaults, then the YAML mapping at ``path`` (if any), then ``overrides``.

        Raises:
            ConfigError: the file is missing, not a mapping, has an unknown key
                (with a "did you mean"), or a value fails the checks above.
        """
        values: dict[str, Any] = {}
        if path is not None:
            values = _read_mapping(Path(path))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = set(cls.field_names())
        for key in values:
            if key not in known:
                raise ConfigError(f"unknown MPOConfig field {key!r}{did_you_mean(key, sorted(known))}"
                                  + (f" in {path}" if path else ""))
        try:
            return cls(**values)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid training config{f' in {path}' if path else ''}: {exc}") from exc


def _read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty file: ``{}``); ConfigError for a missing file, bad YAML or a non-mapping."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, (dict, type(None))):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data or {}


def _choice_error(name: str, value: Any, choices: tuple[str, ...]) -> str:
    return f"{name} must be one of {', '.join(choices)}; got {value!r}{did_you_mean(value, choices)}"


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
