"""The output folder's bookkeeping: which shards are finished and which items are done.

Layout of an output folder (all paths relative to it)::

    data/train-00000.parquet   finished shards (the dataset itself)
    commits/00000.json         one commit record per shard close: the items it
                               commits (id + stats) and the bad input rows it records
    manifest.json              the commit point: run fingerprint + the list of commits
    errors.jsonl               bad input rows, one JSON object a line (derived, rebuilt)
    README.md                  the dataset card (see :mod:`mmpr_builder.card`)

A shard close writes, in order: the shard under a temporary name
(``data/.train-00000.parquet.tmp``, fsynced), the commit record (temp + fsync +
``os.replace``), the shard's final name (``os.replace``), then ``manifest.json``
(temp + fsync + ``os.replace`` + fsync of the folder). Only what ``manifest.json``
lists exists for a resume; anything else is a leftover from a crash and is
removed. A commit that closes with zero rows (only items without pairs, or only
bad rows) has a commit record but no shard file (``shard`` is ``None``).

This module only reads and writes these files; :class:`mmpr_builder.writer.ShardWriter`
drives the protocol.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import OutputError

MANIFEST_NAME = "manifest.json"
ERRORS_NAME = "errors.jsonl"
CARD_NAME = "README.md"
DATA_DIR = "data"
COMMITS_DIR = "commits"
MANIFEST_FORMAT = "mmpr-manifest"
MANIFEST_VERSION = 1
SHARD_RE = re.compile(r"^train-(\d{5})\.parquet$")
COMMIT_RE = re.compile(r"^(\d{5})\.json$")


def shard_name(index: int) -> str:
    """Relative path of shard ``index``: ``data/train-00000.parquet`` (5 digits, deterministic)."""
    return f"{DATA_DIR}/train-{index:05d}.parquet"


def commit_name(index: int) -> str:
    """Relative path of commit record ``index``: ``commits/00000.json``."""
    return f"{COMMITS_DIR}/{index:05d}.json"


def temp_path(path: Path) -> Path:
    """The temporary name a file is written under before its atomic rename: ``.NAME.tmp`` beside it."""
    return path.with_name(f".{path.name}.tmp")


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename in it survives a power loss (no-op where unsupported, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, ``os.replace``, fsync of the folder.

    After a crash at any moment ``path`` holds either its old content or ``data``, never a mix.
    """
    tmp = temp_path(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def dumps_canonical(obj: Any, indent: int | None = None) -> bytes:
    """Deterministic JSON bytes (sorted keys, UTF-8, no NaN). Raises ``ValueError``/``TypeError`` if not JSON-safe."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=separators).encode("utf-8")


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def json_roundtrip(obj: dict, what: str) -> dict:
    """``obj`` as it reads back from JSON (tuples become lists). Raises OutputError naming ``what`` if not JSON-safe."""
    try:
        return json.loads(dumps_canonical(obj))
    except (TypeError, ValueError) as e:
        raise OutputError(f"{what} is not JSON-serializable: {e}") from e


def fingerprint_diff(old: dict, new: dict) -> list[str]:
    """Sorted dotted paths whose values differ between two fingerprints, e.g. ``["recipe.sampling.temperature"]``.

    Nested dicts are compared key by key; a key missing on one side counts as different.
    """
    old, new = json_roundtrip(old, "run_fingerprint"), json_roundtrip(new, "run_fingerprint")

    def walk(a: dict, b: dict, prefix: str) -> list[str]:
        out = []
        for k in sorted(a.keys() | b.keys()):
            x, y = a.get(k, _MISSING), b.get(k, _MISSING)
            if isinstance(x, dict) and isinstance(y, dict):
                out += walk(x, y, f"{prefix}{k}.")
            elif x != y:
                out.append(f"{prefix}{k}")
        return out

    return walk(old, new, "")


_MISSING = object()


@dataclass
class CommitRecord:
    """One entry of ``manifest.json``: a shard close.

    Attributes:
        index: commit number; the shard (if any) is ``data/train-{index:05d}.parquet``.
        shard: relative path of the shard file, or ``None`` for a zero-row commit.
        rows: pair rows in the shard.
        bytes: size of the shard file in bytes (0 without a file).
        sha256: hex SHA-256 of the shard file (``None`` without a file).
        record: relative path of the commit record (``commits/00000.json``).
        record_sha256: hex SHA-256 of the commit record file.
    """

    index: int
    shard: str | None
    rows: int
    bytes: int
    sha256: str | None
    record: str
    record_sha256: str


@dataclass
class Manifest:
    """Content of ``manifest.json``: the run fingerprint and the committed shard closes, in order."""

    run_fingerprint: dict
    commits: list[CommitRecord] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of the manifest."""
        return dumps_canonical({
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "run_fingerprint": self.run_fingerprint,
            "commits": [asdict(c) for c in self.commits],
        }, indent=1)

    @classmethod
    def from_bytes(cls, data: bytes, where: Path) -> Manifest:
        """Parse ``manifest.json``. Raises OutputError naming ``where`` if it is not a valid mmpr manifest."""
        try:
            obj = json.loads(data)
            if obj.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format is {obj.get('format')!r}, expected {MANIFEST_FORMAT!r}")
            if obj.get("version") != MANIFEST_VERSION:
                raise ValueError(f"version {obj.get('version')!r} is not supported (expected {MANIFEST_VERSION})")
            return cls(run_fingerprint=obj["run_fingerprint"], commits=[CommitRecord(**c) for c in obj["commits"]])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutputError(f"{where} is corrupt ({e}); pass --overwrite to start the output folder over") from e


def read_manifest(out_dir: Path) -> Manifest | None:
    """The manifest of ``out_dir``, or ``None`` if it has none. Raises OutputError if it is corrupt."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return Manifest.from_bytes(data, path)


def write_manifest(out_dir: Path, manifest: Manifest) -> None:
    """Atomically replace ``out_dir/manifest.json`` (the commit point of a shard close)."""
    atomic_write_bytes(Path(out_dir) / MANIFEST_NAME, manifest.to_bytes())


def write_commit_record(out_dir: Path, index: int, items: list[dict], errors: list[dict]) -> tuple[str, str]:
    """Atomically write commit record ``index``; returns ``(relative path, sha256)``.

    Args:
        items: ``[{"item_id": str, "stats": dict}, ...]`` in commit order.
        errors: ``[{"item_id": str | None, "cause": str, "message": str}, ...]``.
    """
    rel = commit_name(index)
    data = dumps_canonical({"index": index, "items": items, "errors": errors})
    path = Path(out_dir) / rel
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True)
        fsync_dir(Path(out_dir))
    atomic_write_bytes(path, data)
    return rel, hashlib.sha256(data).hexdigest()


def read_commit_record(out_dir: Path, commit: CommitRecord) -> dict | None:
    """The commit record of ``commit`` (``{"index", "items", "errors"}``), or ``None`` if missing or its checksum differs."""
    path = Path(out_dir) / commit.record
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(data).hexdigest() != commit.record_sha256:
        return None
    return json.loads(data)


def check_shard(out_dir: Path, commit: CommitRecord, *, verify_checksum: bool = True) -> str | None:
    """Why the shard file of ``commit`` is unusable (missing, size or SHA-256 differs), or ``None`` if it is fine."""
    if commit.shard is None:
        return None
    path = Path(out_dir) / commit.shard
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size != commit.bytes:
        return f"size {size} != {commit.bytes} in the manifest (truncated or replaced)"
    if verify_checksum and file_sha256(path) != commit.sha256:
        return "SHA-256 differs from the manifest"
    return None


def write_errors_file(out_dir: Path, errors: list[dict]) -> None:
    """Atomically (re)write ``errors.jsonl``: one ``{"item_id", "cause", "message"}`` object a line, commit order."""
    lines = b"".join(json.dumps(e, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for e in errors)
    path = Path(out_dir) / ERRORS_NAME
    try:
        if path.read_bytes() == lines:
            return
    except FileNotFoundError:
        if not errors:
            return
    atomic_write_bytes(path, lines)


@dataclass
class OutputState:
    """What a folder holds, as read by :func:`read_state` (nothing is changed on disk).

    Attributes:
        manifest: the parsed manifest.
        records: commit index -> commit record content (``None`` when missing or corrupt).
        problems: commit index -> why its shard or record is unusable (empty when all is well).
    """

    manifest: Manifest
    records: dict[int, dict | None]
    problems: dict[int, str]


def read_state(out_dir: Path, *, verify_checksums: bool = True) -> OutputState:
    """Read and check an output folder without changing it.

    Raises:
        OutputError: the folder has no ``manifest.json`` or it is corrupt.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise OutputError(f"{out_dir} is not an mmpr output folder (no {MANIFEST_NAME})")
    records: dict[int, dict | None] = {}
    problems: dict[int, str] = {}
    for c in manifest.commits:
        records[c.index] = read_commit_record(out_dir, c)
        if records[c.index] is None:
            problems[c.index] = f"commit record {c.record} missing or corrupt"
            continue
        why = check_shard(out_dir, c, verify_checksum=verify_checksums)
        if why is not None:
            problems[c.index] = f"shard {c.shard}: {why}"
    return OutputState(manifest=manifest, records=records, problems=problems)


def stray_files(out_dir: Path, manifest: Manifest | None) -> list[Path]:
    """Files mmpr owns that the manifest does not list: temp files, shards and commit records of unfinished closes.

    Only names mmpr itself writes are returned (``data/train-NNNNN.parquet``,
    ``commits/NNNNN.json``, ``.*.tmp`` in the folder, ``data/`` and ``commits/``).
    """
    out_dir = Path(out_dir)
    listed = set()
    if manifest is not None:
        for c in manifest.commits:
            listed.add(c.record)
            if c.shard is not None:
                listed.add(c.shard)
    found: list[Path] = []
    for sub, pattern in (("", None), (DATA_DIR, SHARD_RE), (COMMITS_DIR, COMMIT_RE)):
        folder = out_dir / sub if sub else out_dir
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if not p.is_file():
                continue
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                found.append(p)
            elif pattern is not None and pattern.match(p.name) and f"{sub}/{p.name}" not in listed:
                found.append(p)
    return found
