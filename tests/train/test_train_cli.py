"""`mmpr train` end to end on real shards with the embedded model (CPU): the loss falls, the margin grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from mmpr_builder.errors import ConfigError
from mmpr_builder.train.cli import train_command
from pair_shards import math_rows, vqa_rows, write_shard


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)  # keep `train` a subcommand, as in the real app
    return app


def test_short_run_on_real_shards(tmp_path, embedded_dir):
    from safetensors.torch import load_file

    data = tmp_path / "build"
    write_shard(math_rows(1, max_words=40) + vqa_rows(1), data / "data" / "shard-00000.parquet")
    cfg = tmp_path / "mpo.yaml"
    cfg.write_text(f"warmup_steps: 0\nlr_scheduler_type: constant\nsave_strategy: 'no'\ndisable_tqdm: true\n"
                   f"use_cpu: true\nref_cache_dir: {tmp_path / 'ref'}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), ["train", "--data", str(data), "--output", str(out), "--max-steps", "3",
                                         "--batch-size", "2", "--learning-rate", "2e-5", "--config", str(cfg)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "trained embedded for 3 steps on 2 of 2 pairs" in result.output
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert steps[-1]["rewards/margins"] > steps[0]["rewards/margins"]
    assert steps[-1]["rewards/margins"] > 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["pairs"]["kept"] == 2 and summary["global_step"] == 3
    trained = load_file(str(out / "model.safetensors"))
    original = load_file(str(Path(embedded_dir) / "model.safetensors"))
    key = next(k for k in original if "layers.0.self_attn.q_proj" in k)
    assert not torch.equal(trained[key].float(), original[key].float())


def test_bad_config_fails_before_training(tmp_path, shards_dir):
    cfg = tmp_path / "mpo.yaml"
    cfg.write_text("loss_weights: [0.8, 0.2]\n")
    with pytest.raises(ConfigError, match="2 entries but loss_type has 3"):
        CliRunner().invoke(_app(), ["train", "--data", str(shards_dir), "--output", str(tmp_path / "o"),
                                    "--config", str(cfg)], catch_exceptions=False)
