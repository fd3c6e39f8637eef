"""`mmpr inspect DIR`: text and JSON statistics of an output folder."""

from __future__ import annotations

import json

import pytest
from fake_rows import FINGERPRINT, make_rows, plan, stats_for
from typer.testing import CliRunner

from mmpr_builder.errors import OutputError
from mmpr_builder.output.writer import ShardWriter


@pytest.fixture
def app():
    from mmpr_builder.cli import app

    return app


@pytest.fixture
def out(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=10)
    for item_id, n in plan(12):
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.add_error("item-900", "bad_image", "corrupt png")
    w.close()
    return tmp_path


def test_inspect_text(app, out):
    result = CliRunner().invoke(app, ["inspect", str(out)])
    assert result.exit_code == 0, result.output
    assert "run: recipe=test, model=tiny, seed=0" in result.output
    assert "shards: 2 (18 rows," in result.output
    assert "items: 12 (paired 9, too_easy 3)" in result.output
    assert "responses: 48, accuracy 43.8%" in result.output
    assert "pairs: 18 (correctness 18)" in result.output
    assert "accuracy per source: mathqa 45.8%, vqa 41.7%" in result.output
    assert "skipped rows: bad_image 1" in result.output
    assert "chosen: 18, 10.7, 11/12, 12" in result.output


def test_inspect_json_and_damage(app, out):
    shard = out / "data" / "train-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    result = CliRunner().invoke(app, ["inspect", str(out), "--json"])
    data = json.loads(result.output)
    assert data["pairs"] == {"total": 18, "correctness": 18}
    assert data["accuracy_by_source"] == {"mathqa": 0.4583, "vqa": 0.4167}
    assert data["tokens"]["rejected"]["max"] == 22
    assert data["errors"] == {"bad_image": 1}
    assert data["run_fingerprint"] == FINGERPRINT
    assert len(data["problems"]) == 1 and "train-00000.parquet" in data["problems"][0]
    assert "wall_seconds" not in data


def test_inspect_refuses_a_folder_without_manifest(app, tmp_path):
    result = CliRunner().invoke(app, ["inspect", str(tmp_path)])
    assert isinstance(result.exception, OutputError)


def test_inspect_counts_the_commits_of_an_unfinished_build(app, tmp_path):
    """A build that died after a checkpoint: its items and the rows in parts of the open shard are counted."""
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=10)
    for k, (item_id, n) in enumerate(plan(12)):  # pairs 0,3,2,1,0,3,2 (closes shard 0 at 11 rows), 1, ...
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
        if k == 7:
            w.checkpoint()  # item 7's row goes to a part; items 8-11 are never committed
    del w
    result = CliRunner().invoke(app, ["inspect", str(tmp_path), "--json"])
    data = json.loads(result.output)
    assert data["shards"]["count"] == 1 and data["shards"]["rows"] == 11 and data["shards"]["open_rows"] == 1
    assert data["items"] == 8 and data["pairs"]["total"] == 12 and data["problems"] == []
    text = CliRunner().invoke(app, ["inspect", str(tmp_path)]).output
    assert "shards: 1 (11 rows, " in text and "+ 1 rows committed to the open shard" in text
