"""The report page of an output folder: summary, plots and the pair browser in one HTML file.

The page is ``template.html`` with ``viewer.css`` and ``viewer.js`` inlined (package data;
nothing is fetched from the network). Its data sits in ``<script type="application/json">``
blocks: ``mmpr-meta`` (mode, row counts), ``mmpr-index`` (per pair: codes of method, source
and verdicts, for the filters) and, in a static report, one ``chunk-K`` block (rows
``K * chunk_rows`` on, texts) and one ``images-K`` block (thumbnails as data URLs) per chunk; see :meth:`ReportData.chunk`.
The script parses a chunk only when a page shows one of its rows, and keeps only one page
of pairs in the DOM. In ``serve`` mode the chunks and the search come from
:mod:`mmpr_builder.output.view.server` instead.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html import escape
from importlib import resources
from pathlib import Path
from typing import IO, Any

from ..inspect import committed_outcomes, inspect_output
from ..manifest import ERRORS_NAME
from ..state import read_state
from .pairs import INDEX_COLUMNS, SEARCH_COLUMNS, PairStore
from .stats import Plots, plot_data
from .svg import histogram_svg, stacked_svg

#: rows per data chunk (the unit the page parses or fetches)
CHUNK_ROWS = 50
#: pairs shown per page of the browser
PAGE_ROWS = 20
#: columns the browser filters on (codes in ``mmpr-index``)
FILTER_COLUMNS = ("method", "source", "chosen_verdict", "rejected_verdict")
_ERRORS_SHOWN = 50
#: columns every pair of an item shares: sent once per item in a chunk
ITEM_COLUMNS = ("source", "question", "ground_truth", "images")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def json_block(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: every ``<`` written as ``\\u003c``."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def index_payload(columns: dict[str, list]) -> dict[str, Any]:
    """The ``mmpr-index`` block: ``{"values": {column: [value, ...]}, "codes": {column: [code per row]}}``.

    For each of :data:`FILTER_COLUMNS`, ``values`` lists the distinct values sorted (None as
    ``"(none)"``) and ``codes[column][i]`` is the position of row ``i``'s value in it.
    """
    values, codes = {}, {}
    for c in FILTER_COLUMNS:
        col = ["(none)" if v is None else v for v in columns[c]]
        values[c] = sorted(set(col))
        pos = {v: k for k, v in enumerate(values[c])}
        codes[c] = [pos[v] for v in col]
    return {"values": values, "codes": codes}


class ReportData:
    """Everything the page shows except the chunks: statistics, plots, the filters' index.

    Args:
        out_dir: output folder of ``mmpr build``.
    Raises:
        OutputError: no ``manifest.json`` in ``out_dir``, or it is corrupt.
    Attributes:
        summary: :func:`mmpr_builder.output.inspect.inspect_output` of the folder.
        store: the folder's :class:`~mmpr_builder.output.view.pairs.PairStore`.
        columns: the :data:`~mmpr_builder.output.view.pairs.INDEX_COLUMNS` of every pair row.
        plots: :func:`~mmpr_builder.output.view.stats.plot_data`.
        run: ``{"model", "recipe", "sampling", "dtype", "seed"}``: each a list of the distinct
            values of the rows' column (sampling as ``"method: json"``; the run fingerprint's
            when there are no rows).
        errors: the first bad input rows of ``errors.jsonl`` (``item_id``, ``cause``, ``message``).
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.summary = inspect_output(self.out_dir)
        outcomes, _ = committed_outcomes(read_state(self.out_dir, verify_checksums=False))
        self.store = PairStore(self.out_dir)
        self.columns = self.store.columns(INDEX_COLUMNS + ("model", "recipe", "sampling", "dtype", "seed"))
        self.plots: Plots = plot_data(outcomes, self.columns, self.store.response_columns())
        self.summary["problems"] = self.summary["problems"] + self.store.problems
        fp = self.summary["run_fingerprint"]
        self.run = {}
        for key in ("model", "recipe", "sampling", "dtype", "seed"):
            values = self.columns.pop(key)
            if key == "sampling":  # correctness samples and DropoutNTP continuations differ
                values = [f"{m}: {v}" for m, v in zip(self.columns["method"], values)]
            found = list(Counter(values))
            if not found:  # no pair rows: what the run was started with
                v = fp.get(key)
                if key == "recipe" and fp.get("recipe_version") is not None:
                    v = f"{v}@{fp['recipe_version']}"
                if key == "sampling":
                    v = (fp.get("recipe_settings") or {}).get("sampling")
                found = [] if v is None else [v if isinstance(v, str) else json.dumps(v, sort_keys=True)]
            self.run[key] = [str(v) for v in found]
        path = self.out_dir / ERRORS_NAME
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        self.errors = [json.loads(line) for line in lines[:_ERRORS_SHOWN] if line.strip()]

    def meta(self, mode: str) -> dict[str, Any]:
        """The ``mmpr-meta`` block: mode (``static``/``serve``), ``total`` rows, ``chunk_rows``,
        ``n_chunks``, ``page_rows`` and the ``search_columns`` the page's search joins."""
        total = self.store.total
        return {"mode": mode, "total": total, "chunk_rows": CHUNK_ROWS, "n_chunks": -(-total // CHUNK_ROWS),
                "page_rows": PAGE_ROWS, "search_columns": list(SEARCH_COLUMNS)}

    def chunk(self, k: int) -> dict[str, Any]:
        """Chunk ``k`` (rows ``k * CHUNK_ROWS`` on) in the page's compact form.

        ``{"columns": [names], "rows": [[value per column] per row], "items": {item_id: {column: value}},
        "images": {key: data URL or None}}``: the :data:`ITEM_COLUMNS` of a row are in ``items``
        under its ``item_id`` (an item's pairs share them), the others in ``rows``; see
        :func:`expand_chunk` and ``PairStore.page`` for the values.

        Raises:
            IndexError: no such chunk.
        """
        if not 0 <= k < self.meta("static")["n_chunks"]:
            raise IndexError(f"no chunk {k}")
        rows, images = self.store.page(k * CHUNK_ROWS, min(self.store.total, (k + 1) * CHUNK_ROWS))
        columns = [c for c in rows[0] if c not in ITEM_COLUMNS] if rows else []
        items: dict[str, dict[str, Any]] = {}
        for row in rows:
            items.setdefault(row["item_id"], {c: row[c] for c in ITEM_COLUMNS})
        return {"columns": columns, "rows": [[row[c] for c in columns] for row in rows], "items": items,
                "images": images}


def expand_chunk(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a :meth:`ReportData.chunk` as dicts (what ``PairStore.page`` gives; the page's JS does the same)."""
    return [{**dict(zip(chunk["columns"], values)), **chunk["items"][values[chunk["columns"].index("item_id")]]}
            for values in chunk["rows"]]


def _kv_table(pairs: list[tuple[str, str]]) -> str:
    return "<table class=\"kv\">" + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def _counts(d: dict) -> str:
    return escape(", ".join(f"{k} {v}" for k, v in d.items()) or "none")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def summary_html(data: ReportData) -> str:
    """The summary section: run (model, recipe, sampling), items, pairs, accuracy, errors, lengths."""
    s = data.summary
    status = s["status"]
    pairs = {k: v for k, v in s["pairs"].items() if k != "total"}
    run = [(k, "<br>".join(f"<code>{escape(v)}</code>" for v in vs) or "unknown") for k, vs in data.run.items()]
    counts = [
        ("items", f"{s['items']} ({_counts(status)})"),
        ("too easy / too hard", f"{status.get('too_easy', 0)} / {status.get('too_hard', 0)}"),
        ("responses", str(s["responses"])),
        ("accuracy", escape(_pct(s["accuracy"]))),
        ("accuracy by source", escape(", ".join(f"{k} {_pct(v)}" for k, v in s["accuracy_by_source"].items())
                                      or "none")),
        ("pairs", f"{s['pairs']['total']} ({_counts(pairs)})"),
        ("length gap (chosen - rejected, tokens)", _counts(data.plots.gaps)),
        ("not chosen (hygiene)", _counts(s["issues"])),
        ("DropoutNTP drops", _counts(s["dropout_ntp"])),
        ("judged verdicts", str(s["judged"])),
        ("errors by cause", _counts(s["errors"])),
        ("shards", f"{s['shards']['count']} finished ({s['shards']['rows']} rows), "
                   f"{s['shards']['open_rows']} rows in the open shard"),
    ]
    tokens = "".join(f"<tr><th>{escape(k)}</th>" + "".join(f"<td>{d.get(c, '')}</td>" for c in
                                                            ("count", "mean", "min", "p50", "p90", "max")) + "</tr>"
                     for k, d in s["tokens"].items())
    html = [f"<div class=\"cols\"><div><h3>Run</h3>{_kv_table(run)}</div>",
            f"<div><h3>Counts</h3>{_kv_table(counts)}</div></div>",
            "<h3>Lengths (tokens)</h3><table class=\"grid\"><tr><th></th><th>count</th><th>mean</th><th>min</th>"
            f"<th>p50</th><th>p90</th><th>max</th></tr>{tokens}</table>"]
    if s["problems"]:
        html.append("<h3>Problems</h3><ul class=\"problems\">"
                    + "".join(f"<li>{escape(p)}</li>" for p in s["problems"]) + "</ul>")
    if data.errors:
        html.append(f"<h3>Bad input rows (first {len(data.errors)} of errors.jsonl)</h3><table class=\"grid\">"
                    "<tr><th>item</th><th>cause</th><th>message</th></tr>"
                    + "".join(f"<tr><td>{escape(str(e.get('item_id')))}</td><td>{escape(str(e.get('cause')))}</td>"
                              f"<td>{escape(str(e.get('message')))}</td></tr>" for e in data.errors) + "</table>")
    return "".join(html)


def plots_html(plots: Plots) -> str:
    """The plots section: seven inline SVG figures (ids ``plot-pass-rate``, ``plot-lengths``, ...)."""
    return "".join([
        histogram_svg("Per-item pass rate", plots.pass_rate, xlabel="correct / checked responses", ylabel="items",
                      plot_id="plot-pass-rate"),
        histogram_svg("Chosen vs rejected length", plots.lengths, xlabel="tokens", ylabel="pair sides",
                      plot_id="plot-lengths"),
        stacked_svg("Verdicts per source", plots.verdicts, plot_id="plot-verdicts"),
        stacked_svg("Finish reasons of sampled responses per source", plots.response_finish,
                    plot_id="plot-response-finish"),
        stacked_svg("Hygiene of sampled responses per source", plots.hygiene, plot_id="plot-hygiene"),
        stacked_svg("Finish reasons of paired responses per source", plots.pair_finish, plot_id="plot-pair-finish"),
        histogram_svg("DropoutNTP cut position", plots.cuts, xlabel="cut token / chosen tokens", ylabel="pairs",
                      plot_id="plot-cuts"),
    ])


def render_page(data: ReportData, mode: str, out: IO[str]) -> None:
    """Write the whole page to ``out``; ``mode`` ``static`` embeds every chunk, ``serve`` none.

    Chunks are written one at a time, so memory stays at one chunk whatever the folder's size.
    """
    values = {
        "title": escape(f"mmpr view: {data.out_dir.name or data.out_dir}"),
        "heading": escape(str(data.out_dir)),
        "css": _asset("viewer.css"),
        "summary": summary_html(data),
        "plots": plots_html(data.plots),
        "meta": json_block(data.meta(mode)),
        "index": json_block(index_payload(data.columns)),
        "js": _asset("viewer.js"),
    }
    head, tail = _asset("template.html").split("{{data}}")

    def fill(text: str) -> str:  # one pass: values are never scanned for markers
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)

    out.write(fill(head))
    if mode == "static":
        for k in range(data.meta(mode)["n_chunks"]):
            chunk = data.chunk(k)
            images = chunk.pop("images")
            out.write(f'<script type="application/json" id="chunk-{k}">{json_block(chunk)}</script>\n'
                      f'<script type="application/json" id="images-{k}">{json_block(images)}</script>\n')
    out.write(fill(tail))


def default_report_path(out_dir: Path) -> Path:
    """``OUT-report.html`` beside the output folder ``OUT``."""
    resolved = Path(out_dir).resolve()
    return resolved.parent / f"{resolved.name}-report.html"


def write_report(out_dir: Path, html_path: Path | None = None) -> Path:
    """Write the self-contained report of ``out_dir`` and return its path.

    The default path is beside the folder, ``OUT-report.html`` (``out/arith`` -> ``out/arith-report.html``):
    the output folder holds only files mmpr's writer owns.

    Raises:
        OutputError: ``out_dir`` is not an output folder (no or corrupt ``manifest.json``).
    """
    data = ReportData(out_dir)
    path = Path(html_path) if html_path is not None else default_report_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        render_page(data, "static", f)
    tmp.replace(path)
    return path
