"""Validated, crash-safe Parquet shards of pair rows.

:class:`ShardWriter` takes all pair rows of one item at a time, checks them
against :func:`mmpr_builder.schema.pair_features`, and writes them to
``data/train-NNNNN.parquet`` shards (zstd, row groups of at most 100 rows,
``huggingface`` schema metadata so ``datasets`` decodes ``images`` as PIL).
Each shard close is a commit (see :mod:`mmpr_builder.manifest` for the files and
their order); after a crash or SIGKILL at any moment, a new writer on the same
folder and fingerprint keeps exactly the committed items and removes the rest,
so the pipeline redoes only items not in :attr:`ShardWriter.done_items`.

Determinism: shard boundaries depend only on the sequence of rows (rows, row
groups and the bytes of closed row groups), so the same items in the same order
give byte-identical shards.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, OutputError
from .manifest import (
    CARD_NAME,
    COMMITS_DIR,
    DATA_DIR,
    ERRORS_NAME,
    MANIFEST_NAME,
    CommitRecord,
    Manifest,
    check_shard,
    dumps_canonical,
    file_sha256,
    fingerprint_diff,
    fsync_dir,
    json_roundtrip,
    read_commit_record,
    read_manifest,
    shard_name,
    stray_files,
    temp_path,
    write_commit_record,
    write_errors_file,
    write_manifest,
)
from .schema import SCHEMA_VERSION, pair_features
from .shard_rows import encode_rows

logger = logging.getLogger(__name__)

#: fingerprint keys whose scalar values are copied into each shard's ``mmpr`` Parquet metadata.
STAMP_KEYS = ("recipe", "recipe_version", "mmpr_version", "git_commit", "model", "seed")
_STAT_COLUMNS = ["id", "item_id", "source", "method", "chosen_num_tokens", "rejected_num_tokens",
                 "cut_char", "cut_token", "seed"]


@dataclass
class ShardInfo:
    """A finished shard.

    Attributes:
        name: path relative to the output folder, e.g. ``data/train-00000.parquet``.
        rows: pair rows in it.
        bytes: file size in bytes.
        sha256: hex SHA-256 of the file.
        item_ids: the items committed with this shard (including items without pairs and
            bad rows that had an id), in the order they were added.
    """

    name: str
    rows: int
    bytes: int
    sha256: str
    item_ids: list[str]


def _publish(tmp: Path, final: Path) -> None:
    """Give a finished shard its final name (atomic rename + fsync of the folder)."""
    os.replace(tmp, final)
    fsync_dir(final.parent)


class ShardWriter:
    """Writes pair rows to resumable Parquet shards under ``out_dir``.

    Args:
        out_dir: output folder (created if missing).
        run_fingerprint: JSON-safe dict of everything that decides the output (recipe,
            model, sampling, seed, inputs, ...). A folder built with another fingerprint is
            refused. Scalar values of the keys in :data:`STAMP_KEYS` are stamped into each
            shard's ``mmpr`` Parquet metadata (published: keep secrets and paths out of them).
        overwrite: start over: remove the previous shards, manifest, commit records,
            ``errors.jsonl`` and ``README.md`` (only files mmpr writes).
        max_shard_bytes: close a shard once its size (closed row groups on disk plus the
            Arrow size of rows not yet written) reaches this. Items are never split, so a
            shard can pass it by one item.
        max_shard_rows: also close a shard once it has this many rows (``None``: no limit).
        row_group_rows: rows per Parquet row group (at most; the datasets viewer wants <= 100
            for tables with images).
        on_shard_closed: called with the :class:`ShardInfo` of each shard after its commit
            (e.g. ``HubPusher.push_shard``). Not called for zero-row commits.
        verify_checksums: on open, re-hash every committed shard (else check sizes only).
        provenance: JSON-safe dict stamped into each shard's ``mmpr`` metadata but not
            compared on resume (e.g. ``{"git_commit": ...}``). Published: no secrets or paths.

    Raises:
        ConfigError: a size/row limit is not positive.
        OutputError: the folder was built with another fingerprint (the message names the
            differing keys), holds files that are not mmpr's, or its manifest is corrupt,
            and ``overwrite`` is false.
    """

    def __init__(self, out_dir: Path, *, run_fingerprint: dict, overwrite: bool = False,
                 max_shard_bytes: int = 500_000_000, max_shard_rows: int | None = None,
                 row_group_rows: int = 100, on_shard_closed: Callable[[ShardInfo], None] | None = None,
                 verify_checksums: bool = True, provenance: dict | None = None):
        if max_shard_bytes < 1 or row_group_rows < 1 or (max_shard_rows is not None and max_shard_rows < 1):
            raise ConfigError("max_shard_bytes, max_shard_rows and row_group_rows must be positive")
        self.out_dir = Path(out_dir)
        self.max_shard_bytes = max_shard_bytes
        self.max_shard_rows = max_shard_rows
        self.row_group_rows = row_group_rows
        self.on_shard_closed = on_shard_closed
        self._fingerprint = json_roundtrip(run_fingerprint, "run_fingerprint")
        schema = pair_features().arrow_schema
        stamp = {"schema_version": SCHEMA_VERSION,
                 **{k: v for k, v in self._fingerprint.items() if k in STAMP_KEYS and isinstance(v, (str, int, float))},
                 **json_roundtrip(provenance or {}, "provenance")}
        self._schema = schema.with_metadata({**(schema.metadata or {}), b"mmpr": dumps_canonical(stamp)})
        self.done_items: set[str] = set()
        self._stats: list[dict] = []
        self._errors: list[dict] = []
        self._error_keys: set[tuple] = set()
        self._shards: list[ShardInfo] = []
        self._closed = False
        self._broken: BaseException | None = None
        self._reset_pending()
        self._open(overwrite, verify_checksums)

    # ----------------------------------------------------------------- open / resume
    def _open(self, overwrite: bool, verify_checksums: bool) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            self._clear()
            manifest = None
        else:
            manifest = read_manifest(self.out_dir)
            if manifest is None:
                foreign = self._foreign_files()
                if foreign:
                    raise OutputError(
                        f"{self.out_dir} is not empty and is not an mmpr output folder (no {MANIFEST_NAME}; "
                        f"found {foreign[0].name}); choose another folder or pass --overwrite")
            else:
                differing = fingerprint_diff(manifest.run_fingerprint, self._fingerprint)
                if differing:
                    raise OutputError(
                        f"{self.out_dir} was built with different arguments (differing: {', '.join(differing)}); "
                        "rerun with the same arguments to resume, choose another folder, or pass --overwrite")
        self._manifest = Manifest(run_fingerprint=self._fingerprint)
        changed = manifest is None
        for commit in manifest.commits if manifest else []:
            record = read_commit_record(self.out_dir, commit)
            why = "commit record missing or corrupt" if record is None else check_shard(
                self.out_dir, commit, verify_checksum=verify_checksums)
            if why is not None:
                logger.warning("dropping commit %d (%s: %s); its items will be redone", commit.index,
                               commit.shard or commit.record, why)
                changed = True
                continue
            self._manifest.commits.append(commit)
            self._apply(commit, record)
        if changed:
            write_manifest(self.out_dir, self._manifest)
        for path in stray_files(self.out_dir, self._manifest):
            logger.info("removing leftover %s", path.relative_to(self.out_dir))
            path.unlink()
        write_errors_file(self.out_dir, self._errors)
        self._next_index = max((c.index for c in self._manifest.commits), default=-1) + 1
        if self._manifest.commits:
            logger.info("resuming %s: %d shards, %d items done", self.out_dir, len(self._shards), len(self.done_items))

    def _clear(self) -> None:
        """Remove what a previous run wrote (manifest last, so an interrupted clear is still refused/cleared)."""
        for path in stray_files(self.out_dir, None):
            path.unlink()
        for name in (ERRORS_NAME, CARD_NAME, MANIFEST_NAME):
            (self.out_dir / name).unlink(missing_ok=True)

    def _foreign_files(self) -> list[Path]:
        ours = set(stray_files(self.out_dir, None))
        found = []
        for p in sorted(self.out_dir.iterdir()):
            if p.is_dir() and p.name in (DATA_DIR, COMMITS_DIR):
                found += [q for q in sorted(p.iterdir()) if q not in ours]
            elif p not in ours:
                found.append(p)
        return found

    def _apply(self, commit: CommitRecord, record: dict) -> None:
        """Take a committed close into the in-memory state."""
        ids = []
        for it in record["items"]:
            ids.append(it["item_id"])
            self.done_items.add(it["item_id"])
            self._stats.append({"item_id": it["item_id"], **it["stats"]})
        for err in record["errors"]:
            self._errors.append(err)
            self._error_keys.add((err["item_id"], err["cause"], err["message"]))
            if err["item_id"] is not None and err["item_id"] not in self.done_items:
                ids.append(err["item_id"])
                self.done_items.add(err["item_id"])
        if commit.shard is not None:
            self._shards.append(ShardInfo(commit.shard, commit.rows, commit.bytes, commit.sha256, ids))

    # ----------------------------------------------------------------- adding
    def add_item(self, item_id: str, rows: list[dict], stats: dict) -> None:
        """Add all pair rows of one item (possibly none) and that item's statistics.

        Args:
            item_id: the item's id; each row's ``item_id`` must equal it.
            rows: pair rows with exactly the columns of ``pair_features()``; images may be
                ``{"bytes", "path"}`` dicts, ``ImageData``, PIL images, bytes or file paths
                (bytes are always embedded; local paths are reduced to their file name).
            stats: the item's statistics, any JSON-safe dict (stored as given; see
                :func:`mmpr_builder.summary.summarize` for the keys the summary and card read).

        Raises:
            OutputError: the item was already added or committed, a row does not match the
                schema (missing/unknown column, wrong type, duplicate ``id``, unknown
                ``method``), an image has no bytes, or ``stats`` is not JSON-safe.
        """
        self._check_usable()
        if not isinstance(item_id, str) or not item_id:
            raise OutputError(f"item id must be a non-empty string, got {item_id!r}")
        if item_id in self.done_items or item_id in self._pending_ids:
            raise OutputError(f"item {item_id!r} was already added to {self.out_dir}")
        stats = json_roundtrip(stats, f"stats of item {item_id!r}")
        table = encode_rows(item_id, rows, self._schema)
        self._pending_items.append({"item_id": item_id, "stats": stats})
        self._pending_ids.add(item_id)
        if table.num_rows:
            self._guarded(self._append, table)
        if self._shard_rows and (self._shard_size() >= self.max_shard_bytes
                                 or (self.max_shard_rows is not None and self._shard_rows >= self.max_shard_rows)):
            self._close_shard()

    def add_error(self, item_id: str | None, cause: str, message: str) -> None:
        """Record a bad input row; it is committed with the next shard close.

        ``errors.jsonl`` lists each ``(item_id, cause, message)`` once, across resumes: an
        identical error already recorded is ignored (give id-less rows a message that
        names them, e.g. their line). An error with an id makes the item done.
        """
        self._check_usable()
        key = (item_id, cause, message)
        if key in self._error_keys:
            return
        self._error_keys.add(key)
        self._pending_errors.append({"item_id": item_id, "cause": cause, "message": message})

    def close(self) -> list[ShardInfo]:
        """Commit what is pending (a last, possibly small or zero-row close) and return all shards.

        Raises:
            OutputError or OSError: writing failed (the folder stays resumable).
        """
        if self._closed:
            return list(self._shards)
        self._check_usable()
        pending = self._pending_items or self._pending_errors or self._shard_rows
        info = self._guarded(self._commit) if pending else None
        self._closed = True
        if info is not None and self.on_shard_closed is not None:
            self.on_shard_closed(info)
        return list(self._shards)

    @property
    def shards(self) -> list[ShardInfo]:
        """The committed shards so far (e.g. to upload those the Hub lacks when resuming)."""
        return list(self._shards)

    def item_stats(self) -> list[dict]:
        """Stats of all committed items (``add_item``), ``{"item_id", **stats}``, in commit order.

        Bad rows (``add_error``) are not included: see :meth:`error_counts` / :meth:`errors`.
        """
        return [dict(s) for s in self._stats]

    def error_counts(self) -> dict[str, int]:
        """Committed bad rows per cause, ``{cause: count}`` (sorted by cause)."""
        return dict(sorted(Counter(e["cause"] for e in self._errors).items()))

    def errors(self) -> list[dict]:
        """Committed bad rows, ``{"item_id", "cause", "message"}``, as in ``errors.jsonl``."""
        return [dict(e) for e in self._errors]

    # ----------------------------------------------------------------- internals
    def _reset_pending(self) -> None:
        self._pending_items: list[dict] = []
        self._pending_ids: set[str] = set()
        self._pending_errors: list[dict] = []
        self._pending_tables: list = []
        self._pending_rows = 0
        self._pending_nbytes = 0
        self._shard_rows = 0
        self._file = None
        self._pq = None

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise OutputError(f"the writer for {self.out_dir} failed earlier ({self._broken!r}); rerun to resume")
        if self._closed:
            raise OutputError(f"the writer for {self.out_dir} is closed")

    def _guarded(self, fn, *args):
        """Run a disk-writing step; after a failure the writer refuses further use (rerun to resume)."""
        try:
            return fn(*args)
        except BaseException as e:
            self._broken = e
            raise

    def _close_shard(self) -> None:
        """Commit, then hand the closed shard to ``on_shard_closed`` (its failure leaves the writer usable)."""
        info = self._guarded(self._commit)
        if info is not None and self.on_shard_closed is not None:
            self.on_shard_closed(info)

    def _append(self, table) -> None:
        import pyarrow as pa

        self._pending_tables.append(table)
        self._pending_rows += table.num_rows
        self._pending_nbytes += table.nbytes
        self._shard_rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            full = pa.concat_tables(self._pending_tables).combine_chunks()
            cut = full.num_rows - full.num_rows % self.row_group_rows
            self._write(full.slice(0, cut))
            rest = full.slice(cut)
            self._pending_tables = [rest] if rest.num_rows else []
            self._pending_rows = rest.num_rows
            self._pending_nbytes = rest.nbytes if rest.num_rows else 0

    def _write(self, table) -> None:
        import pyarrow.parquet as pq

        if self._pq is None:
            path = self.out_dir / shard_name(self._next_index)
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True)
                fsync_dir(self.out_dir)
            self._file = open(temp_path(path), "wb")
            self._pq = pq.ParquetWriter(self._file, self._schema, compression="zstd",
                                        write_statistics=_STAT_COLUMNS)
        self._pq.write_table(table, row_group_size=self.row_group_rows)

    def _shard_size(self) -> int:
        return (self._file.tell() if self._file is not None else 0) + self._pending_nbytes

    def _commit(self) -> ShardInfo | None:
        """One shard close: shard file, commit record, rename, manifest (the commit point), callbacks."""
        import pyarrow as pa

        index, rows = self._next_index, self._shard_rows
        name = size = sha = None
        if rows:
            if self._pending_tables:
                self._write(pa.concat_tables(self._pending_tables).combine_chunks())
            self._pq.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            name = shard_name(index)
            final = self.out_dir / name
            tmp = temp_path(final)
            size, sha = tmp.stat().st_size, file_sha256(tmp)
        record, record_sha = write_commit_record(self.out_dir, index, self._pending_items, self._pending_errors)
        if rows:
            _publish(tmp, final)
        commit = CommitRecord(index=index, shard=name, rows=rows, bytes=size or 0, sha256=sha,
                              record=record, record_sha256=record_sha)
        self._manifest.commits.append(commit)
        write_manifest(self.out_dir, self._manifest)
        # committed: take it into the in-memory state
        self._apply(commit, {"items": self._pending_items, "errors": self._pending_errors})
        new_errors = bool(self._pending_errors)
        self._next_index += 1
        self._reset_pending()
        if new_errors:
            write_errors_file(self.out_dir, self._errors)
        logger.info("committed %s (%d rows)", name or f"{record} (no rows)", rows)
        return self._shards[-1] if name is not None else None

