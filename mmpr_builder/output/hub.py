"""Upload shards to a Hub dataset repo as they close, and the card at the end.

Each shard is one commit (``huggingface_hub.HfApi.create_commit``), so a crash
or a failed upload never loses the shards already on the Hub; a rerun compares
the Hub's files (LFS SHA-256 from ``list_repo_tree``) with the manifest and
uploads only what the Hub lacks or holds with other bytes. Shard names and
bytes are deterministic, so an unchanged shard is never uploaded twice.

Several boxes may push into one repository (sharded runs, ``--shard I/N``): each
box's shard names carry its ``shard_stem`` (``train-s01of04-00000.parquet``), it
adds only its own files, and its end-of-run clean-up deletes only stale shards
with its own stem, never another box's.

The token is huggingface_hub's: ``HF_TOKEN`` or ``hf auth login`` (or the
``token`` argument). It is only handed to ``HfApi``; nothing here logs, prints
or writes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import OutputError
from .manifest import CARD_NAME, SHARD_RE, SHARD_STEM
from .writer import ShardInfo

logger = logging.getLogger(__name__)
REPO_TYPE = "dataset"


class HubPusher:
    """Mirror an output folder's shards and card to the dataset repo ``repo_id``.

    Args:
        repo_id: ``ORG/NAME`` of the dataset repo; created if missing (``exist_ok``).
        private: create the repo private (an existing repo keeps its visibility).
        token: a Hub token; ``None`` uses huggingface_hub's (``HF_TOKEN`` or the saved login).
        endpoint: Hub URL (default: huggingface_hub's, i.e. ``HF_ENDPOINT`` or huggingface.co).
        shard_stem: the stem of this box's shard names (``train``, or ``train-sIIofNN`` for a
            sharded run); stale-shard clean-up touches only names with this stem.

    Raises:
        OutputError: the repo cannot be created or listed (no permission, no network, ...).
    """

    def __init__(self, repo_id: str, *, private: bool = False, token: str | None = None,
                 endpoint: str | None = None, shard_stem: str = SHARD_STEM):
        from huggingface_hub import HfApi

        self.repo_id = repo_id
        self.shard_stem = shard_stem
        self._api = HfApi(endpoint=endpoint, token=token)
        with self._errors("create or read the dataset repo"):
            self._api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        self._remote: dict[str, tuple[str | None, str]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the repo's file list: path -> (LFS SHA-256 or None, git blob id)."""
        from huggingface_hub.hf_api import RepoFile

        with self._errors("list the files of"):
            tree = self._api.list_repo_tree(self.repo_id, repo_type=REPO_TYPE, recursive=True)
            self._remote = {f.path: (f.lfs.sha256 if f.lfs else None, f.blob_id)
                            for f in tree if isinstance(f, RepoFile)}

    def has(self, path_in_repo: str, sha256: str, data: bytes | None = None) -> bool:
        """Whether the Hub holds ``path_in_repo`` with these bytes (LFS SHA-256, or git blob id of ``data``)."""
        remote = self._remote.get(path_in_repo)
        if remote is None:
            return False
        lfs_sha, blob_id = remote
        if lfs_sha is not None:
            return lfs_sha == sha256
        if data is None:
            return False
        from huggingface_hub.utils.sha import git_hash

        return blob_id == git_hash(data)

    def push_shard(self, out_dir: Path, shard: ShardInfo) -> bool:
        """Upload one shard in its own commit unless the Hub already has it; returns whether it uploaded.

        Raises:
            OutputError: the local file does not match ``shard`` or the upload failed (the
                shard stays committed locally; :meth:`push_pending` uploads it later).
        """
        path = Path(out_dir) / shard.name
        if not path.is_file() or path.stat().st_size != shard.bytes:
            raise OutputError(f"{path} is missing or differs from the manifest; rerun the build to repair it")
        if self.has(shard.name, shard.sha256):
            return False
        self._commit(path, shard.name, f"Add {shard.name} ({shard.rows} pairs)")
        self._remote[shard.name] = (shard.sha256, "")
        return True

    def push_pending(self, out_dir: Path, shards: list[ShardInfo], *, delete_stale: bool = False) -> int:
        """Upload the shards the Hub lacks (or holds with other bytes); returns how many were uploaded.

        The Hub is re-listed first. Call it when resuming with the committed shards, and
        after ``ShardWriter.close()`` with all shards and ``delete_stale=True``: then Hub
        shards with this box's ``shard_stem`` that ``shards`` does not list (from an
        overwritten run, or a shard dropped as damaged and redone under another name) are
        removed in one commit, so no pair is duplicated; other boxes' shards are kept. Deleting only at the end keeps a rerun into an empty folder from
        removing a finished upload before it is rebuilt.
        """
        self.refresh()
        uploaded = sum(self.push_shard(out_dir, s) for s in shards)
        if not delete_stale:
            return uploaded
        local = {s.name for s in shards}
        stale = sorted(p for p in self._remote if p.startswith("data/") and p not in local
                       and (m := SHARD_RE.match(p[5:])) and m.group(1) == self.shard_stem)
        if stale:
            from huggingface_hub import CommitOperationDelete

            with self._errors("delete stale shards from"):
                self._api.create_commit(self.repo_id, repo_type=REPO_TYPE,
                                        operations=[CommitOperationDelete(path_in_repo=p) for p in stale],
                                        commit_message=f"Remove {len(stale)} shards not in this build")
            for p in stale:
                del self._remote[p]
            logger.info("removed %d stale shards from %s", len(stale), self.repo_id)
        return uploaded

    def push_card(self, out_dir: Path) -> bool:
        """Upload ``out_dir/README.md`` (one commit) unless the Hub already has the same text; returns whether it uploaded.

        Raises:
            OutputError: no card in ``out_dir`` or the upload failed.
        """
        import hashlib

        path = Path(out_dir) / CARD_NAME
        if not path.is_file():
            raise OutputError(f"no dataset card at {path}; write it before pushing")
        data = path.read_bytes()
        if self.has(CARD_NAME, hashlib.sha256(data).hexdigest(), data):
            return False
        self._commit(path, CARD_NAME, "Update dataset card")
        from huggingface_hub.utils.sha import git_hash

        self._remote[CARD_NAME] = (None, git_hash(data))
        return True

    def _commit(self, path: Path, path_in_repo: str, message: str) -> None:
        from huggingface_hub import CommitOperationAdd

        with self._errors(f"upload {path_in_repo} to"):
            self._api.create_commit(self.repo_id, repo_type=REPO_TYPE, commit_message=message,
                                    operations=[CommitOperationAdd(path_in_repo=path_in_repo,
                                                                   path_or_fileobj=str(path))])
        logger.info("uploaded %s to %s", path_in_repo, self.repo_id)

    def _errors(self, what: str):
        return _HubErrors(f"could not {what} the Hub dataset {self.repo_id}")


class _HubErrors:
    """Context manager turning huggingface_hub/network failures into OutputError (the message names no token)."""

    def __init__(self, message: str):
        self.message = message

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, (OutputError, KeyboardInterrupt, SystemExit)):
            return False
        if isinstance(exc, Exception):
            raise OutputError(f"{self.message}: {type(exc).__name__}: {exc}") from exc
        return False
