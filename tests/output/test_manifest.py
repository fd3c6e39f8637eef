"""Manifest files: atomic writes, fingerprint comparison, leftovers, read-only checks."""

from __future__ import annotations

import json
import os

import pytest
from fake_rows import FINGERPRINT, make_rows

from mmpr_builder.errors import OutputError
from mmpr_builder.output.manifest import Manifest, atomic_write_bytes, fingerprint_diff, read_manifest
from mmpr_builder.output.state import read_state, stray_files
from mmpr_builder.output.writer import ShardWriter


def test_atomic_write_keeps_old_content_when_replace_fails(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    atomic_write_bytes(target, b"old")
    assert target.read_bytes() == b"old" and not list(tmp_path.glob(".*.tmp"))

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert (tmp_path / ".manifest.json.tmp").read_bytes() == b"new"  # a leftover the writer removes


def test_fingerprint_diff_names_changed_added_and_removed_keys():
    old = {"model": "a", "seed": 0, "sampling": {"n": 4}, "inputs": ("x",)}
    assert fingerprint_diff(old, {**old, "inputs": ["x"]}) == []  # tuples and lists read back the same
    assert fingerprint_diff(old, {"model": "b", "seed": 0, "sampling": {"n": 8}, "extra": 1}) == \
        ["extra", "inputs", "model", "sampling.n"]


def test_manifest_rejects_other_formats(tmp_path):
    good = Manifest(run_fingerprint={"a": 1}).to_bytes()
    assert Manifest.from_bytes(good, tmp_path).run_fingerprint == {"a": 1}
    for bad in (b"[]", json.dumps({"format": "other"}).encode(),
                good.replace(b"\"version\": 3", b"\"version\": 2")):  # the format before responses were kept
        with pytest.raises(OutputError, match="corrupt"):
            Manifest.from_bytes(bad, tmp_path)


def test_stray_files_are_only_mmpr_names(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=1)
    w.add_item("a", make_rows("a", 1), {})
    w.close()
    (tmp_path / "data" / ".parts").mkdir(exist_ok=True)
    for name in ("data/train-00007.parquet", "data/.train-00001.parquet.tmp", "commits/00003.json",
                 ".errors.jsonl.tmp", "data/mine.parquet", "notes.txt", "data/.parts/train-00001.part-00004.parquet",
                 "data/.parts/.train-00001.part-00005.parquet.tmp", "data/.parts/mine.parquet"):
        (tmp_path / name).write_bytes(b"x")
    strays = sorted(str(p.relative_to(tmp_path)) for p in stray_files(tmp_path, read_manifest(tmp_path)))
    assert strays == [".errors.jsonl.tmp", "commits/00003.json", "data/.parts/.train-00001.part-00005.parquet.tmp",
                      "data/.parts/train-00001.part-00004.parquet", "data/.train-00001.parquet.tmp",
                      "data/train-00007.parquet"]


def test_read_state_reports_problems_without_changing_anything(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=2)
    for k in range(3):
        w.add_item(f"i{k}", make_rows(f"i{k}", 2), {})
    w.close()
    shard = tmp_path / "data" / "train-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-10])
    before = sorted((p, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file())
    state = read_state(tmp_path)
    assert len(state.problems) == 1 and "data/train-00001.parquet: size" in state.problems[0]
    assert "truncated" in state.problems[0]
    assert sorted((p, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file()) == before
    with pytest.raises(OutputError, match="not an mmpr output folder"):
        read_state(tmp_path / "data")
