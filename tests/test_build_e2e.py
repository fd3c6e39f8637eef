"""End to end on the real vLLM engine with the embedded model (no fake engine here).

- the README's main job through the CLI (mathqa, 16 items), then `mmpr train` and `mmpr inspect` on its output;
- DropoutNTP on the bundled photos (caption recipe);
- TabMWP table images from ../shared/data/tabmwp;
- a source mixing good rows and every kind of bad row;
- a build SIGKILLed after its first checkpoint, resumed, equal to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from testlib import REPO_ROOT, require_tabmwp
from mmpr_builder.config import merge
from mmpr_builder.pipeline import run_build
from mmpr_builder.recipes import load_recipe
from mmpr_builder.schema import message_text

pytestmark = pytest.mark.engine
MMPR = [sys.executable, "-m", "mmpr_builder"]


def _rows(out: Path) -> list[dict]:
    files = sorted((out / "data").glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(MMPR + args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200, **kw)


@pytest.fixture(scope="module")
def mathqa_out(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("mathqa")
    proc = _run(["build", "--source", "mathqa", "--limit", "16", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


def test_readme_build_writes_loadable_pairs(mathqa_out):
    from datasets import load_dataset

    out, stdout = mathqa_out
    assert "items:        16" in stdout and "tokens/s" in stdout and "wall time" in stdout
    ds = load_dataset("parquet", data_dir=str(out))["train"]
    assert len(ds) >= 1
    for row in ds:
        assert row["method"] == "correctness"
        assert row["chosen_verdict"] == "correct"
        assert row["rejected_verdict"] in ("incorrect", "no_answer")
        assert row["chosen_finish_reason"] == "stop"
        assert row["ground_truth"] and row["item_id"].startswith("gsm8k-test-")
        assert row["chosen_answer"] is not None
        assert message_text(row["chosen"]) != message_text(row["rejected"])
        assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        assert json.loads(row["sampling"])["n"] == 8
    assert len(set(ds["id"])) == len(ds)
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "data/*.parquet" in card


def test_inspect_agrees_with_the_shards(mathqa_out):
    out, _ = mathqa_out
    proc = _run(["inspect", str(out), "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout)
    assert stats["items"] == 16
    assert stats["pairs"]["total"] == len(_rows(out)) == stats["pairs"]["correctness"]


def test_train_on_build_output(mathqa_out, tmp_path):
    out, _ = mathqa_out
    proc = _run(["train", "--data", str(out), "--output", str(tmp_path / "mpo"), "--max-steps", "2",
                 "--batch-size", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = [json.loads(line) for line in (tmp_path / "mpo" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in logged if "loss/sigmoid" in m]
    assert len(steps) == 2
    for key in ("loss", "loss/sigmoid", "loss/bco_pair", "loss/sft", "bco/delta", "rewards/margins"):
        assert all(isinstance(m[key], float) for m in steps), key


@pytest.fixture(scope="module")
def caption_recipe():
    return merge(load_recipe("caption"), {"sampling": {"num_samples": 2, "max_tokens": 96}})


@pytest.fixture(scope="module")
def caption_out(engine, caption_recipe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("caption")
    summary = run_build(caption_recipe, out_dir=out, engine=engine, chunk_items=2)
    assert summary["items"] == 6 and summary["errors"] == {}
    return out


def test_dropout_ntp_pairs(caption_out):
    rows = _rows(caption_out)
    assert rows, "the caption recipe should give DropoutNTP pairs"
    for row in rows:
        chosen, rejected = message_text(row["chosen"]), message_text(row["rejected"])
        assert row["method"] == "dropout_ntp"
        assert 0 < row["cut_char"] < len(chosen) and row["cut_token"] > 0
        assert rejected.startswith(chosen[: row["cut_char"]])
        assert rejected != chosen and len(rejected) > row["cut_char"]
        assert row["chosen_finish_reason"] == "stop"
        assert row["ground_truth"] is None and len(row["images"]) == 1 and row["images"][0]["bytes"]


def test_sigkill_and_resume_gives_the_same_pairs(caption_out, caption_recipe, tmp_path):
    """Kill a CLI build after its first checkpoint, rerun it, and compare with the uninterrupted build."""
    overrides = tmp_path / "over.yaml"
    overrides.write_text("sampling: {num_samples: 2, max_tokens: 96}\n")
    out = tmp_path / "out"
    args = ["build", "--source", "caption", "--config", str(overrides), "--out", str(out), "--chunk-items", "2"]
    child = subprocess.Popen(MMPR + args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    # poll the output folder's state (not a clock) until the first checkpoint; the child's life bounds the wait
    manifest = out / "manifest.json"
    while child.poll() is None and not (manifest.is_file() and json.loads(manifest.read_text()).get("commits")):
        time.sleep(0.2)  # polling interval only: nothing is asserted about how long this takes
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    committed = json.loads((out / "manifest.json").read_text())["commits"]
    assert committed, "the build should have committed a checkpoint before the kill"
    proc = _run(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(r["id"] for r in _rows(out)) == sorted(r["id"] for r in _rows(caption_out))


def test_tabmwp_builds_with_table_images(engine, tmp_path):
    tabmwp = require_tabmwp()
    recipe = merge(load_recipe("tabmwp"), {"sampling": {"num_samples": 2, "max_tokens": 48}})
    recipe = dataclasses.replace(recipe, source=dataclasses.replace(recipe.source, path=str(tabmwp)))
    summary = run_build(recipe, out_dir=tmp_path, engine=engine, limit=6)
    assert summary["items"] == 6 and summary["responses"] == 12 and summary["errors"] == {}
    stats = json.loads(subprocess.run(MMPR + ["inspect", str(tmp_path), "--json"], capture_output=True,
                                      text=True, cwd=REPO_ROOT).stdout)
    assert stats["items"] == 6


def test_bad_rows_are_reported_and_the_run_finishes(engine, tmp_path):
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    good_png = next((REPO_ROOT / "sample_data" / "vqa" / "images").glob("*.png"))
    shutil.copy(good_png, src / "img" / "good.png")
    (src / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (src / "img" / "empty.png").write_bytes(b"")
    lines = [
        {"id": "good-1", "question": "What shape is shown?", "image": "img/good.png", "answer": "circle"},
        {"id": "no-question", "image": "img/good.png", "answer": "x"},
        {"id": "missing-image", "question": "q?", "image": "img/nope.png", "answer": "x"},
        {"id": "corrupt-image", "question": "q?", "image": "img/corrupt.png", "answer": "x"},
        {"id": "empty-image", "question": "q?", "image": "img/empty.png", "answer": "x"},
        {"id": "escapes-root", "question": "q?", "image": "../../etc/passwd", "answer": "x"},
        {"id": "remote", "question": "q?", "image": "http://example.com/a.png", "answer": "x"},
        {"id": "wrong-type", "question": 42, "answer": "x"},
        {"id": "good-1", "question": "duplicate id", "answer": "x"},
        {"id": "good-2", "question": "What is 2 + 2?", "answer": "4"},
    ]
    text = "\n".join(json.dumps(r) for r in lines) + "\n{not json\n"
    (src / "items.jsonl").write_text(text, encoding="utf-8")
    with open(src / "items.jsonl", "ab") as f:
        f.write(b'{"id": "bad-utf8", "question": "\xff\xfe"}\n')
    recipe = load_recipe(str(REPO_ROOT / "pipelines" / "vqa.yaml"))
    recipe = merge(recipe, {"sampling": {"num_samples": 2, "max_tokens": 16}})
    recipe = dataclasses.replace(recipe, source=dataclasses.replace(recipe.source, path=str(src / "items.jsonl")),
                                 base_dir=str(src))
    summary = run_build(recipe, out_dir=tmp_path / "out", engine=engine)
    assert summary["items"] == 2  # good-1, good-2
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    by_id = {e["item_id"]: e["cause"] for e in errors}
    assert by_id == {
        "no-question": "missing_question", "missing-image": "missing_image", "corrupt-image": "corrupt_image",
        "empty-image": by_id["empty-image"], "escapes-root": "path_escapes_root", "remote": "remote_image_refused",
        "wrong-type": "bad_type", "good-1": "duplicate_id", None: "unparsable_row", "bad-utf8": "bad_encoding",
    }
    assert by_id["empty-image"] in ("corrupt_image", "unreadable_image")
    assert sum(summary["errors"].values()) == len(errors) == 10
