"""Crash safety of ShardWriter: a crash at each step of a shard close loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fake_rows import FINGERPRINT, make_rows, plan, stats_for
from testlib import REPO_ROOT

import mmpr_builder.output.writer as writer_mod
from mmpr_builder.output.shard_rows import OpenShard
from mmpr_builder.output.writer import ShardWriter

ITEMS = plan(40)
KW = {"max_shard_rows": 12, "row_group_rows": 4}


class Crash(Exception):
    """Stands for the process dying at this point."""


def feed(w: ShardWriter, stop_after: int | None = None) -> None:
    for k, (item_id, n) in enumerate(ITEMS):
        if stop_after is not None and k >= stop_after:
            return
        if item_id not in w.done_items:
            w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))


def finish(out: Path) -> ShardWriter:
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **KW)
    feed(w)
    w.close()
    return w


def shard_bytes(out: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))]


def ids(out: Path) -> list[str]:
    return sorted(i for p in sorted((out / "data").glob("*.parquet"))
                  for i in pq.read_table(p, columns=["id"])["id"].to_pylist())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    finish(out)
    return out


def crash_on_call(monkeypatch, target, name: str, at: int, *, when=None):
    """Make ``target.name`` raise Crash on its ``at``-th call (counting only calls where ``when(args)`` holds)."""
    orig = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        if when is None or when(args):
            calls["n"] += 1
            if calls["n"] == at:
                raise Crash(name)
        return orig(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


# (where, patched object, name, call number, whether the 2nd shard close is committed)
POINTS = {
    "mid_shard_write": (OpenShard, "_write", 5, False),
    "before_commit_record": (writer_mod, "write_commit_record", 2, False),
    "between_write_and_rename": (writer_mod, "_publish", 2, False),
    "between_rename_and_manifest": (writer_mod, "write_manifest", 3, False),  # call 1: at open
    "after_manifest_in_callback": (None, "callback", 2, True),
}


@pytest.mark.parametrize("point", sorted(POINTS))
def test_crash_at_each_step_loses_nothing(tmp_path, monkeypatch, reference, point):
    target, name, at, committed = POINTS[point]
    out = tmp_path / "out"
    closed = []

    def callback(info):
        closed.append(info)
        if target is None and len(closed) == at:
            raise Crash("callback")

    if target is not None:
        crash_on_call(monkeypatch, target, name, at)
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, on_shard_closed=callback, **KW)
    with pytest.raises(Crash):
        feed(w)
    first_shard = set(w.shards[0].item_ids)
    monkeypatch.undo()
    del w

    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, **KW)
    assert len(w2.shards) == (2 if committed else 1)
    assert w2.done_items == first_shard | (set(w2.shards[1].item_ids) if committed else set())
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # partial/temp files removed
    assert sorted(p.name for p in (out / "data").iterdir() if p.is_file()) == [s.name.split("/")[1] for s in w2.shards]
    del w2
    finish(out)
    assert ids(out) == ids(reference) and len(set(ids(out))) == len(ids(out))
    assert shard_bytes(out) == shard_bytes(reference)


def test_manifest_update_is_atomic(tmp_path, monkeypatch, reference):
    """A crash after the new manifest is written to its temp file but before os.replace keeps the old one."""
    out = tmp_path / "out"
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        if Path(dst).name == "manifest.json":
            calls["n"] += 1
            if calls["n"] == 3:  # 1: open, 2: first close, 3: second close
                raise Crash("manifest replace")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **KW)
    with pytest.raises(Crash):
        feed(w)
    monkeypatch.undo()
    assert (out / ".manifest.json.tmp").exists()
    old = (out / "manifest.json").read_text()
    assert old.count('"shard":') == 1  # still the manifest of the first close, complete and parseable
    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, **KW)
    assert len(w2.shards) == 1 and not (out / ".manifest.json.tmp").exists()
    del w, w2
    finish(out)
    assert shard_bytes(out) == shard_bytes(reference)


def test_writer_refuses_use_after_a_failed_write(tmp_path, monkeypatch):
    crash_on_call(monkeypatch, writer_mod, "write_manifest", 2)
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, **KW)
    with pytest.raises(Crash):
        feed(w)
    from mmpr_builder.errors import OutputError

    with pytest.raises(OutputError, match="failed earlier"):
        w.add_item("late", [], {})


def child_env() -> dict[str, str]:
    """The environment of a child process: this checkout's package and the shared test helpers (tests/)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}


