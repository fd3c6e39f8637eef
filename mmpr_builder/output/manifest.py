"""The output folder's bookkeeping: which shards are finished and which items are done.

Layout of an output folder (all paths relative to it)::

    data/train-00000.parquet   finished shards (the dataset itself)
    responses/responses-00000.parquet
                               every response of the items of shard 0, labelled
                               (:mod:`mmpr_builder.output.responses`); written, committed,
                               checked and dropped together with its shard
    data/.parts/train-00003.part-00041.parquet
                               rows of the shard being filled (shard 3) committed by
                               commit 41; merged into the shard when it closes, then removed
                               (``responses/.parts/`` likewise for the responses)
    commits/00041.json         one commit record per commit: the items it commits
                               (id, stats, rows, Arrow bytes) and the bad input rows it records
    manifest.json              the commit point: run fingerprint, the commits, the finished shards
    errors.jsonl               bad input rows, one JSON object a line (derived, rebuilt)
    README.md                  the dataset card (see :mod:`mmpr_builder.output.card`)
    progress.jsonl             the run's progress, appended (see :mod:`mmpr_builder.output.progress`)

A commit is a checkpoint (``ShardWriter.checkpoint``: the pipeline makes one after each
chunk) or a shard close. A checkpoint writes, in order: the part files (pairs, responses) of the rows added
since the last commit under a temporary name (``.NAME.tmp`` beside it, fsynced), the commit
record (temp + fsync + ``os.replace``), the parts' final names (``os.replace``), then
``manifest.json`` (temp + fsync + ``os.replace`` + fsync of the folder). A shard close does
the same with the finished shard instead of a part, lists the shard in the manifest and
takes its parts off it, then deletes the parts. Only what ``manifest.json`` lists exists
for a resume; anything else is a leftover from a crash and is removed, so a crash at any
moment loses at most the items added since the last commit.

This module reads and writes these files; :class:`mmpr_builder.output.writer.ShardWriter`
drives the protocol and :mod:`mmpr_builder.output.state` checks a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError

MANIFEST_NAME = "manifest.json"
ERRORS_NAME = "errors.jsonl"
CARD_NAME = "README.md"
PROGRESS_NAME = "progress.jsonl"
DATA_DIR = "data"
PARTS_DIR = "data/.parts"
COMMITS_DIR = "commits"
RESPONSES_DIR = "responses"
RESPONSE_PARTS_DIR = "responses/.parts"
MANIFEST_FORMAT = "mmpr-manifest"
MANIFEST_VERSION = 3  # 3: responses/ beside each shard
#: shard file names: ``train-NNNNN`` (one run) or ``train-sIIofNN-NNNNN`` (run ``I`` of ``N`` sharded runs)
SHARD_RE = re.compile(r"^(train(?:-s\d{2,}of\d{2,})?)-(\d{5})\.parquet$")
PART_RE = re.compile(r"^(train(?:-s\d{2,}of\d{2,})?)-(\d{5})\.part-(\d{5})\.parquet$")
SHARD_STEM = "train"
COMMIT_RE = re.compile(r"^(\d{5})\.json$")
# not named train-*: `load_dataset("parquet", data_dir=OUT)` would take them into the pairs' train split
RESPONSE_SHARD_RE = re.compile(r"^responses-(\d{5})\.parquet$")
RESPONSE_PART_RE = re.compile(r"^responses-(\d{5})\.part-(\d{5})\.parquet$")


def shard_name(index: int, stem: str = SHARD_STEM) -> str:
    """Relative path of shard ``index``: ``data/train-00000.parquet`` (5 digits, deterministic).

    ``stem`` is ``train``, or ``train-s01of04`` for run 1 of 4 sharded runs
    (:meth:`mmpr_builder.sharding.ShardSpec.stem`), so boxes never write the same name.
    """
    return f"{DATA_DIR}/{stem}-{index:05d}.parquet"


def part_name(shard: int, commit: int, stem: str = SHARD_STEM) -> str:
    """Relative path of the part of shard ``shard`` committed by commit ``commit``.

    E.g. ``data/.parts/train-00000.part-00003.parquet`` (5 digits each, deterministic).
    """
    return f"{PARTS_DIR}/{stem}-{shard:05d}.part-{commit:05d}.parquet"
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
    """One entry of the manifest's ``commits``: a checkpoint or the last commit of a shard close.

    Attributes:
        index: commit number (the record is ``commits/{index:05d}.json``).
        shard: number of the shard the commit's rows belong to (``data/train-{shard:05d}.parquet``
            once it closes); a commit without rows still names the shard open at the time.
        rows: pair rows the commit added to that shard.
        record: relative path of the commit record.
        record_sha256: hex SHA-256 of the commit record file.
        part: relative path of the part file holding the commit's rows while the shard is
            open; ``None`` without rows, for the commit that closed the shard, and once the
            shard is finished (its parts are then deleted).
        part_bytes: size of the part file in bytes (0 without one).
        part_sha256: hex SHA-256 of the part file (``None`` without one).
        responses_rows, responses_part, responses_part_bytes, responses_part_sha256: the same
            for the commit's response rows (``responses/.parts/``).
    """

    index: int
    shard: int
    rows: int
    record: str
    record_sha256: str
    part: str | None = None
    part_bytes: int = 0
    part_sha256: str | None = None
    responses_rows: int = 0
    responses_part: str | None = None
    responses_part_bytes: int = 0
    responses_part_sha256: str | None = None


@dataclass
class ShardRecord:
    """One entry of the manifest's ``shards``: a finished shard.

    Attributes:
        index: shard number; ``name`` is ``data/train-{index:05d}.parquet``.
        name: relative path of the shard file.
        rows: pair rows in it.
        bytes: file size in bytes.
        sha256: hex SHA-256 of the file.
        responses_name, responses_rows, responses_bytes, responses_sha256: the same for the
            shard's responses file (``responses/responses-{index:05d}.parquet``).
    """

    index: int
    name: str
    rows: int
    bytes: int
    sha256: str
    responses_name: str | None = None
    responses_rows: int = 0
    responses_bytes: int = 0
    responses_sha256: str | None = None


@dataclass
class Manifest:
    """Content of ``manifest.json``: the run fingerprint, the commits and the finished shards, in order."""

    run_fingerprint: dict
    commits: list[CommitRecord] = field(default_factory=list)
    shards: list[ShardRecord] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of the manifest."""
        return dumps_canonical({
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "run_fingerprint": self.run_fingerprint,
            "commits": [asdict(c) for c in self.commits],
            "shards": [asdict(s) for s in self.shards],
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
            return cls(run_fingerprint=obj["run_fingerprint"], commits=[CommitRecord(**c) for c in obj["commits"]],
                       shards=[ShardRecord(**s) for s in obj["shards"]])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutputError(f"{where} is corrupt ({e}); pass --overwrite to start the output folder over") from e

    def open_shard(self) -> int:
        """Number of the shard being filled: past every finished shard and every commit's shard."""
        return max([s.index + 1 for s in self.shards] + [c.shard for c in self.commits], default=0)


def read_manifest(out_dir: Path) -> Manifest | None:
    """The manifest of ``out_dir``, or ``None`` if it has none. Raises OutputError if it is corrupt."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return Manifest.from_bytes(data, path)


def write_manifest(out_dir: Path, manifest: Manifest) -> None:
    """Atomically replace ``out_dir/manifest.json`` (the commit point)."""
    atomic_write_bytes(Path(out_dir) / MANIFEST_NAME, manifest.to_bytes())


def write_commit_record(out_dir: Path, index: int, items: list[dict], errors: list[dict]) -> tuple[str, str]:
    """Atomically write commit record ``index``; returns ``(relative path, sha256)``.

    Args:
        items: ``[{"item_id": str, "stats": dict, "rows": int, "nbytes": int}, ...]`` in commit
            order (``rows``: the item's pair rows; ``nbytes``: their Arrow size, which the
            writer's shard-size estimate needs when it resumes).
        errors: ``[{"item_id": str | None, "cause": str, "message": str}, ...]``.
    """
    rel = commit_name(index)
    data = dumps_canonical({"index": index, "items": items, "errors": errors})
    path = Path(out_dir) / rel
    ensure_dir(path.parent)
    atomic_write_bytes(path, data)
    return rel, hashlib.sha256(data).hexdigest()


def ensure_dir(path: Path) -> None:
    """Create folder ``path`` (and parents) if missing, fsyncing its parent so it survives a power loss."""
    if not path.is_dir():
        path.mkdir(parents=True)
        fsync_dir(path.parent)


def read_commit_record(out_dir: Path, commit: CommitRecord) -> dict | None:
    """Commit record of ``commit`` (``{"index", "items", "errors"}``); ``None`` if missing or checksum differs."""
    path = Path(out_dir) / commit.record
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(data).hexdigest() != commit.record_sha256:
        return None
    return json.loads(data)


def check_file(out_dir: Path, name: str, size: int, sha256: str, *, verify_checksum: bool = True) -> str | None:
    """Why the file ``name`` (a shard or part) is unusable (missing, size or SHA-256 differs), or ``None`` if fine."""
    path = Path(out_dir) / name
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if actual != size:
        return f"size {actual} != {size} in the manifest (truncated or replaced)"
    if verify_checksum and file_sha256(path) != sha256:
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
