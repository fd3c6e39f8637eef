"""Reference log-probs: computed once in a first pass and cached on disk.

MPO's reference model is the policy before training, so its summed response
log-probs are fixed numbers per pair. Computing them once (one no-grad
forward per pair, rows with images included) lets training hold one model
instead of two. The cache file is
``<cache_dir>/<key>.parquet`` (``cache_dir`` is ``MPOConfig.ref_cache_dir``, which
``mmpr train`` defaults to ``$MMPR_CACHE/ref_logps``) with columns ``row_hash``, ``ref_chosen_logps``,
``ref_rejected_logps`` (float64, one row per pair, in dataset order), where
``key`` hashes

- the model weights (:func:`model_fingerprint`: names, shapes, dtypes and a
  strided sample of every tensor, LoRA adapters excluded),
- the data (:func:`~mmpr_builder.train.data.data_fingerprint`: rendered texts
  and image bytes of every kept row, in order), and
- the tokenisation and numeric settings (chat template, max_length, dtype,
  autocast), see :func:`cache_key`.

A file is written under a temporary name and renamed, so an interrupted pass
never leaves a partial cache. TRL refuses this for vision data
(``precompute_ref_log_probs`` raises for VLMs); InternVL's trainer runs the
second model every step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from mmpr_builder.errors import MmprError

CACHE_VERSION = "1"
_SAMPLES_PER_TENSOR = 64


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 over each parameter's name, shape, dtype and 64 evenly strided values.

    Cheap (no full pass over the weights) yet changes when any tensor is
    replaced or retrained. LoRA parameters (``lora_`` in the name) are left
    out and peft's name prefixes dropped: the reference is the base model, so
    a LoRA run reuses the cache of a full run on the same weights.

    Parameters partitioned by DeepSpeed ZeRO-3 (loaded under ``zero.Init``,
    each rank holding a slice) are gathered one at a time first, so the
    fingerprint is that of the full weights; this is then a collective: every
    rank must call it (not run here: DeepSpeed is not installed on the test machine).
    """
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if "lora_" in name:
            continue
        name = name.replace("base_model.model.", "").replace(".base_layer", "")  # peft-wrapped = same base
        with _gathered(p):
            h.update(f"{name}|{tuple(p.shape)}|{p.dtype}".encode())
            flat = p.detach().reshape(-1)
            if flat.numel():
                step = max(1, flat.numel() // _SAMPLES_PER_TENSOR)
                h.update(flat[::step][:_SAMPLES_PER_TENSOR].float().cpu().numpy().tobytes())
    return h.hexdigest()


def _gathered(param: torch.nn.Parameter):
    """A context in which a ZeRO-3 partitioned ``param`` holds its full tensor (on every rank); a no-op
    for other parameters. Source: ``deepspeed.zero.GatheredParameters``."""
    if not hasattr(param, "ds_id"):
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters([param], modifier_rank=None)


def cache_key(model_fp: str, data_fp: str, settings: dict[str, Any]) -> str:
    """First 32 hex digits of SHA-256 over the model and data fingerprints and the settings (JSON)."""
    blob = json.dumps({"v": CACHE_VERSION, "model": model_fp, "data": data_fp, "settings": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load_cached(path: Path, row_hashes: list[str]) -> tuple[list[float], list[float]] | None:
    """Read a cache file; ``None`` when it is absent or does not match ``row_hashes`` row for row."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    table = pq.read_table(path)
    if table.column("row_hash").to_pylist() != list(row_hashes):
        return None
    return table.column("ref_chosen_logps").to_pylist(), table.column("ref_rejected_logps").to_pylist()


def save_cached(path: Path, row_hashes: list[str], chosen: list[float], rejected: list[float]) -> None:
    """Write a cache file atomically (temporary name, then rename).

    Raises:
        MmprError: the three lists differ in length.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (len(row_hashes) == len(chosen) == len(rejected)):
        raise MmprError(f"reference pass returned {len(chosen)}/{len(rejected)} values for {len(row_hashes)} rows")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"row_hash": pa.array(row_hashes, pa.string()),
                      "ref_chosen_logps": pa.array(chosen, pa.float64()),
                      "ref_rejected_logps": pa.array(rejected, pa.float64())})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def compute_reference(model: torch.nn.Module, dataloader, logps_fn, accelerator) -> tuple[list[float], list[float]]:
    """One no-grad pass: summed reference log-probs of every pair, in dataloader order.

    Args:
        model: the reference (the policy before training; for LoRA, the caller
            disables the adapters).
        dataloader: ``shuffle=False`` loader of collated ``[chosen; rejected]``
            batches, already ``accelerator.prepare``-d (so split over ranks).
        logps_fn: ``(model, batch) -> (logps (2B,), n_tokens (2B,))``.
        accelerator: gathers the values of all ranks (``gather_for_metrics``
            drops the padding rows of the last batch).
    Returns:
        ``(chosen, rejected)`` lists of floats, one per pair.
    """
    chosen: list[torch.Tensor] = []
    rejected: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), accelerator.autocast():
            for batch in dataloader:
                logps, _ = logps_fn(model, batch)
                c, r = logps.float().chunk(2)
                c, r = accelerator.gather_for_metrics((c, r))
                chosen.append(c.cpu())
                rejected.append(r.cpu())
    finally:
        model.train(was_training)
    return torch.cat(chosen).double().tolist(), torch.cat(rejected).double().tolist()
