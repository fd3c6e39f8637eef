"""`mmpr build --dry-run`: the whole source read and checked, prompt tokens counted with the model's
tokenizer, the work and time printed; no engine started (vLLM not imported), nothing written.

Bad rows are compared with the errors.jsonl of a real build of the same source (the real stream on the
deterministic engine double); prompt tokens with the tokenizer's own count; image prompts with what
the real vLLM engine ran (marked ``engine``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from testlib import REPO_ROOT

from mmpr_builder.build import run_build
from mmpr_builder.build_config import BuildConfig, EngineConfig, RunConfig
from mmpr_builder.config import merge
from mmpr_builder.dry_run import EXPECTED_FILL, PromptCounter, dry_run
from mmpr_builder.errors import ConfigError
from mmpr_builder.items import QuestionItem
from mmpr_builder.output.inspect import inspect_output
from mmpr_builder.recipes import load_recipe
from mmpr_builder.sources import iter_items
from mmpr_builder.throughput import default_throughput

VQA = REPO_ROOT / "sample_data" / "vqa"
MATHQA = REPO_ROOT / "sample_data" / "mathqa" / "items.jsonl"


def vqa_source_with_bad_rows(tmp_path: Path) -> tuple[Path, list[dict], dict[str, int]]:
    """8 good vqa rows (one image each) and 5 bad rows; returns the file, its good rows and the bad causes."""
    folder = tmp_path / "src"
    (folder / "images").mkdir(parents=True)
    for k in range(4):
        shutil.copy(VQA / "images" / f"{k}.png", folder / "images" / f"{k}.png")
    (folder / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    good = [json.loads(line) for line in (VQA / "items.jsonl").read_text().splitlines()
            if json.loads(line)["image"] in {f"images/{k}.png" for k in range(4)}][:8]
    lines = [json.dumps(r) for r in good]
    lines.insert(2, json.dumps({"id": "no-image", "question": "what is it?", "answer": "red",
                                "image": "images/missing.png"}))
    lines.insert(4, json.dumps({"id": "broken", "question": "what is it?", "answer": "red",
                                "image": "images/broken.png"}))
    lines.insert(6, "{not json")
    lines.insert(8, json.dumps({"id": "no-question", "answer": "red", "image": "images/0.png"}))
    lines.append(json.dumps(good[1]))  # a repeated id
    path = folder / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    causes = {"missing_image": 1, "corrupt_image": 1, "unparsable_row": 1, "missing_question": 1, "duplicate_id": 1}
    return path, good, causes


CHILD = ("import sys\nfrom mmpr_builder.cli import main\nsys.argv = ['mmpr'] + sys.argv[1:]\n"
         "try:\n    main()\nfinally:\n    print('vllm imported:', 'vllm' in sys.modules)\n")


def test_dry_run_cli_lists_bad_rows_as_the_build_would_and_writes_nothing(tmp_path):
    path, good, causes = vqa_source_with_bad_rows(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", CHILD, "build", "--source", "vqa", "--data", str(path),
                           "--out", str(out), "--dry-run", "--json", "--throughput", "50"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    body, _, tail = proc.stdout.rpartition("\n}\n")
    plan = json.loads(body + "\n}")
    assert tail.strip() == "vllm imported: False"  # no engine
    assert not out.exists()  # nothing written

    n_rows = len(path.read_text().splitlines())
    assert plan["rows"] == n_rows == len(good) + sum(causes.values())
    assert plan["items"] == n_rows - len(plan["bad_rows"]) == len(good)
    assert plan["errors"] == dict(sorted(causes.items()))
    assert plan["images"] == len(good) and plan["items_without_ground_truth"] == 0
    recipe = load_recipe("vqa")
    k, t = recipe.sampling.num_samples, recipe.sampling.max_tokens
    work = plan["work"]
    assert work["requests"] == {"sampling": 8, "dropout_ntp_max": 8 * recipe.dropout_ntp.num_chosen,  # too-easy items
                                "judge_max": 0, "total_max": 8 + 8 * recipe.dropout_ntp.num_chosen}
    assert (work["samples"], work["max_generated_tokens"]) == (8 * k, 8 * k * t + 8 * recipe.dropout_ntp.num_chosen * t)
    assert work["expected_generated_tokens"] == round(8 * k * t * EXPECTED_FILL)
    assert plan["throughput"]["tokens_per_s"] == 50
    assert plan["estimated_seconds"] == {"expected": round(work["expected_generated_tokens"] / 50, 1),
                                         "max": round(work["max_generated_tokens"] / 50, 1)}

    # the same source through a real build: errors.jsonl lists exactly the bad rows the dry run listed
    recipe = merge(recipe, {"source": {"path": str(path)}, "methods": ["correctness"]})  # bad rows do not depend on it
    truths = {x.id: x.ground_truth for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name="vqa")
              if isinstance(x, QuestionItem)}
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(out))), engine=FakeEngine(truths),
                        progress=False)
    written = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    key = lambda e: (e["item_id"] or "", e["cause"], e["message"])  # noqa: E731
    assert sorted(written, key=key) == sorted(plan["bad_rows"], key=key)
    assert summary["items"] == plan["items"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from mmpr_builder.models.embedded import ensure_embedded_model

    return AutoTokenizer.from_pretrained(ensure_embedded_model())


def test_prompt_tokens_are_the_tokenizers_count(tmp_path, tokenizer):
    recipe = load_recipe("mathqa")
    plan = dry_run(BuildConfig(recipe, run=RunConfig(out_dir=str(tmp_path / "out"), limit=10)))
    items = [x for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name="mathqa", limit=10)]
    from mmpr_builder.prompt import build_user_text

    counts = [len(tokenizer.apply_chat_template([{"role": "user", "content": build_user_text(x, recipe.prompt)}],
                                                add_generation_prompt=True, tokenize=True, return_dict=False))
              for x in items]
    assert (plan["items"], plan["images"], plan["bad_rows"]) == (10, 0, [])
    assert plan["prompt_tokens"]["total"] == sum(counts) and plan["prompt_tokens"]["max"] == max(counts)
    assert plan["over_context"] == 0 and plan["context"] == 4096
    assert not (tmp_path / "out").exists()


class EmbeddedNamed(FakeEngine):
    """The engine double under the embedded model's name (a build without --model records that name)."""

    model_name = "embedded"


