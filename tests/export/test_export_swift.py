"""`--format swift`, read back the way ms-swift reads an RLHF (DPO) dataset.

The reader below follows modelscope/ms-swift (commit 3602360), docs
Customization/Custom-dataset.md ("DPO/ORPO/CPO/SimPO/RM", "Multimodal") and
swift/dataset/preprocessor/core.py: the JSONL is loaded with ``datasets`` (``--dataset
FILE.jsonl``); ``_check_messages`` allows the roles system/user/assistant/tool* with non-null
content; ``_check_rejected_response`` refuses a rejected response equal to the chosen (last)
message; the ``images`` are as many as the ``<image>`` tags, and a relative path is joined to
``$ROOT_IMAGE_DIR`` (swift/template/vision_utils.py ``_check_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

from export_cases import (BAD_ITEMS, SYSTEM_ITEM, assert_images_written_once, assert_same_image, exported_rows,
                          image_bytes, question_of, system_of)

from mmpr_builder.export.run import export_pairs
from mmpr_builder.schema import message_text

ROLES = {"system", "user", "tool_call", "tool_response", "tool", "assistant"}


def swift_read(dataset: Path, root_image_dir: Path, cache: Path) -> list[dict]:
    """Rows ``{system, query, chosen, rejected, image_paths}`` as ms-swift's DPO preprocessing sees them."""
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(dataset), split="train", cache_dir=str(cache))
    rows = []
    for row in ds:
        messages = row["messages"]
        assert len(messages) > 0
        for m in messages:
            assert m["role"] in ROLES and m["content"] is not None
        assert messages[-1]["role"] == "assistant"
        assert row["rejected_response"] is not None and row["rejected_response"] != messages[-1]["content"]
        images = row["images"] or []
        assert sum(m["content"].count("<image>") for m in messages) == len(images)
        paths = []
        for p in images:
            assert not os.path.isabs(p)
            paths.append(root_image_dir / p)
            assert paths[-1].is_file()
        system = messages[0]["content"] if messages[0]["role"] == "system" else None
        users = [m for m in messages if m["role"] == "user"]
        assert len(users) == 1
        rows.append({"system": system, "query": users[0]["content"], "chosen": messages[-1]["content"],
                     "rejected": row["rejected_response"], "image_paths": paths})
    return rows


def check_rows(read: list[dict], expected: list[dict]) -> None:
    assert len(read) == len(expected)
    for got, row in zip(read, expected):
        assert got["query"] == "<image>\n" * len(row["images"]) + question_of(row)
        assert got["system"] == system_of(row)
        assert got["chosen"] == message_text(row["chosen"]) and got["rejected"] == message_text(row["rejected"])
        assert len(got["image_paths"]) == len(row["images"])
        for path, data in zip(got["image_paths"], image_bytes(row)):
            assert_same_image(path, data)


def test_vqa_build_exports_and_loads(vqa_out, tmp_path):
    to = tmp_path / "swift"
    report = export_pairs(vqa_out, "swift", to)
    expected = exported_rows(vqa_out, set())
    check_rows(swift_read(to / "vqa.jsonl", to, tmp_path / "cache"), expected)
    assert report.pairs == len(expected) and report.skipped == {} and report.index is None
    assert_images_written_once(to / "images", expected)
    assert f"ROOT_IMAGE_DIR={to}" in report.usage


def test_mixed_rows_keep_the_system_message_and_skip_the_bad_ones(mixed_out, tmp_path):
    to = tmp_path / "swift"
    report = export_pairs(mixed_out, "swift", to)
    expected = exported_rows(mixed_out, set(BAD_ITEMS.values()))
    assert SYSTEM_ITEM in {r["item_id"] for r in expected}
    read = swift_read(to / "mixed.jsonl", to, tmp_path / "cache")
    check_rows(read, expected)
    assert [r["system"] for r in read].count("You are a careful assistant.") == 1
    assert report.skipped == {cause: 1 for cause in BAD_ITEMS}
    assert_images_written_once(to / "images", expected)
