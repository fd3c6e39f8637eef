"""HubPusher against a local fake Hub: one commit per shard, resume uploads only what is missing, no token leaks."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from testlib import known_failures
from fake_hub import FakeHub
from fake_rows import FINGERPRINT, make_rows, stats_for

from mmpr_builder.output.card import write_card
from mmpr_builder.errors import OutputError
from mmpr_builder.output.hub import HubPusher
from mmpr_builder.output.writer import ShardWriter

TOKEN = "hf_TESTtokenDoNotLeak0123456789abcdef"
REPO = "mmpr-test/pairs"
CASES = {c["id"]: c for c in known_failures("parquet-upload")}
RUN_INFO = {"model": "tiny", "recipe": "test", "recipe_version": 1, "sampling": {"n": 4}, "seed": 0,
            "mmpr_version": "0.1.0", "license": "apache-2.0", "repo_id": REPO}


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub, the token in HF_TOKEN, LFS uploads (no Xet), and no connection other than 127.0.0.1."""
    import huggingface_hub.constants

    fake = FakeHub(token=TOKEN)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    real_connect = socket.socket.connect

    def local_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test network is local only, refused {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    yield fake
    fake.close()


def items(n_items: int, pairs: int = 2) -> list[tuple[str, int]]:
    return [(f"item-{i:03d}", pairs) for i in range(n_items)]


def build(out: Path, plan, pusher: HubPusher | None = None, **kw) -> ShardWriter:
    """Run a build; each closed shard is pushed when a pusher is given (as the pipeline does)."""
    callback = None if pusher is None else (lambda s: pusher.push_shard(out, s))
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, on_shard_closed=callback, **kw)
    if pusher is not None:
        pusher.push_pending(out, w.shards)
    for item_id, n in plan:
        if item_id not in w.done_items:
            w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.close()
    return w


def test_each_shard_is_one_commit_then_the_card(hub, tmp_path):
    out = tmp_path / "out"
    pusher = HubPusher(REPO, private=True, endpoint=hub.url)
    w = build(out, items(6), pusher, max_shard_rows=4)
    write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO)
    pusher.push_card(out)
    repo = hub.repos[REPO]
    assert repo.private
    assert hub.commit_messages(REPO) == ["Add data/train-00000.parquet (4 pairs)", "Add data/train-00001.parquet (4 pairs)",
                                         "Add data/train-00002.parquet (4 pairs)", "Update dataset card"]
    assert {p: f["data"] for p, f in repo.files.items()} == {
        **{s.name: (out / s.name).read_bytes() for s in w.shards}, "README.md": (out / "README.md").read_bytes()}
    assert all(repo.files[s.name]["lfs"] for s in w.shards)


def test_rerun_uploads_nothing_the_hub_has(hub, tmp_path):
    out = tmp_path / "out"
    pusher = HubPusher(REPO, endpoint=hub.url)
    w = build(out, items(6), pusher, max_shard_rows=4)
    write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO)
    pusher.push_card(out)
    before = len(hub.requests)
    again = HubPusher(REPO, endpoint=hub.url)  # existing repo: create answers 409, exist_ok
    w2 = build(out, items(6), again, max_shard_rows=4)
    write_card(out, outcomes=w2.item_outcomes(), run_info=RUN_INFO)
    again.push_card(out)
    assert len(hub.commit_messages(REPO)) == 4
    assert [(r.method, r.path.split("/")[5] if r.path.startswith("/api/datasets/") else r.path)
            for r in hub.requests[before:]] == [("POST", "/api/repos/create"), ("GET", "tree"), ("GET", "tree")]


