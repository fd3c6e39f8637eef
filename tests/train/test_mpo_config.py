"""MPOConfig: paper defaults, checks, and YAML layering (defaults < YAML < flags, unknown keys fail)."""

from __future__ import annotations

import pytest

from mmpr_builder.errors import ConfigError
from mmpr_builder.train.mpo_config import MPOConfig


def test_defaults_follow_the_mpo_recipe(tmp_path):
    cfg = MPOConfig(output_dir=str(tmp_path))
    assert cfg.loss_type == ["sigmoid", "bco_pair", "sft"]
    assert cfg.loss_weights == [0.8, 0.2, 1.0]
    assert (cfg.beta, cfg.learning_rate, cfg.weight_decay, cfg.warmup_steps) == (0.1, 5e-6, 0.05, 0.03)
    assert cfg.lr_scheduler_type == "cosine" and cfg.num_train_epochs == 1.0
    assert cfg.bco_delta == "step" and cfg.remove_unused_columns is False
    assert cfg.bf16 is False  # no CUDA here


@pytest.mark.parametrize("kwargs, match", [
    ({"loss_weights": [0.8, 0.2]}, "2 entries but loss_type has 3"),
    ({"loss_type": ["sigmoid", "bco"]}, "did you mean 'bco_pair'"),
    ({"beta": 0.0}, "beta"),
    ({"bco_delta": "lag"}, "did you mean 'lagged'"),
    ({"max_length": 1}, "max_length"),
    ({"remove_unused_columns": True}, "remove_unused_columns"),
])
def test_bad_values_fail_at_construction(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MPOConfig(output_dir=str(tmp_path), **kwargs)


def test_yaml_then_flags(tmp_path):
    path = tmp_path / "mpo.yaml"
    path.write_text("beta: 0.2\nlearning_rate: 1.0e-5\nloss_type: [sigmoid, sft]\nloss_weights: [1.0, 0.5]\n"
                    "gradient_accumulation_steps: 4\n")
    cfg = MPOConfig.from_yaml(path, output_dir=str(tmp_path / "out"), learning_rate=3e-6, max_steps=None)
    assert cfg.beta == 0.2 and cfg.learning_rate == 3e-6  # the flag wins; None flags are ignored
    assert cfg.loss_type == ["sigmoid", "sft"] and cfg.loss_weights == [1.0, 0.5]
    assert cfg.gradient_accumulation_steps == 4 and cfg.max_steps == -1


def test_unknown_yaml_key_is_an_error(tmp_path):
    path = tmp_path / "mpo.yaml"
    path.write_text("betta: 0.2\n")
    with pytest.raises(ConfigError, match="unknown MPOConfig field 'betta'.*did you mean 'beta'"):
        MPOConfig.from_yaml(path, output_dir=str(tmp_path))


@pytest.mark.parametrize("text, match", [("- a\n- b\n", "mapping"), ("beta: [\n", "invalid YAML"),
                                         ("loss_weights: [1.0]\n", "1 entries but loss_type has 3")])
def test_bad_yaml_files(tmp_path, text, match):
    path = tmp_path / "mpo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        MPOConfig.from_yaml(path, output_dir=str(tmp_path))


def test_missing_yaml_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        MPOConfig.from_yaml(tmp_path / "nope.yaml")
