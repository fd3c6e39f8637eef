"""Sharded runs (``--shard I/N``) pushing into one Hub dataset, and ``mmpr merge``.

The real build (run_build: source, labelling, pairing, ShardWriter, HubPusher) runs with the
deterministic engine double (tests/fake_engine.py) against the local fake Hub (tests/fake_hub.py):
real-engine builds are in test_build_e2e.py, the real Hub client is used here.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fake_engine import FakeEngine
from fake_hub import FakeHub
from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, RunConfig
from mmpr_builder.errors import ConfigError, OutputError
from mmpr_builder.items import QuestionItem
from mmpr_builder.output.inspect import committed_outcomes
from mmpr_builder.output.merge import merge_outputs
from mmpr_builder.output.state import read_state
from mmpr_builder.recipes import load_recipe
from mmpr_builder.sharding import ShardSpec, item_shard
from mmpr_builder.sources import iter_items

TOKEN = "hf_TESTtokenShardRuns0123456789abcdef"
REPO = "mmpr-test/sharded"
LIMIT = 30
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub as huggingface_hub's endpoint, the token in HF_TOKEN, LFS uploads, 127.0.0.1 only."""
    import huggingface_hub.constants

    fake = FakeHub(token=TOKEN)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", fake.url)
    real_connect = socket.socket.connect

    def local_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test network is local only, refused {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def truths() -> dict[str, str]:
    recipe = load_recipe("mathqa")
    items = iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                       answer_type=recipe.labeler.answer_type, limit=LIMIT)
    return {x.id: x.ground_truth for x in items if isinstance(x, QuestionItem)}


def build(out: Path, truths: dict, *, shard: str | None = None, push: bool = False, max_shard_rows: int = 4,
          overwrite: bool = False) -> dict:
    run = RunConfig(out_dir=str(out), limit=LIMIT, shard=shard, push_to_hub=REPO if push else None,
                    max_shard_rows=max_shard_rows, overwrite=overwrite, inflight_items=4)
    return run_build(BuildConfig(load_recipe("mathqa"), run=run), engine=FakeEngine(truths), progress=False)


def pair_ids(out: Path) -> list[str]:
    return sorted(i for p in sorted((out / "data").glob("*.parquet"))
                  for i in pq.read_table(p, columns=["id"])["id"].to_pylist())


def item_ids(out: Path) -> set[str]:
    return {o.item_id for o in committed_outcomes(read_state(out, verify_checksums=False))[0]}


def test_shard_spec_parses_and_refuses():
    assert ShardSpec.parse("1/4") == ShardSpec(1, 4) and ShardSpec.parse(" 0 / 2 ").stem == "train-s00of02"
    assert str(ShardSpec(3, 12)) == "3/12" and ShardSpec(3, 12).stem == "train-s03of12"
    for bad in ("4/4", "-1/2", "1of2", "1/0", ""):
        with pytest.raises(ConfigError, match="run.shard"):
            ShardSpec.parse(bad)


def test_item_shards_partition_and_are_stable():
    ids = [f"item-{i}" for i in range(400)]
    for n in (1, 2, 3, 7):
        owners = [[s for s in range(n) if ShardSpec(s, n).owns(i)] for i in ids]
        assert all(len(o) == 1 for o in owners)  # every item in exactly one shard
        counts = Counter(o[0] for o in owners)
        assert set(counts) == set(range(n)) and min(counts.values()) > 400 / n / 2  # none starved
    assert [item_shard(i, 5) for i in ids] == [item_shard(i, 5) for i in ids]
    assert ShardSpec(0, 2).owns(None) and not ShardSpec(1, 2).owns(None)  # a bad row without id: run 0


