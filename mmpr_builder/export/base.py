"""What an export format is (:class:`ExportFormat`), where it writes (:class:`ExportTarget`), and the
shared file helpers (atomic writes, adding an entry to a trainer's index JSON)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError
from .pairs import ExportPair


@dataclass(frozen=True)
class ExportTarget:
    """Where an export goes.

    Attributes:
        dir: the export folder (``--to``); images go to ``dir/images/``.
        name: the dataset name: the annotation file's stem and the key of its index entry.
        root_prefix: InternVL only: the folder the paths in ``meta.json`` start with
            (InternVL opens them from its working folder).
    """

    dir: Path
    name: str
    root_prefix: str


@dataclass(frozen=True)
class ExportFormat:
    """One trainer's preference-data format.

    Attributes:
        name: the ``--format`` name; summary: one line for ``--help`` and the README.
        annotation: ``target -> path of the JSONL file``, relative to ``target.dir``.
        row: ``(pair, image paths relative to target.dir, target) -> one JSON object``.
        usage: ``(target, annotation) -> how to train on the export``, printed by the CLI.
        index_name: the trainer's index file in ``target.dir`` (``meta.json``), or None.
        index_entry: ``(target, annotation, rows) -> the dataset's entry`` in that file.
        index_key: the entry field naming the file it describes (see :func:`add_index_entry`).
        check: ``pair -> None``, raising :class:`~mmpr_builder.errors.ItemError` for a pair this
            format cannot hold (called before its images are written), or None.
    """

    name: str
    summary: str
    annotation: Callable[[ExportTarget], str]
    row: Callable[[ExportPair, list[str], ExportTarget], dict[str, Any]]
    usage: Callable[[ExportTarget, str], str]
    index_name: str | None = None
    index_entry: Callable[[ExportTarget, str, int], dict[str, Any]] | None = None
    index_key: str | None = None
    check: Callable[[ExportPair], None] | None = None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place.

    Raises:
        OutputError: the file cannot be written.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e}") from e


def read_index(path: Path, name: str, entry: dict[str, Any], key: str) -> dict[str, Any]:
    """The JSON object at ``path`` ({} if missing), after checking that ``name: entry`` may go in it.

    An existing entry under ``name`` may be replaced only when its ``key`` field (the file it
    describes) equals ``entry[key]``, i.e. it is an earlier export of the same dataset.

    Raises:
        ConfigError: the file is not a JSON object, or ``name`` describes another file there.
    """
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} exists but is not readable JSON: {e}") from e
    if not isinstance(index, dict):
        raise ConfigError(f"{path} exists but is not a JSON object")
    old = index.get(name)
    if old is not None and (not isinstance(old, dict) or old.get(key) != entry[key]):
        raise ConfigError(f"{path} already has a dataset {name!r} for another file "
                          f"({key}: {old.get(key) if isinstance(old, dict) else old!r}); pass another --name")
    return index


def add_index_entry(path: Path, name: str, entry: dict[str, Any], key: str) -> None:
    """Add or replace ``name: entry`` in the JSON object at ``path`` (created if missing); other entries stay.

    Raises:
        ConfigError: as :func:`read_index`.
        OutputError: the file cannot be written.
    """
    index = read_index(path, name, entry, key)
    index[name] = entry
    write_atomic(path, (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
