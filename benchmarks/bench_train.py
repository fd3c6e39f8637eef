"""Benchmark: `mmpr train` (cached reference) vs TRL's DPOTrainer with the MPO loss list, same model and data.

Runs each trainer in its own process (so peak memory is its own) on the same
pair shards, the same model (default: the embedded Idefics3, float32 on CPU,
bf16 autocast on a CUDA GPU), the same batch size, seed and number of steps:

- ``mmpr``: :func:`mmpr_builder.train.run.run_mpo` with the cached reference
  (one no-grad pass first, then one model in training);
- ``mmpr-online``: the same with ``ref_online`` (a second model every step), to
  isolate what the cached reference pass buys;
- ``trl``: ``trl.DPOTrainer`` with ``loss_type=["sigmoid", "bco_pair", "sft"]``,
  ``loss_weights=[0.8, 0.2, 1.0]``, the reference loaded in the same dtype as
  the policy.

TRL settings, chosen as a user who wants TRL fast with the same loss would
(checked against TRL 1.16):

- ``gradient_checkpointing=False`` (both trainers; ``--gradient-checkpointing``
  turns it on in both). TRL >= 1.0 defaults it to True, ``TrainingArguments``
  (and so mmpr) to False; left at TRL's default it recomputes every forward
  in the backward pass (about 1.2x slower steps, less activation memory), which
  compares two different settings;
- ``bf16`` only on a CUDA GPU (TRL defaults it to True everywhere);
- ``precompute_ref_log_probs=True`` when no row has an image (``--text-only``):
  one reference pass before training, as mmpr's cached reference, timed as its
  "ref pass s" (datasets' cache goes in the run's work folder so it is not
  reused). TRL refuses it for vision data (an ``images`` column), so with image
  rows its reference model runs online, a second forward every step;
- ``max_length=None`` (no truncation, as mmpr here), ``dataloader_num_workers=0``
  (both); ``padding_free`` stays False (TRL 1.16 turns it off with a warning);
  ``use_logits_to_keep`` no longer exists in TRL 1.x.

Where TRL's remaining step time goes on CPU (cProfile of 6 steps, embedded
Idefics3: 30 layers, hidden 576, vocabulary 49,216; TRL ~2.5 s/step vs mmpr
~1.6 s/step): (1) the online reference forward (~0.4 s/step with image rows);
(2) TRL's fused LM head (``trl.kernels.chunked_logprob``): without Triton
(CPU) it projects *every* position, prompt included, through the 49k-row
head in float32 tiles, for policy and reference, computing entropy, mean
logits and top-1 besides the log-probs, and recomputes the tiles in the
backward pass (~0.3 s forward + ~0.35 s backward per step); mmpr scores only
the response positions (``logits_to_keep``). Neither is a TRL setting. On a
CUDA device TRL's head scores only the labelled positions with Triton.
The "others CPU" column is the share of the machine's CPUs other processes
used during each run: on a shared machine a busy neighbour can slow one run
many times over (a 14x "gap" seen once was that), so such rows are flagged.

Prints pairs/s of the training loop (``train_runtime``), end-to-end pairs/s
including mmpr's reference pass, peak memory above the process's baseline
(the baseline taken after imports, before any model is loaded; max RSS on CPU,
``torch.cuda.max_memory_allocated`` on GPU), the loss at step 1 (mmpr with
``bco_delta=none``, i.e. no BCO shift, as TRL >= 0.29; batch size 1 so TRL's
token-weighted SFT equals ours) and the ratios. On a shared CPU the timings
are noisy: the load average is printed with them.

    python benchmarks/bench_train.py [--steps N] [--pairs 8] [--data DIR] [--text-only] [--gradient-checkpointing]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _current_memory_mb() -> float:
    """Memory in use now: allocated CUDA memory on a GPU, else the resident set (VmRSS)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.memory_allocated() / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_memory_mb()  # no /proc: the high-water mark so far


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all processes of the machine spent busy since boot (``/proc/stat``), None without /proc."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _others_share(wall: float, busy0: float | None, own0: float) -> float | None:
    """Share of the machine's CPUs (0..1) used by other processes during a run of ``wall`` seconds: the
    machine's busy CPU time minus the run's own, over ``wall`` x CPUs. Above ~0.1 the run's timings are
    not its own (on a shared machine, another job slowed it down)."""
    busy1 = _busy_cpu_seconds()
    if busy0 is None or busy1 is None:
        return None
    others = (busy1 - busy0) - (_children_cpu_seconds() - own0)
    return max(0.0, others) / (wall * (os.cpu_count() or 1))


