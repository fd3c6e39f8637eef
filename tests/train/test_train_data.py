"""Shards -> tokenised rows: chat template, image-token counts, and skipping (never truncating) long rows."""

from __future__ import annotations

import pytest

from mmpr_builder.errors import ConfigError
from mmpr_builder.train.data import find_shards, load_pairs, prepare_pairs, prompt_token_ids

from pair_shards import math_rows, vqa_rows, write_shard


@pytest.fixture(scope="module")
def processor(embedded_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(embedded_dir)


@pytest.fixture(scope="module")
def prepared(shards_dir, processor):
    return prepare_pairs(load_pairs(shards_dir), processor, max_length=4096)


def test_find_shards_prefers_build_data_folder(shards_dir, tmp_path):
    assert [p.name for p in find_shards(shards_dir)] == ["shard-00000.parquet", "shard-00001.parquet"]
    with pytest.raises(ConfigError, match="no .parquet shards"):
        find_shards(tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        find_shards(tmp_path / "missing")


def test_not_a_pair_shard(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{"id": "a", "text": "b"}]).to_parquet(str(tmp_path / "x.parquet"))
    with pytest.raises(ConfigError, match="missing columns"):
        load_pairs(tmp_path)


def test_rows_render_with_the_chat_template(prepared, processor):
    ds, report = prepared
    assert report.total == report.kept == 12 and not report.skipped
    tok = processor.tokenizer
    text_row, image_row = ds[0], ds[6]
    assert text_row["prompt_text"].endswith("<|im_start|>assistant\n")
    assert "<image>" not in text_row["prompt_text"] and "<image>" in image_row["prompt_text"]
    chosen = tok.decode(image_row["chosen_ids"])
    assert chosen.startswith("Looking at the image, the answer is red.") and chosen.endswith("<|im_end|>\n")
    assert tok.decode(image_row["rejected_ids"]).startswith("Looking at the image, the answer is blue.")


def test_prompt_len_counts_expanded_image_tokens(prepared, processor):
    ds, _ = prepared
    row = ds[6]
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    from mmpr_builder.train.data import decode_images

    ids = prompt_token_ids(processor, row["prompt_text"], decode_images(row["images"]))
    assert len(ids) == row["prompt_len"]
    # one 64x64 image: 4 tiles + the global image, 4 tokens each (embedded model's image_seq_len)
    assert ids.count(image_token) == 20
    plain = processor.tokenizer(row["prompt_text"], add_special_tokens=False)["input_ids"]
    assert row["prompt_len"] > len(plain)


def test_row_hash_depends_on_the_image(tmp_path, processor):
    a = vqa_rows(1)
    b = vqa_rows(1)
    b[0]["images"] = vqa_rows(1, start=2)[0]["images"]  # same texts, another picture
    write_shard(a, tmp_path / "a" / "s.parquet")
    write_shard(b, tmp_path / "b" / "s.parquet")
    ha = prepare_pairs(load_pairs(tmp_path / "a"), processor)[0]["row_hash"]
    hb = prepare_pairs(load_pairs(tmp_path / "b"), processor)[0]["row_hash"]
    assert ha != hb


def test_long_rows_are_skipped_and_counted_not_truncated(shards_dir, processor, prepared, caplog):
    ds, _ = prepared
    lengths = [r["prompt_len"] + max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in ds]
    limit = sorted(lengths)[len(lengths) // 2]
    kept, report = prepare_pairs(load_pairs(shards_dir), processor, max_length=limit)
    n_long = sum(n > limit for n in lengths)
    assert report.skipped == {"too_long": n_long} and report.kept == len(kept) == 12 - n_long
    assert all(r["prompt_len"] + max(len(r["chosen_ids"]), len(r["rejected_ids"])) <= limit for r in kept)
    message = report.message(limit)
    assert f"{n_long} x too_long" in message and f"max_length={limit}" in message
    assert "never truncated" in message
    with pytest.raises(ConfigError, match="no usable pairs"):
        prepare_pairs(load_pairs(shards_dir), processor, max_length=10)


def test_unusable_rows_are_counted(tmp_path, processor, embedded_dir):
    from transformers import AutoTokenizer

    rows = math_rows(2) + vqa_rows(2)
    rows[0]["images"] = vqa_rows(1)[0]["images"]  # an image but no image part in the prompt
    write_shard(rows, tmp_path / "s.parquet")
    _, report = prepare_pairs(load_pairs(tmp_path), processor)
    assert report.skipped == {"image_count_mismatch": 1} and report.examples["image_count_mismatch"] == [rows[0]["id"]]
    # a text-only model (tokenizer, no image processor) cannot take the image rows
    _, report = prepare_pairs(load_pairs(tmp_path), AutoTokenizer.from_pretrained(embedded_dir))
    assert report.skipped == {"image_count_mismatch": 1, "images_need_vision_model": 2}
