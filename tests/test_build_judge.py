"""The optional judge inside a build: consulted only for undecided verdicts, its verdicts marked in the
rows and counted in the summary; through an OpenAI-compatible server (a local double) and through the
build's own engine (the embedded model, its prompts joining the engine stream)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from fake_engine import FakeEngine
from fake_judge import FakeJudge
from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, RunConfig, assemble
from mmpr_builder.config import merge
from mmpr_builder.labelers.judge import JUDGE_PROMPT_VERSION

STRICT_OR_NOTHING = ("The answer is {truth}.", "Answer: 7", "I am not sure how to finish this.")


def respond(truth: str, seed: int, j: int) -> str:
    """Correct, incorrect or no answer (a format negative) by turns, so every item has undecided responses."""
    return STRICT_OR_NOTHING[(seed + j) % 3].format(truth=truth)


@pytest.fixture
def items(tmp_path):
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + 40?", "answer": "gt-correct"}) + "\n"
                            for i in range(4)))
    return data


def _config(items, out, judge: dict) -> BuildConfig:
    cfg = assemble("mathqa", data=items, run_flags={"out_dir": str(out)})
    recipe = merge(cfg.recipe, {"labeler": {"answer_type": "short_text", "judge": judge},
                                "sampling": {"num_samples": 3}})
    return BuildConfig(recipe, cfg.engine, cfg.run)


def _rows(out):
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_http_judge_decides_the_format_negatives(items, tmp_path):
    with FakeJudge() as fake:
        cfg = _config(items, tmp_path / "out", {"backend": "openai", "base_url": fake.base_url, "model": "grader"})
        engine = FakeEngine({f"q{i}": "gt-correct" for i in range(4)}, respond=respond)
        summary = run_build(cfg, engine=engine, progress=False)
    # one response in three has no answer: 4 items x 3 samples -> 4 undecided, each sent once
    assert len(fake.seen) == 4 and {s["marker"] for s in fake.seen} == {"gt-correct"}
    assert summary["judged"] == 4 and summary["verdicts"] == {"correct": 8, "incorrect": 4}
    rows = _rows(tmp_path / "out")
    judged = [r for r in rows if r["chosen_judged_by"]]
    assert judged and all(r["chosen_judged_by"] == f"{JUDGE_PROMPT_VERSION}/openai:grader" for r in judged)
    assert all(r["rejected_judged_by"] is None and r["rejected_verdict"] == "incorrect" for r in rows)


def test_judge_off_sends_nothing_and_keeps_format_negatives(items, tmp_path):
    cfg = _config(items, tmp_path / "out", {"backend": "none"})
    summary = run_build(cfg, engine=FakeEngine({f"q{i}": "gt-correct" for i in range(4)}, respond=respond),
                        progress=False)
    assert summary["judged"] == 0 and summary["verdicts"] == {"correct": 4, "incorrect": 4, "no_answer": 4}


@pytest.mark.engine
def test_engine_judge_joins_the_stream(engine, tmp_path):
    """The embedded model as judge: one greedy request per undecided response, through the same engine.
    What the toy model replies is not asserted (it cannot grade); every verdict it changes is marked."""
    from mmpr_builder.recipes import load_recipe

    recipe = merge(load_recipe("arith"), {"sampling": {"num_samples": 2, "max_tokens": 48},
                                          "labeler": {"judge": {"backend": "engine", "max_tokens": 4}}})
    submitted = []
    submit = engine.submit

    def recording(request):
        submitted.append(request)
        return submit(request)

    engine.submit = recording
    try:
        summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(tmp_path / "out"), limit=3)),
                            engine=engine, progress=False)
    finally:
        engine.submit = submit
    judge_requests = [r for r in submitted if "#judge/" in r.key]
    assert summary["items"] == 3 and summary["errors"] == {}
    assert all(r.sampling.temperature == 0.0 and r.sampling.max_tokens == 4 for r in judge_requests)
    assert all("Reference answer:" in r.messages[0]["content"][0]["text"] for r in judge_requests)
    # only undecided verdicts are sent: those left no_answer/unverifiable plus those the judge decided
    undecided_left = summary["verdicts"].get("no_answer", 0) + summary["verdicts"].get("unverifiable", 0)
    assert len(judge_requests) == undecided_left + summary["judged"]
    for row in _rows(tmp_path / "out"):
        for side in ("chosen", "rejected"):
            assert row[f"{side}_judged_by"] in (None, f"{JUDGE_PROMPT_VERSION}/engine:embedded")
