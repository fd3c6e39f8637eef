"""Validated, crash-safe Parquet shards of pair rows, committed at every checkpoint.

:class:`ShardWriter` takes all pair rows of one item at a time, checks them
against :func:`mmpr_builder.schema.pair_features`, and writes them to
``data/train-NNNNN.parquet`` shards (zstd, row groups of ``row_group_rows`` rows,
``huggingface`` schema metadata so ``datasets`` decodes ``images`` as PIL).
Shards roll at a size (default 500 MB) or a row count and are written under a
temporary name, renamed when complete. Each item's responses (all it sampled, labelled;
:mod:`mmpr_builder.output.responses`) go with its pairs into ``responses/responses-NNNNN.parquet``,
the companion of shard NNNNN: same commits, same checks, written and dropped together.

Commits (see :mod:`mmpr_builder.output.manifest` for the files and their order) happen at
each :meth:`ShardWriter.checkpoint` (the pipeline calls it after every chunk: the rows
since the last commit go to a part file) and at each shard close (the parts are then
replaced by the finished shard). After a crash or SIGKILL at any moment, a new writer
on the same folder and fingerprint keeps exactly the committed items, removes the rest
and refills the open shard from its parts, so the pipeline redoes only items not in
:attr:`ShardWriter.done_items`: a crash costs the items added since the last commit.

Determinism: shard boundaries and bytes depend only on the sequence of rows (rows, row
groups, and the size estimate of :class:`~mmpr_builder.output.shard_rows.OpenShard`), never on
where checkpoints fell or whether the run was resumed, so the same items in the same
order give byte-identical shards.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, OutputError
from ..items import ItemOutcome
from ..schema import SCHEMA_VERSION, pair_features
from .manifest import (
    CARD_NAME,
    ERRORS_NAME,
    MANIFEST_NAME,
    SHARD_RE,
    SHARD_STEM,
    PARTS_DIR,
    RESPONSE_PARTS_DIR,
    PROGRESS_NAME,
    CommitRecord,
    Manifest,
    ShardRecord,
    dumps_canonical,
    file_sha256,
    fingerprint_diff,
    fsync_dir,
    json_roundtrip,
    part_name,
    read_manifest,
    shard_name,
    write_commit_record,
    write_errors_file,
    write_manifest,
)
from .responses import encode_response_rows, response_features, response_part_name, response_shard_name
from .shard_rows import OpenShard, encode_rows, row_bytes
from .state import first_foreign, stray_files, usable_manifest

logger = logging.getLogger(__name__)



@dataclass
class ShardInfo:
    """A finished shard.

    Attributes:
        name: path relative to the output folder, e.g. ``data/train-00000.parquet``.
        rows: pair rows in it.
        bytes: file size in bytes.
        sha256: hex SHA-256 of the file.
        item_ids: the items committed while this shard was open (including items without
            pairs and bad rows that had an id), in the order they were added.
        responses_name, responses_rows, responses_bytes, responses_sha256: its responses file
            (``responses/responses-NNNNN.parquet``), or None/0 for a shard written without responses.
    """

    name: str
    rows: int
    bytes: int
    sha256: str
    item_ids: list[str]
    responses_name: str | None = None
    responses_rows: int = 0
    responses_bytes: int = 0
    responses_sha256: str | None = None


def check_output_dir(out_dir: Path, run_fingerprint: dict, *, overwrite: bool = False) -> Manifest | None:
    """Check, without writing anything, that a build with ``run_fingerprint`` may use ``out_dir``.

    Returns:
        The folder's manifest when a build with the same fingerprint can resume
        there; None for a missing or empty folder, or when ``overwrite``.
    Raises:
        OutputError: ``out_dir`` is a file; or (unless ``overwrite``) the folder was
            built with another fingerprint (the message names the differing keys),
            holds files that are not mmpr's, or its manifest is corrupt.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file, not a folder; choose another --out")
    if overwrite or not out_dir.exists():
        return None
    manifest = read_manifest(out_dir)
    if manifest is None:
        foreign = first_foreign(out_dir)
        if foreign is not None:
            raise OutputError(
                f"{out_dir} is not empty and is not an mmpr output folder (no {MANIFEST_NAME}; "
                f"found {foreign.relative_to(out_dir)}); choose another folder or pass --overwrite")
        return None
    differing = fingerprint_diff(manifest.run_fingerprint, json_roundtrip(run_fingerprint, "run_fingerprint"))
    if differing:
        raise OutputError(
            f"{out_dir} was built with different arguments (differing: {', '.join(differing)}); "
            "rerun with the same arguments to resume, choose another folder, or pass --overwrite")
    return manifest


