"""Sources: stream :class:`~mmpr_builder.items.QuestionItem` from files, folders and Hub datasets.

``iter_items(source, base_dir=..., source_name=...)`` is the one entry point.
It checks the source at once (``ConfigError`` if unusable), then yields items in
file order; a bad row becomes an :class:`~mmpr_builder.errors.ItemError`
(``item_id``, ``cause`` from :data:`CAUSES`, message) in the stream, and the
stream goes on. See :mod:`.base` for format detection, :mod:`.readers` for the
readers, :mod:`.validate` for the row rules and :mod:`.images` for images.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ConfigError, ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.registry import Registry
from mmpr_builder.sources.base import ResolvedSource, detect_format, resolve_source
from mmpr_builder.sources.readers import (
    Row,
    read_csv,
    read_hf_disk,
    read_hub,
    read_image_folder,
    read_json,
    read_jsonl,
    read_parquet,
)
from mmpr_builder.sources.validate import CAUSES, row_to_item

__all__ = ["CAUSES", "READERS", "ResolvedSource", "detect_format", "iter_items", "resolve_source"]

Reader = Callable[[ResolvedSource, SourceConfig], Iterator[Row]]


def _per_file(read_file: Callable[[Path, SourceConfig], Iterator[Row]]) -> Reader:
    """A reader over the resolved files in order; each file is opened and checked at once."""
    def read(resolved: ResolvedSource, source: SourceConfig) -> Iterator[Row]:
        return itertools.chain.from_iterable([read_file(path, source) for path in resolved.files])
    return read


#: Source format (``source.format``, ``auto`` resolved) -> reader of ``(key, row)``.
READERS: Registry[Reader] = Registry("source format", {
    "jsonl": _per_file(read_jsonl),
    "json": _per_file(read_json),
    "parquet": _per_file(read_parquet),
    "csv": _per_file(read_csv),
    "images": lambda resolved, source: read_image_folder(Path(resolved.location), source),
    "hf_disk": lambda resolved, source: read_hf_disk(Path(resolved.location), source),
    "hub": lambda resolved, source: read_hub(resolved.location, source),
}, error=ConfigError)


def iter_items(source: SourceConfig, *, base_dir: str | Path, source_name: str, answer_type: str = "auto",
               limit: int | None = None) -> Iterator[QuestionItem | ItemError]:
    """Stream the items of ``source`` in file order, bad rows as ``ItemError``.

    Args:
        source: where to read and how fields map (``SourceConfig``).
        base_dir: folder that a relative ``source.path`` resolves against (the recipe's folder).
        source_name: stamped on each item's ``source``.
        answer_type: stamped on each item's ``answer_type`` (the recipe's ``labeler.answer_type``).
        limit: read only the first ``limit`` rows, good or bad (None: all).

    Returns:
        An iterator of ``QuestionItem`` and ``ItemError`` (never raised for a bad row).
        Ids are unique within the stream; a repeated id is ``duplicate_id``.

    Raises:
        ConfigError: at call time (before iterating) if the path is missing, the
            format unknown or unusable, or ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    resolved = resolve_source(source, base_dir)
    rows = READERS.get(resolved.format)(resolved, source)
    return _items(rows, resolved, source, source_name=source_name, answer_type=answer_type, limit=limit)


def _items(rows, resolved: ResolvedSource, source: SourceConfig, *, source_name: str, answer_type: str,
           limit: int | None) -> Iterator[QuestionItem | ItemError]:
    seen: set[str] = set()
    for index, (key, row) in enumerate(itertools.islice(rows, limit)):
        if isinstance(row, ItemError):
            yield row
            continue
        default_id = key if key is not None else str(index)
        try:
            yield row_to_item(row, default_id, source=source, root=resolved.root, answer_type=answer_type,
                              source_name=source_name, seen_ids=seen)
        except ItemError as e:
            yield e
