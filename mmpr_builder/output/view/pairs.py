"""The committed pair rows of an output folder, read by global row number (for ``mmpr view``).

Rows are numbered in commit order: the finished shards (``data/train-NNNNN.parquet``, by
index), then the parts of the shard being filled (``data/.parts/...``, by commit). Only the
files the manifest lists are read (see :mod:`mmpr_builder.output.manifest`); a listed file
that cannot be opened is left out and named in :attr:`PairStore.problems`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..state import read_state

#: small columns of every row, read at once for the filters and the plots
INDEX_COLUMNS = ("id", "item_id", "source", "method", "chosen_verdict", "rejected_verdict",
                 "chosen_finish_reason", "rejected_finish_reason", "chosen_num_tokens", "rejected_num_tokens",
                 "cut_char", "cut_token")
#: columns that the text search looks in (case-insensitive substring; the page's JS and PairStore.search)
SEARCH_COLUMNS = ("id", "item_id", "question", "ground_truth", "chosen", "rejected", "chosen_answer",
                  "rejected_answer")
_PAGE_COLUMNS = ("id", "item_id", "source", "method", "question", "ground_truth", "chosen", "rejected", "images",
                 "chosen_answer", "rejected_answer", "chosen_verdict", "rejected_verdict", "chosen_judged_by",
                 "rejected_judged_by", "chosen_finish_reason", "rejected_finish_reason", "chosen_num_tokens",
                 "rejected_num_tokens", "cut_char", "cut_token")
#: longest side of an image thumbnail in the report, pixels
THUMB_PX = 320


def _text(messages: list[dict] | None) -> str:
    """Concatenated text parts of a message list (a ``chosen``/``rejected`` cell)."""
    return "".join(p.get("text") or "" for m in messages or [] for p in m["content"] if p["type"] == "text")


def thumbnail(data: bytes, max_px: int = THUMB_PX) -> str | None:
    """A ``data:image/jpeg;base64,...`` URL of the image downscaled to at most ``max_px`` a side, or None.

    Transparency is flattened on white. None when Pillow cannot decode the bytes.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((max_px, max_px))
            rgba = img.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    buf = io.BytesIO()
    flat.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class _File:
    path: Path
    start: int  # global number of its first row
    rows: int
    group_rows: list[int]  # rows per row group
    metadata: Any  # pyarrow FileMetaData, parsed once (a shard's footer lists every row group)


