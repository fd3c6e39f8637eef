"""Generation throughput of the three engines on the same requests: `vllm` (in-process), `ray` with
1 and 2 (or ``--replicas``) replicas, and `openai` against a local `vllm serve`.

Each engine runs in its own child process (a clean memory) over the very same requests: the
sampling requests of N items (the mathqa sample items repeated under new ids; K samples each, the
run seed 0 and so the same per-item seeds), made by the build's own labeller. Each child:

1. starts the engine (``startup s``): for `vllm` the model loaded; for `ray` the local cluster
   (the replicas start with the stream, in step 2); for `openai` the client, plus the
   `vllm serve` start until ``/health`` answers, timed by this script (``client+server``);
2. warms it up (``warm-up s``): 2 x replicas short requests; for `ray` this starts the Ray Data
   stream and waits until every replica has loaded its model (``wait_for_min_actors_s``);
3. times ``engine.generate`` over all N requests at once: ``tok/s`` = generated tokens / those
   seconds (generation only: no labelling, pairing or writing).

Prints each figure, its ratio to `vllm`, and how many requests got exactly the texts `vllm` gave
(all K samples; pair ids hash the texts, so this is the share of items whose pair ids agree).

What to expect:

- One box with G GPUs: `ray` with R <= G replicas (``--replicas 1,2,4,8``) should approach R times
  the 1-replica figure while the requests keep every replica busy (``--items`` well above R x what
  fills one replica's batch); Ray Data's per-block overhead and the driver are what is left over.
  `ray` with 1 replica is close to `vllm` (a replica is the same streaming engine). `openai` against
  one `vllm serve` is close to `vllm` (HTTP and base64 images cost little next to sampling); behind
  a load balancer over S servers it scales like `ray`.
- A CPU box: replicas share the same cores, so the figures show the overhead of each path, not
  scaling. With the tiny embedded model one engine's step is mostly Python work that leaves a core
  idle, so two processes (2 replicas, or `vllm serve`'s API server beside its engine) can beat the
  in-process engine even on 2 cores. On a shared machine the figures also move with the other load:
  compare ratios within one run only.

Measured on 2 shared CPU cores (other tests running beside it), 8 items x 4 samples, max 96 tokens,
float32, 2976 tokens each: `vllm` 36.4 tok/s; `ray` x1 26.8 (0.73); `ray` x2 51.5 (1.41);
`openai` 51.2 (1.41); every engine gave the texts of `vllm` for 8 of 8 requests. Start-up: `vllm`
32 s; `ray` 16-17 s + 42 s (x1) / 78 s (x2) until its replicas were up; `openai` 58 s of
`vllm serve` start.
- Same texts as `vllm`: all requests on a batch-invariant engine (vLLM-CPU float32 was, on an
  AVX-512 CPU); where the kernels are not (GPUs without vLLM's batch-invariant mode; AVX2-only CPUs
  not established), possibly fewer, as a request's batch differs between layouts (see README,
  "Scaling out").

    .venv/bin/python benchmarks/bench_scale.py [--items 16] [--samples 4] [--max-tokens 96]
        [--replicas 1,2] [--engines vllm,ray,openai] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
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


def requests_of(cfg):
    """The items' sampling requests, as a build makes them (labeller, per-item seeds of run seed 0)."""
    from mmpr_builder.build import make_provenance
    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.sources import iter_items

    recipe = cfg.recipe
    labeler = ItemLabeler(recipe, make_provenance(cfg, model_name="embedded"), tokenizer=None)
    return [labeler.sample_request(labeler.prepare(item))
            for item in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                                   answer_type=recipe.labeler.answer_type)]


