"""Paths and the bug-report cases, shared by test modules (``from testlib import ...``).

Kept out of conftest.py: several conftest modules exist, so ``from conftest import`` is ambiguous.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
#: Cases from public bug reports (see tests/data/README.md for their source).
KNOWN_FAILURES = Path(__file__).resolve().parent / "data" / "known_failures.jsonl"
#: The TabMWP sample: not in the repository (licence), present beside it in CI.
TABMWP = SHARED / "data" / "tabmwp"


def known_failures(*areas: str) -> list[dict]:
    """Cases from tests/data/known_failures.jsonl in the given areas.

    Raises:
        FileNotFoundError: the file is missing (it is part of the repository).
    """
    cases = [json.loads(line) for line in KNOWN_FAILURES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [c for c in cases if c["area"] in areas]


def require_tabmwp() -> Path:
    """The TabMWP sample folder; fails the calling test (never skips) when it is absent."""
    import pytest

    if not (TABMWP / "problems.json").is_file():
        pytest.fail(f"the TabMWP sample is missing: expected {TABMWP}/problems.json beside the repository "
                    "(CI provides it; its licence keeps it out of the repository)", pytrace=False)
    return TABMWP
