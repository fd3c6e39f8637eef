"""Run statistics: aggregate per-item outcomes (:class:`~mmpr_builder.items.ItemOutcome`) into the summary printed by ``mmpr build``/``mmpr inspect``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mmpr_builder.items import VERDICTS, ItemOutcome


def _dist(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    v = sorted(values)
    return {"count": len(v), "mean": round(sum(v) / len(v), 1), "min": v[0], "p50": v[len(v) // 2],
            "p90": v[min(len(v) - 1, int(len(v) * 0.9))], "max": v[-1]}


def summarize(outcomes: Iterable[ItemOutcome], *, shards=(), errors: dict[str, int] | None = None,
              generated_tokens: int = 0, generation_seconds: float = 0.0, wall_seconds: float = 0.0,
              out_dir: Path | None = None) -> dict[str, Any]:
    """Aggregate committed items' outcomes.

    Returns a JSON-safe dict: ``items``, ``responses``, ``accuracy`` (correct /
    checked responses, overall and per source), ``status`` counts (paired,
    too_easy, too_hard, no_ground_truth, ...), ``pairs`` by method, response
    ``issues`` (truncated, repetitive, empty), ``dropout_ntp`` drops, token
    length distributions (tokens), ``judged`` (verdicts given by the judge),
    ``warnings`` (items with a labelling warning), ``errors`` by cause, and
    throughput (``tokens_per_second`` = generated tokens / seconds the engine
    ran in this invocation; ``wall_seconds``).
    """
    outcomes = list(outcomes)
    status = Counter(o.status.value for o in outcomes)
    pairs: Counter = Counter()
    verdicts: Counter = Counter()
    issues: Counter = Counter()
    drops: Counter = Counter()
    per_source: dict[str, Counter] = {}
    chosen_tokens: list[int] = []
    rejected_tokens: list[int] = []
    response_tokens: list[int] = []
    for o in outcomes:
        pairs.update(o.pairs)
        verdicts.update(o.verdicts)
        per_source.setdefault(o.source or "?", Counter()).update(o.verdicts)
        issues.update({k.value: v for k, v in o.issues.items()})
        drops.update({k.value: v for k, v in o.dropout_drops.items()})
        chosen_tokens += o.chosen_tokens
        rejected_tokens += o.rejected_tokens
        response_tokens += o.response_tokens

    def accuracy(c: Counter) -> float | None:
        checked = c["correct"] + c["incorrect"] + c["no_answer"]
        return round(c["correct"] / checked, 4) if checked else None

    return {
        "out_dir": str(out_dir) if out_dir else None,
        "items": len(outcomes),
        "responses": sum(o.responses for o in outcomes),
        "accuracy": accuracy(verdicts),
        "accuracy_by_source": {k: accuracy(v) for k, v in sorted(per_source.items()) if accuracy(v) is not None},
        "verdicts": {k: verdicts[k] for k in VERDICTS if verdicts[k]},
        "status": dict(sorted(status.items())),
        "pairs": {"total": sum(pairs.values()), **dict(sorted(pairs.items()))},
        "issues": {k: v for k, v in sorted(issues.items()) if v},
        "dropout_ntp": dict(sorted(drops.items())),
        "judged": sum(o.judged for o in outcomes),
        "warnings": sum(bool(o.warnings) for o in outcomes),
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
    if summary.get("judged"):
        lines.append(f"judged:       {summary['judged']} verdicts given by the judge model")
    if summary.get("warnings"):
        lines.append(f"warnings:     {summary['warnings']} items (ground truths that could not be normalised; see the log)")
    if summary["errors"]:
        lines.append("bad items:    " + ", ".join(f"{k} {v}" for k, v in sorted(summary["errors"].items())))
    if summary["tokens_per_second"] is not None:
        lines.append(f"generation:   {summary['generated_tokens']} tokens, {summary['tokens_per_second']} tokens/s")
    lines.append(f"wall time:    {summary['wall_seconds']} s   shards: {summary['shards']}   out: {summary['out_dir']}")
    return "\n".join(lines)
