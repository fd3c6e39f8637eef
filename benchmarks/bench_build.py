"""Throughput and memory of `mmpr build` against raw vLLM on the same prompts and seeds.

1. Throughput (one process, one engine): the streaming build (prompting, generation, labelling,
   pairing, DropoutNTP continuations, Parquet writing) on N items, timed end to end; then one raw
   vLLM run over the very same requests (the items' sampling prompts and every continuation prompt
   the build made), all queued at once (``LLM.enqueue_chat`` + ``wait_for_completion``), the upper
   bound. Items repeat the recipe's sample items under new ids; responses have a long tail
   (``--max-tokens`` well above the median length). Prints both tokens/s and the ratio (goal >= 0.97).
2. Memory: peak RSS of `mmpr build` (a child process) at 1x and 10x ``--rss-items`` items with short
   responses and the same number of items in flight (half of 1x), so that only growth with the
   dataset's size shows (goal: within 10%).

    .venv/bin/python benchmarks/bench_build.py [--items 512] [--samples 8] [--max-tokens 512]
        [--rss-items 64] [--dtype auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repeated_items(src: Path, n: int, dest: Path) -> Path:
    """Write ``n`` items cycling through ``src``'s rows, each under a new id (``<id>-r<k>``)."""
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    with dest.open("w") as f:
        for k in range(n):
            row = dict(rows[k % len(rows)])
            row["id"] = f"{row['id']}-r{k // len(rows)}"
            f.write(json.dumps(row) + "\n")
    return dest


def throughput(args, tmp: Path) -> None:
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import assemble
    from mmpr_builder.engines.vllm import Engine
    from mmpr_builder.models.aliases import resolve_model

    data = repeated_items(REPO / "sample_data" / "mathqa" / "items.jsonl", args.items, tmp / "items.jsonl")
    cfg = assemble("mathqa", data=data, recipe_flags={
        "methods": "correctness,dropout_ntp",
        "sampling": {"num_samples": args.samples, "max_tokens": args.max_tokens},
        "pairing": {"too_easy_to_dropout_ntp": True}}, engine_flags={"dtype": args.dtype},
        run_flags={"out_dir": str(tmp / "out")})
    engine = Engine(resolve_model(None), cfg.engine, seed=0)
    requests = []
    submit = engine.submit

    def recording_submit(request):
        requests.append(request)
        return submit(request)

    def mmpr(k: int) -> tuple[dict, float]:
        t0 = time.perf_counter()
        summary = run_build(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out_dir=str(tmp / f"out{k}"))),
                            engine=engine, progress=False)
        return summary, time.perf_counter() - t0

    def raw() -> tuple[int, float]:
        from vllm import SamplingParams

        t0 = time.perf_counter()
        for r in requests:
            s = r.sampling
            engine.llm.enqueue_chat(r.messages, SamplingParams(n=r.n, temperature=s.temperature, top_p=s.top_p,
                                                               top_k=s.top_k, max_tokens=s.max_tokens, seed=r.seed),
                                    use_tqdm=False, add_generation_prompt=not r.continue_final_message,
                                    continue_final_message=r.continue_final_message)
        outs = engine.llm.wait_for_completion(use_tqdm=False)
        return sum(len(o.token_ids) for out in outs for o in out.outputs), time.perf_counter() - t0

    # alternate mmpr and raw (kernel set-up costs fall on whichever runs first); best of each
    engine.submit = recording_submit
    summary, mmpr_s = mmpr(0)
    engine.submit = submit
    raw_tokens, raw_s = raw()
    for k in range(1, args.repeats):
        mmpr_s = min(mmpr_s, mmpr(k)[1])
        raw_s = min(raw_s, raw()[1])
    mmpr_tokens = summary["generated_tokens"]
    lengths = sorted(summary["tokens"]["response"].items())
    print(f"items {args.items} x K={args.samples}, max_tokens {args.max_tokens}, dtype {engine.dtype}; "
          f"requests {len(requests)} ({len(requests) - args.items} DropoutNTP continuations); "
          f"response tokens {dict(lengths)}")
    print(f"pairs {summary['pairs']}")
    print(f"mmpr build:      {mmpr_tokens} tokens in {mmpr_s:.1f} s = {mmpr_tokens / mmpr_s:.1f} tokens/s (end to end)")
    print(f"raw vLLM (all queued at once): {raw_tokens} tokens in {raw_s:.1f} s = {raw_tokens / raw_s:.1f} tokens/s")
    print(f"ratio mmpr/raw:  {(mmpr_tokens / mmpr_s) / (raw_tokens / raw_s):.3f}  (goal >= 0.97)")


def peak_rss_mib(n: int, tmp: Path, dtype: str, inflight: int) -> float:
    """Peak RSS (MiB) of a `mmpr build` child process over ``n`` repeated mathqa items, 16-token responses,
    ``inflight`` items in the engine at once (below ``n``, so that only the dataset size differs)."""
    data = repeated_items(REPO / "sample_data" / "mathqa" / "items.jsonl", n, tmp / f"rss-{n}.jsonl")
    # a fresh wrapper per size: RUSAGE_CHILDREN's ru_maxrss (KiB) is the peak of that one build
    wrapper = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
               "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    cmd = [sys.executable, "-m", "mmpr_builder", "build", "--source", "mathqa", "--data", str(data), "--max-tokens",
           "16", "--num-samples", "8", "--dtype", dtype, "--inflight-items", str(inflight), "--out", str(tmp / f"rss-{n}")]
    rc, kib = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=REPO,
                             check=True).stdout.split()
    if rc != "0":
        raise SystemExit(f"`{' '.join(cmd)}` failed with status {rc}")
    return int(kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--rss-items", type=int, default=64, help="memory check at this many items and 10x (0: skip)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="alternate mmpr and raw this many times; best of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.rss_items:
            inflight = max(1, args.rss_items // 2)
            small = peak_rss_mib(args.rss_items, tmp, args.dtype, inflight)
            large = peak_rss_mib(10 * args.rss_items, tmp, args.dtype, inflight)
            print(f"peak RSS: {small:.0f} MiB at {args.rss_items} items, {large:.0f} MiB at {10 * args.rss_items} "
                  f"items, {inflight} in flight ({(large / small - 1) * 100:+.1f}%; goal within 10%)")
        if args.items:
            throughput(args, tmp)


if __name__ == "__main__":
    main()