CHILD = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import mmpr_builder.output.writer as W
from mmpr_builder.output.shard_rows import OpenShard
from test_writer_crash import FINGERPRINT, KW, feed
out, owner, name, at = Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
target = OpenShard if owner == "class" else W
orig, calls = getattr(target, name), [0]
def wrapper(*a, **k):
    calls[0] += 1
    if calls[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(*a, **k)
setattr(target, name, wrapper)
w = W.ShardWriter(out, run_fingerprint=FINGERPRINT, **KW)
feed(w)
w.close()
"""


@pytest.mark.parametrize("owner, name, at", [("class", "_write", 6), ("module", "_publish", 2),
                                             ("module", "write_manifest", 3)])
def test_sigkill_then_rerun_matches_uninterrupted_run(tmp_path, reference, owner, name, at):
    """SIGKILL (no cleanup, unflushed buffers) in the middle of a shard, before a rename, before a manifest update."""
    out = tmp_path / "out"
    env = child_env()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(out), owner, name, str(at)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    finish(out)
    assert ids(out) == ids(reference)
    assert shard_bytes(out) == shard_bytes(reference)


# ----------------------------------------------------------------- checkpoints
ORDER = [item_id for item_id, _ in ITEMS]
DEFAULT_SIZE = {"row_group_rows": 4}  # max_shard_bytes 500 MB: every item in one shard


def feed_checkpointed(w: ShardWriter, every: int, stop_after: int | None = None) -> None:
    """Add the items as the pipeline does with chunks of ``every`` items: a checkpoint after each chunk."""
    for k, (item_id, n) in enumerate(ITEMS[:stop_after]):
        if item_id not in w.done_items:
            w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
        if k % every == every - 1:
            w.checkpoint()


def finish_with(out: Path, kw: dict) -> list[ShardWriter]:
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **kw)
    feed(w)
    return w.close()


def parts_on_disk(out: Path) -> list[str]:
    folder = out / "data" / ".parts"
    return sorted(f"data/.parts/{p.name}" for p in folder.iterdir()) if folder.is_dir() else []


def listed_parts(out: Path) -> list[str]:
    import json

    return sorted(c["part"] for c in json.loads((out / "manifest.json").read_text())["commits"] if c["part"])


@pytest.fixture(scope="module")
def reference_one_shard(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref1")
    assert len(finish_with(out, DEFAULT_SIZE)) == 1
    return out


def temp_files(out: Path, w: ShardWriter) -> list[Path]:
    """Temporary files left in ``out``, except the one of the shard ``w`` (just opened) is filling."""
    own = out / "data" / f".train-{len(w.shards):05d}.parquet.tmp"
    return [p for p in out.rglob("*.tmp") if p != own]


@pytest.mark.parametrize("kw, n_shards", [
    (DEFAULT_SIZE, 1),
    ({"max_shard_bytes": 20_000, "row_group_rows": 4}, 3),
    ({"max_shard_rows": 12, "row_group_rows": 4}, 5),
], ids=["500MB", "bytes", "rows"])
def test_checkpointed_run_resumed_after_crashes_gives_identical_shards(tmp_path, kw, n_shards):
    """Shards written with checkpoints, crashes and resumes (parts replayed) equal an uninterrupted run's, bytewise."""
    ref = finish_with(tmp_path / "ref", kw)
    assert len(ref) == n_shards
    out = tmp_path / "out"
    for stop in (8, 19, 20, 33):  # each run dies (no close) after item `stop` - 1
        w = ShardWriter(out, run_fingerprint=FINGERPRINT, **kw)
        feed_checkpointed(w, every=3, stop_after=stop)
        del w
        w = ShardWriter(out, run_fingerprint=FINGERPRINT, **kw)
        done = w.done_items
        assert not temp_files(out, w)
        del w
        assert done == set(ORDER[:len(done)])  # a prefix: committed in order
        assert stop // 3 * 3 <= len(done) <= stop  # at most the items since the last checkpoint are lost
        if kw is DEFAULT_SIZE:
            assert len(done) == stop // 3 * 3
        assert parts_on_disk(out) == listed_parts(out)
    finish_with(out, kw)
    assert [p.name for p in sorted((out / "data").glob("*.parquet"))] == [s.name.split("/")[1] for s in ref]
    assert shard_bytes(out) == shard_bytes(tmp_path / "ref")
    assert not (out / "data" / ".parts").exists()


CKPT_POINTS = {  # a crash inside the 2nd checkpoint (items 5-9), one shard of 500 MB
    "finishing_part": (OpenShard, "close_part", 3),  # two per commit: the pairs part, the responses part
    "before_commit_record": (writer_mod, "write_commit_record", 2),
    "between_part_write_and_rename": (writer_mod, "_publish", 2),
    "between_rename_and_manifest": (writer_mod, "write_manifest", 3),  # call 1: at open
}


@pytest.mark.parametrize("point", sorted(CKPT_POINTS))
def test_crash_inside_a_checkpoint_loses_only_uncommitted_items(tmp_path, monkeypatch, reference_one_shard, point):
    target, name, at = CKPT_POINTS[point]
    out = tmp_path / "out"
    crash_on_call(monkeypatch, target, name, at)
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
    with pytest.raises(Crash):
        feed_checkpointed(w, every=5)
    monkeypatch.undo()
    del w
    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
    assert w2.done_items == set(ORDER[:5]) and w2.shards == []
    assert not temp_files(out, w2)  # partial/temp files removed
    assert parts_on_disk(out) == listed_parts(out) == ["data/.parts/train-00000.part-00000.parquet"]
    del w2
    finish_with(out, DEFAULT_SIZE)
    assert shard_bytes(out) == shard_bytes(reference_one_shard)


def test_damaged_part_is_dropped_with_the_later_ones(tmp_path, reference_one_shard):
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
    feed_checkpointed(w, every=5, stop_after=15)  # three checkpoints: parts 0, 1, 2
    del w
    part = out / "data" / ".parts" / "train-00000.part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-20])
    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
    assert w2.done_items == set(ORDER[:5])  # parts 1 and 2 dropped: part 2 alone would leave a gap
    assert parts_on_disk(out) == listed_parts(out) == ["data/.parts/train-00000.part-00000.parquet"]
    del w2
    finish_with(out, DEFAULT_SIZE)
    assert shard_bytes(out) == shard_bytes(reference_one_shard)


CKPT_CHILD = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_writer_crash import DEFAULT_SIZE, FINGERPRINT, ITEMS, ShardWriter, feed_checkpointed
w = ShardWriter(Path(sys.argv[2]), run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
feed_checkpointed(w, every=5, stop_after=23)  # checkpoints after items 5, 10, 15, 20; 21-23 only added
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_between_checkpoints_loses_only_the_items_since_the_last_one(tmp_path, reference_one_shard):
    out = tmp_path / "out"
    env = child_env()
    proc = subprocess.run([sys.executable, "-c", CKPT_CHILD, str(Path(__file__).parent), str(out)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert list((out / "data").glob(".*.tmp")) and list((out / "data" / ".parts").glob(".*.tmp"))  # died mid-part
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, **DEFAULT_SIZE)
    assert w.done_items == set(ORDER[:20]) and w.shards == []
    assert not temp_files(out, w)
    assert parts_on_disk(out) == listed_parts(out) and len(listed_parts(out)) == 4
    del w
    finish_with(out, DEFAULT_SIZE)
    assert ids(out) == ids(reference_one_shard)
    assert shard_bytes(out) == shard_bytes(reference_one_shard)