def _publish(tmp: Path, final: Path) -> None:
    """Give a finished file its final name (atomic rename + fsync of the folder)."""
    os.replace(tmp, final)
    fsync_dir(final.parent)


class ShardWriter:
    """Writes pair rows to resumable Parquet shards under ``out_dir``.

    Args:
        out_dir: output folder (created if missing).
        run_fingerprint: JSON-safe dict of everything that decides the output (recipe,
            model, sampling, seed, inputs, ...). A folder built with another fingerprint is
            refused.
        overwrite: start over: remove the previous shards, parts, manifest, commit records,
            ``errors.jsonl`` and ``README.md`` (only files mmpr writes).
        max_shard_bytes: close a shard once its size (full row groups on disk plus the
            Arrow size of the other rows) reaches this. Items are never split, so a shard
            can pass it by one item.
        max_shard_rows: also close a shard once it has this many rows (``None``: no limit).
        row_group_rows: rows per Parquet row group (the last one fewer; the datasets viewer
            wants <= 100 for tables with images).
        on_shard_closed: called with the :class:`ShardInfo` of each finished shard after its
            commit (e.g. ``HubPusher.push_shard``); not called for checkpoints or zero-row commits.
        verify_checksums: on open, re-hash every finished shard (else check sizes only;
            parts of the open shard are always re-hashed).
        shard_stem: shard names start with it: ``train`` (``data/train-00000.parquet``) or, for
            run I of N sharded runs, ``train-sIIofNN`` (:meth:`mmpr_builder.sharding.ShardSpec.stem`).
        provenance: JSON-safe dict stamped into each shard's ``mmpr`` metadata (the build
            passes :meth:`mmpr_builder.schema.Provenance.stamp`); not compared on resume.
            Published: no secrets or paths.

    Raises:
        ConfigError: a size/row limit is not positive.
        OutputError: the folder was built with another fingerprint (the message names the
            differing keys), holds files that are not mmpr's, or its manifest is corrupt,
            and ``overwrite`` is false.
    """

    def __init__(self, out_dir: Path, *, run_fingerprint: dict, overwrite: bool = False,
                 max_shard_bytes: int = 500_000_000, max_shard_rows: int | None = None,
                 row_group_rows: int = 100, on_shard_closed: Callable[[ShardInfo], None] | None = None,
                 verify_checksums: bool = True, provenance: dict | None = None, shard_stem: str = SHARD_STEM):
        if max_shard_bytes < 1 or row_group_rows < 1 or (max_shard_rows is not None and max_shard_rows < 1):
            raise ConfigError("max_shard_bytes, max_shard_rows and row_group_rows must be positive")
        self.out_dir = Path(out_dir)
        self.max_shard_bytes = max_shard_bytes
        self.max_shard_rows = max_shard_rows
        self.row_group_rows = row_group_rows
        self.on_shard_closed = on_shard_closed
        if not SHARD_RE.match(f"{shard_stem}-00000.parquet"):
            raise ConfigError(f"shard_stem must be train or train-sIIofNN, got {shard_stem!r}")
        self.shard_stem = shard_stem
        self._fingerprint = json_roundtrip(run_fingerprint, "run_fingerprint")
        schema = pair_features().arrow_schema
        stamp = {"schema_version": SCHEMA_VERSION, **json_roundtrip(provenance or {}, "provenance")}
        self._schema = schema.with_metadata({**(schema.metadata or {}), b"mmpr": dumps_canonical(stamp)})
        rschema = response_features().arrow_schema
        self._rschema = rschema.with_metadata({**(rschema.metadata or {}), b"mmpr": dumps_canonical(stamp)})
        self.done_items: set[str] = set()
        self._stats: list[dict] = []
        self._errors: list[dict] = []
        self._error_keys: set[tuple] = set()
        self._shards: list[ShardInfo] = []
        self._shard_items: dict[int, list[str]] = {}  # shard number -> committed item ids
        self._pending_items: list[dict] = []  # added since the last commit
        self._pending_ids: set[str] = set()
        self._pending_errors: list[dict] = []
        self._closed = False
        self._broken: BaseException | None = None
        self._open(overwrite, verify_checksums)

    # ----------------------------------------------------------------- open / resume
    def _open(self, overwrite: bool, verify_checksums: bool) -> None:
        manifest = check_output_dir(self.out_dir, self._fingerprint, overwrite=overwrite)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            self._clear()
        if manifest is None:
            self._manifest, records, changed = Manifest(run_fingerprint=self._fingerprint), {}, True
        else:
            self._manifest, records, changed = usable_manifest(self.out_dir, manifest,
                                                                verify_checksums=verify_checksums)
        if changed:
            write_manifest(self.out_dir, self._manifest)
        for path in stray_files(self.out_dir, self._manifest):
            logger.info("removing leftover %s", path.relative_to(self.out_dir))
            path.unlink()
        for commit in self._manifest.commits:
            self._apply(commit, records[commit.index])
        self._shards = [ShardInfo(s.name, s.rows, s.bytes, s.sha256, list(self._shard_items.get(s.index, [])),
                                  s.responses_name, s.responses_rows, s.responses_bytes, s.responses_sha256)
                        for s in self._manifest.shards]
        write_errors_file(self.out_dir, self._errors)
        self._next_index = max((c.index for c in self._manifest.commits), default=-1) + 1
        self._shard_index = self._manifest.open_shard()
        self._shard, self._rshard = self._new_shard(), self._new_rshard()
        for commit in self._manifest.commits:
            if commit.part is not None or commit.responses_part is not None:
                self._replay(commit, records[commit.index])
        if self._manifest.commits:
            logger.info("resuming %s: %d shards, %d rows in the open shard, %d items done", self.out_dir,
                        len(self._shards), self._shard.rows, len(self.done_items))

    def _replay(self, commit: CommitRecord, record: dict) -> None:
        """Feed a commit's parts back into the open shard (their rows are committed already)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        for part, rows, shard, schema, n_key, b_key in (
                (commit.part, commit.rows, self._shard, self._schema, "rows", "nbytes"),
                (commit.responses_part, commit.responses_rows, self._rshard, self._rschema,
                 "responses", "responses_nbytes")):
            if part is None:
                continue
            sizes = [b for it in record["items"] if it.get(n_key) for b in row_bytes(it[b_key], it[n_key])]
            try:
                table = pq.read_table(self.out_dir / part).cast(schema)
            except (pa.ArrowException, ValueError, OSError) as e:
                raise OutputError(f"{self.out_dir / part} cannot be read ({e}); pass --overwrite") from e
            if table.num_rows != len(sizes) or table.num_rows != rows:
                raise OutputError(f"{self.out_dir / part} does not match {commit.record}; pass --overwrite")
            shard.add(table, sizes, None)

    def _clear(self) -> None:
        """Remove what a previous run wrote (manifest last, so an interrupted clear is still refused/cleared)."""
        for path in stray_files(self.out_dir, None):
            path.unlink()
        for name in (ERRORS_NAME, CARD_NAME, PROGRESS_NAME, MANIFEST_NAME):
            (self.out_dir / name).unlink(missing_ok=True)

    def _apply(self, commit: CommitRecord, record: dict) -> None:
        """Take a commit into the in-memory state."""
        ids = self._shard_items.setdefault(commit.shard, [])
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

    def _new_shard(self) -> OpenShard:
        return OpenShard(self.out_dir / shard_name(self._shard_index, self.shard_stem), self._schema, self.row_group_rows)

    def _new_rshard(self) -> OpenShard:
        return OpenShard(self.out_dir / response_shard_name(self._shard_index), self._rschema, self.row_group_rows)

    # ----------------------------------------------------------------- adding
    def add_item(self, item_id: str, rows: list[dict], stats: dict, responses: list[dict] | None = None) -> None:
        """Add all pair rows of one item (possibly none), that item's statistics and its responses.

        The item is done (in :attr:`done_items`, kept after a crash) from the next commit:
        :meth:`checkpoint`, a shard close or :meth:`close`.

        Args:
            item_id: the item's id; each row's ``item_id`` must equal it.
            rows: pair rows with exactly the columns of ``pair_features()``; images may be
                ``{"bytes", "path"}`` dicts, ``ImageData``, PIL images, bytes or file paths
                (bytes are always embedded; local paths are reduced to their file name).
            stats: the item's statistics, any JSON-safe dict (stored as given; see
                :func:`mmpr_builder.output.summary.summarize` for the keys the summary and card read).
            responses: the item's response rows, with exactly the columns of
                :func:`mmpr_builder.output.responses.response_features` (None: none).

        Raises:
            OutputError: the item was already added or committed, a row does not match the
                schema (missing/unknown column, wrong type, duplicate ``id``, unknown
                ``method``), an image has no bytes, ``stats`` is not JSON-safe, or a response
                row does not match the responses schema.
        """
        self._check_usable()
        if not isinstance(item_id, str) or not item_id:
            raise OutputError(f"item id must be a non-empty string, got {item_id!r}")
        if item_id in self.done_items or item_id in self._pending_ids:
            raise OutputError(f"item {item_id!r} was already added to {self.out_dir}")
        stats = json_roundtrip(stats, f"stats of item {item_id!r}")
        table = encode_rows(item_id, rows, self._schema)
        rtable = encode_response_rows(item_id, responses or [], self._rschema)
        self._pending_items.append({"item_id": item_id, "stats": stats, "rows": table.num_rows,
                                    "nbytes": table.nbytes, "responses": rtable.num_rows,
                                    "responses_nbytes": rtable.nbytes})
        self._pending_ids.add(item_id)
        if table.num_rows:
            self._guarded(self._shard.add, table, row_bytes(table.nbytes, table.num_rows),
                          self.out_dir / part_name(self._shard_index, self._next_index, self.shard_stem))
        if rtable.num_rows:
            self._guarded(self._rshard.add, rtable, row_bytes(rtable.nbytes, rtable.num_rows),
                          self.out_dir / response_part_name(self._shard_index, self._next_index))
        shard, rshard = self._shard, self._rshard
        if (shard.rows or rshard.rows) and (
                max(shard.size(), rshard.size()) >= self.max_shard_bytes
                or (self.max_shard_rows is not None and shard.rows >= self.max_shard_rows)):
            info = self._guarded(self._commit, True)
            if self.on_shard_closed is not None:
                self.on_shard_closed(info)  # its failure leaves the writer usable

    def add_error(self, item_id: str | None, cause: str, message: str) -> None:
        """Record a bad input row; it is committed with the next commit.

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

    def checkpoint(self) -> None:
        """Durably commit the items, stats and bad rows added since the last commit, without closing the shard.

        Their rows go to a part file of the open shard (``data/.parts/``), merged into the
        shard when it closes; then they count as done, and a crash after this loses none of
        them. A no-op when nothing was added. The pipeline calls it after every chunk.

        Raises:
            OutputError or OSError: writing failed (the folder stays resumable from the last commit).
        """
        self._check_usable()
        if self._pending_items or self._pending_errors:
            self._guarded(self._commit, False)

    def close(self) -> list[ShardInfo]:
        """Commit what is pending (a last, possibly small shard, or a zero-row commit) and return all shards.

        Raises:
            OutputError or OSError: writing failed (the folder stays resumable).
        """
        if self._closed:
            return list(self._shards)
        self._check_usable()
        info = None
        if self._shard.rows or self._rshard.rows:
            info = self._guarded(self._commit, True)
        elif self._pending_items or self._pending_errors:
            self._guarded(self._commit, False)
        self._closed = True
        for parts_dir in (PARTS_DIR, RESPONSE_PARTS_DIR):
            try:
                (self.out_dir / parts_dir).rmdir()  # empty once the last shard is finished
            except OSError:
                pass
        if info is not None and self.on_shard_closed is not None:
            self.on_shard_closed(info)
        return list(self._shards)

    def has_item(self, item_id: str) -> bool:
        """Whether ``item_id`` was added (:meth:`add_item`) or recorded as bad (:meth:`add_error`), committed or not."""
        return (item_id in self.done_items or item_id in self._pending_ids
                or any(e["item_id"] == item_id for e in self._pending_errors))

    @property
    def shards(self) -> list[ShardInfo]:
        """The finished shards so far (e.g. to upload those the Hub lacks when resuming)."""
        return list(self._shards)

    def item_stats(self) -> list[dict]:
        """Stats of all committed items (``add_item``), ``{"item_id", **stats}``, in commit order.

        Bad rows (``add_error``) are not included: see :meth:`error_counts` / :meth:`errors`.
        """
        return [dict(s) for s in self._stats]

    def item_outcomes(self) -> list[ItemOutcome]:
        """The committed items' stats as :class:`~mmpr_builder.items.ItemOutcome` (stats made by its ``to_json``).

        Raises:
            ValueError: a stored stats dict is not an ``ItemOutcome``.
        """
        return [ItemOutcome.from_json(s) for s in self._stats]

    def error_counts(self) -> dict[str, int]:
        """Committed bad rows per cause, ``{cause: count}`` (sorted by cause)."""
        return dict(sorted(Counter(e["cause"] for e in self._errors).items()))

    def errors(self) -> list[dict]:
        """Committed bad rows, ``{"item_id", "cause", "message"}``, as in ``errors.jsonl``."""
        return [dict(e) for e in self._errors]

    # ----------------------------------------------------------------- internals
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

    def _commit(self, close_shard: bool) -> ShardInfo | None:
        """One commit: the part (checkpoint) or the finished shard (close), commit record, rename, manifest.

        Returns the :class:`ShardInfo` of the finished shard, or ``None`` for a checkpoint.
        """
        index, number, shard, rshard = self._next_index, self._shard_index, self._shard, self._rshard
        rows, rrows = shard.part_rows, rshard.part_rows
        files = []  # (temp file, final path, size, sha256) of the pairs, then the responses
        for s, final in ((shard, shard_name(number, self.shard_stem) if close_shard else part_name(number, index, self.shard_stem)),
                         (rshard, response_shard_name(number) if close_shard else response_part_name(number, index))):
            if close_shard:  # a shard's pairs file is always written (maybe 0 rows); its responses file if any
                tmp = s.finish() if s is shard or s.rows else None
            else:
                tmp = s.close_part()
            files.append((tmp, None, 0, None) if tmp is None else
                         (tmp, self.out_dir / final, tmp.stat().st_size, file_sha256(tmp)))
        record, record_sha = write_commit_record(self.out_dir, index, self._pending_items, self._pending_errors)
        for tmp, final, _, _ in files:
            if tmp is not None:
                _publish(tmp, final)
        (_, final, size, sha), (_, rfinal, rsize, rsha) = files
        name = None if final is None else final.relative_to(self.out_dir).as_posix()
        rname = None if rfinal is None else rfinal.relative_to(self.out_dir).as_posix()
        commit = CommitRecord(index=index, shard=number, rows=rows, record=record, record_sha256=record_sha,
                              responses_rows=rrows)
        parts = []
        if close_shard:
            for c in self._manifest.commits:
                if c.shard == number:
                    parts += [p for p in (c.part, c.responses_part) if p is not None]
                    c.part, c.part_bytes, c.part_sha256 = None, 0, None
                    c.responses_part, c.responses_part_bytes, c.responses_part_sha256 = None, 0, None
            self._manifest.shards.append(ShardRecord(
                index=number, name=name, rows=shard.rows, bytes=size, sha256=sha, responses_name=rname,
                responses_rows=rshard.rows, responses_bytes=rsize, responses_sha256=rsha))
        else:
            if name is not None:
                commit.part, commit.part_bytes, commit.part_sha256 = name, size, sha
            if rname is not None:
                commit.responses_part, commit.responses_part_bytes, commit.responses_part_sha256 = rname, rsize, rsha
        self._manifest.commits.append(commit)
        write_manifest(self.out_dir, self._manifest)
        # committed: take it into the in-memory state
        self._apply(commit, {"items": self._pending_items, "errors": self._pending_errors})
        new_errors = bool(self._pending_errors)
        self._next_index += 1
        self._pending_items, self._pending_ids, self._pending_errors = [], set(), []
        if new_errors:
            write_errors_file(self.out_dir, self._errors)
        if not close_shard:
            logger.info("checkpoint %s (%d rows; open shard %d rows)", record, rows, shard.rows)
            return None
        for part in parts:  # no longer listed: a crash before this only leaves leftovers
            (self.out_dir / part).unlink(missing_ok=True)
        info = ShardInfo(name, shard.rows, size, sha, list(self._shard_items.get(number, [])),
                         rname, rshard.rows, rsize, rsha)
        self._shards.append(info)
        self._shard_index += 1
        self._shard, self._rshard = self._new_shard(), self._new_rshard()
        logger.info("finished %s (%d rows)", name, info.rows)
        return info
