"""Dataset card: Hub front matter (configs, license, task, size, features) and run statistics."""

from __future__ import annotations

import pytest
import yaml
from fake_rows import FINGERPRINT, make_rows, plan, stats_for

from mmpr_builder.output.card import render_card, size_category, write_card
from mmpr_builder.errors import ConfigError
from mmpr_builder.schema import pair_features
from mmpr_builder.output.writer import ShardWriter

RUN_INFO = {"model": "org/tiny-vlm", "recipe": "vqa-mix", "recipe_version": 2, "sampling": {"n": 4, "temperature": 1.0},
            "seed": 7, "mmpr_version": "0.1.0", "license": "apache-2.0"}


@pytest.fixture
def built(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=10)
    for item_id, n in plan(12):  # 0-3 pairs an item: 18 pairs
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.add_error(None, "missing_image", "line 40: x.png not found")
    w.close()
    return tmp_path, w


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_has_what_the_hub_reads(built):
    out, w = built
    path = write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO)
    meta = front_matter(path.read_text())
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}]
    assert meta["license"] == "apache-2.0"
    assert meta["task_categories"] == ["image-text-to-text", "visual-question-answering"]
    assert meta["size_categories"] == ["n<1K"]
    assert [f["name"] for f in meta["dataset_info"]["features"]] == list(pair_features())
    assert meta["dataset_info"]["splits"] == [{"name": "train", "num_bytes": sum(s.bytes for s in w.shards),
                                               "num_examples": 18}]
    assert meta["dataset_info"]["download_size"] == sum((out / s.name).stat().st_size for s in w.shards)
    from huggingface_hub import DatasetCard

    assert DatasetCard(path.read_text()).data.license == "apache-2.0"  # huggingface_hub parses it


def test_body_has_the_run_statistics(built):
    out, w = built
    text = write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO).read_text()
    assert "| model | `org/tiny-vlm` |" in text
    assert "| recipe | vqa-mix (version 2) |" in text
    assert '| sampling | `{"n": 4, "temperature": 1.0}` |' in text
    # plan(12): items 0..11 with (7i mod 4) pairs, i % 5 of 4 responses correct; even i -> vqa, odd -> mathqa
    assert "12 items, 48 sampled responses (accuracy 43.8%), 18 pairs in 2 shards." in text
    assert "| paired | 9 |\n| too_easy | 3 |" in text
    assert "| correctness | 18 |" in text
    assert "| mathqa | 0.4583 |\n| vqa | 0.4167 |" in text
    assert "| chosen | 18 | 10.7 | 10 | 11 | 12 | 12 |" in text
    assert "| missing_image | 1 |" in text  # from errors.jsonl


def test_card_is_deterministic_and_loads_with_datasets(built, tmp_path_factory):
    from datasets import load_dataset
    from PIL import Image

    out, w = built
    first = write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO).read_bytes()
    assert write_card(out, outcomes=w.item_outcomes(), run_info=RUN_INFO).read_bytes() == first
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path_factory.mktemp("cache")))  # reads `configs`
    assert len(ds) == 18 and isinstance(ds[0]["images"][0], Image.Image)


def test_unknown_run_info_key_is_refused():
    with pytest.raises(ConfigError, match="unknown run_info keys \\['hf_token'\\]"):
        render_card(outcomes=[], run_info={"hf_token": "x"})


@pytest.mark.parametrize("n, category", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (250_000, "100K<n<1M"),
                                         (3_000_000, "1M<n<10M")])
def test_size_category(n, category):
    assert size_category(n) == category


def test_card_counts_only_finished_shards(tmp_path):
    w = ShardWriter(tmp_path, run_fingerprint=FINGERPRINT, max_shard_rows=10)
    for item_id, n in plan(8):  # shard 0 closes at 11 rows (items 0-6); item 7's row is only checkpointed
        w.add_item(item_id, make_rows(item_id, n), stats_for(item_id, n))
    w.checkpoint()
    meta = front_matter(write_card(tmp_path, outcomes=w.item_outcomes(), run_info=RUN_INFO).read_text())
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 11  # what load_dataset(data/*.parquet) sees
