"""Shard rows -> ExportPair: the user turn's parts, the placeholders, each skip cause; finding the shards."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from export_cases import BAD_ITEMS, SYSTEM_ITEM, jpeg, mixed_items, shard_rows
from fake_rows import png

from mmpr_builder.errors import ItemError, OutputError
from mmpr_builder.export.images import ImageStore, image_extension
from mmpr_builder.export.pairs import SKIP_CAUSES, ExportPair, pair_shards, read_pairs, to_export_pair


def rows_of(item_id: str) -> list[dict]:
    return dict(mixed_items())[item_id]


def test_user_parts_and_question_with_one_placeholder_per_image():
    pair = to_export_pair(rows_of("two-images")[0])
    assert pair.user == (0, 1, "Which image has more shapes?")
    assert pair.images == (png(2), jpeg(0))
    assert pair.question() == "<image>\n<image>\nWhich image has more shapes?"
    assert (pair.chosen, pair.rejected, pair.system) == ("Two. Answer: 2", "Three. Answer: 3", None)
    text = to_export_pair(rows_of("text")[0])
    assert text.images == () and text.question() == "question of text"
    system = to_export_pair(rows_of(SYSTEM_ITEM)[0])
    assert system.system == "You are a careful assistant." and system.question() == "<image>\nquestion of system"


def test_interleaved_parts_keep_their_order():
    row = rows_of("other")[0]
    row["prompt"] = [{"role": "user", "content": [{"type": "text", "text": "Left:"}, {"type": "image", "text": None},
                                                  {"type": "text", "text": "Right:"}, {"type": "image", "text": None}]}]
    row["images"] = [{"bytes": png(1), "path": None}, {"bytes": png(2), "path": None}]
    assert to_export_pair(row).question() == "Left:<image>\nRight:<image>\n"


@pytest.mark.parametrize("cause", sorted(BAD_ITEMS))
def test_each_skip_cause_names_the_item(cause):
    row = rows_of(BAD_ITEMS[cause])[0]
    if cause == "bad_image":  # no bytes at all (the mixed row's bytes are caught when the image is written)
        row["images"] = [{"bytes": None, "path": "lost.png"}]
    with pytest.raises(ItemError) as e:
        to_export_pair(row)
    assert e.value.cause == cause and e.value.item_id == BAD_ITEMS[cause] and cause in SKIP_CAUSES
    assert row["id"] in str(e.value)


def test_a_part_neither_text_nor_image_is_skipped():
    row = rows_of("text")[0]
    row["chosen"] = [{"role": "assistant", "content": [{"type": "video", "text": None}]}]
    with pytest.raises(ItemError) as e:
        to_export_pair(row)
    assert e.value.cause == "unknown_part" and "chosen has a part of type 'video'" in str(e.value)


def test_read_pairs_yields_every_row_in_order_with_its_verdict(mixed_out):
    got = list(read_pairs(pair_shards(mixed_out), batch_rows=2))
    rows = shard_rows(mixed_out)
    assert [g.item_id for g in got] == [r["item_id"] for r in rows]
    assert [g.id for g in got if isinstance(g, ExportPair)] == [r["id"] for r in rows if r["item_id"] not in
                                                                set(BAD_ITEMS.values()) - {"bad-image"}]
    assert sorted(g.cause for g in got if isinstance(g, ItemError)) == sorted(set(BAD_ITEMS) - {"bad_image"})


def test_image_store_writes_once_and_refuses_undecodable_bytes(tmp_path):
    store = ImageStore(tmp_path)
    a = store.names((png(0), jpeg(0), png(0)), "x", "p1")
    b = store.names((png(0),), "y", "p2")
    assert a[0] == a[2] == b[0] and a[0].endswith(".png") and a[1].endswith(".jpg")
    assert (store.written, store.reused) == (2, 2)
    with pytest.raises(ItemError) as e:
        store.names((png(1), b"not an image"), "z", "p3")
    assert e.value.cause == "bad_image" and "image 1" in str(e.value)
    assert len(list((tmp_path / "images").iterdir())) == 2  # the bad pair's good image was not written either
    assert image_extension(png(1)) == "png"


def test_pair_shards_from_the_manifest_or_a_plain_data_folder(mixed_out, tmp_path):
    listed = pair_shards(mixed_out)
    assert [p.name for p in listed] == sorted(p.name for p in (mixed_out / "data").glob("train-*.parquet"))
    plain = tmp_path / "hub"
    shutil.copytree(mixed_out / "data", plain / "data")
    assert [p.name for p in pair_shards(plain)] == [p.name for p in listed]


def test_pair_shards_refuses_damage_and_foreign_files(mixed_out, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(mixed_out, broken)
    shard = broken / "data" / "train-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(OutputError, match="train-00001.parquet.*rerun `mmpr build`"):
        pair_shards(broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OutputError, match="no finished pair shards"):
        pair_shards(tmp_path / "empty")
    other = tmp_path / "other" / "data"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "text": ["b"]}), other / "x.parquet")
    with pytest.raises(OutputError, match=r"not a pair shard \(missing columns \['item_id', 'prompt'"):
        list(read_pairs(pair_shards(other.parent)))
