"""The statistics of an output folder (``mmpr inspect DIR``), as a dict or as text.

:func:`inspect_output` is the library call behind the ``mmpr inspect`` command
(:mod:`mmpr_builder.cli`); :func:`format_summary` renders its result. Nothing on disk is changed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..items import ItemOutcome
from .state import OutputState, read_state

_RUN_ONLY = ("generated_tokens", "tokens_per_second", "wall_seconds")  # throughput of one invocation


def committed_outcomes(state: OutputState) -> tuple[list[ItemOutcome], Counter]:
    """The committed items' outcomes (commit order) and the committed bad rows per cause, from :func:`read_state`."""
    outcomes: list[ItemOutcome] = []
    errors: Counter = Counter()
    for record in state.records.values():
        if record is not None:
            outcomes += [ItemOutcome.from_json({**it["stats"], "item_id": it["item_id"]}) for it in record["items"]]
            errors.update(e["cause"] for e in record["errors"])
    return outcomes, errors


def inspect_output(out_dir: Path, *, verify_checksums: bool = False) -> dict[str, Any]:
    """Read an output folder and summarize its committed items.

    Returns:
        :func:`mmpr_builder.output.summary.summarize` of the committed item stats, those of a
        build still running or stopped included (without the throughput fields), plus
        ``run_fingerprint``, ``shards`` (``{"count", "rows", "bytes", "open_rows"}``: the
        finished shards, and the rows committed to the shard being filled) and ``problems``:
        shards, parts or commit records a resume would drop and redo.

    Raises:
        OutputError: no ``manifest.json`` in ``out_dir``, or it is corrupt.
    """
    from .summary import summarize

    state = read_state(Path(out_dir), verify_checksums=verify_checksums)
    outcomes, errors = committed_outcomes(state)
    shards = state.manifest.shards
    summary = summarize(outcomes, errors=dict(sorted(errors.items())), out_dir=Path(out_dir))
    for key in _RUN_ONLY:
        summary.pop(key, None)
    summary["shards"] = {"count": len(shards), "rows": sum(c.rows for c in shards),
                         "bytes": sum(c.bytes for c in shards), "open_rows": state.open_rows()}
    summary["run_fingerprint"] = state.manifest.run_fingerprint
    summary["problems"] = list(state.problems)
    return summary


def _human(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _kv(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of an :func:`inspect_output` summary."""
    fp = s["run_fingerprint"]
    recipe = fp.get("recipe")
    recipe = recipe.get("name", "?") if isinstance(recipe, dict) else recipe
    pairs = {k: v for k, v in s["pairs"].items() if k != "total"}
    sh = s["shards"]
    open_rows = f" + {sh['open_rows']} rows committed to the open shard" if sh.get("open_rows") else ""
    lines = [
        f"{s['out_dir']}",
        f"  run: recipe={recipe}, model={fp.get('model')}, seed={fp.get('seed')}",
        f"  shards: {sh['count']} ({sh['rows']} rows, {_human(sh['bytes'])}){open_rows}",
        f"  items: {s['items']} ({_kv(s['status'])})",
        f"  responses: {s['responses']}, accuracy {_pct(s['accuracy'])}",
        f"  pairs: {s['pairs']['total']} ({_kv(pairs)})",
        "  accuracy per source: " + (", ".join(f"{k} {_pct(v)}" for k, v in s["accuracy_by_source"].items())
                                     or "none"),
    ]
    if s["errors"]:
        lines.append(f"  skipped rows: {_kv(s['errors'])}")
    lines.append("  tokens (count, mean, p50/p90, max):")
    for name, d in s["tokens"].items():
        lines.append(f"    {name}: none" if not d["count"] else
                     f"    {name}: {d['count']}, {d['mean']}, {d['p50']}/{d['p90']}, {d['max']}")
    lines += [f"  problem (redone on resume): {p}" for p in s["problems"]]
    return "\n".join(lines)

