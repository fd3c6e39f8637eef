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


def provenance_for(engine, recipe, seed: int = 0):
    """The Provenance a build with ``engine`` and ``recipe`` stamps (pair ids do not depend on it)."""
    from mmpr_builder.schema import Provenance

    return Provenance(recipe=recipe.name, recipe_version=recipe.version, mmpr_version="test",
                      model=engine.model_name, dtype=engine.dtype, seed=seed)


def solvable_items(engine, recipe, items, seed: int = 0) -> list[tuple]:
    """Items made answerable by construction: each ground truth is replaced by the answer that the
    item's first usable sampled response (finished, not empty or looping) states.

    Sampling is seeded per item, so a build samples the same responses: every returned item then
    has at least one correct response, and the items kept are those that also have a response
    that disagrees (so they give correctness pairs whatever the model's skill or the CPU's dtype).

    Returns:
        ``(item with its new ground truth, the pair rows a build of it writes)`` for each kept item.
    """
    import dataclasses

    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.labelers.answers import check_answer
    from mmpr_builder.labelers.hygiene import response_issue

    labeler = ItemLabeler(recipe, provenance_for(engine, recipe, seed), engine.tokenizer)
    prepared = [labeler.prepare(item) for item in items]
    kept = []
    for p, res in zip(prepared, engine.generate([labeler.sample_request(p) for p in prepared])):
        answer_type = recipe.labeler.answer_type
        answers = [check_answer(r.text, "?", None, answer_type, allow_weak=recipe.labeler.allow_weak).extracted
                   if response_issue(r, recipe.pairing.repetition_threshold) is None else None
                   for r in res.responses]
        truth = next((a for a in answers if a), None)
        if truth is None:
            continue
        item = dataclasses.replace(p.item, ground_truth=truth)
        p = dataclasses.replace(p, item=item, rows=[])
        labeler.label_samples(p, res.responses)
        if p.rows:
            kept.append((item, p.sorted_rows()))
    return kept

def require_tabmwp() -> Path:
    """The TabMWP sample folder; fails the calling test (never skips) when it is absent."""
    import pytest

    if not (TABMWP / "problems.json").is_file():
        pytest.fail(f"the TabMWP sample is missing: expected {TABMWP}/problems.json beside the repository "
                    "(CI provides it; its licence keeps it out of the repository)", pytrace=False)
    return TABMWP
