"""End to end on the real vLLM engine with the embedded model (no fake engine here).

Pairs come by construction, never by the toy model's luck (which items it solves changes with
the CPU's dtype): correctness items get ground truths taken from their own seeded samples
(:func:`testlib.solvable_items`); DropoutNTP items are asked for one short sentence, so their
responses finish. Exact pair ids across runs are checked with a deterministic engine double
(test_resume.py): on a real engine, per-item seeds fix the sampling, but a different batch
around an item (another run, a resume) can change low-order bits of its logits, and a long
sampled text can then drift.

- a CLI build of such items, then `mmpr train` and `mmpr inspect` on its output;
- DropoutNTP on the bundled photos (caption recipe);
- TabMWP table images from ../shared/data/tabmwp;
- a source mixing good rows and every kind of bad row;
- a CLI build SIGKILLed after its first commit, resumed, equal to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from testlib import REPO_ROOT, require_tabmwp, solvable_items
from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, RunConfig
from mmpr_builder.config import merge
from mmpr_builder.items import QuestionItem
from mmpr_builder.recipes import load_recipe
from mmpr_builder.schema import message_text
from mmpr_builder.sources import iter_items

pytestmark = pytest.mark.engine
MMPR = [sys.executable, "-m", "mmpr_builder"]
SMALL = {"sampling": {"num_samples": 4, "max_tokens": 160}, "labeler": {"allow_weak": True}}


def _rows(out: Path) -> list[dict]:
    files = sorted((out / "data").glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    """Run ``mmpr ARGS`` to completion: no clock limit (a slow CPU is not a failure; CI's job limit bounds a hang)."""
    return subprocess.run(MMPR + args, cwd=REPO_ROOT, capture_output=True, text=True, **kw)


def _items(recipe, limit: int) -> list[QuestionItem]:
    stream = iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                        answer_type=recipe.labeler.answer_type, limit=limit)
    return [x for x in stream if isinstance(x, QuestionItem)]


