"""Session fixtures: the repository root and one real vLLM engine per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Math-Verify's per-check deadline: generous, so that no verdict depends on how busy the CPU is
# (the tests of the deadline itself pass their own).
os.environ.setdefault("MMPR_MATH_TIMEOUT_S", "120")

from testlib import REPO_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def engine():
    """The real vLLM engine on the embedded model, started once per session (about 20 s on 2 cores)."""
    from mmpr_builder.engine import Engine, EngineConfig
    from mmpr_builder.models.aliases import resolve_model

    return Engine(resolve_model(None), EngineConfig(), seed=0)
