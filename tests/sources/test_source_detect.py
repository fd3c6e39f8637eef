"""Format detection and start-time errors (ConfigError before any row is read)."""

from __future__ import annotations

import pytest

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ConfigError
from mmpr_builder.sources import detect_format, iter_items, resolve_source


@pytest.mark.parametrize("name, fmt", [("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.JSON", "json"),
                                       ("a.parquet", "parquet"), ("a.csv", "csv")])
def test_file_suffixes(tmp_path, name, fmt):
    (tmp_path / name).write_text("")
    assert detect_format(tmp_path / name) == fmt


def test_folders(tmp_path, sample_data):
    assert detect_format(sample_data / "vqa") == "jsonl"
    assert detect_format(sample_data / "caption/images") == "images"
    (tmp_path / "state.json").write_text("{}")
    assert detect_format(tmp_path) == "hf_disk"


def test_mixed_folder_is_ambiguous(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.csv").write_text("")
    with pytest.raises(ConfigError, match="several data formats"):
        detect_format(tmp_path)


def test_unknown_suffix_and_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="set source.format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="no data files"):
        detect_format(tmp_path)


def test_missing_local_path_fails_at_start(tmp_path):
    with pytest.raises(ConfigError, match="source not found"):
        iter_items(SourceConfig(path="data/items.jsonl"), base_dir=tmp_path, source_name="t")
    with pytest.raises(ConfigError, match="source.path is empty"):
        iter_items(SourceConfig(), base_dir=tmp_path, source_name="t")


def test_hub_id_when_nothing_local(tmp_path):
    resolved = resolve_source(SourceConfig(path="someone/dataset"), tmp_path)
    assert (resolved.format, resolved.location, resolved.root) == ("hub", "someone/dataset", None)


def test_relative_path_resolves_against_base_dir(sample_data):
    resolved = resolve_source(SourceConfig(path="../sample_data/mathqa/items.jsonl"), sample_data.parent / "pipelines")
    assert resolved.format == "jsonl" and resolved.root == (sample_data / "mathqa").resolve()


def test_bad_format_and_limits_fail_in_the_config():
    with pytest.raises(ConfigError, match="did you mean 'parquet'"):
        SourceConfig(path="x", format="parket")
    with pytest.raises(ConfigError, match="max_image"):
        SourceConfig(max_image_pixels=0)


def test_format_needing_a_folder_given_a_file(sample_data):
    with pytest.raises(ConfigError, match="needs a folder"):
        iter_items(SourceConfig(path="mathqa/items.jsonl", format="images"), base_dir=sample_data, source_name="t")


def test_negative_limit():
    with pytest.raises(ConfigError, match="limit"):
        iter_items(SourceConfig(path="x.jsonl"), base_dir=".", source_name="t", limit=-1)


def test_unreadable_parquet_fails_at_start(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match="Parquet"):
        iter_items(SourceConfig(path=str(tmp_path / "bad.parquet")), base_dir=".", source_name="t")


def test_json_must_be_array_or_object(tmp_path):
    (tmp_path / "x.json").write_text('"just a string"')
    with pytest.raises(ConfigError, match="array of objects or an object keyed by id"):
        iter_items(SourceConfig(path=str(tmp_path / "x.json")), base_dir=".", source_name="t")