def test_a_resume_plan_skips_done_items_and_uses_their_measured_length(tmp_path):
    recipe = load_recipe("mathqa")
    truths = {x.id: x.ground_truth for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name="m",
                                                       limit=12)}
    out = tmp_path / "out"
    run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(out), limit=5)), engine=EmbeddedNamed(truths),
              progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # the fake engine stamps float32: the plan names it so that the folder's fingerprint matches on any CPU
    cfg = BuildConfig(recipe, engine=EngineConfig(dtype="float32"), run=RunConfig(out_dir=str(out), limit=12))
    plan = dry_run(cfg, throughput=10.0)
    assert (plan["rows"], plan["already_done"], plan["items"]) == (12, 5, 7)
    mean = inspect_output(out)["tokens"]["response"]["mean"]
    assert round(plan["work"]["mean_response_tokens"], 1) == mean and "measured" in plan["work"]["expected_basis"]
    assert plan["work"]["expected_generated_tokens"] == round(7 * recipe.sampling.num_samples *
                                                              plan["work"]["mean_response_tokens"])
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # the folder is untouched
    with pytest.raises(ConfigError, match="--throughput"):
        dry_run(cfg, throughput=0)


def test_default_throughput_table():
    cpu = default_throughput(None, "cpu-avx2", "float32")
    assert (cpu.tokens_per_s, cpu.measured) == (69.8, True) and "cpu-inference.md" in cpu.source
    assert default_throughput("embedded", "cpu-avx2", "bfloat16").tokens_per_s == 12.0
    gpu = default_throughput("internvl2-8b", "cuda", "auto")
    assert gpu is not None and not gpu.measured and "estimate" in gpu.source
    assert default_throughput("org/unknown-model", "cuda", "auto") is None


@pytest.mark.engine
def test_image_prompt_counts_equal_what_vllm_ran(engine):
    """The processor's count of an image prompt equals the prompt vLLM really ran (image tokens expanded)."""
    from mmpr_builder.labeling import ItemLabeler
    from testlib import provenance_for

    recipe = merge(load_recipe("vqa"), {"sampling": {"max_tokens": 1, "num_samples": 1}})
    items = [x for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name="vqa", limit=3)]
    labeler = ItemLabeler(recipe, provenance_for(engine, recipe), engine.tokenizer)
    prepared = [labeler.prepare(x) for x in items]
    results = engine.generate([labeler.sample_request(p) for p in prepared])
    counter = PromptCounter(engine.spec.path)
    assert all(len(p.item.images) == 1 for p in prepared)
    assert [counter.count(p.messages) for p in prepared] == [len(r.prompt_token_ids) for r in results]
