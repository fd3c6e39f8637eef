"""Resolve a :class:`~mmpr_builder.config.SourceConfig` to a format, its files and its root.

Detection for ``format: auto`` (first match wins):

1. a file: by suffix (``.jsonl``/``.ndjson``, ``.json``, ``.parquet``/``.pq``, ``.csv``);
2. a folder with ``dataset_info.json``, ``dataset_dict.json`` or ``state.json``
   (written by ``save_to_disk``): ``hf_disk``;
3. a folder whose top-level data files all share one of the formats above: those
   files, read in sorted order (e.g. ``items.jsonl``, or Parquet shards);
4. a folder holding image files: ``images``;
5. a path that does not exist locally and looks like a Hub id (``owner/name``): ``hub``.

The root, against which image paths resolve and which they must not leave, is
the folder itself for a folder source and the file's folder for a file source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ConfigError
from mmpr_builder.sources.readers import list_images

FILE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
FILE_FORMATS = ("jsonl", "json", "parquet", "csv")
HF_DISK_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ResolvedSource:
    """A source ready to read.

    Attributes:
        format: one of ``jsonl, json, parquet, csv, images, hf_disk, hub`` (never ``auto``).
        location: the resolved local path, or the Hub id.
        files: data files to read in order (file formats only; else empty).
        root: resolved folder for relative image paths, or None (Hub).
    """

    format: str
    location: str
    files: tuple[Path, ...]
    root: Path | None


def resolve_source(source: SourceConfig, base_dir: str | Path) -> ResolvedSource:
    """Find the format, files and root of ``source``; relative paths resolve against ``base_dir``.

    Raises:
        ConfigError: empty path, path not found (and not a Hub id), unknown or
            ambiguous format, or a folder without data files of the given format.
    """
    if not source.path.strip():
        raise ConfigError("source.path is empty: give a file, a folder or a Hub dataset id")
    if source.format == "hub":
        return ResolvedSource("hub", source.path, (), None)
    path = Path(source.path).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    path = path.resolve()
    if not path.exists():
        if source.format == "auto" and _HUB_ID.match(source.path) and Path(source.path).suffix.lower() not in FILE_SUFFIXES:
            return ResolvedSource("hub", source.path, (), None)
        raise ConfigError(f"source not found: {path} (source.path {source.path!r}, relative to {base_dir})")
    fmt = source.format if source.format != "auto" else detect_format(path)
    if path.is_file():
        if fmt not in FILE_FORMATS:
            raise ConfigError(f"{path}: format {fmt!r} needs a folder, got a file")
        return ResolvedSource(fmt, str(path), (path,), path.parent)
    if fmt in FILE_FORMATS:
        files = tuple(sorted(p for p in path.iterdir() if p.is_file() and FILE_SUFFIXES.get(p.suffix.lower()) == fmt))
        if not files:
            raise ConfigError(f"{path}: no {fmt} files in this folder")
        return ResolvedSource(fmt, str(path), files, path)
    return ResolvedSource(fmt, str(path), (), path)


def detect_format(path: Path) -> str:
    """The format of an existing local file or folder (rules in the module docstring).

    Raises:
        ConfigError: unknown suffix, mixed data formats in one folder, or nothing readable.
    """
    if path.is_file():
        fmt = FILE_SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                              f"set source.format ({', '.join(FILE_FORMATS)})")
        return fmt
    if any((path / m).is_file() for m in HF_DISK_MARKERS):
        return "hf_disk"
    kinds = sorted({FILE_SUFFIXES[p.suffix.lower()] for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in FILE_SUFFIXES and not p.name.startswith(".")})
    if len(kinds) == 1:
        return kinds[0]
    if len(kinds) > 1:
        raise ConfigError(f"{path}: holds several data formats ({', '.join(kinds)}); set source.format")
    if list_images(path):
        return "images"
    raise ConfigError(f"{path}: no data files ({', '.join(FILE_SUFFIXES)}), save_to_disk dataset or images")
