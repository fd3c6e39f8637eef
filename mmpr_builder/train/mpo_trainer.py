"""MPOTrainer: a ``transformers.Trainer`` whose loss is MPO (DPO sigmoid + BCO pair + SFT).

The loop, devices, mixed precision, gradient checkpointing and accumulation,
DeepSpeed/FSDP, checkpoints and resume are transformers'. This class adds:

- :meth:`MPOTrainer.compute_loss`: one forward over the ``[chosen; rejected]``
  batch from :class:`~mmpr_builder.train.collator.MPODataCollator`, summed
  response log-probs (:func:`response_logps`), then
  :func:`~mmpr_builder.train.losses.mpo_loss`;
- the reference: cached log-probs from a first pass (:meth:`prepare_reference`,
  see ``ref_cache.py``; with several processes or sharded weights it runs when
  training starts, through the wrapped model) or, with ``ref_online``, a second
  model run every step (with LoRA: the base model, adapters disabled);
- BCO's reward shift ``delta`` (:class:`~mmpr_builder.train.losses.RewardBaseline`),
  updated once per optimizer step from all micro-batches and ranks, saved in
  every checkpoint as ``mpo_state.json`` and restored on resume;
- logging of each loss term, ``delta``, rewards, margins and accuracies, also
  appended to ``<output_dir>/metrics.jsonl``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from transformers.integrations import is_deepspeed_zero3_enabled
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from mmpr_builder.errors import ConfigError, MmprError
from mmpr_builder.train import ref_cache
from mmpr_builder.train.collator import NON_MODEL_KEYS, MPODataCollator
from mmpr_builder.train.data import data_fingerprint, tokenizer_of
from mmpr_builder.train.losses import RewardBaseline, mpo_loss
from mmpr_builder.train.mpo_config import MPOConfig

logger = logging.getLogger(__name__)

MPO_STATE_NAME = "mpo_state.json"
METRICS_NAME = "metrics.jsonl"


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare transformers model under DDP/DeepSpeed and peft wrappers."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _is_peft(model: torch.nn.Module) -> bool:
    return hasattr(getattr(model, "module", model), "disable_adapter")


def _unwrap_peft(model: torch.nn.Module) -> torch.nn.Module:
    """The peft model under a DDP/FSDP/DeepSpeed wrapper (the one with ``disable_adapter``)."""
    return model if hasattr(model, "disable_adapter") else model.module


def response_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of the response tokens of each sequence, and their counts.

    Runs ``model`` once on ``batch`` (keys of :class:`MPODataCollator`). Only
    the logits from the first response position on are kept
    (``logits_to_keep``, when the model accepts it), and log-softmax is taken
    per row in float32, so prompt and image positions never materialise
    vocabulary-sized logits.

    Returns:
        ``(logps, n_tokens)``, both ``(2B,)``: ``logps`` float32 (differentiable
        when grad is on), ``n_tokens`` long.
    """
    input_ids, mask = batch["input_ids"], batch["completion_mask"]
    columns = mask.any(dim=0).nonzero()
    first = int(columns[0]) if len(columns) else input_ids.shape[1] - 1
    first = max(first, 1)
    keep = input_ids.shape[1] - first + 1  # logits at positions first-1 .. L-1
    kwargs = {k: v for k, v in batch.items() if k not in NON_MODEL_KEYS}
    if "logits_to_keep" in inspect.signature(_unwrap(model).forward).parameters:
        kwargs["logits_to_keep"] = keep
    logits = model(**kwargs, use_cache=False).logits[:, -keep:-1]
    labels, label_mask = input_ids[:, first:], mask[:, first:]
    per_token = []
    for row_logits, row_labels in zip(logits, labels):  # row by row: one (L, V) float32 copy at a time
        row_logits = row_logits.float()
        per_token.append(row_logits.gather(-1, row_labels.unsqueeze(-1)).squeeze(-1) - row_logits.logsumexp(-1))
    per_token = torch.stack(per_token) * label_mask
    return per_token.sum(dim=-1), label_mask.sum(dim=-1)


