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


def test_sources_lists_the_bundled_recipes():
    result = runner.invoke(app, ["sources"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert sorted(names) == ["arith", "caption", "mathqa", "tabmwp", "vqa"]


def test_models_list_has_internvl_alias():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    assert "internvl2-8b" in result.output and "OpenGVLab/InternVL2-8B trust_remote_code" in result.output


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
