"""MPO training on pair shards (``mmpr train``).

Public names load lazily (torch and transformers load on first use):

- losses: :func:`dpo_sigmoid_loss`, :func:`bco_pair_loss`, :func:`sft_loss`,
  :func:`mpo_loss`, :class:`RewardBaseline`;
- :class:`MPOConfig`, :class:`MPOTrainer`, :class:`MPODataCollator`;
- data: :func:`load_pairs`, :func:`prepare_pairs`;
- :func:`run_mpo`: what ``mmpr train`` runs.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "dpo_sigmoid_loss": "mmpr_builder.train.losses",
    "bco_pair_loss": "mmpr_builder.train.losses",
    "sft_loss": "mmpr_builder.train.losses",
    "mpo_loss": "mmpr_builder.train.losses",
    "RewardBaseline": "mmpr_builder.train.losses",
    "MPOConfig": "mmpr_builder.train.mpo_config",
    "MPOTrainer": "mmpr_builder.train.mpo_trainer",
    "MPODataCollator": "mmpr_builder.train.collator",
    "load_pairs": "mmpr_builder.train.data",
    "prepare_pairs": "mmpr_builder.train.data",
    "run_mpo": "mmpr_builder.train.run",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmpr_builder.train' has no attribute {name!r}")
