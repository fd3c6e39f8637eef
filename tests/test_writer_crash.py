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

import mmpr_builder.writer as writer_mod
from mmpr_builder.writer import ShardWriter

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
    "mid_shard_write": (writer_mod.ShardWriter, "_write", 5, False),
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
    assert sorted(p.name for p in (out / "data").iterdir()) == [s.name.split("/")[1] for s in w2.shards]
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


CHILD = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import mmpr_builder.writer as W
from test_writer_crash import FINGERPRINT, KW, feed
out, owner, name, at = Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
target = W.ShardWriter if owner == "class" else W
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
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(out), owner, name, str(at)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    finish(out)
    assert ids(out) == ids(reference)
    assert shard_bytes(out) == shard_bytes(reference)
