"""A small output folder for the ``mmpr view`` tests, made by the real build (``run_build``: source,
labelling, pairing, writer, card) with the engine double of fake_engine.py, so that every kind of row
and outcome occurs whatever model is installed: correctness pairs with right, wrong and missing
answers, too-easy items that give DropoutNTP pairs (with cuts), too-hard items, and a bad input row.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from fake_engine import FakeEngine
from testlib import REPO_ROOT

from mmpr_builder.engines import GenerationResult
from mmpr_builder.items import QuestionItem, Response

LIMIT = 40


def respond(truth: str, seed: int, j: int) -> str:
    """Sample ``j``: by the item's seed, all right (too easy), all wrong (too hard), or mixed with a
    response without an answer; lengths vary with ``j``."""
    rng = random.Random(seed * 1000 + j)
    mode = seed % 4
    if mode == 0:
        answer = truth
    elif mode == 1:
        answer = f"wrong{j}"
    else:
        answer = truth if rng.random() < 0.5 else f"other{rng.randrange(100)}"
    steps = " ".join(f"Step {k}: I look at shape {rng.randrange(10)} and its colour." for k in range(1 + j % 4))
    if mode >= 2 and j == 5:
        return steps + " I cannot tell."  # no answer: a format negative
    return f"{steps}\nAnswer: \\boxed{{{answer}}}"


class CharTokenizer:
    """One token per character (``encode``/``decode`` as DropoutNTP's cut uses them)."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int], skip_special_tokens: bool = True, clean_up_tokenization_spaces: bool = False) -> str:
        return "".join(chr(i) for i in ids)


class ViewEngine(FakeEngine):
    """fake_engine.FakeEngine with character tokens (so DropoutNTP can cut) and, for the mixed items, the
    fourth sample cut at the token limit (finish reason ``length``)."""

    tokenizer = CharTokenizer()

    def step(self):
        req = self.queue.popleft()
        truth = self.truths.get(req.key.split("#")[0], "")
        out = []
        for j in range(req.n):
            text = self.respond(truth, req.seed, j)
            cut = "#" not in req.key and req.seed % 4 >= 2 and j == 3
            out.append(Response(text, "length" if cut else "stop", len(text), [ord(c) for c in text]))
        return [GenerationResult(req.key, out)]


def build_view_fixture(out: Path, tmp: Path) -> Path:
    """Build the vqa recipe over a copy of sample_data/vqa (first LIMIT rows plus one row whose image
    is missing) into ``out`` and return ``out``."""
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import assemble
    from mmpr_builder.sources import iter_items

    data = tmp / "vqa"
    shutil.copytree(REPO_ROOT / "sample_data" / "vqa", data)
    lines = (data / "items.jsonl").read_text(encoding="utf-8").splitlines()[:LIMIT]
    lines.append(json.dumps({"id": "bad-1", "question": "what shape?", "answer": "circle", "image": "images/nope.png"}))
    (data / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = assemble("vqa", data=data / "items.jsonl", run_flags={"out_dir": str(out), "max_shard_rows": 40})
    r = cfg.recipe
    items = iter_items(r.source, base_dir=r.base_dir, source_name=r.name, answer_type=r.labeler.answer_type)
    truths = {x.id: x.ground_truth for x in items if isinstance(x, QuestionItem)}
    run_build(cfg, engine=ViewEngine(truths, respond=respond), progress=False)
    return out


def committed_rows(out: Path) -> list[dict]:
    """Every committed pair row read straight from the files the manifest lists (finished shards by
    index, then the open shard's parts), images left out, chosen/rejected as text: the tests' own
    reading, independent of mmpr_builder.output.view."""
    import pyarrow.parquet as pq

    from mmpr_builder.schema import message_text

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = [s["name"] for s in sorted(manifest["shards"], key=lambda s: s["index"])]
    files += [c["part"] for c in manifest["commits"] if c["part"]]
    rows = []
    for name in files:
        for row in pq.read_table(out / name).drop_columns(["images"]).to_pylist():
            row["chosen"], row["rejected"] = message_text(row["chosen"]), message_text(row["rejected"])
            rows.append(row)
    return rows


def matches(row: dict, query: str) -> bool:
    """The search's rule, written out: ``query`` (any case) in one of the searched columns."""
    q = query.lower()
    return any(q in str(row[c] or "").lower() for c in ("id", "item_id", "question", "ground_truth", "chosen",
                                                           "rejected", "chosen_answer", "rejected_answer"))
