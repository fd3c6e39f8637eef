"""`mmpr push OUT --repo ORG/NAME` against the local fake Hub: a finished folder, resumed after a failed
upload, refused when unfinished; the command runs without loading vLLM (checked in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_rows import FINGERPRINT, make_rows, stats_for
from test_hub import REPO, TOKEN, hub  # noqa: F401 - the fake Hub fixture

from mmpr_builder.errors import ConfigError, OutputError
from mmpr_builder.output.card import write_card
from mmpr_builder.output.push import push_output
from mmpr_builder.output.writer import ShardWriter

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_INFO = {"model": "tiny", "recipe": "test", "recipe_version": 1, "sampling": {"n": 4}, "seed": 0}


def finished_folder(out: Path, n_items: int = 6, *, close: bool = True, prefix: str = "item") -> ShardWriter:
    """An output folder as `mmpr build` leaves it (2 pairs an item, 4 rows a shard), built without --push-to-hub."""
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, max_shard_rows=4)
    for i in range(n_items):
        w.add_item(f"{prefix}-{i:03d}", make_rows(f"{prefix}-{i:03d}", 2), stats_for(f"{prefix}-{i:03d}", 2))
    if close:
        w.close()
        write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO)
    else:
        w.checkpoint()
    return w


def test_push_cli_uploads_shards_and_card_without_vllm(hub, tmp_path):
    out = tmp_path / "out"
    w = finished_folder(out)
    assert 'load_dataset("ORG/NAME"' in (out / "README.md").read_text()
    child = ("import sys\nfrom mmpr_builder.cli import main\nsys.argv = ['mmpr'] + sys.argv[1:]\n"
             "try:\n    main()\nfinally:\n    print('vllm imported:', 'vllm' in sys.modules)\n")
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-c", child, "push", str(out), "--repo", REPO, "--private", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    body, _, tail = proc.stdout.rpartition("\n}\n")
    result = json.loads(body + "\n}")
    assert tail.strip() == "vllm imported: False"
    assert result == {"repo_id": REPO, "shards": 3, "rows": 12, "bytes": sum(s.bytes for s in w.shards),
                      "uploaded_shards": 3, "card_uploaded": True}
    repo = hub.repos[REPO]
    assert repo.private
    card = (out / "README.md").read_bytes()
    assert f'load_dataset("{REPO}", split="train")'.encode() in card  # the card names the repo it is pushed to
    assert {p: f["data"] for p, f in repo.files.items()} == {
        **{s.name: (out / s.name).read_bytes() for s in w.shards}, "README.md": card}
    assert hub.commit_messages(REPO) == [f"Add data/train-{k:05d}.parquet (4 pairs)" for k in range(3)] + \
        ["Update dataset card"]


def test_push_resumes_after_an_interrupted_upload(hub, tmp_path):
    out = tmp_path / "out"
    w = finished_folder(out, n_items=10)  # 5 shards
    hub.fail_commits_after = 2
    with pytest.raises(OutputError, match="could not upload data/train-00002.parquet"):
        push_output(out, REPO, endpoint=hub.url)
    assert sorted(hub.repos[REPO].files) == ["data/train-00000.parquet", "data/train-00001.parquet"]

    hub.fail_commits_after = None
    puts_before = len(hub.lfs_uploads())
    result = push_output(out, REPO, endpoint=hub.url)
    assert (result["uploaded_shards"], result["card_uploaded"]) == (3, True)
    assert hub.commit_messages(REPO)[2:] == [f"Add data/train-{k:05d}.parquet (4 pairs)" for k in (2, 3, 4)] + \
        ["Update dataset card"]
    assert len(hub.lfs_uploads()) - puts_before == 2  # shard 2's bytes reached the Hub before its commit failed
    files = hub.repos[REPO].files
    assert {p: f["sha256"] for p, f in files.items() if p != "README.md"} == {s.name: s.sha256 for s in w.shards}

    commits = len(hub.commit_messages(REPO))
    again = push_output(out, REPO, endpoint=hub.url)  # everything is there: nothing is sent
    assert (again["uploaded_shards"], again["card_uploaded"], len(hub.commit_messages(REPO))) == (0, False, commits)


def test_push_removes_hub_shards_the_folder_does_not_list(hub, tmp_path):
    push_output(finished_folder(tmp_path / "big", n_items=6).out_dir, REPO, endpoint=hub.url)  # 3 shards
    small = finished_folder(tmp_path / "small", n_items=2, prefix="other")  # 1 shard of other rows
    result = push_output(small.out_dir, REPO, endpoint=hub.url)
    assert result["uploaded_shards"] == 1
    assert sorted(hub.repos[REPO].files) == ["README.md", "data/train-00000.parquet"]
    assert hub.repos[REPO].files["data/train-00000.parquet"]["sha256"] == small.shards[0].sha256


def test_push_refuses_an_unfinished_or_damaged_folder(hub, tmp_path):
    unfinished = tmp_path / "unfinished"
    finished_folder(unfinished, n_items=3, close=False)  # 4 rows in a closed shard, 2 in the open one
    with pytest.raises(OutputError, match="did not finish .2 rows wait in an open shard"):
        push_output(unfinished, REPO, endpoint=hub.url)

    no_card = tmp_path / "no_card"
    finished_folder(no_card, n_items=2)
    (no_card / "README.md").unlink()
    with pytest.raises(OutputError, match="no dataset card"):
        push_output(no_card, REPO, endpoint=hub.url)

    damaged = tmp_path / "damaged"
    w = finished_folder(damaged, n_items=2)
    shard = damaged / w.shards[0].name
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(OutputError, match="damaged files .shard data/train-00000.parquet: SHA-256 differs"):
        push_output(damaged, REPO, endpoint=hub.url)

    with pytest.raises(OutputError, match="not an mmpr output folder"):
        push_output(tmp_path, REPO, endpoint=hub.url)
    with pytest.raises(ConfigError, match="org/name"):
        push_output(damaged, "no-org", endpoint=hub.url)
    assert hub.requests == []  # nothing reached the Hub
