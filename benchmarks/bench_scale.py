"""Generation throughput of the three engines on the same items and seed: `vllm` (in-process),
`ray` with 1 and 2 (or ``--replicas``) replicas, and `openai` against a local `vllm serve`.

Each engine runs one `mmpr build` (a child process, so each starts with a clean memory) of the
same N items (the mathqa sample items repeated under new ids), K samples each, correctness pairs;
the figure is the build's own ``tokens_per_second`` (generated tokens / seconds the engine ran,
labelling and writing included, engine start excluded). Prints each figure and its ratio to `vllm`.

What to expect:

- One box with G GPUs: `ray` with R <= G replicas (``--replicas 1,2,4,8``) should approach R times
  the 1-replica figure while the items keep every replica busy (``--items`` >= R x
  ``ray_batch_size``); the driver (labelling, pairing, Parquet) and Ray Data's per-block overhead
  are what is left over. `ray` with 1 replica is a little under `vllm`: a replica samples one block
  at a time (each block waits for its slowest request), where the in-process engine refills its
  batch continuously. `openai` against one `vllm serve` is close to `vllm` (HTTP and base64 images
  cost little next to sampling); behind a load balancer over S servers it scales like `ray`.
- A CPU box: replicas share the same cores, so 2 replicas are not faster than 1 (each gets half the
  cores); the figures show the overhead of each path, not scaling. On a shared machine they also
  move with the other load: compare ratios within one run only.

    .venv/bin/python benchmarks/bench_scale.py [--items 16] [--samples 4] [--max-tokens 96]
        [--replicas 1,2] [--engines vllm,ray,openai]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_build import repeated_items  # same folder: this script runs as benchmarks/bench_scale.py

REPO = Path(__file__).resolve().parents[1]
MMPR = [sys.executable, "-m", "mmpr_builder"]


def build(args, tmp: Path, name: str, extra: list[str]) -> dict:
    """One `mmpr build` of the benchmark items; returns its summary (JSON)."""
    out = tmp / name
    cmd = MMPR + ["build", "--source", "mathqa", "--data", str(tmp / "items.jsonl"), "--out", str(out),
                  "--methods", "correctness", "--num-samples", str(args.samples), "--max-tokens", str(args.max_tokens),
                  "--seed", "0", "--dtype", args.dtype, "--inflight-items", str(args.items), "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    text = proc.stdout  # the summary is the last JSON object (vLLM may log to stdout before it)
    summary = json.loads(text[text.rindex("\n{") + 1:] if not text.startswith("{") else text)
    summary["process_seconds"] = time.perf_counter() - t0
    return summary


class VllmServe:
    """`vllm serve` of the embedded model on 127.0.0.1 while in a ``with`` block (its URL: ``.url``)."""

    def __init__(self, dtype: str, log: Path):
        self.dtype, self.log = dtype, log

    def __enter__(self):
        from mmpr_builder.engines.vllm import configure_cpu_env, is_cpu_build
        from mmpr_builder.models.aliases import resolve_model

        model = resolve_model(None)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ)
        if is_cpu_build():
            saved = dict(os.environ)
            configure_cpu_env()
            env = dict(os.environ)
            os.environ.clear()
            os.environ.update(saved)
        dtype = "float32" if self.dtype == "auto" and is_cpu_build() else self.dtype
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model.path,
               "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype, "--seed", "0",
               "--max-model-len", str(model.max_model_len), "--enforce-eager", "--disable-log-stats",
               "--limit-mm-per-prompt", json.dumps({"image": model.limit_mm_per_prompt}),
               "--no-enable-chunked-prefill", "--max-num-batched-tokens", "8192"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"vllm serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("vllm serve not healthy after 600 s")
            time.sleep(2)
        self.url = base + "/v1"
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--replicas", default="1,2", help="comma list of ray replica counts")
    ap.add_argument("--engines", default="vllm,ray,openai")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()
    engines = args.engines.split(",")
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mmpr-bench-scale-") as d:
        tmp = Path(d)
        repeated_items(REPO / "sample_data" / "mathqa" / "items.jsonl", args.items, tmp / "items.jsonl")
        if "vllm" in engines:
            figures["vllm"] = build(args, tmp, "vllm", [])
        if "ray" in engines:
            for r in (int(x) for x in args.replicas.split(",")):
                figures[f"ray x{r}"] = build(args, tmp, f"ray{r}", ["--engine", "ray", "--replicas", str(r)])
        if "openai" in engines:
            with VllmServe(args.dtype, tmp / "serve.log") as server:
                figures["openai (vllm serve)"] = build(args, tmp, "openai", ["--engine", "openai",
                                                                              "--base-url", server.url])
    base = figures.get("vllm", {}).get("tokens_per_second")
    print(f"{args.items} items x {args.samples} samples, max {args.max_tokens} tokens, {os.cpu_count()} CPUs")
    print(f"{'engine':<22}{'tokens':>9}{'tok/s':>9}{'vs vllm':>9}{'wall s':>9}")
    for name, s in figures.items():
        tps = s["tokens_per_second"] or 0.0
        ratio = f"{tps / base:.2f}" if base else "-"
        print(f"{name:<22}{s['generated_tokens']:>9}{tps:>9.1f}{ratio:>9}{s['process_seconds']:>9.0f}")


if __name__ == "__main__":
    main()
