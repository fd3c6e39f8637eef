"""The [chosen; rejected] batch: layout, labels only on response tokens, images repeated for both halves."""

from __future__ import annotations

import pytest
import torch

from mmpr_builder.train.collator import MPODataCollator
from mmpr_builder.train.data import load_pairs, prepare_pairs


@pytest.fixture(scope="module")
def setup(shards_dir, embedded_dir):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(embedded_dir)
    ds, _ = prepare_pairs(load_pairs(shards_dir), processor)
    return processor, ds


def test_layout_and_masks(setup):
    processor, ds = setup
    rows = [ds[0], ds[6], ds[7]]  # one text row, two image rows
    batch = MPODataCollator(processor)(rows)
    B = len(rows)
    ids, attn, mask = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    assert ids.shape[0] == 2 * B and ids.shape == attn.shape == mask.shape
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    for i, row in enumerate(rows):
        for half, key in ((0, "chosen_ids"), (B, "rejected_ids")):
            seq = ids[half + i]
            assert seq[mask[half + i].bool()].tolist() == row[key]  # labels = exactly the response tokens
            start = row["prompt_len"]
            assert mask[half + i, :start].sum() == 0  # nothing in the prompt (image tokens included) is a label
            assert attn[half + i].sum() == start + len(row[key])
        assert torch.equal(ids[i, : row["prompt_len"]], ids[B + i, : row["prompt_len"]])  # same prompt both halves
    assert (ids[mask.bool()] != image_token).all()
    assert (ids[0] == image_token).sum() == 0 and (ids[1] == image_token).sum() == 20
    pv = batch["pixel_values"]
    assert pv.shape[0] == 2 * B and torch.equal(pv[:B], pv[B:])
    assert torch.equal(batch["pixel_attention_mask"][:B], batch["pixel_attention_mask"][B:])
    assert "ref_chosen_logps" not in batch


def test_reference_columns_pass_through(setup):
    processor, ds = setup
    rows = [dict(ds[0], ref_chosen_logps=-1.5, ref_rejected_logps=-2.5),
            dict(ds[1], ref_chosen_logps=-3.0, ref_rejected_logps=-4.0)]
    batch = MPODataCollator(processor)(rows)
    assert batch["ref_chosen_logps"].tolist() == [-1.5, -3.0]
    assert batch["ref_rejected_logps"].tolist() == [-2.5, -4.0]
    assert "pixel_values" not in batch  # text-only batch


def test_prompt_length_change_is_an_item_error(setup):
    from mmpr_builder.errors import ItemError

    processor, ds = setup
    row = dict(ds[6], prompt_len=ds[6]["prompt_len"] - 1)
    with pytest.raises(ItemError, match="prompt_length_changed"):
        MPODataCollator(processor)([row])
