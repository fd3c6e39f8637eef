"""progress.jsonl and the run-level bar: a real build stream (mathqa rows with bad rows mixed in, the real
labeller and writer) on the deterministic engine double; the log's final counts equal the summary,
also across a resume. The interval logic runs on a fake clock (no timing)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from fake_engine import FakeEngine

from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, RunConfig
from mmpr_builder.config import merge
from mmpr_builder.output.progress import RunProgress, read_progress
from mmpr_builder.recipes import load_recipe

MATHQA = Path(__file__).resolve().parents[2] / "sample_data" / "mathqa" / "items.jsonl"


def source_with_bad_rows(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The first 10 mathqa rows with a row lacking its question (row 3) and a repeated id (the last row)."""
    rows = [json.loads(line) for line in MATHQA.read_text().splitlines()[:10]]
    rows.insert(3, {"id": "no-question", "answer": "1"})
    rows.append(dict(rows[8]))
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, {r["id"]: r["answer"] for r in rows if "question" in r}


def build(path: Path, out: Path, truths: dict[str, str], limit: int | None) -> dict:
    recipe = merge(load_recipe("mathqa"), {"source": {"path": str(path)}})
    cfg = BuildConfig(recipe, run=RunConfig(out_dir=str(out), limit=limit, inflight_items=3))
    return run_build(cfg, engine=FakeEngine(truths), progress=False)


def final_counts(line: dict) -> tuple:
    return line["items"], line["errors"], line["pairs"], line["accuracy"], line["generated_tokens"]


def summary_counts(summary: dict) -> tuple:
    return (summary["items"], sum(summary["errors"].values()), summary["pairs"]["total"], summary["accuracy"],
            summary["generated_tokens"])


def test_progress_log_ends_with_the_summary_counts_and_appends_across_a_resume(tmp_path):
    path, truths = source_with_bad_rows(tmp_path)
    out = tmp_path / "out"
    first = build(path, out, truths, limit=6)  # rows 0-5: 5 items and the row without a question
    assert (first["items"], first["errors"]) == (5, {"missing_question": 1})
    lines = read_progress(out)
    assert [x["event"] for x in lines][0] == "start" and lines[-1]["event"] == "end"
    assert final_counts(lines[-1]) == summary_counts(first)
    assert first["pairs"]["total"] > 0 and first["generated_tokens"] > 0
    assert lines[0]["items"] == lines[0]["pairs"] == lines[0]["errors"] == 0 and lines[-1]["total"] == 6
    n_first = len(lines)

    second = build(path, out, truths, limit=None)  # resume: the rest of the file
    assert (second["items"], second["errors"]) == (10, {"duplicate_id": 1, "missing_question": 1})
    lines = read_progress(out)
    resumed = lines[n_first:]
    assert resumed[0]["event"] == "start" and resumed[-1]["event"] == "end"
    assert (resumed[0]["items"], resumed[0]["errors"], resumed[0]["pairs"]) == \
        (first["items"], 1, first["pairs"]["total"])  # a resume starts from what was committed
    assert final_counts(resumed[-1]) == summary_counts(second)
    assert resumed[-1]["total"] is None  # no --limit: the number of rows is not known in advance
    items = [x["items"] for x in lines]
    assert items == sorted(items)  # counts only grow


def test_overwrite_starts_the_log_over(tmp_path):
    path, truths = source_with_bad_rows(tmp_path)
    out = tmp_path / "out"
    build(path, out, truths, limit=2)
    # other settings: --overwrite replaces the folder
    recipe = merge(load_recipe("mathqa"), {"source": {"path": str(path)}, "sampling": {"num_samples": 3}})
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(out), limit=2, overwrite=True)),
                        engine=FakeEngine(truths), progress=False)
    lines = read_progress(out)
    assert [x["event"] for x in lines] == ["start", "end"]
    assert final_counts(lines[-1]) == summary_counts(summary)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def stats(items: int, pairs: int, correct: int, incorrect: int, tokens: int, errors: int = 0):
    return SimpleNamespace(items=items, errors=errors, pairs=pairs, generated_tokens=tokens,
                           verdicts=Counter({"correct": correct, "incorrect": incorrect}))


def test_a_progress_line_at_most_every_interval(tmp_path):
    clock = Clock()
    committed = [SimpleNamespace(pairs=Counter({"correctness": 2}), verdicts=Counter({"correct": 1, "incorrect": 3}))]
    p = RunProgress(tmp_path, total=10, committed=committed, committed_errors=1, show_bar=False, interval_s=2.0,
                    clock=clock)
    p.start()
    clock.now += 0.5
    p(stats(1, 1, 2, 2, 100))  # under the interval since the start line: not written
    clock.now += 1.5
    p(stats(2, 3, 5, 3, 400))  # 2 s after the start line: written
    clock.now += 1.0
    p(stats(3, 3, 5, 7, 500, errors=1))
    clock.now += 1.0
    end = p.close(stats(4, 5, 6, 10, 800, errors=1))
    lines = read_progress(tmp_path)
    assert [x["event"] for x in lines] == ["start", "progress", "end"]
    assert lines[0] == {"event": "start", "time": 1000.0, "elapsed_s": 0.0, "items": 1, "errors": 1, "total": 10,
                        "pairs": 2, "accuracy": 0.25, "generated_tokens": 0, "tokens_per_s": 0.0}
    assert lines[1] == {"event": "progress", "time": 1002.0, "elapsed_s": 2.0, "items": 3, "errors": 1,
                        "total": 10, "pairs": 5, "accuracy": round(6 / 12, 4), "generated_tokens": 400,
                        "tokens_per_s": 200.0}
    assert lines[2] == end == {"event": "end", "time": 1004.0, "elapsed_s": 4.0, "items": 5, "errors": 2,
                               "total": 10, "pairs": 7, "accuracy": round(7 / 20, 4), "generated_tokens": 800,
                               "tokens_per_s": 200.0}


def test_cli_cuts_vllm_logging_to_warnings_unless_verbose(monkeypatch, tmp_path):
    """The level is set in the environment before anything imports vLLM (here the build stops at a bad recipe)."""
    from typer.testing import CliRunner

    from mmpr_builder.cli import app

    for flags, level in (([], "WARNING"), (["--verbose"], "INFO")):
        monkeypatch.delenv("VLLM_LOGGING_LEVEL", raising=False)
        result = CliRunner().invoke(app, ["build", "--source", "mathq", "--out", str(tmp_path / "o"), *flags])
        assert "did you mean 'mathqa'" in str(result.exception)
        assert os.environ["VLLM_LOGGING_LEVEL"] == level
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "DEBUG")  # the user's own setting wins
    CliRunner().invoke(app, ["build", "--source", "mathq", "--out", str(tmp_path / "o")])
    assert os.environ["VLLM_LOGGING_LEVEL"] == "DEBUG"
    result = CliRunner().invoke(app, ["build", "--source", "mathqa", "--out", str(tmp_path / "o"),
                                      "--throughput", "10"])
    assert "--throughput only applies with --dry-run" in str(result.exception)
    assert not (tmp_path / "o").exists()
