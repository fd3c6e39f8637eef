"""Real pair rows and shards for the MPO trainer tests.

Real text (GSM8K word problems with their solutions from ``sample_data/mathqa``;
easy-VQA questions from ``sample_data/vqa``) and real PNG images; the rejected
side is a wrong variant of the chosen one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mmpr_builder.items import ImageData, QuestionItem, Response
from mmpr_builder.labelers.answers import AnswerCheck, Verdict
from mmpr_builder.schema import Provenance, make_pair_row, pair_features

PROVENANCE = Provenance(recipe="test", recipe_version="1", mmpr_version="0.1.0", model="test", dtype="float32",
                        seed=0)

REPO = Path(__file__).resolve().parents[2]
VQA = REPO / "sample_data" / "vqa"
MATHQA = REPO / "sample_data" / "mathqa"
OTHER_ANSWER = {"yes": "no", "no": "yes", "red": "blue", "blue": "green", "green": "red", "yellow": "gray",
                "gray": "black", "black": "teal", "teal": "brown", "brown": "yellow", "circle": "triangle",
                "triangle": "rectangle", "rectangle": "circle"}


def _row(item_id: str, source: str, question: str, truth: str, chosen: str, rejected: str,
         images: list[bytes]) -> dict:
    """A correctness pair row made by the pipeline's own row function."""
    item = QuestionItem(item_id, question, images=[ImageData(b) for b in images], ground_truth=truth, source=source)
    return make_pair_row(
        item, question, "correctness", Response(chosen, "stop", len(chosen.split())),
        Response(rejected, "stop", len(rejected.split())), provenance=PROVENANCE, sampling="{}",
        chosen_check=AnswerCheck(truth, Verdict.CORRECT, "", "statement", "short_text"),
        rejected_check=AnswerCheck("", Verdict.INCORRECT, "", "statement", "short_text"))


def math_rows(n: int, start: int = 0, max_words: int = 60) -> list[dict]:
    """Text-only pairs: GSM8K question; chosen = its solution; rejected = the same with a wrong final answer."""
    rows = []
    for line in MATHQA.joinpath("items.jsonl").read_text().splitlines()[start:]:
        item = json.loads(line)
        solution = re.sub(r"<<[^>]*>>", "", item["solution"])
        if len(solution.split()) + len(item["question"].split()) > max_words:
            continue
        wrong = str(int(float(item["answer"])) + 7)
        chosen = f"{solution}\nAnswer: {item['answer']}"
        rejected = f"{solution.rsplit(item['answer'], 1)[0]}{wrong}\nAnswer: {wrong}"
        rows.append(_row(item["id"], "mathqa", item["question"], item["answer"], chosen, rejected, []))
        if len(rows) == n:
            break
    return rows


def vqa_rows(n: int, start: int = 0) -> list[dict]:
    """Pairs with one real PNG: easy-VQA question; chosen names the right answer, rejected a wrong one."""
    rows = []
    for line in VQA.joinpath("items.jsonl").read_text().splitlines()[start:start + n]:
        item = json.loads(line)
        truth = item["answer"]
        wrong = OTHER_ANSWER.get(truth, "purple")
        image = (VQA / item["image"]).read_bytes()
        rows.append(_row(item["id"], "vqa", item["question"], truth,
                         f"Looking at the image, the answer is {truth}.\nAnswer: {truth}",
                         f"Looking at the image, the answer is {wrong}.\nAnswer: {wrong}", [image]))
    return rows


def write_shard(rows: list[dict], path: Path) -> Path:
    """Write ``rows`` as a pair shard the way ``mmpr build`` does (datasets + pair_features)."""
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=pair_features()).to_parquet(str(path))
    return path
