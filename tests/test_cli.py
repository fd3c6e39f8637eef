"""The `mmpr` command line, in process (typer's runner); the build itself is in test_build_e2e.py."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mmpr_builder.cli import app

runner = CliRunner()


def test_check_answer_json():
    result = runner.invoke(app, ["check-answer", r"Comparing the options, \boxed{C}", "--ground-truth", "C",
                                 "--choices", "red|green|blue|black", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["extracted"], out["verdict"], out["answer_type"]) == ("C", "correct", "multiple_choice")
    assert "option C" in out["reason"]


def test_check_answer_text_verdicts():
    wrong = runner.invoke(app, ["check-answer", "Adding them up, the answer is 41.", "--ground-truth", "42"])
    assert wrong.exit_code == 0 and "extracted: 41" in wrong.output and "verdict:   incorrect" in wrong.output
    none = runner.invoke(app, ["check-answer", "I am not sure.", "--ground-truth", "42", "--json"])
    assert json.loads(none.output)["verdict"] == "no_answer"


PROSE = ("We count ordered choices first, 8 * 7 * 6 = 336, and divide by the 3! orderings of each committee.\n\n"
         "Therefore, there are 56 possible committees.")
QUESTION = "In how many ways can a committee of 3 be chosen from 8 people?"


def test_check_answer_extraction_modes():
    strict = runner.invoke(app, ["check-answer", PROSE, "--ground-truth", "56", "--json"])
    assert json.loads(strict.output)["verdict"] == "no_answer"  # strict stays the default
    reading = runner.invoke(app, ["check-answer", PROSE, "--ground-truth", "56", "--extraction", "reading",
                                  "--question", QUESTION, "--json"])
    out = json.loads(reading.output)
    assert (out["extracted"], out["verdict"], out["method"]) == ("56", "correct", "reading") and "judged_by" not in out
    weak = runner.invoke(app, ["check-answer", PROSE, "--ground-truth", "56", "--allow-weak", "--json"])
    assert json.loads(weak.output)["method"] == "weak"  # --allow-weak: alias of --extraction weak
    bad = runner.invoke(app, ["check-answer", PROSE, "--ground-truth", "56", "--extraction", "readin"])
    assert "did you mean 'reading'" in str(bad.exception)


def test_check_answer_default_tolerance_is_the_builds():
    from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL

    close = 100 * (1 + DEFAULT_REL_TOL / 2)
    inside = runner.invoke(app, ["check-answer", "Answer: %r" % close, "--ground-truth", "100.0", "--json"])
    outside = runner.invoke(app, ["check-answer", "Answer: %r" % close, "--ground-truth", "100.0", "--json",
                                  "--rel-tol", str(DEFAULT_REL_TOL / 4)])
    assert (json.loads(inside.output)["verdict"], json.loads(outside.output)["verdict"]) == ("correct", "incorrect")


def test_check_answer_judge(monkeypatch):
    from fake_judge import FakeJudge

    monkeypatch.setenv("MMPR_CLI_JUDGE_KEY", "sk-cli-secret")
    with FakeJudge() as fake:
        args = ["check-answer", "I could not finish the computation.", "--ground-truth", "gt-correct",
                "--judge", fake.base_url, "--judge-model", "grader", "--judge-api-key-env", "MMPR_CLI_JUDGE_KEY"]
        text = runner.invoke(app, args)
        assert text.exit_code == 0, text.output
        assert "verdict:   correct\njudged by: mmpr-judge-v1/openai:grader\n" in text.output
        out = json.loads(runner.invoke(app, args + ["--json"]).output)
        assert (out["verdict"], out["judged_by"]) == ("correct", "mmpr-judge-v1/openai:grader")
        decided = json.loads(runner.invoke(app, ["check-answer", "Answer: 7", "--ground-truth", "gt-correct", "--json",
                                                 "--judge", fake.base_url, "--judge-model", "grader"]).output)
        assert decided["verdict"] == "incorrect" and "judged_by" not in decided  # the judge only decides undecided
        assert [s["auth"] for s in fake.seen] == ["Bearer sk-cli-secret"] * 2
    assert "sk-cli-secret" not in text.output
    lone = runner.invoke(app, ["check-answer", "x", "--ground-truth", "1", "--judge-model", "grader"])
    assert "go together" in str(lone.exception)


def test_sources_lists_the_bundled_recipes():
    result = runner.invoke(app, ["sources"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert sorted(names) == ["arith", "caption", "mathqa", "tabmwp", "vqa"]


def test_models_list_shows_families_support_and_aliases():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    blocks = {b.split(":", 1)[0]: b for b in result.output.strip().split("\n\n")}
    assert list(blocks) == ["internvl-chat", "internvl-hf", "qwen2-vl", "qwen2.5-vl", "llava-onevision", "llava",
                            "idefics3", "smolvlm", "text"]
    assert "InternVLChatModel (remote code)" in blocks["internvl-chat"]
    assert "aliases: internvl2-8b, internvl2-2b," in blocks["internvl-chat"]
    assert ("train: after conversion to internvl-hf (mmpr train converts it into the cache); convert: to internvl-hf "
            "(`mmpr models convert SRC DST`; `mmpr train` does it once into the cache)") in blocks["internvl-chat"]
    assert "convert: not needed" in blocks["internvl-hf"]
    assert "vLLM-CPU here no (needs torchvision)" in blocks["qwen2-vl"]
    assert "vLLM-CPU here runs" in blocks["idefics3"] and "aliases: embedded, " in blocks["idefics3"]
    assert "tiling: min_pixels=784, max_pixels=1003520" in blocks["qwen2.5-vl"]
    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    internvl = next(r for r in rows if r["name"] == "internvl-chat")
    assert internvl["aliases"]["internvl2-8b"] == "OpenGVLab/InternVL2-8B"
    assert internvl["stop_tokens"] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|end|>"]


def test_unknown_recipe_fails_before_any_work(tmp_path):
    from mmpr_builder.errors import ConfigError

    result = runner.invoke(app, ["build", "--source", "mathq", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "mathqa" in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_unknown_model_suggests_an_alias():
    import pytest

    from mmpr_builder.errors import ModelError
    from mmpr_builder.models.aliases import resolve_model

    with pytest.raises(ModelError, match="did you mean 'internvl2-8b'"):
        resolve_model("internvl2_8b")
    assert resolve_model("qwen2.5-vl-7b").path == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_config_file_engine_section_is_checked(tmp_path):
    from mmpr_builder.errors import ConfigError

    config = tmp_path / "run.yaml"
    config.write_text("sampling: {num_samples: 2}\nengine: {tensor_paralel_size: 2}\n")
    result = runner.invoke(app, ["build", "--source", "mathqa", "--config", str(config), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, ConfigError)
    assert "tensor_paralel_size" in str(result.exception) and "did you mean 'tensor_parallel_size'" in str(result.exception)
    config.write_text("sampling: {num_sample: 2}\n")
    result = runner.invoke(app, ["build", "--source", "mathqa", "--config", str(config), "--out", str(tmp_path / "o")])
    assert "did you mean 'num_samples'" in str(result.exception)
    assert not (tmp_path / "o").exists()
