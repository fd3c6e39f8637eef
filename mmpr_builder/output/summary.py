"""Run statistics: aggregate per-item stats into the summary printed by ``mmpr build``/``mmpr inspect``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


VERDICTS = ("correct", "incorrect", "no_answer", "unverifiable")
ISSUES = ("truncated", "repetitive", "empty")


def _dist(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    v = sorted(values)
    return {"count": len(v), "mean": round(sum(v) / len(v), 1), "min": v[0], "p50": v[len(v) // 2],
            "p90": v[min(len(v) - 1, int(len(v) * 0.9))], "max": v[-1]}


def summarize(stats: list[dict[str, Any]], *, shards=(), errors: dict[str, int] | None = None,
              generated_tokens: int = 0, generation_seconds: float = 0.0, wall_seconds: float = 0.0,
              out_dir: Path | None = None) -> dict[str, Any]:
    """Aggregate committed items' stats (one dict per item, as the pipeline writes them).

    Returns a JSON-safe dict: ``items``, ``responses``, ``accuracy`` (correct /
    checked responses, overall and per source), ``status`` counts (paired,
    too_easy, too_hard, no_ground_truth, ...), ``pairs`` by method, response
    ``issues`` (truncated, repetitive, empty), ``dropout_ntp`` drops, token
    length distributions (tokens), ``errors`` by cause, and throughput
    (``tokens_per_second`` = generated tokens / seconds inside engine calls of
    this invocation; ``wall_seconds``).
    """
    status = Counter(s.get("status", "?") for s in stats)
    pairs: Counter = Counter()
    verdicts: Counter = Counter()
    issues: Counter = Counter()
    drops: Counter = Counter()
    per_source: dict[str, Counter] = {}
    chosen_tokens: list[int] = []
    rejected_tokens: list[int] = []
    response_tokens: list[int] = []
    for s in stats:
        pairs.update(s.get("pairs", {}))
        item_verdicts = {v: s.get(f"n_{v}", 0) for v in VERDICTS}
        verdicts.update(item_verdicts)
        per_source.setdefault(s.get("source", "?"), Counter()).update(item_verdicts)
        issues.update({k: s.get(f"n_{k}", 0) for k in ISSUES})
        for key, value in s.items():
            if key.startswith("dropout_") and isinstance(value, int):
                drops[key.removeprefix("dropout_")] += value
        chosen_tokens += s.get("chosen_tokens", [])
        rejected_tokens += s.get("rejected_tokens", [])
        response_tokens += s.get("response_tokens", [])

    def accuracy(c: Counter) -> float | None:
        checked = c["correct"] + c["incorrect"] + c["no_answer"]
        return round(c["correct"] / checked, 4) if checked else None

    return {
        "out_dir": str(out_dir) if out_dir else None,
        "items": len(stats),
        "responses": sum(s.get("responses", 0) for s in stats),
        "accuracy": accuracy(verdicts),
        "accuracy_by_source": {k: accuracy(v) for k, v in sorted(per_source.items()) if accuracy(v) is not None},
        "verdicts": {k: v for k, v in verdicts.items() if v},
        "status": dict(status),
        "pairs": {"total": sum(pairs.values()), **dict(pairs)},
        "issues": {k: v for k, v in issues.items() if v},
        "dropout_ntp": dict(drops),
        "tokens": {"response": _dist(response_tokens), "chosen": _dist(chosen_tokens),
                   "rejected": _dist(rejected_tokens)},
        "errors": dict(errors or {}),
        "shards": len(list(shards)),
        "generated_tokens": generated_tokens,
        "tokens_per_second": round(generated_tokens / generation_seconds, 1) if generation_seconds else None,
        "wall_seconds": round(wall_seconds, 1),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable multi-line rendering of :func:`summarize`'s result."""
    acc = summary["accuracy"]
    lines = [
        f"items:        {summary['items']}  ({', '.join(f'{k} {v}' for k, v in sorted(summary['status'].items()))})",
        f"responses:    {summary['responses']}  accuracy {'n/a' if acc is None else f'{acc:.1%}'}",
        f"pairs:        {summary['pairs']['total']}  "
        f"({', '.join(f'{k} {v}' for k, v in summary['pairs'].items() if k != 'total') or 'none'})",
    ]
    if summary["issues"]:
        lines.append("not chosen:   " + ", ".join(f"{k} {v}" for k, v in sorted(summary["issues"].items())))
    if summary["dropout_ntp"]:
        lines.append("dropout_ntp:  " + ", ".join(f"{k} {v}" for k, v in sorted(summary["dropout_ntp"].items())))
    if summary["errors"]:
        lines.append("bad items:    " + ", ".join(f"{k} {v}" for k, v in sorted(summary["errors"].items())))
    if summary["tokens_per_second"] is not None:
        lines.append(f"generation:   {summary['generated_tokens']} tokens, {summary['tokens_per_second']} tokens/s")
    lines.append(f"wall time:    {summary['wall_seconds']} s   shards: {summary['shards']}   out: {summary['out_dir']}")
    return "\n".join(lines)
