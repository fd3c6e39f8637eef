"""mmpr: build multimodal preference data (MMPR) with vLLM and train on it (MPO).

Public names load lazily, so ``import mmpr_builder`` stays cheap (no torch/vLLM).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Recipe": "mmpr_builder.config",
    "load_recipe": "mmpr_builder.recipes",
    "list_recipes": "mmpr_builder.recipes",
    "run_build": "mmpr_builder.build",
    "BuildConfig": "mmpr_builder.build_config",
    "check_answer": "mmpr_builder.labelers.answers",
    "Engine": "mmpr_builder.engines.vllm",
    "make_engine": "mmpr_builder.engines",
    "pair_features": "mmpr_builder.schema",
    "resolve_model": "mmpr_builder.models.aliases",
    "FAMILIES": "mmpr_builder.models.families",
    "ModelFamily": "mmpr_builder.models.families",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmpr_builder' has no attribute {name!r}")
