"""Fabricated pair rows for writer, card and hub tests (real PNGs from sample_data/vqa/images)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mmpr_builder.items import ImageData, ItemOutcome, ItemStatus, QuestionItem, Response
from mmpr_builder.labelers.answers import AnswerCheck, Verdict
from mmpr_builder.schema import Provenance, make_pair_row

IMAGES = Path(__file__).resolve().parents[1] / "sample_data" / "vqa" / "images"
FINGERPRINT = {"recipe": "test", "recipe_version": 1, "model": "tiny", "seed": 0, "mmpr_version": "0.1.0"}
PROVENANCE = Provenance(recipe="test", recipe_version="1", mmpr_version="0.1.0", model="tiny", dtype="float32",
                        seed=0)


def png(k: int) -> bytes:
    """Bytes of sample_data/vqa/images/{k}.png."""
    return (IMAGES / f"{k}.png").read_bytes()


def make_rows(item_id: str, n: int, *, image: int | None = 0, method: str = "correctness") -> list[dict]:
    """``n`` pair rows for ``item_id`` made by the pipeline's own row function (one embedded PNG each
    unless ``image`` is None)."""
    rows = []
    for j in range(n):
        item = QuestionItem(item_id, f"question of {item_id}", ground_truth="4",
                            images=[] if image is None else [ImageData(png(image), f"{image}.png")],
                            source="vqa" if j % 2 == 0 else "mathqa")
        chosen = Response(f"{item_id}: good {j}. Answer: 4", "stop", 10 + j)
        rejected = Response(f"{item_id}: bad {j}. Answer: 5", "stop", 20 + j)
        checks = {}
        if method == "correctness":
            checks = {"chosen_check": AnswerCheck("4", Verdict.CORRECT, "", "statement", "number"),
                      "rejected_check": AnswerCheck("5", Verdict.INCORRECT, "", "statement", "number")}
        rows.append(make_pair_row(item, item.question, method, chosen, rejected, provenance=PROVENANCE,
                                  sampling=json.dumps({"temperature": 1.0, "n": 4}), **checks))
    return rows


def plan(num_items: int) -> list[tuple[str, int]]:
    """A fixed build: ``(item_id, number of pairs)`` with 0-3 pairs per item."""
    return [(f"item-{i:03d}", (i * 7) % 4) for i in range(num_items)]


def stats_for(item_id: str, n: int) -> dict:
    """Item stats as the pipeline stores them (:meth:`ItemOutcome.to_json`)."""
    i = int("".join(ch for ch in item_id if ch.isdigit()) or 0)
    correct = i % 5
    outcome = ItemOutcome(item_id, source="vqa" if i % 2 == 0 else "mathqa",
                          status=ItemStatus.PAIRED if n else ItemStatus.TOO_EASY, responses=4,
                          verdicts=Counter({"correct": correct, "incorrect": 4 - correct}),
                          pairs=Counter({"correctness": n} if n else {}),
                          chosen_tokens=[10 + j for j in range(n)], rejected_tokens=[20 + j for j in range(n)])
    return outcome.to_json()