def test_two_sharded_runs_push_into_one_repo_and_merge(hub, truths, tmp_path):
    ref = tmp_path / "one-run"
    build(ref, truths)
    runs = [tmp_path / "s0", tmp_path / "s1"]
    for i, out in enumerate(runs):
        summary = build(out, truths, shard=f"{i}/2", push=True)
        assert summary["items"] >= 1
        names = sorted(p.name for p in (out / "data").glob("*.parquet"))
        assert names and all(n.startswith(f"train-s{i:02d}of02-") for n in names)

    # the items partition exactly: none in both, none missing; the pairs are those of one run
    a, b = item_ids(runs[0]), item_ids(runs[1])
    assert a and b and not a & b and a | b == item_ids(ref) == set(truths)
    assert sorted(pair_ids(runs[0]) + pair_ids(runs[1])) == pair_ids(ref)

    # the Hub holds the union of both runs' shards, byte for byte; nothing was deleted
    files = hub.repos[REPO].files
    local = {f"data/{p.name}": p for out in runs for p in (out / "data").glob("*.parquet")}
    assert {k for k in files if k.startswith("data/")} == set(local)
    import hashlib

    assert all(files[k]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest() for k, p in local.items())
    assert not [m for m in hub.commit_messages(REPO) if m.startswith("Remove")]
    assert "README.md" not in files  # a box's card holds its share only: merge writes the card

    # rerun box 0 over its folder with bigger shards: its own stale shards go, box 1's stay
    s1_files = {k: v["sha256"] for k, v in files.items() if "-s01of02-" in k}
    build(runs[0], truths, shard="0/2", push=True, max_shard_rows=1000, overwrite=True)
    files = hub.repos[REPO].files
    assert {k: v["sha256"] for k, v in files.items() if "-s01of02-" in k} == s1_files
    assert sorted(k for k in files if "-s00of02-" in k) == ["data/train-s00of02-00000.parquet"]
    assert sorted(pair_ids(runs[0]) + pair_ids(runs[1])) == pair_ids(ref)

    # merge: one summary and one card with the totals of both runs, uploaded to the same repo
    merged = tmp_path / "merged"
    summary = merge_outputs(runs, out_dir=merged, push_to_hub=REPO, endpoint=hub.url)
    single = json.loads(subprocess.run([sys.executable, "-m", "mmpr_builder", "inspect", str(ref), "--json"],
                                       cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout)
    for key in ("items", "responses", "accuracy", "status", "pairs", "verdicts"):
        assert summary[key] == single[key], key
    assert summary["shards"]["rows"] == len(pair_ids(ref)) == single["shards"]["rows"]
    assert [r["shard"] for r in summary["runs"]] == ["0/2", "1/2"]
    assert "shard" not in summary["run_fingerprint"]
    assert pair_ids(merged) == pair_ids(ref)
    card = (merged / "README.md").read_text()
    n_shards = summary["shards"]["count"]
    assert f"{single['items']} items" in card and f"{single['pairs']['total']} pairs in {n_shards} shards" in card
    assert files["README.md"]["data"] == card.encode()
    assert {k for k in hub.repos[REPO].files if k.startswith("data/")} == \
        {f"data/{p.name}" for p in (merged / "data").glob("*.parquet")}


def test_merge_refuses_what_does_not_belong_together(truths, tmp_path):
    s0, s1, other, plain = tmp_path / "s0", tmp_path / "s1", tmp_path / "other", tmp_path / "plain"
    build(s0, truths, shard="0/2")
    build(s1, truths, shard="1/2")
    build(other, truths, shard="1/3")
    build(plain, truths)
    with pytest.raises(OutputError, match="shards 1/2 are missing"):
        merge_outputs([s0])
    assert merge_outputs([s0], allow_missing=True)["items"] == len(item_ids(s0))
    with pytest.raises(OutputError, match="is one of 2"):
        merge_outputs([s0, other])
    with pytest.raises(OutputError, match="both shard 0/2"):
        merge_outputs([s0, s0])
    with pytest.raises(OutputError, match="not a sharded run"):
        merge_outputs([s0, plain])
    with pytest.raises(OutputError, match="merge into a new folder"):
        merge_outputs([s0, s1], out_dir=s0)
    with pytest.raises(ConfigError, match="needs --out"):
        merge_outputs([s0, s1], push_to_hub=REPO)
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "merge", str(s0), str(s1), "--json"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["items"] == len(truths)
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "merge", str(s1)], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error: shards 0/2 are missing" in proc.stderr


