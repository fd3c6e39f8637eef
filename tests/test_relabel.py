"""`mmpr relabel` and the in-place relabel of a build rerun, on the bundled arith sample with the engine double.

The engine double (fake_engine.py) makes a build deterministic, so a relabel can be compared with a fresh
build of the new settings row for row. The real-engine check is test_relabel_engine.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fake_engine import FakeEngine, seeded_answer
from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, RunConfig
from mmpr_builder.errors import ConfigError, OutputError
from mmpr_builder.recipes import load_recipe
from mmpr_builder.relabel import read_changes, relabel
from mmpr_builder.sources import iter_items
from testlib import REPO_ROOT

LIMIT = 10


def arith(**changes):
    """The arith recipe with nested ``changes`` ({"pairing": {...}, ...})."""
    from mmpr_builder.config import merge

    return merge(load_recipe("arith"), changes)


def truths(recipe) -> dict[str, str]:
    return {x.id: x.ground_truth for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                                                     answer_type="number", limit=LIMIT)}


def build(recipe, out: Path, engine=None, respond=seeded_answer) -> dict:
    engine = engine or FakeEngine(truths(recipe), respond)
    return run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(out), limit=LIMIT)), engine=engine, progress=False)


def table(out: Path, folder: str) -> list[dict]:
    """All rows of data/ or responses/ (finished shards), sorted by id."""
    rows = [r for p in sorted((out / folder).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def without_versions(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "mmpr_version"} for r in rows]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """arith's first LIMIT items built with the recipe's pairing limit (15)."""
    out = tmp_path_factory.mktemp("built") / "out"
    summary = build(arith(), out)
    assert summary["items"] == LIMIT and summary["pairs"]["correctness"] > 3 * LIMIT  # several items give > 3 pairs
    return out


def test_relabel_with_a_new_pairing_limit_writes_the_pairs_of_a_fresh_build(built, tmp_path, monkeypatch):
    import mmpr_builder.engines.vllm

    def no_engine(*a, **k):
        raise AssertionError("relabel started an engine")

    monkeypatch.setattr(mmpr_builder.engines.vllm.Engine, "__init__", no_engine)
    summary = relabel(built, tmp_path / "relabelled", {"pairing": {"max_pairs_per_item": 3}})
    fresh = tmp_path / "fresh"
    build(arith(pairing={"max_pairs_per_item": 3}), fresh)

    pairs = table(tmp_path / "relabelled", "data")
    assert [r["id"] for r in pairs] == [r["id"] for r in table(fresh, "data")]
    assert pairs == table(fresh, "data")
    assert 0 < len(pairs) < len(table(built, "data"))
    per_item = {}
    for r in pairs:
        per_item[r["item_id"]] = per_item.get(r["item_id"], 0) + 1
    assert max(per_item.values()) == 3
    assert table(tmp_path / "relabelled", "responses") == table(fresh, "responses")
    assert summary["items"] == LIMIT and summary["not_generated"] == 0 and summary["generated_tokens"] == 0
    assert summary["pairs"]["total"] == len(pairs) and summary["relabelled_from"] == str(built)
    new_fp = json.loads((tmp_path / "relabelled" / "manifest.json").read_text())["run_fingerprint"]
    assert new_fp == json.loads((fresh / "manifest.json").read_text())["run_fingerprint"]
    assert (tmp_path / "relabelled" / "README.md").read_text() == (fresh / "README.md").read_text()


def near_answer(truth: str, seed: int, j: int) -> str:
    """Half the samples state the truth, the others the truth + 0.5 (within 5% for arith's answers, all >= 12;
    a tolerance applies as the answer is not an integer)."""
    value = truth if (seed + j) % 2 == 0 else f"{int(truth) + 0.5}"
    return f"Step {j}: we compute carefully. The answer is {value}."


def test_a_labeler_change_recomputes_the_verdicts(tmp_path):
    out = tmp_path / "out"
    build(arith(), out, respond=near_answer)
    before = {r["id"]: r["verdict"] for r in table(out, "responses") if r["kind"] == "sample"}
    assert "incorrect" in before.values() and "correct" in before.values()

    summary = relabel(out, tmp_path / "lenient", {"labeler": {"rel_tol": 0.5}})
    after = {r["id"]: r["verdict"] for r in table(tmp_path / "lenient", "responses") if r["kind"] == "sample"}
    assert set(after) == set(before) and set(after.values()) == {"correct"}
    assert summary["pairs"]["total"] == 0 and summary["status"] == {"too_easy": LIMIT}
    fresh = tmp_path / "fresh"
    build(arith(labeler={"rel_tol": 0.5}), fresh, respond=near_answer)
    assert table(tmp_path / "lenient", "responses") == table(fresh, "responses")


@pytest.mark.parametrize("changes, field", [
    ({"sampling": {"temperature": 0.2}}, "sampling"),
    ({"prompt": {"template": "{question}"}}, "prompt"),
    ({"dropout_ntp": {"ratio": 0.3}}, "dropout_ntp"),
    ({"methods": ["dropout_ntp"]}, "methods"),
    ({"engine": {"dtype": "float16"}}, "engine"),
    ({"run": {"model": "other"}}, "run"),
])
def test_changes_that_need_regeneration_are_refused(built, tmp_path, changes, field):
    import yaml

    path = tmp_path / "changes.yaml"
    path.write_text(yaml.safe_dump(changes))
    with pytest.raises(ConfigError, match=f"'{field}' cannot change in a relabel"):
        read_changes(path)
    with pytest.raises(ConfigError, match=f"'{field}' cannot change"):
        relabel(built, tmp_path / "new", changes)
    assert not (tmp_path / "new").exists()


def test_bad_relabel_values_and_folders_are_refused(built, tmp_path):
    with pytest.raises(ConfigError, match="pairing.max_pairs_per_item"):
        relabel(built, tmp_path / "new", {"pairing": {"max_pairs_per_item": 0}})
    with pytest.raises(ConfigError, match="max_pair_per_item"):
        relabel(built, tmp_path / "new", {"pairing": {"max_pair_per_item": 3}})
    with pytest.raises(OutputError, match="the folder being relabelled"):
        relabel(built, built, {})
    with pytest.raises(OutputError, match="not an mmpr output folder"):
        relabel(tmp_path, tmp_path / "new", {})
    assert not (tmp_path / "new").exists()


def test_an_interrupted_relabel_resumes_to_the_same_output(built, tmp_path, monkeypatch):
    from mmpr_builder import replay

    reference = tmp_path / "reference"
    relabel(built, reference, {"pairing": {"max_pairs_per_item": 2}})
    real_step, calls = replay.ReplayEngine.step, []

    def dying_step(self):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # as a Ctrl-C in the middle of the run
        return real_step(self)

    monkeypatch.setattr(replay.ReplayEngine, "step", dying_step)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        relabel(built, out, {"pairing": {"max_pairs_per_item": 2}}, run=RunConfig(inflight_items=1))
    monkeypatch.undo()
    assert json.loads((out / "manifest.json").read_text())["commits"]  # some items committed
    assert not list((out / "data").glob("*.parquet"))  # no finished shard yet
    relabel(built, out, {"pairing": {"max_pairs_per_item": 2}})
    assert table(out, "data") == table(reference, "data")
    assert table(out, "responses") == table(reference, "responses")


def test_dropout_ntp_continuations_that_were_never_generated_are_counted(tmp_path):
    """Too-easy items go on to DropoutNTP; a labeler change that makes more items too easy needs continuations
    the build never made: each is counted per item (not_generated), the stored ones are reused."""
    recipe = DROPOUT_RECIPE()
    out = tmp_path / "out"
    first = build(recipe, out, engine=dropout_engine(recipe))
    too_easy = first["status"]["too_easy"]
    assert 0 < too_easy < LIMIT and first["pairs"]["dropout_ntp"] == too_easy

    summary = relabel(out, tmp_path / "lenient", {"labeler": {"rel_tol": 0.5}})
    assert summary["status"] == {"too_easy": LIMIT}
    assert summary["pairs"] == {"total": too_easy, "dropout_ntp": too_easy}  # the stored continuations
    assert summary["not_generated"] == LIMIT - too_easy == summary["dropout_ntp"]["not_generated"]
    old = {r["id"] for r in table(out, "data") if r["method"] == "dropout_ntp"}
    assert {r["id"] for r in table(tmp_path / "lenient", "data")} == old
    stats = [json.loads(p.read_text()) for p in sorted((tmp_path / "lenient" / "commits").glob("*.json"))]
    missing = {it["item_id"] for s in stats for it in s["items"] if it["stats"]["dropout_drops"].get("not_generated")}
    assert len(missing) == LIMIT - too_easy  # named per item

    again = relabel(out, tmp_path / "same", {})  # unchanged settings: exactly the build's pairs
    assert again["not_generated"] == 0 and table(tmp_path / "same", "data") == table(out, "data")


def DROPOUT_RECIPE(**changes):
    """arith with DropoutNTP for too-easy items."""
    return arith(methods=["correctness", "dropout_ntp"], pairing={"too_easy_to_dropout_ntp": True}, **changes)


def easy_or_near(truth: str, seed: int, j: int) -> str:
    """Items with an even seed: all correct (too easy); odd: the truth + 0.5 half the time."""
    value = truth if seed % 2 == 0 or j % 2 == 0 else f"{int(truth) + 0.5}"
    return f"Step {j}: we compute it carefully and slowly. The answer is {value}."


def dropout_engine(recipe) -> FakeEngine:
    engine = FakeEngine(truths(recipe), easy_or_near)
    engine.tokenizer = WordTokenizer()
    return engine


def test_build_rerun_samples_again_the_items_whose_new_labels_need_a_continuation(tmp_path):
    out = tmp_path / "out"
    first = build(DROPOUT_RECIPE(), out, engine=dropout_engine(DROPOUT_RECIPE()))
    lenient = DROPOUT_RECIPE(labeler={"rel_tol": 0.5})
    engine = dropout_engine(lenient)
    summary = build(lenient, out, engine=engine)
    resampled = {r.key for r in engine.submitted if "#" not in r.key}
    assert len(resampled) == LIMIT - first["status"]["too_easy"]  # only the items that became too easy
    assert summary["pairs"] == {"total": LIMIT, "dropout_ntp": LIMIT} and "not_generated" not in summary["dropout_ntp"]
    fresh = tmp_path / "fresh"
    build(lenient, fresh, engine=dropout_engine(lenient))
    assert table(out, "data") == table(fresh, "data")
    assert table(out, "responses") == table(fresh, "responses")


class WordTokenizer:
    """A tokenizer double for the engine double: one token per word with its leading space."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        import re

        ids = []
        for piece in re.findall(r"\s*\S+|\s+$", text):
            if piece not in self.vocab:
                self.vocab[piece] = len(self.words)
                self.words.append(piece)
            ids.append(self.vocab[piece])
        return ids

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) -> str:
        return "".join(self.words[i] for i in ids if i < len(self.words))


