"""``mmpr push OUT --repo ORG/NAME``: upload a finished output folder to a Hub dataset repo, no model loaded.

The same uploader as ``mmpr build --push-to-hub`` (:class:`~mmpr_builder.output.hub.HubPusher`):
each shard the Hub lacks (or holds with other bytes, by LFS SHA-256) is one commit, then
shards the Hub has but the folder does not list are removed, then the card. A push cut
short (network, Ctrl-C) is resumed by running it again: the Hub's file list is read
first and only what is missing is uploaded.

Only finished folders are pushed: every shard must match the manifest (size and
SHA-256), no rows may wait in an open shard, and the card must exist; otherwise rerun
the build to finish it. The card's usage snippet is set to the target repo before upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError
from .card import set_card_repo_id
from .state import read_state
from .writer import ShardInfo


def push_output(out_dir: Path, repo_id: str, *, private: bool = False, token: str | None = None,
                endpoint: str | None = None) -> dict[str, Any]:
    """Upload the finished shards of ``out_dir`` and its card to the dataset repo ``repo_id``.

    Args:
        out_dir: an output folder of ``mmpr build`` (``manifest.json``, ``data/``, ``README.md``).
        repo_id: ``ORG/NAME``; the repo is created if missing.
        private: create the repo private (an existing repo keeps its visibility).
        token, endpoint: passed to ``huggingface_hub.HfApi`` (default: ``HF_TOKEN`` or the saved
            login; ``HF_ENDPOINT`` or huggingface.co).
    Returns:
        ``{"repo_id", "shards", "rows", "bytes", "uploaded_shards", "card_uploaded"}``
        (``uploaded_shards``: shards sent by this call; 0 when the Hub had them all).
    Raises:
        ConfigError: ``repo_id`` is not ``ORG/NAME``.
        OutputError: ``out_dir`` is not a finished mmpr output folder (no manifest, a damaged
            shard, rows still in an open shard, no card), or the Hub refused an upload
            (what was uploaded stays; push again to resume).
    """
    from ..build_config import _HUB_REPO
    from .hub import HubPusher

    if not _HUB_REPO.match(repo_id):
        raise ConfigError(f"--repo: must be a Hub dataset id org/name, got {repo_id!r}")
    out_dir = Path(out_dir)
    state = read_state(out_dir, verify_checksums=True)
    if state.problems:
        raise OutputError(f"{out_dir} has damaged files ({'; '.join(state.problems)}); rerun the build to repair "
                          "them before pushing")
    if state.open_rows():
        raise OutputError(f"{out_dir}: the build did not finish ({state.open_rows()} rows wait in an open shard); "
                          "rerun it with the same arguments to finish, then push")
    set_card_repo_id(out_dir, repo_id)  # raises OutputError when there is no card
    shards = [ShardInfo(s.name, s.rows, s.bytes, s.sha256, []) for s in state.manifest.shards]
    pusher = HubPusher(repo_id, private=private, token=token, endpoint=endpoint)
    uploaded = pusher.push_pending(out_dir, shards, delete_stale=True)
    card_uploaded = pusher.push_card(out_dir)
    return {"repo_id": repo_id, "shards": len(shards), "rows": sum(s.rows for s in shards),
            "bytes": sum(s.bytes for s in shards), "uploaded_shards": uploaded, "card_uploaded": card_uploaded}


def format_push(result: dict[str, Any]) -> str:
    """One line of text for :func:`push_output`'s result."""
    card = "the card" if result["card_uploaded"] else "the card unchanged"
    return (f"{result['repo_id']}: uploaded {result['uploaded_shards']} of {result['shards']} shards "
            f"({result['rows']} pairs in all; the others were on the Hub already) and {card}")