def _step_timer():
    """A TrainerCallback recording the wall time of each optimizer step (same for both trainers)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.wall, self.cpu, self._t = [], [], None

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = (time.perf_counter(), time.process_time())

        def on_step_end(self, args, state, control, **kwargs):
            self.wall.append(time.perf_counter() - self._t[0])
            self.cpu.append(time.process_time() - self._t[1])

        def summary(self) -> dict:
            """Seconds per step after step 1 (optimizer state creation, lazy initialisation): wall and CPU."""
            wall, cpu = self.wall[1:] or self.wall, self.cpu[1:] or self.cpu
            return {"step_seconds": sum(wall) / len(wall), "step_cpu_seconds": sum(cpu) / len(cpu)}

    return StepTimer()


def _common(args) -> dict:
    """Training settings given to both trainers. ``gradient_checkpointing`` and ``bf16`` are set explicitly:
    TRL's defaults (both on) differ from ``TrainingArguments``' (both off), which mmpr keeps."""
    import torch

    return dict(per_device_train_batch_size=args.batch_size, max_steps=args.steps, learning_rate=1e-5,
                lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, seed=0, logging_steps=1,
                report_to="none", save_strategy="no", disable_tqdm=True, beta=0.1,
                bf16=torch.cuda.is_available(), dataloader_num_workers=0,
                gradient_checkpointing=args.gradient_checkpointing)


def run_mmpr(args, online: bool) -> dict:
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.train import mpo_trainer
    from mmpr_builder.train.mpo_config import MPOConfig
    from mmpr_builder.train.run import run_mpo

    timer = _step_timer()
    init = mpo_trainer.MPOTrainer.__init__

    def init_with_timer(self, *a, **kw):  # run_mpo builds the trainer; add the same callback as for TRL
        init(self, *a, **kw)
        self.add_callback(timer)

    mpo_trainer.MPOTrainer.__init__ = init_with_timer
    out = Path(args.work) / ("mmpr-online" if online else "mmpr")
    cfg = MPOConfig(output_dir=str(out), ref_online=online, bco_delta="none", model_dtype="float32",
                    ref_cache_dir=str(Path(args.work) / "ref_cache"), max_length=None, **_common(args))
    spec = resolve_model(args.model)
    summary = run_mpo(args.data, cfg, spec.path, model_name=spec.name, trust_remote_code=spec.trust_remote_code)
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    return {"train_seconds": summary["metrics"]["train_runtime"], "reference_seconds": summary["reference_seconds"],
            **timer.summary(), "pairs": summary["global_step"] * args.batch_size,
            "loss_step1": first["loss"], "peak_mb": _peak_memory_mb() - args.baseline_mb}


def run_trl(args) -> dict:
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.train.data import find_shards
    from mmpr_builder.train.run import load_model, load_processor

    path = resolve_model(args.model).path
    # datasets' cache (parquet conversion, TRL's cached reference log-probs) inside this run's work folder: a
    # second benchmark run must not find the first one's reference log-probs
    ds = Dataset.from_parquet([str(f) for f in find_shards(args.data)], cache_dir=str(Path(args.work) / "hf"))
    has_images = any(len(images) for images in ds["images"])
    # TRL refuses precompute_ref_log_probs for vision data (an "images" column, even of empty lists): keep the
    # column only when some row has an image, and precompute the reference log-probs otherwise, as mmpr does
    ds = ds.select_columns(["prompt", "chosen", "rejected"] + (["images"] if has_images else []))
    processor = load_processor(path)
    model, ref = load_model(path, torch.float32), load_model(path, torch.float32)
    cfg = DPOConfig(output_dir=str(Path(args.work) / "trl"), loss_type=["sigmoid", "bco_pair", "sft"],
                    loss_weights=[0.8, 0.2, 1.0], max_length=None, precompute_ref_log_probs=not has_images,
                    **_common(args))
    timer = _step_timer()
    precompute = DPOTrainer._precompute_ref_logps
    reference_seconds = []

    def timed_precompute(self, *a, **kw):  # runs inside DPOTrainer.__init__: timed as mmpr's reference pass
        t0 = time.perf_counter()
        out = precompute(self, *a, **kw)
        reference_seconds.append(time.perf_counter() - t0)
        return out

    DPOTrainer._precompute_ref_logps = timed_precompute
    trainer = DPOTrainer(model=model, ref_model=ref, args=cfg, train_dataset=ds, processing_class=processor,
                         callbacks=[timer])
    result = trainer.train()
    return {"train_seconds": result.metrics["train_runtime"], "reference_seconds": sum(reference_seconds),
            **timer.summary(), "pairs": result.global_step * args.batch_size,
            "loss_step1": trainer.state.log_history[0]["loss"], "peak_mb": _peak_memory_mb() - args.baseline_mb}


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f}%"


def make_data(folder: Path, pairs: int, text_only: bool) -> Path:
    """Pair shards from sample_data (GSM8K text pairs and easy-VQA image pairs), as the tests build them."""
    from tests.train.pair_shards import math_rows, vqa_rows, write_shard

    rows = math_rows(pairs, max_words=40) if text_only else math_rows(pairs // 2, max_words=40) + vqa_rows(pairs - pairs // 2)
    write_shard(rows, folder / "data" / "shard-00000.parquet")
    return folder


def count_pairs(data: str) -> int:
    """Pair rows in the shards under ``data`` (Parquet metadata only)."""
    import pyarrow.parquet as pq

    from mmpr_builder.train.data import find_shards

    return sum(pq.ParquetFile(f).metadata.num_rows for f in find_shards(data))


def child(args) -> None:
    """One run in this process. Its peak memory is counted above the baseline taken here, after the
    libraries of both trainers are imported and before any model or data is loaded."""
    import mmpr_builder.train.mpo_trainer  # noqa: F401
    import mmpr_builder.train.run  # noqa: F401
    import trl  # noqa: F401

    args.baseline_mb = _current_memory_mb()
    result = {"mmpr": lambda: run_mmpr(args, False), "mmpr-online": lambda: run_mmpr(args, True),
              "trl": lambda: run_trl(args)}[args.run]()
    Path(args.result).write_text(json.dumps(result | {"baseline_mb": args.baseline_mb}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model alias/folder (default: embedded)")
    p.add_argument("--data", default=None, help="pair shards (default: built from sample_data)")
    p.add_argument("--pairs", type=int, default=8, help="pairs to build when --data is not given")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps (default: one epoch, so both trainers use every pair the reference "
                        "pass scored and end-to-end pairs/s compares the same work)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--text-only", action="store_true",
                   help="text rows only (TRL then precomputes its reference log-probs, as mmpr caches them)")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="gradient checkpointing in both trainers (default: off in both)")
    p.add_argument("--run", choices=["mmpr", "mmpr-online", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        return child(args)

    with tempfile.TemporaryDirectory(prefix="bench_train_") as work:
        data = args.data or str(make_data(Path(work) / "pairs", args.pairs, args.text_only))
        if args.steps is None:
            args.steps = -(-count_pairs(data) // args.batch_size)
        results, load = {}, [os.getloadavg()[0]]
        for name in ("mmpr", "mmpr-online", "trl"):
            out = Path(work) / f"{name}.json"
            cmd = [sys.executable, __file__, "--run", name, "--work", work, "--result", str(out), "--data", data,
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
            if args.model:
                cmd += ["--model", args.model]
            if args.gradient_checkpointing:
                cmd.append("--gradient-checkpointing")
            t0, busy0, own0 = time.perf_counter(), _busy_cpu_seconds(), _children_cpu_seconds()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            others = _others_share(time.perf_counter() - t0, busy0, own0)
            if proc.returncode != 0:
                print(f"{name} failed:\n{proc.stderr[-3000:]}")
                results[name] = None
                continue
            results[name] = json.loads(out.read_text()) | {"wall_seconds": time.perf_counter() - t0,
                                                            "others_share": others}
            load.append(os.getloadavg()[0])

    print(f"model={args.model or 'embedded'} data={args.data or f'{args.pairs} sample pairs'}"
          f"{' (text only)' if args.text_only else ' (text + image rows)'} steps={args.steps} "
          f"batch={args.batch_size} gradient checkpointing {'on' if args.gradient_checkpointing else 'off'} "
          f"load average {', '.join(f'{x:.1f}' for x in load)}")
    print(f"{'run':<12} {'pairs/s':>8} {'CPU s/pair':>10} {'loop pairs/s':>12} {'e2e pairs/s':>11} "
          f"{'ref pass s':>10} {'peak MiB':>9} {'base MiB':>9} {'loss@1':>9} {'others CPU':>10}")
    for name, r in results.items():
        if r is None:
            print(f"{name:<12} failed")
            continue
        e2e = r["pairs"] / (r["train_seconds"] + r["reference_seconds"])
        print(f"{name:<12} {args.batch_size / r['step_seconds']:>8.3f} "
              f"{r['step_cpu_seconds'] / args.batch_size:>10.2f} {r['pairs'] / r['train_seconds']:>12.3f} "
              f"{e2e:>11.3f} {r['reference_seconds']:>10.1f} {r['peak_mb']:>9.0f} {r['baseline_mb']:>9.0f} "
              f"{r['loss_step1']:>9.4f} {_percent(r['others_share']):>10}")
    print("pairs/s and CPU s/pair: mean over steps 2..N (wall clock and process CPU time); loop: whole train(); "
          "e2e: train() + the reference pass (mmpr's; TRL's precompute with --text-only); peak MiB: peak memory above the process's baseline (base MiB: "
          "after imports, before loading anything; RSS on CPU, allocated CUDA memory on a GPU); others CPU: share of the "
          "machine's CPUs other processes used during the run")
    busy = [n for n, r in results.items() if r and (r["others_share"] or 0) > 0.1]
    if busy:
        print(f"warning: other processes used over 10% of the CPUs during {', '.join(busy)}: "
              "those timings are not comparable; run again on an idle machine")
    m, o, t = results.get("mmpr"), results.get("mmpr-online"), results.get("trl")
    if m and t:
        print(f"mmpr / trl: {t['step_seconds'] / m['step_seconds']:.2f}x pairs/s "
              f"({t['step_cpu_seconds'] / m['step_cpu_seconds']:.2f}x by CPU time), "
              f"{(t['train_seconds'] + t['reference_seconds']) / (m['train_seconds'] + m['reference_seconds']):.2f}x "
              f"end to end (goal >= 1.3x); "
              f"peak memory above baseline {m['peak_mb'] / t['peak_mb']:.2f}x TRL's (goal <= 0.6x); "
              f"loss at step 1 differs by {abs(m['loss_step1'] - t['loss_step1']):.2e}")
    if m and o:
        print(f"mmpr cached / mmpr --ref-online: {o['step_seconds'] / m['step_seconds']:.2f}x pairs/s "
              f"({o['step_cpu_seconds'] / m['step_cpu_seconds']:.2f}x by CPU time)")


if __name__ == "__main__":
    main()
