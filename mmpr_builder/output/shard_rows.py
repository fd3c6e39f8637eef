"""Pair rows -> one checked Arrow table per item, images embedded; the shard being filled.

Used by :class:`mmpr_builder.output.writer.ShardWriter`. :func:`encode_rows` is pure apart
from reading image files that are given by path; :class:`OpenShard` writes the files
of the shard being filled.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError
from ..schema import METHODS, pair_features
from .manifest import ensure_dir, temp_path

#: columns with Parquet min/max statistics (small scalars; the long texts and images get none)
STAT_COLUMNS = ["id", "item_id", "source", "method", "chosen_num_tokens", "rejected_num_tokens",
                "cut_char", "cut_token", "seed"]

#: columns that may not be null in a pair row
REQUIRED = ("id", "item_id", "prompt", "chosen", "rejected", "method")


def encode_rows(item_id: str, rows: list[dict], schema):
    """Check and encode the pair rows of one item into a ``pyarrow.Table`` with ``schema``.

    Each row must have exactly the columns of :func:`mmpr_builder.schema.pair_features`,
    non-null :data:`REQUIRED` columns, ``item_id == item_id``, a known ``method`` and an
    ``id`` unique within the item. Images may be ``{"bytes", "path"}`` dicts, ``ImageData``,
    PIL images, bytes or file paths; their bytes are always embedded and local paths are
    reduced to the file name (as ``datasets``' ``embed_storage`` does).

    Args:
        schema: ``pair_features().arrow_schema``, possibly with extra metadata.

    Raises:
        OutputError: naming the item and row, for any of the above or a value of the wrong type.
    """
    rows = [row if row.get("images") is not None else {**row, "images": []} for row in rows]
    return encode_checked(item_id, rows, schema, pair_features(), required=REQUIRED, kind_column="method",
                          kinds=METHODS, what="pair")


def encode_checked(item_id: str, rows: list[dict], schema, features, *, required, kind_column: str, kinds,
                   what: str):
    """Check and encode the rows of one item against ``features`` (the shared core of pair and response rows).

    Each row must have exactly the columns of ``features``, non-null ``required`` columns,
    ``item_id == item_id``, a ``kind_column`` value in ``kinds`` and an ``id`` unique within
    the item; images are embedded one by one (:func:`_embed`). ``what`` names the rows in errors.

    Returns:
        ``pyarrow.Table`` with ``schema``.
    Raises:
        OutputError: naming the item and row.
    """
    import pyarrow as pa

    from ..items import ImageData

    image_feature = features["images"].feature
    columns = set(features)
    seen: set[str] = set()
    encoded = []
    for i, row in enumerate(rows):
        missing, unknown = columns - row.keys(), row.keys() - columns
        if missing or unknown:
            raise OutputError(f"item {item_id!r}: {what} row {i}: missing columns {sorted(missing)}, "
                              f"unknown columns {sorted(unknown)}")
        for key in required:
            if row[key] is None:
                raise OutputError(f"item {item_id!r}: {what} row {i}: column {key!r} is null")
        if row["item_id"] != item_id:
            raise OutputError(f"item {item_id!r}: {what} row {i} has item_id {row['item_id']!r}")
        if row[kind_column] not in kinds:
            raise OutputError(f"item {item_id!r}: {what} row {i}: unknown {kind_column} {row[kind_column]!r} "
                              f"(expected one of {kinds})")
        if row["id"] in seen:
            raise OutputError(f"item {item_id!r}: duplicate {what} id {row['id']!r}")
        seen.add(row["id"])
        try:
            # each image on its own: datasets encodes a list by looking at its first element only
            images = None if row["images"] is None else [_embed(image_feature.encode_example(
                {"bytes": im.bytes, "path": im.path} if isinstance(im, ImageData) else im), item_id)
                for im in row["images"]]
            encoded.append(features.encode_example({**row, "images": images}))
        except (TypeError, ValueError, AttributeError) as e:
            raise OutputError(f"item {item_id!r}: {what} row {i} does not match the {what} schema: {e}") from e
    try:
        table = pa.Table.from_pylist(encoded, schema=schema)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        raise OutputError(f"item {item_id!r}: rows do not match the {what} schema: {e}") from e
    if not table.schema.equals(schema, check_metadata=True):
        raise OutputError(f"item {item_id!r}: rows do not match the {what} schema")
    return table


def _embed(image: dict, item_id: str) -> dict:
    """Make sure an encoded image carries its bytes (read from ``path`` if needed; local paths -> file name)."""
    data, path = image.get("bytes"), image.get("path")
    if data is None:
        if not path or not os.path.isfile(path):
            raise OutputError(f"item {item_id!r}: image {path!r} has no bytes and cannot be read")
        with open(path, "rb") as f:
            data = f.read()
        path = os.path.basename(path)
    elif path and os.path.isabs(path):
        path = os.path.basename(path)
    return {"bytes": data, "path": path}


def row_bytes(nbytes: int, rows: int) -> list[int]:
    """An item's Arrow size ``nbytes`` spread over its ``rows`` rows as integers (first rows get the remainder)."""
    q, r = divmod(nbytes, rows)
    return [q + 1] * r + [q] * (rows - r)


class OpenShard:
    """The shard being filled: its temporary Parquet file and the part file of its uncommitted rows.

    Rows go into row groups of exactly ``row_group_rows`` rows counted from the start of the
    shard (the last one fewer), written to ``temp_path(path)`` as soon as they are full. The
    rows added since the last commit also go to a part file (:meth:`add` with ``part``),
    which :meth:`close_part` finishes for a checkpoint. After a restart the committed parts
    are fed back through :meth:`add` without ``part``: the finished file depends only on the
    shard's rows, never on where commits fell, so it is byte-identical to an uninterrupted run.

    Args:
        path: final path of the shard (``data/train-NNNNN.parquet``).
        schema: Arrow schema of the rows, with the metadata to stamp into the file.
        row_group_rows: rows per row group.
    """

    def __init__(self, path: Path, schema, row_group_rows: int):
        self.path = Path(path)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.rows = 0  # all rows of the shard, committed or not
        self.part_rows = 0  # rows in the open part file (added since the last commit)
        self._tables: list = []  # rows not yet in a full row group
        self._pending_rows = 0
        self._row_bytes: list[int] = []  # estimated bytes of each of those rows
        self._file = self._pq = None
        self._part = None  # (temp path, file, ParquetWriter) of the open part

    def size(self) -> int:
        """Estimated file size in bytes: the full row groups on disk plus the Arrow size of the other rows.

        It depends only on the rows added (and their per-row byte estimates), so a resumed
        shard rolls at the same row as an uninterrupted one.
        """
        return (self._file.tell() if self._file is not None else 0) + sum(self._row_bytes)

    def add(self, table, sizes: list[int], part: Path | None) -> None:
        """Add rows (a ``pyarrow.Table`` in ``schema``) with their estimated bytes, one per row.

        Args:
            part: the part file the rows go to as well (opened on first use); ``None`` when
                replaying rows that are committed already.
        """
        import pyarrow as pa

        if part is not None:
            if self._part is None:
                self._part = (temp_path(part), *self._open(temp_path(part)))
            self._part[2].write_table(table)
            self.part_rows += table.num_rows
        self.rows += table.num_rows
        self._tables.append(table)
        self._pending_rows += table.num_rows
        self._row_bytes += sizes
        if self._pending_rows >= self.row_group_rows:
            full = pa.concat_tables(self._tables).combine_chunks()
            cut = full.num_rows - full.num_rows % self.row_group_rows
            self._write(full.slice(0, cut))
            rest = full.slice(cut)
            self._tables = [rest] if rest.num_rows else []
            self._pending_rows = rest.num_rows
            del self._row_bytes[:cut]

    def close_part(self) -> Path | None:
        """Finish the part file (closed, fsynced, still a temp file); ``None`` if no rows since the last commit."""
        if self._part is None:
            return None
        tmp, file, writer = self._part
        _finish(writer, file)
        self._part, self.part_rows = None, 0
        return tmp

    def finish(self) -> Path:
        """Write the last row group and finish the file (fsynced, under its temporary name); drop the open part.

        A shard without rows is still written (schema, no row group).
        """
        import pyarrow as pa

        if self._part is not None:
            self.close_part().unlink()
        if self._tables:
            self._write(pa.concat_tables(self._tables).combine_chunks())
            self._tables, self._pending_rows, self._row_bytes = [], 0, []
        if self._pq is None:  # no rows: a valid file with the schema and no row group
            self._file, self._pq = self._open(temp_path(self.path))
        _finish(self._pq, self._file)
        return temp_path(self.path)

    def _write(self, table) -> None:
        if self._pq is None:
            self._file, self._pq = self._open(temp_path(self.path))
        self._pq.write_table(table, row_group_size=self.row_group_rows)

    def _open(self, path: Path):
        import pyarrow.parquet as pq

        ensure_dir(path.parent)
        file = open(path, "wb")
        return file, pq.ParquetWriter(file, self.schema, compression="zstd", write_statistics=STAT_COLUMNS)


def _finish(writer, file) -> None:
    """Close a ParquetWriter (footer) and fsync its file."""
    writer.close()
    file.flush()
    os.fsync(file.fileno())
    file.close()
