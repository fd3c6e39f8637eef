"""Checking an output folder: what a resume keeps, which files are leftovers, what ``mmpr inspect`` reports.

Reads the files described in :mod:`mmpr_builder.output.manifest`; only
:class:`mmpr_builder.output.writer.ShardWriter` changes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from .manifest import (
    COMMIT_RE,
    COMMITS_DIR,
    DATA_DIR,
    MANIFEST_NAME,
    PART_RE,
    PARTS_DIR,
    RESPONSE_PART_RE,
    RESPONSE_PARTS_DIR,
    RESPONSE_SHARD_RE,
    RESPONSES_DIR,
    PROGRESS_NAME,
    SHARD_RE,
    Manifest,
    check_file,
    read_commit_record,
    read_manifest,
)

logger = logging.getLogger(__name__)


def usable_manifest(out_dir: Path, manifest: Manifest, *,
                    verify_checksums: bool = True) -> tuple[Manifest, dict[int, dict | None], bool]:
    """The part of ``manifest`` a resume keeps, the commit records, and whether anything was dropped.

    Kept: the finished shards whose file (size, and SHA-256 if ``verify_checksums``) and
    commit records are intact, with their commits; and the open shard's commits up to the
    first one whose record or part (size and SHA-256, always) is damaged: the later ones
    would leave a gap in the shard's rows. Dropped items are redone by the pipeline.

    Returns:
        ``(kept manifest, {commit index: record or None}, changed)``.
    """
    out, open_index = Path(out_dir), manifest.open_shard()
    records = {c.index: read_commit_record(out, c) for c in manifest.commits}
    bad = {s.index: why for s in manifest.shards
           if (why := _shard_problem(out, s, verify_checksums))}
    for c in manifest.commits:
        if records[c.index] is None and c.shard != open_index:
            bad.setdefault(c.shard, f"commit record {c.record} missing or corrupt")
    kept = Manifest(run_fingerprint=manifest.run_fingerprint, shards=[s for s in manifest.shards if s.index not in bad])
    finished = {s.index for s in kept.shards}
    cut = None
    for c in manifest.commits:
        if c.shard in finished:
            kept.commits.append(c)
        elif c.shard == open_index and cut is None:
            why = "record missing or corrupt" if records[c.index] is None else _part_problem(out, c, True)
            if why:
                cut = f"commit {c.index} ({why})"
            else:
                kept.commits.append(c)
    for k, why in sorted(bad.items()):
        logger.warning("dropping shard %d (%s); its items will be redone", k, why)
    if cut:
        logger.warning("dropping the open shard's commits from %s on; their items will be redone", cut)
    changed = (len(kept.commits), len(kept.shards)) != (len(manifest.commits), len(manifest.shards))
    return kept, records, changed


def _shard_problem(out: Path, s, verify_checksums: bool) -> str | None:
    """Why finished shard ``s`` (its pairs file or its responses file) is unusable, or None."""
    why = check_file(out, s.name, s.bytes, s.sha256, verify_checksum=verify_checksums)
    if why is None and s.responses_name is not None:
        why = check_file(out, s.responses_name, s.responses_bytes, s.responses_sha256, verify_checksum=verify_checksums)
        return None if why is None else f"{s.responses_name}: {why}"
    return None if why is None else f"{s.name}: {why}"


def _part_problem(out: Path, c, verify_checksums: bool) -> str | None:
    """Why a commit's part files (pairs, responses) are unusable, or None (also when it has none)."""
    for name, size, sha in ((c.part, c.part_bytes, c.part_sha256),
                            (c.responses_part, c.responses_part_bytes, c.responses_part_sha256)):
        if name is not None and (why := check_file(out, name, size, sha, verify_checksum=verify_checksums)):
            return f"part {name}: {why}"
    return None


def first_foreign(out_dir: Path) -> Path | None:
    """A file or folder in ``out_dir`` that mmpr does not write, or ``None`` (then the folder is safe to use)."""
    out_dir = Path(out_dir)
    ours = set(stray_files(out_dir, None)) | {out_dir / PROGRESS_NAME}
    own_dirs = {out_dir / d for d in (DATA_DIR, PARTS_DIR, COMMITS_DIR, RESPONSES_DIR, RESPONSE_PARTS_DIR)}
    todo = [out_dir]
    while todo:
        for p in sorted(todo.pop().iterdir()):
            if p in own_dirs and p.is_dir():
                todo.append(p)
            elif p not in ours:
                return p
    return None


@dataclass
class OutputState:
    """What a folder holds, as read by :func:`read_state` (nothing is changed on disk).

    Attributes:
        manifest: the parsed manifest.
        records: commit index -> commit record content (``None`` when missing or corrupt).
        problems: why a shard, part or commit record is unusable, one line each (a resume
            drops it and redoes its items); empty when all is well.
    """

    manifest: Manifest
    records: dict[int, dict | None]
    problems: list[str]

    def open_rows(self) -> int:
        """Pair rows committed to the shard being filled (in part files, not yet in a finished shard)."""
        finished = {s.index for s in self.manifest.shards}
        return sum(c.rows for c in self.manifest.commits if c.shard not in finished)


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
    problems: list[str] = []
    for s in manifest.shards:
        why = _shard_problem(out_dir, s, verify_checksums)
        if why is not None:
            problems.append(f"shard {why}")
    for c in manifest.commits:
        records[c.index] = read_commit_record(out_dir, c)
        if records[c.index] is None:
            problems.append(f"commit record {c.record} missing or corrupt")
        elif (why := _part_problem(out_dir, c, verify_checksums)) is not None:
            problems.append(why)
    return OutputState(manifest=manifest, records=records, problems=problems)


def stray_files(out_dir: Path, manifest: Manifest | None) -> list[Path]:
    """Files mmpr owns that the manifest does not list: temp files; shards, parts, records of unfinished commits.

    Only names mmpr itself writes are returned (``data/train-NNNNN.parquet``,
    ``data/.parts/train-NNNNN.part-NNNNN.parquet``, ``commits/NNNNN.json``,
    ``responses/responses-NNNNN.parquet``, ``responses/.parts/responses-NNNNN.part-NNNNN.parquet``,
    and ``.*.tmp`` in each of these folders).
    """
    out_dir = Path(out_dir)
    listed = set()
    if manifest is not None:
        listed |= {s.name for s in manifest.shards} | {s.responses_name for s in manifest.shards}
        for c in manifest.commits:
            listed |= {c.record, c.part, c.responses_part}
    found: list[Path] = []
    for sub, pattern in (("", None), (DATA_DIR, SHARD_RE), (PARTS_DIR, PART_RE), (COMMITS_DIR, COMMIT_RE),
                         (RESPONSES_DIR, RESPONSE_SHARD_RE), (RESPONSE_PARTS_DIR, RESPONSE_PART_RE)):
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
