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