def child(args) -> None:
    """One engine: start, warm up, time ``generate`` over every request; JSON to ``args.result``."""
    from mmpr_builder.build_config import assemble
    from mmpr_builder.engines import Sampling, make_engine
    from mmpr_builder.models.aliases import resolve_model

    engine_flags = {"dtype": args.dtype, "backend": args.child}
    if args.child == "ray":
        engine_flags["replicas"] = args.child_replicas
    if args.child == "openai":
        engine_flags["base_url"] = args.base_url
    cfg = assemble("mathqa", data=Path(args.items_file), recipe_flags={
        "methods": "correctness", "sampling": {"num_samples": args.samples, "max_tokens": args.max_tokens}},
        engine_flags=engine_flags, run_flags={"seed": 0})
    requests = requests_of(cfg)
    if args.child == "ray":  # the pool's start waits for every replica (by default Ray Data starts them lazily)
        import ray.data

        ray.data.DataContext.get_current().wait_for_min_actors_s = 1800
    warm = [dataclasses.replace(r, key=f"warm-up-{k}", n=1, sampling=Sampling(temperature=1.0, max_tokens=8))
            for k, r in enumerate((requests * 2)[:2 * args.child_replicas])]
    t0 = time.perf_counter()
    engine = make_engine(resolve_model(None), cfg.engine, seed=0)
    try:
        startup = time.perf_counter() - t0
        engine.generate(warm)  # the Ray Data stream and its replicas start on the first request
        warmup = time.perf_counter() - t0 - startup
        t0 = time.perf_counter()
        results = engine.generate(requests)
        seconds = time.perf_counter() - t0
    finally:
        engine.close()
    errors = [f"{r.key}: {r.error}" for r in results if r.error]
    tokens = sum(r.completion_tokens if r.completion_tokens is not None else sum(x.num_tokens for x in r.responses)
                 for r in results)
    Path(args.result).write_text(json.dumps({
        "startup_s": startup, "warmup_s": warmup, "seconds": seconds, "tokens": tokens, "errors": errors,
        "texts": {r.key: [x.text for x in r.responses] for r in results}}))


def run_child(args, tmp: Path, name: str, backend: str, replicas: int = 1, base_url: str | None = None) -> dict:
    """Run :func:`child` for one engine in a new process; returns its figures."""
    result = tmp / f"{name}.json"
    cmd = [sys.executable, __file__, "--child", backend, "--child-replicas", str(replicas),
           "--items-file", str(tmp / "items.jsonl"), "--result", str(result), "--samples", str(args.samples),
           "--max-tokens", str(args.max_tokens), "--dtype", args.dtype]
    if base_url:
        cmd += ["--base-url", base_url]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(result.read_text())
    if figures["errors"]:
        raise SystemExit(f"{name}: failed requests: {figures['errors'][:3]}")
    return figures


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
    ap.add_argument("--json", type=Path, help="also write the figures (no texts) to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # the rest: one engine's child process
    ap.add_argument("--child-replicas", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--items-file", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    engines = args.engines.split(",")
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mmpr-bench-scale-") as d:
        tmp = Path(d)
        repeated_items(REPO / "sample_data" / "mathqa" / "items.jsonl", args.items, tmp / "items.jsonl")
        if "vllm" in engines:
            figures["vllm"] = run_child(args, tmp, "vllm", "vllm")
        if "ray" in engines:
            for r in (int(x) for x in args.replicas.split(",")):
                figures[f"ray x{r}"] = run_child(args, tmp, f"ray{r}", "ray", replicas=r)
        if "openai" in engines:
            t0 = time.perf_counter()
            with VllmServe(args.dtype, tmp / "serve.log") as server:
                serve_startup = time.perf_counter() - t0
                figures["openai (vllm serve)"] = run_child(args, tmp, "openai", "openai", base_url=server.url)
                figures["openai (vllm serve)"]["server_startup_s"] = serve_startup
    base = figures.get("vllm")
    print(f"{args.items} items x {args.samples} samples, max {args.max_tokens} tokens, {os.cpu_count()} CPUs; "
          "generation timed after start-up and warm-up")
    print(f"{'engine':<21}{'startup s':>10}{'warm-up s':>10}{'gen s':>8}{'tokens':>8}{'tok/s':>8}{'vs vllm':>8}"
          f"{'same texts':>12}")
    for name, f in figures.items():
        f["tokens_per_second"] = f["tokens"] / f["seconds"] if f["seconds"] else 0.0
        ratio = f"{f['tokens_per_second'] / base['tokens_per_second']:.2f}" if base else "-"
        same = "-"
        if base:
            f["same_texts"] = sum(f["texts"][k] == v for k, v in base["texts"].items())
            same = f"{f['same_texts']}/{len(base['texts'])}"
        startup = f"{f['startup_s']:.0f}" + (f"+{f['server_startup_s']:.0f}" if "server_startup_s" in f else "")
        print(f"{name:<21}{startup:>10}{f['warmup_s']:>10.1f}{f['seconds']:>8.1f}{f['tokens']:>8}"
              f"{f['tokens_per_second']:>8.1f}{ratio:>8}{same:>12}")
    if any("server_startup_s" in f for f in figures.values()):
        print("openai startup: the client + the `vllm serve` start (until /health answers)")
    if args.json:
        args.json.write_text(json.dumps({k: {x: y for x, y in f.items() if x != "texts"} for k, f in figures.items()},
                                        indent=1))


if __name__ == "__main__":
    main()