@pytest.fixture(scope="module")
def mathqa_case(engine, tmp_path_factory) -> tuple[Path, str, dict[str, list[dict]]]:
    """A CLI build of GSM8K items whose ground truths come from their own samples; the expected rows."""
    recipe = merge(load_recipe("mathqa"), SMALL)
    solvable = solvable_items(engine, recipe, _items(recipe, 12))
    assert solvable, "no item gave a usable answer and a disagreeing one: the construction needs at least one"
    tmp = tmp_path_factory.mktemp("mathqa")
    data = tmp / "items.jsonl"
    data.write_text("".join(json.dumps({"id": it.id, "question": it.question, "answer": it.ground_truth}) + "\n"
                            for it, _ in solvable))
    (tmp / "small.yaml").write_text(json.dumps(SMALL))
    out = tmp / "out"
    proc = _run(["build", "--source", "mathqa", "--data", str(data), "--config", str(tmp / "small.yaml"),
                 "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout, {it.id: rows for it, rows in solvable}


def test_build_writes_the_expected_loadable_pairs(mathqa_case):
    from datasets import load_dataset

    out, stdout, expected = mathqa_case
    assert f"items:        {len(expected)}" in stdout and "tokens/s" in stdout and "wall time" in stdout
    ds = load_dataset("parquet", data_dir=str(out))["train"]
    assert len(ds) >= 1 and set(ds["item_id"]) <= set(expected)
    simulated = {r["id"] for rows in expected.values() for r in rows}
    assert simulated & set(ds["id"]), "the build should reproduce some of the pairs its stages made"
    for row in ds:
        assert row["method"] == "correctness"
        assert row["chosen_verdict"] == "correct"
        assert row["rejected_verdict"] in ("incorrect", "no_answer")
        assert row["chosen_finish_reason"] == "stop"
        assert row["ground_truth"] and row["item_id"].startswith("gsm8k-test-")
        assert row["chosen_answer"] is not None
        assert message_text(row["chosen"]) != message_text(row["rejected"])
        assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        assert json.loads(row["sampling"])["n"] == 4
        assert row["recipe"] == "mathqa@1" and row["model"] == "embedded" and row["dtype"] in ("float32", "bfloat16")
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "data/*.parquet" in card and "| dtype |" in card


def test_provenance_reaches_the_shards(mathqa_case):
    from mmpr_builder import __version__

    out, _, _ = mathqa_case
    [shard] = sorted((out / "data").glob("*.parquet"))
    stamp = json.loads(pq.read_schema(shard).metadata[b"mmpr"])
    assert stamp["recipe"] == "mathqa" and stamp["recipe_version"] == "1" and stamp["model"] == "embedded"
    assert stamp["mmpr_version"] == __version__ and stamp["dtype"] in ("float32", "bfloat16")
    assert stamp["seed"] == 0 and stamp["engine"]["dtype"] == stamp["dtype"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert stamp["git_commit"] == (commit or None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_fingerprint"]["dtype"] == stamp["dtype"]
    assert manifest["run_fingerprint"]["recipe_settings"]["sampling"]["num_samples"] == 4


def test_inspect_agrees_with_the_shards(mathqa_case):
    out, _, expected = mathqa_case
    proc = _run(["inspect", str(out), "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout)
    assert stats["items"] == len(expected)
    assert sum(stats["status"].values()) == len(expected) and stats["status"].get("paired", 0) >= 1
    assert stats["pairs"]["total"] == len(_rows(out)) == stats["pairs"]["correctness"]


def test_train_on_build_output(mathqa_case, tmp_path):
    out, _, _ = mathqa_case
    proc = _run(["train", "--data", str(out), "--output", str(tmp_path / "mpo"), "--max-steps", "2",
                 "--batch-size", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = [json.loads(line) for line in (tmp_path / "mpo" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in logged if "loss/sigmoid" in m]
    assert len(steps) == 2
    for key in ("loss", "loss/sigmoid", "loss/bco_pair", "loss/sft", "bco/delta", "rewards/margins"):
        assert all(isinstance(m[key], float) for m in steps), key


CAPTION_SHORT = {"sampling": {"num_samples": 3, "max_tokens": 96},
                 "prompt": {"template": "{question} Answer in one short sentence."}}


@pytest.fixture(scope="module")
def caption_recipe():
    return merge(load_recipe("caption"), CAPTION_SHORT)


@pytest.fixture(scope="module")
def caption_out(engine, caption_recipe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("caption")
    summary = run_build(BuildConfig(caption_recipe, run=RunConfig(out_dir=str(out), inflight_items=2)), engine=engine,
                        progress=False)
    assert summary["items"] == 6 and summary["errors"] == {}
    assert summary["status"] == {"no_ground_truth": 6}
    return out


def test_streamed_dropout_ntp_pairs(caption_out):
    rows = _rows(caption_out)
    assert rows, "short answers finish, so DropoutNTP has chosen responses to cut"
    for row in rows:
        chosen, rejected = message_text(row["chosen"]), message_text(row["rejected"])
        assert row["method"] == "dropout_ntp"
        assert 0 < row["cut_char"] < len(chosen) and row["cut_token"] > 0
        assert rejected.startswith(chosen[: row["cut_char"]])
        assert rejected != chosen and len(rejected) > row["cut_char"]
        assert row["chosen_finish_reason"] == "stop"
        assert row["ground_truth"] is None and len(row["images"]) == 1 and row["images"][0]["bytes"]


def test_continuation_prompt_has_no_image_and_ends_in_the_open_turn(engine, caption_recipe):
    """The prompt the engine really ran for a DropoutNTP continuation: the question without its
    image, then the prefix as an unfinished assistant turn (no end-of-turn token after it)."""
    from mmpr_builder.labelers.dropout_ntp import Cut
    from mmpr_builder.labeling import Continuation, ItemLabeler
    from mmpr_builder.items import Response
    from testlib import provenance_for

    labeler = ItemLabeler(caption_recipe, provenance_for(engine, caption_recipe), engine.tokenizer)
    p = labeler.prepare(_items(caption_recipe, 1)[0])
    prefix = "The picture shows a"
    job = Continuation(0, Response(prefix + " cat.", "stop", 6), Cut(prefix, len(prefix), 4))
    [res] = engine.generate([labeler.continuation_request(p, job)])
    assert res.error is None and res.responses[0].num_tokens > 0
    rendered = engine.tokenizer.decode(res.prompt_token_ids, skip_special_tokens=False)
    image_ids = {engine.tokenizer.convert_tokens_to_ids(t) for t in ("<image>", "<fake_token_around_image>")}
    assert not image_ids & set(res.prompt_token_ids), rendered
    assert p.item.question in rendered
    assert rendered.rstrip().endswith("<|im_start|>assistant\n" + prefix), rendered[-200:]
    # the same prompt with the image, as sampled: the image placeholder is there
    [sampled] = engine.generate([dataclasses.replace(labeler.sample_request(p), n=1)])
    assert image_ids & set(sampled.prompt_token_ids)


def test_sigkill_and_resume_keeps_what_was_committed(tmp_path):
    """Kill a CLI build right after its first commit and rerun it: what was committed stays as it
    was, every item is done exactly once, no pair is duplicated."""
    overrides = tmp_path / "over.yaml"
    overrides.write_text(json.dumps(CAPTION_SHORT))
    out = tmp_path / "out"
    args = ["build", "--source", "caption", "--config", str(overrides), "--out", str(out), "--inflight-items", "2"]
    child = subprocess.Popen(MMPR + args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True, env={**os.environ, "MMPR_LOG_LEVEL": "INFO"})
    for line in child.stderr:  # the writer logs each commit
        if "mmpr_builder.output.writer: checkpoint" in line:
            break
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the build ended before the kill"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["commits"], "the build should have committed before the kill"
    parts = [c["part"] for c in manifest["commits"] if c["part"]] + [s["name"] for s in manifest["shards"]]
    before = {r["id"] for f in parts for r in pq.read_table(out / f).to_pylist()}
    proc = _run(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = [r["id"] for r in _rows(out)]
    assert len(ids) == len(set(ids)) and before <= set(ids)
    stats = json.loads(_run(["inspect", str(out), "--json"]).stdout)
    assert stats["items"] == 6 and stats["pairs"]["total"] == len(ids)


def test_tabmwp_builds_with_table_images(engine, tmp_path):
    data = require_tabmwp()
    recipe = merge(load_recipe("tabmwp"), {"sampling": {"num_samples": 2, "max_tokens": 48}})
    recipe = dataclasses.replace(recipe, source=dataclasses.replace(recipe.source, path=str(data)))
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(tmp_path), limit=6)), engine=engine,
                        progress=False)
    assert summary["items"] == 6 and summary["responses"] == 12 and summary["errors"] == {}
    stats = json.loads(_run(["inspect", str(tmp_path), "--json"]).stdout)
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
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(tmp_path / "out"))), engine=engine,
                        progress=False)
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


def test_gpu_smoke_script_builds_trains_and_reports(mathqa_case, tmp_path):
    """scripts/gpu_smoke.sh end to end on the embedded model (CPU): build, its checks, 1 training step, figures."""
    _, _, expected = mathqa_case
    data = tmp_path / "items.jsonl"
    data.write_text((mathqa_case[0].parent / "items.jsonl").read_text())
    (tmp_path / "train.yaml").write_text("use_cpu: true\nsave_strategy: 'no'\ndisable_tqdm: true\n"
                                         f"ref_cache_dir: {tmp_path / 'ref'}\n")
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path / "smoke"), SOURCE="mathqa", MIN_STOP_SHARE="0",
               BUILD_ARGS=f"--data {data} --config {mathqa_case[0].parent / 'small.yaml'}",
               TRAIN_ARGS=f"--config {tmp_path / 'train.yaml'}")
    proc = subprocess.run(["bash", "scripts/gpu_smoke.sh", "", str(len(expected)), "1"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line and not line.startswith("=="))
    build = tmp_path / "smoke" / "build"
    samples = [r for r in pq.read_table(build / "responses").to_pylist() if r["kind"] == "sample"]
    assert int(figures["responses"]) == len(samples) == 4 * len(expected)
    assert float(figures["stop_share"]) == round(sum(r["finish_reason"] == "stop" for r in samples) / len(samples), 4)
    assert int(figures["pairs"]) == len(_rows(build)) >= 1
    assert float(figures["tokens_per_second"]) > 0
    assert int(figures["steps"]) == 1 and float(figures["pairs_per_second"]) > 0
    assert "smoke test passed" in proc.stdout

    # the same build, held to a share above the one it got, fails with the cause
    share = float(figures["stop_share"])
    check = subprocess.run([sys.executable, "scripts/smoke_report.py", "build", str(build), "--log",
                            str(tmp_path / "smoke" / "build.log"), "--min-stop-share", str(share)],
                           cwd=REPO_ROOT, capture_output=True, text=True)
    assert check.returncode == 1 and "responses ended with stop" in check.stdout and "FAIL:" in check.stdout
