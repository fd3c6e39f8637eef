"""Paths and the bug-report cases, shared by test modules (``from testlib import ...``).

Kept out of conftest.py: several conftest modules exist, so ``from conftest import`` is ambiguous.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
KNOWN_FAILURES = SHARED / "cases" / "known_failures.jsonl"


def known_failures(*areas: str) -> list[dict]:
    """Cases from ../shared/cases/known_failures.jsonl in the given areas (empty if the file is absent)."""
    if not KNOWN_FAILURES.is_file():
        return []
    cases = [json.loads(line) for line in KNOWN_FAILURES.read_text().splitlines() if line.strip()]
    return [c for c in cases if c["area"] in areas]
