"""Shared fixtures: paths, the bug-report cases, and one real vLLM engine per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
KNOWN_FAILURES = SHARED / "cases" / "known_failures.jsonl"


def known_failures(*areas: str) -> list[dict]:
    """Cases from ../shared/cases/known_failures.jsonl in the given areas (empty if the file is absent)."""
    if not KNOWN_FAILURES.is_file():
        return []
    cases = [json.loads(line) for line in KNOWN_FAILURES.read_text().splitlines() if line.strip()]
    return [c for c in cases if c["area"] in areas]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def engine():
    """The real vLLM engine on the embedded model, started once per session (about 20 s on 2 cores)."""
    from mmpr_builder.engine import Engine, EngineConfig
    from mmpr_builder.models.aliases import resolve_model

    return Engine(resolve_model(None), EngineConfig(), seed=0)