def test_build_rerun_with_only_a_pairing_change_relabels_in_place(built, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(built, out)
    recipe = arith(pairing={"max_pairs_per_item": 3})
    engine = FakeEngine(truths(recipe))
    summary = build(recipe, out, engine=engine)
    assert engine.submitted == []  # every item came from the stored responses
    fresh = tmp_path / "fresh"
    build(recipe, fresh)
    assert table(out, "data") == table(fresh, "data") and summary["pairs"]["total"] == len(table(fresh, "data"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]  # no staging folder left

    with pytest.raises(OutputError, match="sampling.temperature"):  # a sampling change is still refused
        build(arith(pairing={"max_pairs_per_item": 3}, sampling={"temperature": 0.2}), out)


def test_an_in_place_relabel_interrupted_between_its_renames_is_completed(built, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(built, out)
    recipe = arith(pairing={"max_pairs_per_item": 4})
    real_rename, calls = os.rename, []

    def rename(a, b):
        calls.append(a)
        if len(calls) == 2:
            raise OSError("power cut")
        real_rename(a, b)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="power cut"):
        build(recipe, out)
    monkeypatch.undo()
    assert not out.exists() and (tmp_path / ".out.relabel").is_dir()
    engine = FakeEngine(truths(recipe))
    build(recipe, out, engine=engine)
    assert engine.submitted == []
    fresh = tmp_path / "fresh"
    build(recipe, fresh)
    assert table(out, "data") == table(fresh, "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]


CHILD = """
import sys
sys.argv = ["mmpr", "relabel", sys.argv[1], "--config", sys.argv[2], "--out", sys.argv[3], "--json"]
from mmpr_builder.cli import main
try:
    main()
except SystemExit as e:
    assert e.code in (0, None), e.code
print("vllm imported:", "vllm" in sys.modules, file=sys.stderr)
"""


def test_cli_relabel_imports_no_vllm(built, tmp_path):
    changes = tmp_path / "changes.yaml"
    changes.write_text("pairing:\n  max_pairs_per_item: 2\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(built), str(changes), str(tmp_path / "new")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "vllm imported: False" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["pairs"]["total"] == len(table(tmp_path / "new", "data")) > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("sampling:\n  num_samples: 2\n")
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "relabel", str(built), "--config", str(bad),
                           "--out", str(tmp_path / "new2")], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2 and "error:" in proc.stderr and "'sampling' cannot change" in proc.stderr