def release_reference_pass(accelerator, loader) -> None:
    """Free what the reference pass held before training starts: the prepared loader (accelerate keeps a
    reference to every prepared dataloader), unreachable tensors, cached CUDA blocks and, on glibc,
    the freed heap pages (``malloc_trim``), so training starts from the memory of one model."""
    import ctypes
    import gc

    prepared = getattr(accelerator, "_dataloaders", None)
    if prepared is not None and loader in prepared:
        prepared.remove(loader)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class MetricsJsonlCallback(TrainerCallback):
    """Appends every log record (with ``step`` and ``epoch``) as one JSON line to ``path`` (main process)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")


def _check_launch(trainer: Trainer) -> None:
    """Fail when ``accelerate launch`` asked for FSDP or DeepSpeed but the accelerator runs without it.

    accelerate turns either on only on GPUs and other accelerators; on CPU
    (``use_cpu``, gloo) it silently trains plain DDP with a full model on each
    process (``AcceleratorState`` in accelerate/state.py).

    Raises:
        ConfigError: ``ACCELERATE_USE_FSDP``/``ACCELERATE_USE_DEEPSPEED`` is set and the Trainer has neither.
    """
    for name, env, enabled in (("FSDP", "ACCELERATE_USE_FSDP", trainer.is_fsdp_enabled),
                               ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED", trainer.is_deepspeed_enabled)):
        if os.environ.get(env, "false").lower() == "true" and not enabled:
            raise ConfigError(f"accelerate was launched with {name} but runs without it "
                              f"({trainer.accelerator.distributed_type.value}, device {trainer.args.device}): "
                              f"accelerate enables {name} on GPUs and other accelerators only; on CPU it would "
                              "train plain DDP. Launch a DDP config (or none) on CPU.")


class _DeferredReferenceCallback(TrainerCallback):
    """Runs :meth:`MPOTrainer.run_deferred_reference` once the Trainer has wrapped (sharded) the model."""

    def __init__(self, trainer: MPOTrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.run_deferred_reference()


class MPOTrainer(Trainer):
    """Trainer for MPO on prepared pairs (:func:`~mmpr_builder.train.data.prepare_pairs`).

    Args:
        model: the policy (a transformers VLM or causal LM, optionally a peft model).
        args: :class:`MPOConfig`.
        train_dataset: prepared pairs; if it already has ``ref_chosen_logps`` /
            ``ref_rejected_logps`` columns they are used as the reference.
        processing_class: the model's processor (or tokenizer).
        ref_model: the reference model for ``args.ref_online`` without LoRA.
        data_collator, callbacks: as ``Trainer``.
    Raises:
        ConfigError: ``ref_online`` without a reference (no ``ref_model`` and
            no LoRA), or ``ref_online`` with DeepSpeed.
    """

    def __init__(self, model, args: MPOConfig, train_dataset, processing_class,
                 ref_model: torch.nn.Module | None = None, data_collator=None, callbacks=None):
        if args.ref_online and ref_model is None and not _is_peft(model):
            raise ConfigError("ref_online needs a ref_model (a second copy of the policy) or a LoRA policy")
        super().__init__(model=model, args=args, train_dataset=train_dataset, processing_class=processing_class,
                         data_collator=data_collator or MPODataCollator(processing_class), callbacks=callbacks)
        _check_launch(self)
        if ref_model is not None:
            if self.is_deepspeed_enabled:
                raise ConfigError("ref_online with a second model is not supported under DeepSpeed; "
                                  "use the cached reference (the default) or LoRA")
            ref_model.requires_grad_(False)
            ref_model = self.accelerator.prepare_model(ref_model.eval(), evaluation_mode=True)
        self.ref_model = ref_model
        self.baseline = RewardBaseline()
        self.ref_cache_file: Path | None = None
        self.reference_seconds = 0.0  # wall time of the reference pass (0 on a cache hit)
        self.reference_pass_model: str | None = None  # class of the module the pass ran through (None: cache hit)
        self._deferred_reference = False
        self._delta_ready = False
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self.add_callback(MetricsJsonlCallback(Path(args.output_dir) / METRICS_NAME))
        self.add_callback(_DeferredReferenceCallback(self))

    # ----- reference log-probs -----
    def _reference_settings(self) -> dict[str, Any]:
        tok = tokenizer_of(self.processing_class)
        template = getattr(self.processing_class, "chat_template", None) or getattr(tok, "chat_template", None)
        param = next(self.model.parameters())
        return {"max_length": self.args.max_length, "dtype": str(param.dtype), "bf16": bool(self.args.bf16),
                "fp16": bool(self.args.fp16), "chat_template": template, "vocab": len(tok),
                "processor": type(self.processing_class).__name__}

    def _shards_weights(self) -> bool:
        """True when the Trainer shards the weights over ranks (FSDP, DeepSpeed ZeRO-3)."""
        return bool(self.is_fsdp_enabled or is_deepspeed_zero3_enabled())

    def prepare_reference(self, resuming: bool = False) -> None:
        """Add ``ref_chosen_logps``/``ref_rejected_logps`` to the train set, from the cache or a first pass.

        Must run before any weight update (``train`` calls it first, before a
        checkpoint is loaded). No-op with ``ref_online`` or when the columns exist.
        Without ``args.ref_cache_dir`` the first pass is kept in memory only.

        With more than one process (DDP, FSDP, DeepSpeed) or sharded weights
        (FSDP, ZeRO-3) a cache miss defers the pass to the start of training:
        it runs through the model accelerate has wrapped (each rank may hold
        only its shard, and the full model may not fit one device), see
        :meth:`run_deferred_reference`, and the values reach the batches
        through the collator's ``reference`` lookup instead of dataset columns.

        Args:
            resuming: training resumes from a checkpoint, whose weights are loaded
                before training starts. A deferred pass would see them, so an
                unsharded model then runs the pass now; a sharded one cannot.
        Raises:
            ConfigError: resuming with sharded weights and no cached reference;
                a deferred pass with a collator other than :class:`MPODataCollator`.
        """
        ds = self.train_dataset
        if self.args.ref_online or "ref_chosen_logps" in ds.column_names:
            return
        path = None  # no ref_cache_dir: compute the reference pass, keep it in memory only
        if self.args.ref_cache_dir:
            path = Path(self.args.ref_cache_dir) / f"{self._reference_key()}.parquet"
        self.ref_cache_file = path
        cached = ref_cache.load_cached(path, ds["row_hash"]) if path is not None else None
        if cached is not None:
            logger.info("reference log-probs for %d pairs read from %s", len(ds), path)
        elif self._shards_weights() or (self.accelerator.num_processes > 1 and not resuming):
            if resuming:
                raise ConfigError(f"resuming with sharded weights (FSDP, ZeRO-3) needs the reference cache the "
                                  f"first run wrote ({path or 'ref_cache_dir is off'}); it is missing, and the "
                                  "checkpoint's weights are no longer the reference")
            if not isinstance(self.data_collator, MPODataCollator):
                raise ConfigError("a reference pass through the wrapped model (several processes, FSDP, ZeRO-3) "
                                  f"needs the MPODataCollator, got {type(self.data_collator).__name__}")
            self._deferred_reference = True
            logger.info("reference log-probs for %d pairs: computed through the wrapped model when training "
                        "starts (cache %s)", len(ds), path or "off")
            return
        else:
            model = self.model
            if next(model.parameters()).device.type == "cpu":
                model = model.to(self.args.device)  # DeepSpeed ZeRO-1/2: the Trainer has not placed it yet
            cached = self._reference_pass(model, path)
        self.train_dataset = ds.add_column("ref_chosen_logps", cached[0]).add_column("ref_rejected_logps", cached[1])

    def _reference_key(self) -> str:
        """The cache key (:func:`ref_cache.cache_key`), computed on the main process and sent to the others
        (under FSDP's low-memory loading only the main process holds the loaded weights); under ZeRO-3 every
        rank computes it, since fingerprinting gathers the partitioned weights (a collective)."""
        from accelerate.utils import broadcast_object_list

        key = [None]
        if self.accelerator.is_main_process or is_deepspeed_zero3_enabled():
            key[0] = ref_cache.cache_key(ref_cache.model_fingerprint(_unwrap(self.model)),
                                         data_fingerprint(self.train_dataset), self._reference_settings())
        if self.accelerator.num_processes > 1:
            broadcast_object_list(key)
        return key[0]

    def _reference_pass(self, model: torch.nn.Module, path: Path | None) -> tuple[list[float], list[float]]:
        """Run the reference pass over the train set through ``model`` on every rank, save it (main
        process) when ``path`` is set; returns ``(chosen, rejected)`` lists, one float per pair."""
        from torch.utils.data import DataLoader

        ds = self.train_dataset
        logger.info("computing reference log-probs for %d pairs (cache %s)", len(ds), path or "off")
        start = time.perf_counter()
        loader = DataLoader(ds, batch_size=self.args.ref_batch_size or self.args.per_device_train_batch_size,
                            collate_fn=self.data_collator, shuffle=False,
                            num_workers=self.args.dataloader_num_workers)
        loader = self.accelerator.prepare(loader)
        self.reference_pass_model = type(model).__name__
        if _is_peft(model):
            with _unwrap_peft(model).disable_adapter():
                cached = ref_cache.compute_reference(model, loader, self._logps_on_device, self.accelerator)
        else:
            cached = ref_cache.compute_reference(model, loader, self._logps_on_device, self.accelerator)
        release_reference_pass(self.accelerator, loader)
        if path is not None and self.accelerator.is_main_process:
            ref_cache.save_cached(path, ds["row_hash"], *cached)
        self.accelerator.wait_for_everyone()
        self.reference_seconds = time.perf_counter() - start
        return cached

    def run_deferred_reference(self) -> None:
        """Run the reference pass that :meth:`prepare_reference` deferred, through ``self.model_wrapped``
        (the DDP or FSDP module, or the DeepSpeed engine), and hand the values to the collator by ``row_hash``.
        Called when training starts (``on_train_begin``), before the first batch; no-op otherwise."""
        if not self._deferred_reference:
            return
        self._deferred_reference = False
        chosen, rejected = self._reference_pass(self.model_wrapped, self.ref_cache_file)
        self.data_collator.reference = dict(zip(self.train_dataset["row_hash"], zip(chosen, rejected)))

    def _logps_on_device(self, model, batch):
        return response_logps(model, self._prepare_inputs(batch))

    def _reference_logps(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if "ref_chosen_logps" in inputs:
            return inputs["ref_chosen_logps"].float(), inputs["ref_rejected_logps"].float()
        if not self.args.ref_online:
            raise MmprError("the batch has no reference log-probs: call prepare_reference() or set ref_online")
        with torch.no_grad():
            if self.ref_model is not None:
                logps, _ = response_logps(self.ref_model, inputs)
            else:
                with self.accelerator.unwrap_model(self.model).disable_adapter():
                    logps, _ = response_logps(self.model_wrapped, inputs)
        return logps.float().detach().chunk(2)

    # ----- BCO reward shift -----
    def _uses_delta(self) -> bool:
        return "bco_pair" in self.args.loss_type and self.args.bco_delta != "none"

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Fetch the micro-batches of one optimizer step; in ``step`` mode with more than one,
        run a no-grad reward pass over all of them and commit ``delta`` before any backward."""
        batch_samples, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._delta_ready = False
        if self._uses_delta() and self.args.bco_delta == "step" and len(batch_samples) > 1:
            self.model.train()
            with torch.no_grad():
                for inputs in batch_samples:
                    prepared = self._prepare_inputs(inputs)
                    logps, _ = response_logps(self.model_wrapped, prepared)
                    ref_c, ref_r = self._reference_logps(prepared)
                    inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = ref_c, ref_r  # reused by compute_loss
                    chosen, rejected = logps.float().chunk(2)
                    self.baseline.accumulate(self.args.beta * torch.cat([chosen - ref_c, rejected - ref_r]))
            self.baseline.commit()
            self._delta_ready = True
        return batch_samples, num_items

    def _delta(self, training: bool, rewards: torch.Tensor) -> float:
        if not self._uses_delta():
            return 0.0
        if training and self.args.bco_delta == "step" and not self._delta_ready:
            self.baseline.update(rewards)  # one micro-batch per step: update with it, then use
        return self.baseline.mean

    # ----- loss -----
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """MPO loss of one ``[chosen; rejected]`` micro-batch (see :func:`~mmpr_builder.train.losses.mpo_loss`)."""
        training = model.training
        logps, n_tokens = response_logps(model, inputs)
        chosen, rejected = logps.chunk(2)
        chosen_len, _ = n_tokens.chunk(2)
        ref_c, ref_r = self._reference_logps(inputs)
        rewards = self.args.beta * torch.cat([chosen.detach() - ref_c, rejected.detach() - ref_r])
        delta = self._delta(training, rewards)
        out = mpo_loss(chosen, rejected, ref_c, ref_r, chosen_len, beta=self.args.beta,
                       loss_type=self.args.loss_type, loss_weights=self.args.loss_weights, delta=delta)
        if training and self._uses_delta() and self.args.bco_delta == "lagged":
            self.baseline.accumulate(rewards)
            if self.accelerator.sync_gradients:  # last micro-batch of the optimizer step
                self.baseline.commit()
        self._record(out, chosen.detach(), rejected.detach(), delta)
        return (out.loss, {"terms": out.terms}) if return_outputs else out.loss

    def _record(self, out, chosen, rejected, delta: float) -> None:
        gather = self.accelerator.gather
        for name, value in out.terms.items():
            self._metrics[f"loss/{name}"].append(gather(value.detach().reshape(1)).mean().item())
        c_r, r_r = gather(out.chosen_rewards), gather(out.rejected_rewards)
        self._metrics["rewards/chosen"].append(c_r.mean().item())
        self._metrics["rewards/rejected"].append(r_r.mean().item())
        self._metrics["rewards/margins"].append((c_r - r_r).mean().item())
        self._metrics["rewards/accuracies"].append((c_r > r_r).float().mean().item())
        self._metrics["logps/chosen"].append(gather(chosen).mean().item())
        self._metrics["logps/rejected"].append(gather(rejected).mean().item())
        self._metrics["bco/delta_used"].append(float(delta))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the averages of the loss terms, rewards and ``delta`` since the last log, then log."""
        logs = dict(logs)
        logs.update({k: sum(v) / len(v) for k, v in self._metrics.items() if v})
        if self._uses_delta():
            logs["bco/delta"] = self.baseline.mean
        self._metrics.clear()
        super().log(logs, start_time)

    # ----- checkpoints -----
    def mpo_state(self) -> dict[str, Any]:
        """What a checkpoint needs beyond transformers' state: the BCO baseline and the reference cache."""
        return {"bco_baseline": self.baseline.state_dict(), "bco_delta": self.args.bco_delta,
                "global_step": self.state.global_step,
                "ref_cache_file": str(self.ref_cache_file) if self.ref_cache_file else None}

    def save_mpo_state(self, folder: str | Path) -> None:
        """Write :meth:`mpo_state` as ``mpo_state.json`` into ``folder`` (main process only)."""
        if self.args.should_save:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / MPO_STATE_NAME).write_text(json.dumps(self.mpo_state(), indent=2) + "\n")

    def _save_checkpoint(self, model, trial):
        self.save_mpo_state(os.path.join(self._get_output_dir(trial=trial),
                                         f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"))
        super()._save_checkpoint(model, trial)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """Prepare the reference (before any checkpoint is loaded), restore ``delta`` when resuming, train."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ConfigError(f"no checkpoint to resume from in {self.args.output_dir}")
        self.prepare_reference(resuming=bool(resume_from_checkpoint))
        metrics_file = Path(self.args.output_dir) / METRICS_NAME
        if not resume_from_checkpoint and self.args.should_save and metrics_file.is_file():
            metrics_file.unlink()  # a fresh run starts a fresh log; a resumed one appends
        if resume_from_checkpoint:
            state_file = Path(resume_from_checkpoint) / MPO_STATE_NAME
            if state_file.is_file():
                self.baseline.load_state_dict(json.loads(state_file.read_text())["bco_baseline"])
            elif self._uses_delta():
                logger.warning("%s has no %s: the BCO reward shift restarts from 0", resume_from_checkpoint,
                               MPO_STATE_NAME)
        return super().train(resume_from_checkpoint=resume_from_checkpoint or None, **kwargs)
