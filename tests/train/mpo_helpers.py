"""Small builders shared by the trainer tests (tiny random Idefics3, CPU)."""

from __future__ import annotations

from pathlib import Path

import torch

from mmpr_builder.train.mpo_config import MPOConfig
from mmpr_builder.train.mpo_trainer import MPOTrainer
from mmpr_builder.train.run import load_model, load_processor


def make_config(out: Path, **kwargs) -> MPOConfig:
    """A quiet CPU config writing under ``out``; ``kwargs`` override."""
    base = dict(output_dir=str(out / "run"), ref_cache_dir=str(out / "ref_cache"), disable_tqdm=True,
                save_strategy="no", seed=0, use_cpu=True, dataloader_num_workers=0, logging_steps=1,
                train_sampling_strategy="sequential")
    base.update(kwargs)
    return MPOConfig(**base)


def make_trainer(model_dir: str, dataset, out: Path, ref_model=None, model=None, **kwargs) -> MPOTrainer:
    """An MPOTrainer on a fresh copy of ``model_dir`` (float32) unless ``model`` is given."""
    model = model if model is not None else load_model(model_dir, torch.float32)
    return MPOTrainer(model, make_config(out, **kwargs), dataset, load_processor(model_dir), ref_model=ref_model)


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def train_cli(data: Path, model: str, tmp_path: Path, steps: int = 2):
    """Run ``mmpr train --model MODEL`` on ``data`` for ``steps`` steps (batch 2, lr 1e-3, CPU, sequential
    order, no checkpoints, reference cache under ``tmp_path``) through the real typer command.

    Returns:
        ``(result, out)``: the CliRunner result and the output folder (``tmp_path/out``).
    """
    import typer
    from typer.testing import CliRunner

    from mmpr_builder.train.cli import train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)
    cfg = tmp_path / "mpo.yaml"
    cfg.write_text(f"warmup_steps: 0\nsave_strategy: 'no'\ndisable_tqdm: true\nuse_cpu: true\n"
                   f"train_sampling_strategy: sequential\nref_cache_dir: {tmp_path / 'ref'}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--output", str(out), "--model", str(model),
                                      "--max-steps", str(steps), "--batch-size", "2", "--learning-rate", "1e-3",
                                      "--config", str(cfg)], catch_exceptions=False)
    return result, out
