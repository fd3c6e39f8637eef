"""Streaming readers: one per source format, each yielding raw rows in file order.

Every reader is a plain function that opens and checks its input at once
(raising :class:`~mmpr_builder.errors.ConfigError` if the input itself is
unusable) and returns an iterator of ``(key, row)``: ``row`` is the
parsed record (normally a ``dict`` column -> value) or an
:class:`~mmpr_builder.errors.ItemError` for a record that could not be parsed;
``key`` is the key of a JSON object keyed by id, the relative path of an image
file, or None (the caller then uses the running row index as the default id).
Nothing reads a whole file into memory:

- JSONL: line by line; undecodable bytes are kept as surrogates
  (``surrogateescape``) so the row checks report ``bad_encoding`` with its id.
- JSON: ``ijson`` (an array of objects, or one object keyed by id).
- CSV: ``csv.DictReader``; empty cells are null; lists (choices, images) as JSON text.
- Parquet: ``pyarrow.parquet.ParquetFile.iter_batches``.
- ``save_to_disk`` folders: ``datasets.load_from_disk`` in Arrow batches.
- Hub ids: ``datasets.load_dataset(..., streaming=True)`` with image decoding off.
- Image folders: one row per image file, sorted by relative path.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ConfigError, ItemError

Row = tuple[str | None, Any]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_BATCH_ROWS = 64


def read_jsonl(path: Path, source: SourceConfig) -> Iterator[Row]:
    """Rows of a JSON Lines file (blank lines skipped; bad JSON -> ``unparsable_row``)."""
    _check_readable(path)

    def rows() -> Iterator[Row]:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.decode("utf-8", errors="surrogateescape").lstrip("\ufeff").strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    row = ItemError(None, "unparsable_row", f"{path.name} line {lineno}: {e}")
                yield None, row

    return rows()


def read_json(path: Path, source: SourceConfig) -> Iterator[Row]:
    """Rows of a JSON file: a top-level array of objects, or an object keyed by id.

    A parse error part-way ends the stream with one ``unparsable_row`` (or
    ``bad_encoding``) error: JSON cannot be resynchronised after it.
    """
    import ijson

    _check_readable(path)
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] not in (b"[", b"{"):
        raise ConfigError(f"{path}: a JSON source must be an array of objects or an object keyed by id")
    keyed = head[:1] == b"{"

    def rows() -> Iterator[Row]:
        index = 0
        with open(path, "rb") as f:
            try:
                if keyed:
                    for key, value in ijson.kvitems(f, "", use_float=True):
                        yield str(key), value
                        index += 1
                else:
                    for value in ijson.items(f, "item", use_float=True):
                        yield None, value
                        index += 1
            except ijson.JSONError as e:
                cause = "bad_encoding" if "UTF8" in str(e) else "unparsable_row"
                yield None, ItemError(None, cause, f"{path.name}: JSON ends in an error after {index} rows: {e}")

    return rows()


def read_csv(path: Path, source: SourceConfig) -> Iterator[Row]:
    """Rows of a CSV file with a header line; a line with extra fields is ``unparsable_row``."""
    _check_readable(path)

    def lines() -> Iterator[str]:
        with open(path, "rb") as f:
            for i, raw in enumerate(f):
                text = raw.decode("utf-8", errors="surrogateescape")
                yield text.lstrip("\ufeff") if i == 0 else text

    def rows() -> Iterator[Row]:
        reader = csv.DictReader(lines())
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield None, ItemError(None, "unparsable_row", f"{path.name} line {reader.line_num}: {e}")
            else:
                if None in record:
                    row: Any = ItemError(None, "unparsable_row",
                                         f"{path.name} line {reader.line_num}: more fields than the header has")
                else:
                    row = {k: (None if v in ("", None) else v) for k, v in record.items()}
                yield None, row

    return rows()


def read_parquet(path: Path, source: SourceConfig) -> Iterator[Row]:
    """Rows of a Parquet file, read in record batches (image structs arrive as ``{bytes, path}``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_readable(path)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ConfigError(f"{path}: not a readable Parquet file: {e}") from e

    def rows() -> Iterator[Row]:
        index = 0
        try:
            for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
                for record in batch.to_pylist():
                    yield None, record
                    index += 1
        except (pa.ArrowException, OSError) as e:
            yield None, ItemError(None, "unparsable_row", f"{path.name}: cannot read past row {index}: {e}")

    return rows()


def read_image_folder(path: Path, source: SourceConfig) -> Iterator[Row]:
    """One row per image file under ``path`` (recursive, sorted, hidden files skipped).

    The id is the relative POSIX path; the question is ``source.default_question``.

    Raises:
        ConfigError: ``default_question`` is empty, or the folder holds no images.
    """
    if not source.default_question.strip():
        raise ConfigError(f"{path}: an image folder needs source.default_question (the question asked of every image)")
    files = list_images(path)
    if not files:
        raise ConfigError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")

    def rows() -> Iterator[Row]:
        for rel in files:
            yield rel, {source.id_field: rel, source.image_field: rel}

    return rows()


def read_hf_disk(path: Path, source: SourceConfig) -> Iterator[Row]:
    """Rows of a folder written by ``Dataset.save_to_disk`` (or ``DatasetDict``: ``source.split``)."""
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ConfigError(f"{path}: not a datasets save_to_disk folder: {e}") from e
    if isinstance(ds, datasets.DatasetDict):
        if source.split not in ds:
            raise ConfigError(f"{path}: no split {source.split!r}; splits: {', '.join(ds)}")
        ds = ds[source.split]

    def rows() -> Iterator[Row]:
        for table in ds.with_format("arrow").iter(batch_size=_BATCH_ROWS):  # no image decoding
            for record in table.to_pylist():
                yield None, record

    return rows()


def read_hub(repo_id: str, source: SourceConfig) -> Iterator[Row]:
    """Rows of a Hub dataset, streamed (``datasets.load_dataset(streaming=True)``), images kept encoded.

    Needs network access. Errors while streaming end the stream with one ``unparsable_row``.

    Raises:
        ConfigError: the dataset, config or split cannot be resolved.
    """
    import datasets

    try:
        ds = datasets.load_dataset(repo_id, name=source.subset or None, split=source.split, streaming=True)
    except Exception as e:  # hub/network/config errors come in many types; all mean "unusable source"
        raise ConfigError(f"cannot open Hub dataset {repo_id!r} (split {source.split!r}): {e}") from e
    if hasattr(ds, "decode"):
        ds = ds.decode(False)  # images as {bytes, path}: the original bytes are kept

    def rows() -> Iterator[Row]:
        index = 0
        try:
            for record in ds:
                yield None, record
                index += 1
        except Exception as e:  # a broken shard or connection: report once and stop
            yield None, ItemError(None, "unparsable_row", f"{repo_id}: stream failed after {index} rows: {e}")

    return rows()


def list_images(folder: Path) -> list[str]:
    """Relative POSIX paths of the image files under ``folder``, sorted; hidden entries skipped."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"source file not found: {path}")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ConfigError(f"cannot read source file {path}: {e}") from e
