"""ShardWriter: schema checks, shard rolling, datasets loading, determinism, resume and repair."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from testlib import known_failures
from fake_rows import FINGERPRINT, IMAGES, make_rows, plan, png, stats_for

from mmpr_builder.errors import ConfigError, OutputError
from mmpr_builder.items import ImageData
from mmpr_builder.output.writer import ShardWriter

IMAGE_CASES = {c["id"]: c for c in known_failures("parquet-images")}


def build(out: Path, items, fingerprint: dict = FINGERPRINT, **kw) -> ShardWriter:
    w = ShardWriter(out, run_fingerprint=fingerprint, **kw)
    for item_id, n in items:
        if item_id not in w.done_items:
            w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.close()
    return w


def shard_ids(out: Path) -> list[str]:
    return [i for p in sorted((out / "data").glob("*.parquet")) for i in pq.read_table(p, columns=["id"])["id"].to_pylist()]


def test_shards_load_in_datasets_with_pil_images(tmp_path):
    """Known failure parquet-image-struct: shards carry the Image feature and embedded bytes, so images decode to PIL."""
    from datasets import load_dataset
    from PIL import Image
    from trl.data_utils import is_conversational

    case = IMAGE_CASES.get("parquet-image-struct")
    assert case is None or case["expected"]["loaded_image_type"].startswith("PIL.Image")
    rows = make_rows("a", 3)
    rows[0]["images"] = [str(IMAGES / "1.png")]  # a local path only: must be embedded, path reduced to its name
    rows[1]["images"] = [ImageData(png(2), "imgs/2.png"), Image.open(IMAGES / "3.png")]
    rows[1]["prompt"] = make_rows("a", 1, image=None)[0]["prompt"]
    w = ShardWriter(tmp_path / "out", run_fingerprint={**FINGERPRINT, "sampling": {"n": 4}},
                    provenance={**FINGERPRINT, "git_commit": "abc123"})
    w.add_item("a", rows, {"source": "vqa"})
    w.close()
    shard = tmp_path / "out" / "data" / "train-00000.parquet"
    schema = pq.read_schema(shard)
    assert b"huggingface" in schema.metadata
    assert json.loads(schema.metadata[b"mmpr"]) == {"schema_version": "2", "recipe": "test", "recipe_version": 1,
                                                    "model": "tiny", "seed": 0, "mmpr_version": "0.1.0",
                                                    "git_commit": "abc123"}
    meta = pq.ParquetFile(shard).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    raw = pq.read_table(shard, columns=["images"])["images"].to_pylist()
    assert raw[0] == [{"bytes": png(1), "path": "1.png"}]
    assert [im["bytes"] for im in raw[1]] == [png(2), png(3)]
    ds = load_dataset("parquet", data_files=str(shard), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 3
    assert isinstance(ds[1]["images"][1], Image.Image) and ds[1]["images"][1].size == Image.open(IMAGES / "3.png").size
    assert ds[2]["chosen"] == rows[2]["chosen"]
    assert is_conversational({k: ds[0][k] for k in ("prompt", "chosen", "rejected")})


def test_row_groups_at_most_row_group_rows(tmp_path):
    build(tmp_path, [(f"i{k}", 3) for k in range(90)], row_group_rows=100)  # 270 rows
    meta = pq.ParquetFile(tmp_path / "data" / "train-00000.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100, 100, 70]


def test_shards_roll_at_row_count_without_splitting_items(tmp_path):
    w = build(tmp_path, [(f"i{k}", 3) for k in range(7)], max_shard_rows=5)
    assert [(s.name, s.rows) for s in w.shards] == [("data/train-00000.parquet", 6), ("data/train-00001.parquet", 6),
                                                    ("data/train-00002.parquet", 6), ("data/train-00003.parquet", 3)]
    assert w.shards[0].item_ids == ["i0", "i1"]
    for s in w.shards:
        items = pq.read_table(tmp_path / s.name, columns=["item_id"])["item_id"].to_pylist()
        assert sorted(set(items)) == sorted(s.item_ids) and len(items) == s.rows


def noise_png(seed: int, side: int = 96) -> bytes:
    """An incompressible PNG of about side*side*3 bytes."""
    import io
    import random

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(buf, "PNG")
    return buf.getvalue()


def test_shards_roll_at_size(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_bytes=200_000, row_group_rows=2)
    for k in range(30):
        rows = make_rows(f"i{k}", 2)
        for j, row in enumerate(rows):
            row["images"] = [{"bytes": noise_png(2 * k + j), "path": None}]
        w.add_item(f"i{k}", rows, {})
    w.close()
    item_bytes = 2 * len(noise_png(0))  # about 56 kB
    assert len(w.shards) > 3 and sum(s.rows for s in w.shards) == 60
    assert len({s.rows for s in w.shards[:-1]}) == 1  # same-size items: every full shard has the same rows
    assert all(200_000 <= s.bytes <= 200_000 + item_bytes + 20_000 for s in w.shards[:-1])


def test_same_inputs_give_identical_bytes(tmp_path):
    items = plan(40)
    a = build(tmp_path / "a", items, max_shard_rows=16)
    b = build(tmp_path / "b", items, max_shard_rows=16)
    assert [s.sha256 for s in a.shards] == [s.sha256 for s in b.shards]
    for s in a.shards:
        assert (tmp_path / "a" / s.name).read_bytes() == (tmp_path / "b" / s.name).read_bytes()


def test_manifest_records_shards_and_items(tmp_path):
    w = build(tmp_path, plan(12), max_shard_rows=8)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run_fingerprint"] == FINGERPRINT
    listed = [(s["name"], s["rows"], s["bytes"], s["sha256"]) for s in manifest["shards"]]
    assert listed == [(s.name, s.rows, (tmp_path / s.name).stat().st_size, s.sha256) for s in w.shards]
    assert [(c["index"], c["shard"], c["rows"], c["part"]) for c in manifest["commits"]] == \
        [(0, 0, 9, None), (1, 1, 8, None), (2, 2, 1, None)]  # no checkpoints: one commit per shard close
    assert w.done_items == {i for i, _ in plan(12)}
    stats = {s["item_id"]: s for s in w.item_stats()}
    assert stats["item-001"] == {"item_id": "item-001", **stats_for("item-001", 3)}  # stored as given
    assert [s["item_id"] for s in ShardWriter(tmp_path, run_fingerprint=FINGERPRINT).item_stats()] == \
        [i for i, _ in plan(12)]  # and read back on resume


def test_resume_continues_where_it_stopped(tmp_path):
    items = plan(30)
    ref = build(tmp_path / "ref", items, max_shard_rows=10, row_group_rows=2)
    out = tmp_path / "out"
    w = ShardWriter(out, run_fingerprint=FINGERPRINT, max_shard_rows=10, row_group_rows=2)
    for item_id, n in items[:17]:
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    committed = set().union(*(s.item_ids for s in w.shards))
    assert list((out / "data").glob(".*.tmp"))  # the open shard, abandoned as by a crash
    del w
    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, max_shard_rows=10, row_group_rows=2)
    assert w2.done_items == committed and len(committed) < 17
    assert not list((out / "data").glob(".*.tmp"))
    build(out, items, max_shard_rows=10, row_group_rows=2)
    assert sorted(shard_ids(out)) == sorted(shard_ids(tmp_path / "ref"))
    assert len(shard_ids(out)) == len(set(shard_ids(out)))
    assert [p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))] == \
        [(tmp_path / "ref" / s.name).read_bytes() for s in ref.shards]


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "delete"])
def test_damaged_shard_is_detected_and_rewritten(tmp_path, damage):
    items = plan(20)
    build(tmp_path, items, max_shard_rows=8)
    all_ids = sorted(shard_ids(tmp_path))
    victim = tmp_path / "data" / "train-00001.parquet"
    data = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        victim.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    else:
        victim.unlink()
    lost = set(json.loads((tmp_path / "commits" / "00001.json").read_text())["items"][i]["item_id"]
               for i in range(len(json.loads((tmp_path / "commits" / "00001.json").read_text())["items"])))
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=8)
    assert not victim.exists() and not (tmp_path / "commits" / "00001.json").exists()
    assert lost and not (lost & w.done_items)
    assert w.done_items == {i for i, _ in items} - lost
    build(tmp_path, items, max_shard_rows=8)
    assert sorted(shard_ids(tmp_path)) == all_ids


def test_other_arguments_are_refused_unless_overwrite(tmp_path):
    fingerprint = {**FINGERPRINT, "sampling": {"temperature": 1.0, "n": 4}}
    build(tmp_path, plan(5), fingerprint=fingerprint)
    with pytest.raises(OutputError, match=r"differing: model, seed\)"):
        ShardWriter(tmp_path, run_fingerprint={**fingerprint, "model": "other", "seed": 1})
    with pytest.raises(OutputError, match=r"differing: sampling.temperature\); .*--overwrite"):
        ShardWriter(tmp_path, run_fingerprint={**fingerprint, "sampling": {"temperature": 0.7, "n": 4}})
    assert (tmp_path / "data" / "train-00000.parquet").exists()
    (tmp_path / "README.md").write_text("old card")
    w = ShardWriter(tmp_path, run_fingerprint={**FINGERPRINT, "seed": 1}, overwrite=True)
    assert w.done_items == set() and w.shards == []
    assert not (tmp_path / "data" / "train-00000.parquet").exists() and not (tmp_path / "README.md").exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["run_fingerprint"]["seed"] == 1


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not an mmpr output folder"):
        ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, overwrite=True)
    w.close()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # overwrite removes only mmpr's files


def test_corrupt_manifest_is_reported(tmp_path):
    build(tmp_path, plan(3))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(OutputError, match="corrupt.*--overwrite"):
        ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)


def test_zero_row_close_commits_items_and_errors(tmp_path):
    closed = []
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, on_shard_closed=closed.append)
    w.add_item("empty", [], {"source": "vqa", "status": "no_pairs"})
    w.add_error("bad", "missing_image", "image x.png not found")
    w.add_error(None, "no_id", "line 7 has no id")
    assert w.close() == [] and closed == []
    assert list(tmp_path.rglob("*.parquet*")) == []  # a zero-row close has no shard file
    w2 = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    assert w2.done_items == {"empty", "bad"}
    assert [s["status"] for s in w2.item_stats()] == ["no_pairs"]
    assert w2.error_counts() == {"missing_image": 1, "no_id": 1}


def test_errors_listed_once_across_resumes(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=2)
    w.add_error(None, "no_id", "line 3 has no id")
    w.add_item("a", make_rows("a", 2), {})  # closes a shard: the error is committed with it
    w.add_error(None, "bad_image", "line 9: corrupt png")  # pending, lost in the "crash"
    del w
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=2)
    w.add_error(None, "no_id", "line 3 has no id")  # the rerun meets the same bad rows again
    w.add_error(None, "bad_image", "line 9: corrupt png")
    w.add_error(None, "bad_image", "line 9: corrupt png")
    w.close()
    lines = [json.loads(x) for x in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert lines == [{"item_id": None, "cause": "no_id", "message": "line 3 has no id"},
                     {"item_id": None, "cause": "bad_image", "message": "line 9: corrupt png"}]


def _row_with(**changes):
    row = make_rows("x", 1)[0]
    row.update(changes)
    return row


@pytest.mark.parametrize("rows, message", [
    ([{k: v for k, v in make_rows("x", 1)[0].items() if k != "chosen"}], r"missing columns \['chosen'\]"),
    ([_row_with(extra=1)], r"unknown columns \['extra'\]"),
    ([_row_with(chosen_num_tokens="ten")], "match the pair schema"),
    ([_row_with(chosen=[{"role": "assistant", "content": "plain text"}])], "match the pair schema"),
    ([_row_with(item_id="y")], "has item_id 'y'"),
    ([_row_with(method="best_of_n")], "unknown method"),
    ([_row_with(chosen=None)], "'chosen' is null"),
    (make_rows("x", 1) * 2, "duplicate pair id"),
    ([_row_with(images=["/nonexistent/a.png"])], "has no bytes"),
])
def test_bad_rows_are_rejected(tmp_path, rows, message):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    with pytest.raises(OutputError, match=message):
        w.add_item("x", rows, {})
    assert "x" not in w.done_items
    w.add_item("x", make_rows("x", 1), {})  # the item was not taken: it can still be added
    assert w.close()[0].rows == 1


def test_duplicate_item_and_bad_stats_are_rejected(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT)
    w.add_item("a", make_rows("a", 1), {})
    with pytest.raises(OutputError, match="already added"):
        w.add_item("a", make_rows("a", 1), {})
    with pytest.raises(OutputError, match="not JSON-serializable"):
        w.add_item("b", [], {"when": object()})
    with pytest.raises(ConfigError):
        ShardWriter(tmp_path / "x", run_fingerprint=FINGERPRINT, row_group_rows=0)


def test_checkpoint_commits_items_without_closing_the_shard(tmp_path):
    closed = []
    items = plan(12)
    w = ShardWriter(tmp_path / "out", run_fingerprint=FINGERPRINT, row_group_rows=4, on_shard_closed=closed.append)
    for k, (item_id, n) in enumerate(items):
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
        if k in (4, 5, 10):  # item 4 has no pairs: the first checkpoint's part holds items 0-3's rows
            w.checkpoint()
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"] == [] and closed == [] and w.shards == []
    assert [(c["shard"], c["rows"], c["part"]) for c in manifest["commits"]] == [
        (0, 6, "data/.parts/train-00000.part-00000.parquet"), (0, 3, "data/.parts/train-00000.part-00001.parquet"),
        (0, 8, "data/.parts/train-00000.part-00002.parquet")]
    assert w.done_items == {i for i, _ in items[:11]}
    part = pq.read_table(out / "data" / ".parts" / "train-00000.part-00001.parquet")
    assert part["item_id"].to_pylist() == ["item-005"] * 3 and part.schema.metadata[b"mmpr"]
    w.checkpoint()
    w.checkpoint()  # nothing new: no commit
    assert len(json.loads((out / "manifest.json").read_text())["commits"]) == 4
    shards = w.close()
    assert [(s.name, s.rows) for s in shards] == [("data/train-00000.parquet", 18)] and closed == shards
    assert shards[0].item_ids == [i for i, _ in items]
    assert not (out / "data" / ".parts").exists()  # parts merged into the shard and removed
    ref = build(tmp_path / "ref", items, row_group_rows=4)
    assert (out / shards[0].name).read_bytes() == (tmp_path / "ref" / ref.shards[0].name).read_bytes()
    meta = pq.ParquetFile(out / shards[0].name).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 4, 4, 2]
    w2 = ShardWriter(out, run_fingerprint=FINGERPRINT, row_group_rows=4)
    assert w2.done_items == {i for i, _ in items} and [s.item_ids for s in w2.shards] == [shards[0].item_ids]
