"""`mmpr relabel` on a real build (vLLM, the embedded model): self-consistent, and no engine in the relabel.

A fresh real-engine build may sample differently from the first (see test_build_e2e.py), so the checks here
are on the relabel's own output: with unchanged settings it writes exactly the build's pairs; with a new
pairing limit its pairs are made of the build's stored responses, within the limit, with verdicts
recomputed from the stored texts; and the relabel process never imports vLLM. The exact comparison with a
fresh build is test_relabel.py's (engine double).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmpr_builder.labelers.answers import check_answer
from mmpr_builder.schema import message_text
from testlib import REPO_ROOT

pytestmark = pytest.mark.engine
SMALL = {"sampling": {"num_samples": 4, "max_tokens": 96}, "labeler": {"allow_weak": True}}
CHILD = """
import sys
sys.argv = ["mmpr", "relabel", *sys.argv[1:], "--json"]
from mmpr_builder.cli import main
try:
    main()
except SystemExit as e:
    assert e.code in (0, None), e.code
print("vllm imported:", "vllm" in sys.modules, file=sys.stderr)
"""


def rows(out: Path, folder: str) -> list[dict]:
    return sorted((r for p in sorted((out / folder).glob("*.parquet")) for r in pq.read_table(p).to_pylist()),
                  key=lambda r: r["id"])


def relabel_cli(built: Path, new: Path, changes: str, tmp_path: Path) -> dict:
    """`mmpr relabel` in a child process that reports whether vLLM was imported; returns its JSON summary."""
    path = tmp_path / f"{new.name}.yaml"
    path.write_text(changes)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(built), "--config", str(path), "--out", str(new)],
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vllm imported: False" in proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def built(engine, tmp_path_factory) -> Path:
    """arith's first 3 items, built with the real engine."""
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import BuildConfig, RunConfig
    from mmpr_builder.config import merge
    from mmpr_builder.recipes import load_recipe

    out = tmp_path_factory.mktemp("real") / "out"
    summary = run_build(BuildConfig(merge(load_recipe("arith"), SMALL), run=RunConfig(out_dir=str(out), limit=3)),
                        engine=engine, progress=False)
    assert summary["items"] == 3 and summary["responses"] == 12
    return out


def test_relabel_of_a_real_build_is_self_consistent(built, tmp_path):
    stored = rows(built, "responses")
    assert len([r for r in stored if r["kind"] == "sample"]) == 12
    assert all(r["prompt_num_tokens"] > 0 and r["token_ids"] is not None for r in stored)  # the engine reports both

    same = relabel_cli(built, tmp_path / "same", "{}\n", tmp_path)  # unchanged settings: the build's own output
    assert rows(tmp_path / "same", "data") == rows(built, "data")
    assert rows(tmp_path / "same", "responses") == stored and same["not_generated"] == 0

    summary = relabel_cli(built, tmp_path / "one", "pairing:\n  max_pairs_per_item: 1\nlabeler:\n  rel_tol: 0.2\n",
                          tmp_path)
    relabelled = rows(tmp_path / "one", "responses")
    assert [(r["id"], r["text"], r["token_ids"]) for r in relabelled] == \
        [(r["id"], r["text"], r["token_ids"]) for r in stored]  # the same responses, nothing sampled
    items = {r["item_id"]: r for r in relabelled if r["question"] is not None}
    for r in relabelled:  # verdicts recomputed with the new tolerance
        item = items[r["item_id"]]
        check = check_answer(r["text"], item["ground_truth"], None, "number", allow_weak=True,
                             question=item["question"], rel_tol=0.2)
        assert (r["answer"], r["verdict"]) == (check.extracted, check.verdict.value)
    pairs = rows(tmp_path / "one", "data")
    assert summary["pairs"]["total"] == len(pairs) and summary["items"] == 3
    by_id = {r["id"]: r for r in relabelled}
    for p in pairs:
        samples = {by_id[f"{p['item_id']}#sample/{j}"]["text"]: by_id[f"{p['item_id']}#sample/{j}"] for j in range(4)}
        chosen, rejected = samples[message_text(p["chosen"])], samples[message_text(p["rejected"])]
        assert chosen["verdict"] == p["chosen_verdict"] == "correct"
        assert rejected["verdict"] == p["rejected_verdict"] in ("incorrect", "no_answer")
    assert len({p["item_id"] for p in pairs}) == len(pairs)  # at most 1 pair per item
