"""The responses table: its schema checks, and the writer committing it with each item like the pairs
(parts replayed on resume, damaged parts dropped with their items, a shard of items without pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fake_rows import FINGERPRINT, make_rows, png

from mmpr_builder.errors import OutputError
from mmpr_builder.items import ImageData, QuestionItem
from mmpr_builder.output.responses import empty_row, encode_response_rows, item_columns, item_from_row, response_features
from mmpr_builder.output.state import stray_files
from mmpr_builder.output.manifest import read_manifest
from mmpr_builder.output.writer import ShardWriter


def responses(item_id: str, k: int = 3) -> list[dict]:
    """``k`` sample rows of an item (the first holds the item, with one PNG)."""
    item = QuestionItem(item_id, f"question of {item_id}", [ImageData(png(1), "1.png")], "4", answer_type="number",
                        source="vqa", meta={"unit": "cm"})
    rows = []
    for j in range(k):
        row = empty_row(item_id, "vqa", "sample", j)
        row.update(text=f"{item_id} sample {j}. Answer: {4 + j % 2}", finish_reason="stop", num_tokens=5 + j,
                   token_ids=list(range(5 + j)), answer=str(4 + j % 2), verdict="correct" if j % 2 == 0 else "incorrect")
        if j == 0:
            row.update(item_columns(item))
        rows.append(row)
    return rows


def stored(out: Path) -> list[dict]:
    return [r for p in sorted((out / "responses").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_rows_round_trip_the_item_and_are_checked():
    schema = response_features().arrow_schema
    table = encode_response_rows("a", responses("a"), schema)
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["a#sample/0", "a#sample/1", "a#sample/2"]
    item = item_from_row(rows[0])
    assert (item.id, item.question, item.ground_truth, item.answer_type, item.source, item.meta) == \
        ("a", "question of a", "4", "number", "vqa", {"unit": "cm"})
    assert [im.bytes for im in item.images] == [png(1)] and rows[1]["images"] is None and rows[1]["question"] is None
    with pytest.raises(OutputError, match="does not hold the item"):
        item_from_row(rows[1])
    bad_kind = responses("a")
    bad_kind[1]["kind"] = "sampel"
    with pytest.raises(OutputError, match="item 'a': response row 1: unknown kind 'sampel'"):
        encode_response_rows("a", bad_kind, schema)
    dup = responses("a")
    dup[2]["id"] = dup[1]["id"]
    with pytest.raises(OutputError, match="duplicate response id 'a#sample/1'"):
        encode_response_rows("a", dup, schema)
    extra = responses("a")
    extra[0]["verdict_x"] = "correct"
    with pytest.raises(OutputError, match=r"unknown columns \['verdict_x'\]"):
        encode_response_rows("a", extra, schema)
    with pytest.raises(OutputError, match="has item_id 'a'"):
        encode_response_rows("b", responses("a"), schema)


def test_responses_are_committed_with_their_items_and_replayed_on_resume(tmp_path):
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    for i in range(4):
        w.add_item(f"i{i}", make_rows(f"i{i}", i % 2), {}, responses=responses(f"i{i}"))
        if i == 1:
            w.checkpoint()
    del w  # a crash: items i2, i3 were never committed
    parts = out / "responses" / ".parts"
    assert sorted(p.name for p in parts.iterdir()) == [".responses-00000.part-00001.parquet.tmp",
                                                       "responses-00000.part-00000.parquet"]
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    assert sorted(p.name for p in parts.iterdir()) == ["responses-00000.part-00000.parquet"]  # leftover removed
    assert w.done_items == {"i0", "i1"} and w.has_item("i1") and not w.has_item("i2")
    for i in range(2, 5):
        w.add_item(f"i{i}", [], {}, responses=responses(f"i{i}", 2))
    w.close()
    rows = stored(out)
    assert [r["id"] for r in rows] == [f"i{i}#sample/{j}" for i in range(5) for j in range(3 if i < 2 else 2)]
    shard = read_manifest(out).shards[0]
    assert (shard.responses_name, shard.responses_rows, shard.rows) == ("responses/responses-00000.parquet", 12, 1)
    assert not (out / "responses" / ".parts").exists() and not (out / "data" / ".parts").exists()


def test_a_damaged_responses_part_drops_its_commit(tmp_path):
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    for i in range(3):
        w.add_item(f"i{i}", make_rows(f"i{i}", 1), {}, responses=responses(f"i{i}"))
        w.checkpoint()
    del w
    part = out / "responses" / ".parts" / "responses-00000.part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-10])
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    assert w.done_items == {"i0"}  # commit 1 is damaged: it and the later one are redone
    assert not (out / "data" / ".parts" / "train-00000.part-00001.parquet").exists()


def test_a_shard_of_items_without_pairs_still_keeps_their_responses(tmp_path):
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    w.add_item("easy", [], {}, responses=responses("easy"))
    [info] = w.close()
    assert (info.rows, info.responses_rows) == (0, 3)
    assert pq.read_table(out / info.name).num_rows == 0  # a valid pairs file with the schema and no rows
    assert [r["id"] for r in stored(out)] == ["easy#sample/0", "easy#sample/1", "easy#sample/2"]


def test_stray_responses_files_are_only_mmpr_names(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    w.add_item("a", make_rows("a", 1), {}, responses=responses("a"))
    w.close()
    (tmp_path / "responses" / ".parts").mkdir()
    for name in ("responses/responses-00004.parquet", "responses/.parts/responses-00001.part-00002.parquet",
                 "responses/.responses-00001.parquet.tmp", "responses/train-00000.parquet", "responses/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    strays = sorted(str(p.relative_to(tmp_path)) for p in stray_files(tmp_path, read_manifest(tmp_path)))
    assert strays == ["responses/.parts/responses-00001.part-00002.parquet", "responses/.responses-00001.parquet.tmp",
                      "responses/responses-00004.parquet"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == 3 and manifest["shards"][0]["responses_rows"] == 3


def test_datasets_reads_the_responses_apart_from_the_pairs(tmp_path):
    from datasets import load_dataset
    from PIL import Image

    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT)
    w.add_item("a", make_rows("a", 2), {}, responses=responses("a"))
    w.close()
    pairs = load_dataset("parquet", data_dir=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(pairs) == 2 and "chosen" in pairs.column_names  # responses/ is not taken into the pairs' split
    table = load_dataset("parquet", data_files=str(out / "responses" / "*.parquet"), split="train",
                         cache_dir=str(tmp_path / "cache"))
    assert table["id"] == ["a#sample/0", "a#sample/1", "a#sample/2"]
    assert isinstance(table[0]["images"][0], Image.Image) and table[1]["images"] is None