def _rows(out: Path, folder: str) -> list[dict]:
    """Every row of data/ or responses/, without the mmpr version stamp, sorted by id."""
    rows = [{k: v for k, v in r.items() if k != "mmpr_version"}
            for p in sorted((out / folder).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def test_a_merged_folder_carries_the_responses_so_relabel_and_view_work(truths, tmp_path):
    """merge --out carries each run's responses and commits: relabelling the merged folder gives the
    pairs of relabelling each run's folder, and view/inspect read it like one run's folder."""
    from mmpr_builder.output.merge import MERGED_KEY
    from mmpr_builder.output.view.pairs import PairStore
    from mmpr_builder.relabel import relabel

    runs = [tmp_path / "s0", tmp_path / "s1"]
    for i, out in enumerate(runs):
        build(out, truths, shard=f"{i}/2")
    merged = tmp_path / "merged"
    merge_outputs(runs[::-1], out_dir=merged)  # folder order does not matter: shard 0/2 comes first
    state = read_state(merged)  # checksums too
    assert state.problems == [] and state.manifest.run_fingerprint[MERGED_KEY] == ["0/2", "1/2"]
    assert item_ids(merged) == set(truths)
    assert _rows(merged, "responses") == sorted(_rows(runs[0], "responses") + _rows(runs[1], "responses"),
                                                key=lambda r: r["id"])
    store = PairStore(merged)
    assert store.total == len(pair_ids(merged)) > 0
    responses = store.response_columns(("item_id",))
    assert set(responses["item_id"]) == set(truths) and store.problems == []
    report = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "view", str(merged), "--out", str(report)],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "has no responses table" not in report.read_text()  # finish reasons come from responses/

    changes = {"pairing": {"max_pairs_per_item": 2}}
    summary = relabel(merged, tmp_path / "merged-relabelled", changes)
    per_run = [relabel(out, tmp_path / f"{out.name}-relabelled", changes) for out in runs]
    assert summary["items"] == sum(s["items"] for s in per_run) == len(truths)
    assert summary["not_generated"] == 0
    expected = sorted(_rows(tmp_path / "s0-relabelled", "data") + _rows(tmp_path / "s1-relabelled", "data"),
                      key=lambda r: r["id"])
    got = _rows(tmp_path / "merged-relabelled", "data")
    assert [r["id"] for r in got] == [r["id"] for r in expected] and got == expected
    assert len(got) < len(pair_ids(merged))  # the new limit took effect

    # merging again into the merged folder replaces it; a build's folder is refused
    merge_outputs(runs, out_dir=merged)
    assert read_state(merged).problems == [] and item_ids(merged) == set(truths)
    with pytest.raises(OutputError, match="merge into a new folder"):
        merge_outputs(runs, out_dir=tmp_path / "merged-relabelled")
    with pytest.raises(OutputError, match="differing: merged_shards"):
        build(merged, truths)  # a build does not write into a merged folder


def test_merge_out_refuses_an_interrupted_run(truths, tmp_path):
    """A run with rows in an open shard (interrupted) counts in the statistics but is not merged into --out."""

    class Crashing(FakeEngine):
        def step(self):
            self.steps = getattr(self, "steps", 0) + 1
            if self.steps > 3:
                raise RuntimeError("engine lost")
            return super().step()

    s0, s1 = tmp_path / "s0", tmp_path / "s1"
    build(s0, truths, shard="0/2")
    run = RunConfig(out_dir=str(s1), limit=LIMIT, shard="1/2", max_shard_rows=10_000, inflight_items=1,
                    commit_interval_s=0.001)
    with pytest.raises(RuntimeError, match="engine lost"):
        run_build(BuildConfig(load_recipe("mathqa"), run=run), engine=Crashing(truths), progress=False)
    state = read_state(s1)
    assert state.open_rows() > 0 and not state.manifest.shards
    summary = merge_outputs([s0, s1])
    assert summary["shards"]["open_rows"] == state.open_rows()
    with pytest.raises(OutputError, match="rows in an open shard"):
        merge_outputs([s0, s1], out_dir=tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