def test_push_resume_after_failed_upload(hub, tmp_path):
    """Known failure push-resume-shards: after a failure at shard 7 of 10, the rerun uploads only the 4 missing."""
    case = CASES.get("push-resume-shards") or {"input": {"shards": 10, "failure_after_shard": 6},
                                               "expected": {"reuploaded_on_rerun": 4}}
    n_shards, fail_after = case["input"]["shards"], case["input"]["failure_after_shard"]
    plan = items(2 * n_shards)  # 2 pairs an item, 4 rows a shard -> n_shards shards
    reference = build(tmp_path / "ref", plan, max_shard_rows=4)
    assert len(reference.shards) == n_shards

    out = tmp_path / "out"
    hub.fail_commits_after = fail_after
    with pytest.raises(OutputError, match="could not upload data/train-00006.parquet"):
        build(out, plan, HubPusher(REPO, endpoint=hub.url), max_shard_rows=4)  # the build dies here
    assert len(hub.repos[REPO].files) == fail_after

    hub.fail_commits_after = None
    commits_before, puts_before = len(hub.commit_messages(REPO)), len(hub.lfs_uploads())
    build(out, plan, HubPusher(REPO, endpoint=hub.url), max_shard_rows=4)
    new_commits = hub.commit_messages(REPO)[commits_before:]
    assert new_commits == [f"Add data/train-{k:05d}.parquet (4 pairs)" for k in range(fail_after, n_shards)]
    assert len(new_commits) == case["expected"]["reuploaded_on_rerun"]
    # the failed commit's LFS object had reached the Hub: its bytes are not sent again
    assert len(hub.lfs_uploads()) - puts_before == n_shards - fail_after - 1
    files = hub.repos[REPO].files
    assert sorted(files) == [s.name for s in reference.shards]
    assert all(files[s.name]["sha256"] == s.sha256 for s in reference.shards)  # identical bytes across runs


def test_stale_hub_shards_are_removed(hub, tmp_path):
    pusher = HubPusher(REPO, endpoint=hub.url)
    build(tmp_path / "big", items(8), pusher, max_shard_rows=4)  # 4 shards on the Hub
    small = build(tmp_path / "small", items(2, pairs=3), max_shard_rows=4)  # an overwriting run: 1 other shard
    again = HubPusher(REPO, endpoint=hub.url)
    assert again.push_pending(tmp_path / "small", small.shards) == 1  # at the start of a rerun: nothing deleted
    assert len(hub.repos[REPO].files) == 4
    assert again.push_pending(tmp_path / "small", small.shards, delete_stale=True) == 0  # after close()
    assert hub.commit_messages(REPO)[-1] == "Remove 3 shards not in this build"
    assert sorted(hub.repos[REPO].files) == ["data/train-00000.parquet"]
    assert hub.repos[REPO].files["data/train-00000.parquet"]["sha256"] == small.shards[0].sha256


def test_failed_push_leaves_the_writer_usable(hub, tmp_path):
    pusher = HubPusher(REPO, endpoint=hub.url)
    hub.fail_commits_after = 0
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, max_shard_rows=2,
                    on_shard_closed=lambda s: pusher.push_shard(out, s))
    with pytest.raises(OutputError, match=r"could not upload .* mmpr-test/pairs: HfHubHTTPError"):
        w.add_item("a", make_rows("a", 2), {})
    w.add_item("b", [], {})  # the shard was committed locally; the writer goes on
    assert w.close() and w.done_items == {"a", "b"}


def test_token_never_in_output_logs_or_errors(hub, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    out = tmp_path / "out"
    pusher = HubPusher(REPO, endpoint=hub.url)
    w = build(out, items(5), pusher, max_shard_rows=4)
    write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO)
    pusher.push_card(out)
    hub.fail_commits_after = 0
    (out / "README.md").write_text((out / "README.md").read_text() + "\nmore\n")
    with pytest.raises(OutputError) as err:
        pusher.push_card(out)
    api_calls = [r for r in hub.requests if r.path.startswith("/api/")]
    assert api_calls and all(r.authorization == f"Bearer {TOKEN}" for r in api_calls)  # the token was used
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value.__cause__)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 6 and not [p for p in files if TOKEN.encode() in p.read_bytes()]
    captured = capfd.readouterr()
    assert caplog.records and TOKEN not in caplog.text
    assert TOKEN not in captured.out and TOKEN not in captured.err
    assert not any(TOKEN.encode() in f["data"] for f in hub.repos[REPO].files.values())


def test_unreachable_hub_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OutputError, match=f"could not create or read the dataset repo the Hub dataset {REPO}") as err:
        HubPusher(REPO, endpoint=f"http://127.0.0.1:{port}")
    assert TOKEN not in str(err.value)
