"""Output folders to export, and what an export of them must hold.

- :func:`vqa_build`: a real ``mmpr build`` of the bundled easy-VQA sample through the whole
  pipeline (sources, prompt, labelers, pairing, ShardWriter) with the engine double of
  tests/fake_engine.py; 60 questions over 30 images, so items share images.
- :func:`mixed_folder`: ShardWriter shards holding every case an export meets: shared images,
  several images per prompt, a JPEG, text-only pairs, a system message, and one row of each
  skip cause.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
from fake_engine import FakeEngine
from fake_rows import FINGERPRINT, PROVENANCE, make_rows, png, stats_for
from PIL import Image

from mmpr_builder.items import ImageData, QuestionItem, Response
from mmpr_builder.schema import make_pair_row, message_text, text_message
from mmpr_builder.output.writer import ShardWriter

#: skip cause -> the item of mixed_folder that has it
BAD_ITEMS = {"placeholder_in_text": "bad-placeholder", "identical_responses": "bad-identical",
             "image_count_mismatch": "bad-count", "bad_image": "bad-image", "multi_turn_prompt": "bad-turns"}
SYSTEM_ITEM = "system"


def _vqa_respond(truth: str, seed: int, j: int) -> str:
    """About half of the samples state the ground truth, the others a colour no item has."""
    rng = random.Random(seed * 1000 + j)
    answer = truth if rng.random() < 0.5 else "purple"
    return f"I look at the shapes in the image (sample {j}, {rng.randrange(10**6)}).\nAnswer: \\boxed{{{answer}}}"


def vqa_build(out: Path, limit: int = 12) -> Path:
    """``mmpr build --source vqa --limit LIMIT`` (correctness pairs) with the engine double; returns ``out``."""
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import BuildConfig, RunConfig
    from mmpr_builder.config import merge
    from mmpr_builder.recipes import load_recipe
    from mmpr_builder.sources import iter_items

    recipe = merge(load_recipe("vqa"), {"methods": ["correctness"], "pairing": {"too_easy_to_dropout_ntp": False}})
    items = [x for x in iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                                   answer_type=recipe.labeler.answer_type, limit=limit) if isinstance(x, QuestionItem)]
    summary = run_build(BuildConfig(recipe, run=RunConfig(out_dir=str(out), limit=limit, max_shard_rows=20)),
                        engine=FakeEngine({it.id: it.ground_truth for it in items}, _vqa_respond), progress=False)
    assert summary["pairs"]["total"] > 0 and summary["errors"] == {}
    return out


def jpeg(k: int) -> bytes:
    """sample_data/vqa/images/{k}.png re-encoded as JPEG (another format, other bytes)."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(png(k))).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _row(item_id: str, images: list[bytes], question: str = "How many shapes?", chosen: str = "Two. Answer: 2",
         rejected: str = "Three. Answer: 3") -> dict:
    item = QuestionItem(item_id, question, ground_truth="2", images=[ImageData(b, None) for b in images],
                        source="vqa")
    return make_pair_row(item, question, "dropout_ntp", Response(chosen, "stop", 5), Response(rejected, "stop", 5),
                         provenance=PROVENANCE, sampling="{}", cut_char=3, cut_token=1)


def mixed_items() -> list[tuple[str, list[dict]]]:
    """``(item_id, pair rows)`` of :func:`mixed_folder`, in order."""
    items = [("shared", make_rows("shared", 3, image=0)),  # three pairs, one image
             ("other", make_rows("other", 2, image=1)),
             ("text", make_rows("text", 2, image=None)),  # text-only
             ("two-images", [_row("two-images", [png(2), jpeg(0)], question="Which image has more shapes?")])]
    system = make_rows(SYSTEM_ITEM, 1, image=1)[0]
    system["prompt"] = [text_message("system", "You are a careful assistant."), *system["prompt"]]
    items.append((SYSTEM_ITEM, [system]))
    placeholder = _row(BAD_ITEMS["placeholder_in_text"], [], question="What does <image> mean in HTML?")
    identical = _row(BAD_ITEMS["identical_responses"], [png(3)], chosen="Same. Answer: 2", rejected="Same. Answer: 2")
    count = make_rows(BAD_ITEMS["image_count_mismatch"], 1, image=3)[0]
    count["images"] = [png(3), png(4)]
    bad_image = _row(BAD_ITEMS["bad_image"], [png(5)])
    bad_image["images"] = [{"bytes": b"these bytes are no image", "path": "broken.png"}]
    turns = make_rows(BAD_ITEMS["multi_turn_prompt"], 1, image=None)[0]
    turns["prompt"] = [*turns["prompt"], text_message("assistant", "Earlier answer."), text_message("user", "Again?")]
    items += [(r["item_id"], [r]) for r in (placeholder, identical, count, bad_image, turns)]
    return items


def mixed_folder(out: Path) -> Path:
    """An output folder (ShardWriter, 4-row shards) of :func:`mixed_items`; returns ``out``."""
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, max_shard_rows=4)
    for item_id, rows in mixed_items():
        w.add_item(item_id, rows, stats_for(item_id, len(rows)))
    w.close()
    assert len(w.shards) > 1
    return out


def shard_rows(out: Path) -> list[dict]:
    """All pair rows of the finished shards listed in ``out/manifest.json``, in order."""
    names = [s["name"] for s in json.loads((out / "manifest.json").read_text())["shards"]]
    return [r for n in names for r in pq.read_table(out / n).to_pylist()]


def exported_rows(out: Path, skip_items: set[str]) -> list[dict]:
    """The shard rows an export must write: all but those of ``skip_items``."""
    return [r for r in shard_rows(out) if r["item_id"] not in skip_items]


def question_of(row: dict) -> str:
    """The user turn's text of a shard row (the prompt as sent, without placeholders)."""
    return message_text([m for m in row["prompt"] if m["role"] == "user"])


def system_of(row: dict) -> str | None:
    sys_msgs = [m for m in row["prompt"] if m["role"] == "system"]
    return message_text(sys_msgs) if sys_msgs else None


def image_bytes(row: dict) -> list[bytes]:
    return [im["bytes"] for im in row["images"]]


def assert_same_image(path: Path, data: bytes) -> None:
    """The file at ``path`` holds ``data`` and decodes (Pillow) to the same pixels."""
    assert path.read_bytes() == data
    with Image.open(path) as a, Image.open(io.BytesIO(data)) as b:
        assert (a.size, a.mode) == (b.size, b.mode)
        assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


def assert_images_written_once(folder: Path, rows: list[dict]) -> None:
    """``folder`` holds exactly one file per distinct image of ``rows``, named by its SHA-256."""
    distinct = {hashlib.sha256(b).hexdigest() for r in rows for b in image_bytes(r)}
    files = sorted(p for p in folder.iterdir())
    assert sorted(p.name.split(".")[0] for p in files) == sorted(distinct)
    for p in files:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]
