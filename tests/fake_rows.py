"""Fabricated pair rows for writer, card and hub tests (real PNGs from sample_data/vqa/images)."""

from __future__ import annotations

import json
from pathlib import Path

from mmpr_builder.schema import pair_id, text_message, user_message

IMAGES = Path(__file__).resolve().parents[1] / "sample_data" / "vqa" / "images"
FINGERPRINT = {"recipe": "test", "recipe_version": 1, "model": "tiny", "seed": 0, "mmpr_version": "0.1.0"}


def png(k: int) -> bytes:
    """Bytes of sample_data/vqa/images/{k}.png."""
    return (IMAGES / f"{k}.png").read_bytes()


def make_rows(item_id: str, n: int, *, image: int | None = 0, method: str = "correctness") -> list[dict]:
    """``n`` schema-complete pair rows for ``item_id`` (one embedded PNG each unless ``image`` is None)."""
    rows = []
    for j in range(n):
        chosen, rejected = f"{item_id}: good {j}. Answer: 4", f"{item_id}: bad {j}. Answer: 5"
        rows.append({
            "id": pair_id(item_id, method, chosen, rejected),
            "item_id": item_id,
            "source": "vqa" if j % 2 == 0 else "mathqa",
            "question": f"question of {item_id}",
            "ground_truth": "4",
            "prompt": [user_message(f"question of {item_id}", 0 if image is None else 1)],
            "chosen": [text_message("assistant", chosen)],
            "rejected": [text_message("assistant", rejected)],
            "images": [] if image is None else [{"bytes": png(image), "path": f"{image}.png"}],
            "method": method,
            "chosen_answer": "4",
            "rejected_answer": "5",
            "chosen_verdict": "correct",
            "rejected_verdict": "incorrect",
            "chosen_finish_reason": "stop",
            "rejected_finish_reason": "stop",
            "chosen_num_tokens": 10 + j,
            "rejected_num_tokens": 20 + j,
            "cut_char": None,
            "cut_token": None,
            "model": "tiny",
            "sampling": json.dumps({"temperature": 1.0, "n": 4}),
            "seed": 0,
            "recipe": "test",
            "mmpr_version": "0.1.0",
        })
    return rows


def plan(num_items: int) -> list[tuple[str, int]]:
    """A fixed build: ``(item_id, number of pairs)`` with 0-3 pairs per item."""
    return [(f"item-{i:03d}", (i * 7) % 4) for i in range(num_items)]


def stats_for(item_id: str, n: int) -> dict:
    """Item stats shaped as the pipeline reports them (see mmpr_builder.output.summary.summarize)."""
    i = int("".join(ch for ch in item_id if ch.isdigit()) or 0)
    correct = i % 5
    return {"source": "vqa" if i % 2 == 0 else "mathqa", "status": "paired" if n else "too_easy",
            "responses": 4, "n_correct": correct, "n_incorrect": 4 - correct,
            "pairs": {"correctness": n} if n else {}, "chosen_tokens": [10 + j for j in range(n)],
            "rejected_tokens": [20 + j for j in range(n)]}
