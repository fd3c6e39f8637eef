"""The data behind the report's plots: pure functions of item outcomes and pair-row columns.

Inputs are what a build records: per-item outcomes (:class:`~mmpr_builder.items.ItemOutcome`,
from the commit records), the small columns of the pair rows
(:data:`mmpr_builder.output.view.pairs.INDEX_COLUMNS`) and of the responses table. Nothing is estimated: a value a build
does not record (e.g. finish reasons in a folder without a responses table) is not plotted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from ...items import VERDICTS, ItemOutcome
from ...labelers.hygiene import ISSUES


@dataclass
class Histogram:
    """Counts per bin, for one or more series over the same bins.

    Attributes:
        labels: one label per bin (e.g. ``"3/8"`` or ``"10-19"``).
        series: series name -> counts, one per bin.
        note: a line for the caption (means, gaps, what was left out).
    """

    labels: list[str]
    series: dict[str, list[int]]
    note: str = ""


@dataclass
class Breakdown:
    """Counts per category (a source) split into parts (verdicts, finish reasons), for stacked bars.

    Attributes:
        rows: category -> {part: count}, parts in :attr:`parts` order, zeros left out.
        parts: every part name, in the order the bars stack them.
        note: a line for the caption.
    """

    rows: dict[str, dict[str, int]]
    parts: list[str]
    note: str = ""


@dataclass
class Plots:
    """Everything the report draws (see :func:`plot_data`)."""

    pass_rate: Histogram
    lengths: Histogram
    verdicts: Breakdown
    hygiene: Breakdown
    pair_finish: Breakdown
    response_finish: Breakdown
    cuts: Histogram
    gaps: dict[str, float | None] = field(default_factory=dict)


def pass_rate_histogram(outcomes: list[ItemOutcome]) -> Histogram:
    """Items per pass rate: correct / (correct + incorrect + no_answer) of each item's responses.

    One bin per distinct rate (labelled as the fraction, e.g. ``3/8``) when there are at most
    21 distinct rates (the usual case: K samples per item give K+1 rates); else ten bins of
    width 0.1 (the last one includes 1.0). Items with no checked response (no ground truth)
    are left out and counted in the note.
    """
    rates: list[Fraction] = []
    skipped = 0
    for o in outcomes:
        checked = o.verdicts["correct"] + o.verdicts["incorrect"] + o.verdicts["no_answer"]
        if checked:
            rates.append(Fraction(o.verdicts["correct"], checked))
        else:
            skipped += 1
    distinct = sorted(set(rates))
    if len(distinct) <= 21:
        counts = Counter(rates)
        labels = [f"{r.numerator}/{r.denominator}" if 0 < r < 1 else str(int(r)) for r in distinct]
        values = [counts[r] for r in distinct]
        # with one K for all items, show every rate k/K, empty ones included
        ks = {o.verdicts["correct"] + o.verdicts["incorrect"] + o.verdicts["no_answer"] for o in outcomes} - {0}
        if len(ks) == 1:
            (k,) = ks
            full = [Fraction(j, k) for j in range(k + 1)]
            labels = [f"{j}/{k}" for j in range(k + 1)]
            values = [counts[r] for r in full]
    else:
        values = [0] * 10
        for r in rates:
            values[min(9, int(r * 10))] += 1
        labels = [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in range(10)]
    note = f"{len(rates)} items with checked responses"
    if skipped:
        note += f"; {skipped} items without a checked response (no ground truth) left out"
    return Histogram(labels, {"items": values}, note)


def _int_bins(values: list[int], max_bins: int) -> tuple[list[int], int]:
    """(lower edges, width) of equal-width integer bins covering ``values``."""
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // max_bins))
    return list(range(lo, hi + 1, width)), width


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def length_histogram(chosen: list[int], rejected: list[int], max_bins: int = 20) -> Histogram:
    """Chosen and rejected lengths in tokens (one value per pair side) over shared bins.

    The note gives both means and the gap, mean chosen minus mean rejected (positive: chosen
    responses are longer, the length bias DPO can learn).
    """
    chosen = [v for v in chosen if v is not None]
    rejected = [v for v in rejected if v is not None]
    both = chosen + rejected
    if not both:
        return Histogram([], {"chosen": [], "rejected": []}, "no pairs")
    edges, width = _int_bins(both, max_bins)
    labels = [str(e) if width == 1 else f"{e}-{e + width - 1}" for e in edges]

    def count(values: list[int]) -> list[int]:
        out = [0] * len(edges)
        for v in values:
            out[(v - edges[0]) // width] += 1
        return out

    mc, mr = _mean(chosen), _mean(rejected)
    gap = round(mc - mr, 1) if mc is not None and mr is not None else None
    note = f"mean chosen {mc}, mean rejected {mr} tokens; gap (chosen - rejected) {gap:+}" if gap is not None else ""
    return Histogram(labels, {"chosen": count(chosen), "rejected": count(rejected)}, note)


def length_gaps(columns: dict[str, list]) -> dict[str, float | None]:
    """Mean chosen minus mean rejected tokens per method (``all`` too), from pair-row columns."""
    out: dict[str, float | None] = {}
    methods = sorted(set(columns["method"]))
    for m in ["all", *methods]:
        keep = [k for k, x in enumerate(columns["method"]) if m == "all" or x == m]
        c = _mean([columns["chosen_num_tokens"][k] for k in keep if columns["chosen_num_tokens"][k] is not None])
        r = _mean([columns["rejected_num_tokens"][k] for k in keep if columns["rejected_num_tokens"][k] is not None])
        out[m] = round(c - r, 1) if c is not None and r is not None else None
    return out


def verdicts_by_source(outcomes: list[ItemOutcome]) -> Breakdown:
    """Sampled responses per verdict (:data:`~mmpr_builder.items.VERDICTS`), per source (item stats)."""
    rows: dict[str, Counter] = {}
    for o in outcomes:
        rows.setdefault(o.source or "?", Counter()).update(o.verdicts)
    unverdicted = sum(o.responses - sum(o.verdicts.values()) for o in outcomes)
    note = "all sampled responses" + (f"; {unverdicted} responses have no verdict (items without a ground truth)"
                                      if unverdicted else "")
    return Breakdown({s: {v: c[v] for v in VERDICTS if c[v]} for s, c in sorted(rows.items())}, list(VERDICTS), note)


def hygiene_by_source(outcomes: list[ItemOutcome]) -> Breakdown:
    """Sampled responses per hygiene issue, per source: ``truncated`` (finish reason ``length``),
    ``empty``, ``repetitive``, and ``clean`` (finish reason ``stop``, no issue).

    A build records one issue per response (:mod:`mmpr_builder.labelers.hygiene` checks
    empty first), so an empty response cut at the limit counts as ``empty``.
    """
    rows: dict[str, Counter] = {}
    for o in outcomes:
        c = rows.setdefault(o.source or "?", Counter())
        c.update({k.value: v for k, v in o.issues.items()})
        c["clean"] += o.responses - sum(o.issues.values())
    parts = ["clean", *ISSUES]
    return Breakdown({s: {p: c[p] for p in parts if c[p]} for s, c in sorted(rows.items())}, parts,
                     "all sampled responses (item stats): at most one issue each, empty checked first")


def response_finish_by_source(columns: dict[str, list] | None) -> Breakdown:
    """Sampled responses per finish reason (``stop``, ``length``, ...), per source, from the responses
    table's ``source``, ``kind`` and ``finish_reason`` columns (rows of kind ``sample`` only; failed
    requests, with no finish reason, count as ``error``). ``None``: the folder has no responses
    table (built before it existed), so nothing is plotted and the note says so."""
    if columns is None:
        return Breakdown({}, [], "this folder has no responses table (responses/): finish reasons of "
                                 "responses outside the pairs were not recorded")
    rows: dict[str, Counter] = {}
    for source, kind, reason in zip(columns["source"], columns["kind"], columns["finish_reason"]):
        if kind == "sample":
            rows.setdefault(source or "?", Counter())[reason or "error"] += 1
    parts = sorted({p for c in rows.values() for p in c}, key=lambda p: (p != "stop", p))
    return Breakdown({s: dict(c) for s, c in sorted(rows.items())}, parts,
                     "all sampled responses (responses table)")


def pair_finish_by_source(columns: dict[str, list]) -> Breakdown:
    """Pair sides per finish reason, per source: parts ``chosen stop``, ``rejected length``, ... (pair rows)."""
    rows: dict[str, Counter] = {}
    for k, source in enumerate(columns["source"]):
        c = rows.setdefault(source or "?", Counter())
        for side in ("chosen", "rejected"):
            c[f"{side} {columns[f'{side}_finish_reason'][k] or '?'}"] += 1
    parts = sorted({p for c in rows.values() for p in c})
    return Breakdown({s: dict(sorted(c.items())) for s, c in sorted(rows.items())}, parts, "responses in pairs")


def cut_histogram(columns: dict[str, list], bins: int = 10) -> Histogram:
    """DropoutNTP cut positions: ``cut_token / chosen_num_tokens`` of each ``dropout_ntp`` pair, in ``bins``
    equal bins over [0, 1] (1.0 in the last); the note gives the mean cut in tokens."""
    cuts = [(columns["cut_token"][k], columns["chosen_num_tokens"][k]) for k, m in enumerate(columns["method"])
            if m == "dropout_ntp" and columns["cut_token"][k] is not None and columns["chosen_num_tokens"][k]]
    labels = [f"{b / bins:.1f}-{(b + 1) / bins:.1f}" for b in range(bins)]
    values = [0] * bins
    for cut, n in cuts:
        values[min(bins - 1, int(cut / n * bins))] += 1
    note = (f"{len(cuts)} DropoutNTP pairs; mean cut at token {_mean([c for c, _ in cuts])}" if cuts
            else "no DropoutNTP pairs")
    return Histogram(labels, {"pairs": values}, note)


def plot_data(outcomes: list[ItemOutcome], columns: dict[str, list], responses: dict[str, list] | None) -> Plots:
    """All plots' data from the committed item outcomes, the pair rows' index columns and the
    responses table's columns (None when the folder has none)."""
    return Plots(pass_rate=pass_rate_histogram(outcomes),
                 lengths=length_histogram(columns["chosen_num_tokens"], columns["rejected_num_tokens"]),
                 verdicts=verdicts_by_source(outcomes), hygiene=hygiene_by_source(outcomes),
                 pair_finish=pair_finish_by_source(columns), response_finish=response_finish_by_source(responses),
                 cuts=cut_histogram(columns), gaps=length_gaps(columns))