class PairStore:
    """Read access to an output folder's committed pair rows.

    Args:
        out_dir: output folder of ``mmpr build``.
    Raises:
        OutputError: no ``manifest.json`` in ``out_dir``, or it is corrupt.
    Attributes:
        total: number of committed pair rows that can be read.
        problems: one line per listed file that could not be opened (its rows are left out).
    """

    def __init__(self, out_dir: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.out_dir = Path(out_dir)
        manifest = read_state(self.out_dir, verify_checksums=False).manifest
        self._response_files = [s.responses_name for s in sorted(manifest.shards, key=lambda s: s.index)
                                if s.responses_name] + [c.responses_part for c in manifest.commits if c.responses_part]
        names = [s.name for s in sorted(manifest.shards, key=lambda s: s.index)]
        names += [c.part for c in manifest.commits if c.part is not None]
        self.files: list[_File] = []
        self.problems: list[str] = []
        start = 0
        for name in names:
            try:
                meta = pq.ParquetFile(self.out_dir / name).metadata
            except (OSError, pa.ArrowException) as e:
                self.problems.append(f"{name}: cannot be read ({e}); its rows are not shown")
                continue
            groups = [meta.row_group(k).num_rows for k in range(meta.num_row_groups)]
            self.files.append(_File(self.out_dir / name, start, meta.num_rows, groups, meta))
            start += meta.num_rows
        self.total = start
        self._groups = None  # ((path, first group, last group), their table): the row groups read last
        self._texts: dict[Path, list] = {}  # file -> its searched columns (_search_columns)
        self._lock = threading.Lock()

    def columns(self, names: tuple[str, ...] = INDEX_COLUMNS) -> dict[str, list]:
        """The given columns of every row, in row order: ``{column: [value per row]}``."""
        import pyarrow.parquet as pq

        out: dict[str, list] = {c: [] for c in names}
        for f in self.files:
            table = pq.read_table(f.path, columns=list(names))
            for c in names:
                out[c] += table.column(c).to_pylist()
        return out

    def response_columns(self, names: tuple[str, ...] = ("source", "kind", "finish_reason")) -> dict[str, list] | None:
        """The given columns of the responses table (``responses/``, every committed file), or None
        when the folder has none (built before the table existed). An unreadable file is left
        out and named in :attr:`problems`."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._response_files:
            return None
        out: dict[str, list] = {c: [] for c in names}
        for name in self._response_files:
            try:
                table = pq.read_table(self.out_dir / name, columns=list(names))
            except (OSError, pa.ArrowException) as e:
                self.problems.append(f"{name}: cannot be read ({e}); its responses are not counted")
                continue
            for c in names:
                out[c] += table.column(c).to_pylist()
        return out

    def page_rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows ``start <= i < stop`` as the page shows them.

        Each row: ``i`` (global number), the scalar columns of the pair, ``chosen``/``rejected``
        as text, and ``images``: a list of keys (SHA-1 of the bytes, 16 hex digits) of
        :meth:`page_images`.

        Raises:
            IndexError: ``start``/``stop`` outside ``[0, total]``.
        """
        if not 0 <= start <= stop <= self.total:
            raise IndexError(f"rows {start}:{stop} outside 0:{self.total}")
        rows = []
        for f in self.files:
            lo, hi = max(start, f.start), min(stop, f.start + f.rows)
            if lo < hi:
                rows += self._read(f, lo - f.start, hi - f.start)
        for k, row in enumerate(rows):
            row["i"] = start + k
        return rows

    def _read(self, f: _File, lo: int, hi: int) -> list[dict[str, Any]]:
        """Rows ``lo:hi`` of one file (reads only the row groups that hold them)."""
        import pyarrow.parquet as pq

        first = last = None
        offset = 0
        group_start = 0
        for k, n in enumerate(f.group_rows):
            if first is None and lo < offset + n:
                first, group_start = k, offset
            if hi <= offset + n:
                last = k
                break
            offset += n
        key = (f.path, first, last)
        cached = self._groups  # one tuple: safe to read while a --serve thread replaces it
        if cached is not None and cached[0] == key:
            table = cached[1]
        else:  # consecutive chunks share row groups: keep the last ones read
            table = pq.ParquetFile(f.path, metadata=f.metadata).read_row_groups(list(range(first, last + 1)),
                                                                               columns=list(_PAGE_COLUMNS))
            self._groups = (key, table)
        rows = table.slice(lo - group_start, hi - lo).to_pylist()
        for row in rows:
            row["chosen"], row["rejected"] = _text(row["chosen"]), _text(row["rejected"])
            row["images"] = [(im.get("bytes") or b"") for im in row["images"] or []]
        return rows

    def page(self, start: int, stop: int) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
        """Rows ``start:stop`` (see :meth:`page_rows`) and their images: ``{key: data URL or None}``.

        Images are thumbnails (:func:`thumbnail`); one an image however many rows show it.
        """
        rows = self.page_rows(start, stop)
        images: dict[str, str | None] = {}
        for row in rows:
            keys = []
            for data in row["images"]:
                key = hashlib.sha1(data).hexdigest()[:16]
                if key not in images:
                    images[key] = thumbnail(data)
                keys.append(key)
            row["images"] = keys
        return rows, images

    def _search_columns(self, f: _File) -> list[tuple[Any, Any]]:
        """``(text array, row of each text or None)`` per searched column of one file, read once and kept.

        ``chosen``/``rejected`` are flattened to their text parts; the memory kept is about
        the size of the file's uncompressed texts (so a later search reads nothing).
        """
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        with self._lock:
            if f.path in self._texts:
                return self._texts[f.path]
            table = pq.read_table(f.path, columns=list(SEARCH_COLUMNS))
            out = []
            for name in SEARCH_COLUMNS:
                col, rows = table.column(name).combine_chunks(), None
                if name in ("chosen", "rejected"):  # list<message{role, content: list<{type, text}>}>
                    content = pc.struct_field(pc.list_flatten(col), "content")
                    rows = pc.list_parent_indices(col).take(pc.list_parent_indices(content)).to_numpy()
                    col = pc.struct_field(pc.list_flatten(content), "text")
                out.append((col, rows))
            self._texts[f.path] = out
            return out

    def warm_search(self) -> None:
        """Read every file's searched columns now (e.g. in a background thread when a server starts)."""
        for f in self.files:
            self._search_columns(f)

    def search(self, query: str) -> list[int]:
        """Global numbers of the rows with ``query`` in one of the :data:`SEARCH_COLUMNS`, ascending.

        Case-insensitive (Arrow's ``match_substring(ignore_case=True)``; for ``chosen``/``rejected``
        in each text part); an empty query matches every row. The first search reads the
        columns (see :meth:`_search_columns`).
        """
        import numpy as np
        import pyarrow.compute as pc

        if not query:
            return list(range(self.total))
        hits: list[int] = []
        for f in self.files:
            found = np.zeros(f.rows, dtype=bool)
            for col, rows in self._search_columns(f):
                mask = pc.fill_null(pc.match_substring(col, query, ignore_case=True), False)
                where = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
                found[where if rows is None else rows[where]] = True
            hits += (np.flatnonzero(found) + f.start).tolist()
        return hits
