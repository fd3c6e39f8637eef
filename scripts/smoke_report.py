"""Checks and figures for scripts/gpu_smoke.sh, read from the folders `mmpr build` and `mmpr train` wrote.

    python scripts/smoke_report.py build OUT --log build.log [--min-stop-share 0.9]
    python scripts/smoke_report.py train OUT --steps 10

``build``: the share of sampled responses (``responses/``, kind ``sample``)
whose ``finish_reason`` is ``stop``, the pairs in ``data/*.parquet`` and the
build's tokens/s (the ``--json`` summary, the last JSON object of the log;
vLLM may log to stdout before it). Fails when the share is not above
``--min-stop-share`` or no pair came out.

``train``: the steps run, the loss, pairs/s (``train_summary.json``) and that every
loss term of the run's ``loss_type`` is logged in ``metrics.jsonl``. Fails when
fewer steps ran, the loss is not finite, or a term is missing.

Prints one ``key: value`` line per figure; exits 1 with ``FAIL: <cause>``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pyarrow.parquet as pq

def last_json_object(text: str) -> dict:
    """The last top-level ``{...}`` of an indented ``json.dumps`` in ``text`` (it opens on a line of its own)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "{"]
    if not starts:
        raise ValueError("no JSON summary in the build log")
    return json.loads("\n".join(lines[starts[-1]:]))


def build_report(out: Path, log: Path, min_stop_share: float) -> tuple[dict, list[str]]:
    """Figures of a build folder and the failed checks (empty when all hold)."""
    responses = pq.read_table(sorted((out / "responses").glob("*.parquet")), columns=["kind", "finish_reason"]).to_pylist()
    samples = [r for r in responses if r["kind"] == "sample"]
    stopped = sum(r["finish_reason"] == "stop" for r in samples)
    pairs = sum(pq.ParquetFile(p).metadata.num_rows for p in sorted((out / "data").glob("*.parquet")))
    summary = last_json_object(log.read_text())
    share = stopped / len(samples) if samples else 0.0
    figures = {"responses": len(samples), "stop_share": round(share, 4), "pairs": pairs,
               "tokens_per_second": summary.get("tokens_per_second"), "wall_seconds": summary.get("wall_seconds")}
    failed = []
    if share <= min_stop_share:
        failed.append(f"{stopped} of {len(samples)} responses ended with stop ({share:.1%}), need more than "
                      f"{min_stop_share:.0%}: check the model family's stop tokens")
    if pairs == 0:
        failed.append("no pairs came out")
    return figures, failed


def train_report(out: Path, steps: int) -> tuple[dict, list[str]]:
    """Figures of a training folder and the failed checks (empty when all hold)."""
    summary = json.loads((out / "train_summary.json").read_text())
    logged = set()
    for line in (out / "metrics.jsonl").read_text().splitlines():
        logged.update(json.loads(line))
    figures = {"steps": summary["global_step"], "train_loss": summary["train_loss"],
               "pairs_per_second": summary["pairs_per_second"], "pairs": summary["pairs"]["kept"]}
    failed = []
    if summary["global_step"] < steps:
        failed.append(f"{summary['global_step']} of {steps} steps ran")
    if not math.isfinite(summary["train_loss"]):
        failed.append(f"train loss is {summary['train_loss']}")
    missing = [f"loss/{t}" for t in summary["config"]["loss_type"] if f"loss/{t}" not in logged]
    if missing:
        failed.append(f"terms not logged in metrics.jsonl: {', '.join(missing)}")
    return figures, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["build", "train"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--log", type=Path, help="build: the stdout of `mmpr build --json`")
    parser.add_argument("--min-stop-share", type=float, default=0.9)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    if args.stage == "build":
        if args.log is None:
            parser.error("build needs --log")
        figures, failed = build_report(args.out, args.log, args.min_stop_share)
    else:
        figures, failed = train_report(args.out, args.steps)
    for key, value in figures.items():
        print(f"{key}: {value}")
    for cause in failed:
        print(f"FAIL: {cause}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
