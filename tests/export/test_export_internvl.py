"""`--format internvl`, read back the way InternVL's MPO trainer reads its data.

The reader below follows OpenGVLab/InternVL internvl_chat/internvl/train/internvl_chat_mpo.py
(commit 2410d1d): ``build_datasets`` walks the meta file's entries (``repeat_time`` required,
``annotation`` must end in ``.jsonl``); ``LazySupervisedDataset`` reads the annotation line by
line, opens ``root`` and ``annotation`` from the working folder, joins each image path to
``root``, takes a string ``image`` as one image and a list as several, prepends ``<image>\\n``
to a one-image question without one, and treats a row without ``image`` as text-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from export_cases import (BAD_ITEMS, SYSTEM_ITEM, assert_images_written_once, assert_same_image, exported_rows,
                          image_bytes, question_of)
from PIL import Image

from mmpr_builder.export.run import export_pairs
from mmpr_builder.schema import message_text


def internvl_read(meta_path: str, workdir: Path) -> dict[str, list[dict]]:
    """ds_name -> rows ``{question, chosen, rejected, image_paths}`` as InternVL's MPO dataset sees them."""
    meta = json.loads((workdir / meta_path).read_text())
    out = {}
    for ds_name, entry in meta.items():
        assert isinstance(entry["repeat_time"], int) and entry["repeat_time"] == 1
        assert entry["annotation"].endswith("jsonl")
        assert not os.path.isabs(entry["root"]) and not os.path.isabs(entry["annotation"])  # relative paths
        lines = (workdir / entry["annotation"]).read_text().splitlines()
        assert entry["length"] == len(lines)
        rows = []
        for line in lines:
            item = json.loads(line)
            question = item["question"]
            if "image" in item and len(item["image"]) != 0:
                paths = item["image"] if isinstance(item["image"], list) else [item["image"]]
                if not isinstance(item["image"], list) and "<image>" not in question:
                    question = "<image>\n" + question
                assert question.count("<image>") == len(paths)
                image_paths = [workdir / os.path.join(entry["root"], p) for p in paths]
                for p in image_paths:
                    with Image.open(p) as im:
                        im.convert("RGB")
            else:
                assert "<image>" not in question
                image_paths = []
            rows.append({"question": question, "chosen": item["chosen"], "rejected": item["rejected"],
                         "image_paths": image_paths})
        out[ds_name] = rows
    return out


def check_rows(read: list[dict], expected: list[dict]) -> None:
    assert len(read) == len(expected)
    for got, row in zip(read, expected):
        n = len(row["images"])
        assert got["question"] == "<image>\n" * n + question_of(row)
        assert got["chosen"] == message_text(row["chosen"]) and got["rejected"] == message_text(row["rejected"])
        assert len(got["image_paths"]) == n
        for path, data in zip(got["image_paths"], image_bytes(row)):
            assert_same_image(path, data)


def test_vqa_build_exports_and_loads(vqa_out, tmp_path):
    to = tmp_path / "work" / "mpo"
    report = export_pairs(vqa_out, "internvl", to)
    expected = exported_rows(vqa_out, set())
    data = internvl_read("mpo/meta.json", tmp_path / "work")
    assert list(data) == ["vqa"]
    check_rows(data["vqa"], expected)
    assert report.pairs == len(expected) and report.skipped == {}
    assert report.index == "meta.json" and report.annotation == "annotations/vqa.jsonl"
    assert_images_written_once(to / "images", expected)
    distinct = len(list((to / "images").iterdir()))
    assert distinct < len(expected)  # items share images: each is written once
    assert (report.images_written, report.images_reused) == (distinct, len(expected) - distinct)


def test_mixed_rows_multi_image_text_only_and_skips(mixed_out, tmp_path):
    report = export_pairs(mixed_out, "internvl", tmp_path / "mpo", name="mixed-v1")
    skip = {*BAD_ITEMS.values(), SYSTEM_ITEM}
    expected = exported_rows(mixed_out, skip)
    data = internvl_read("mpo/meta.json", tmp_path)["mixed-v1"]
    check_rows(data, expected)
    lines = [json.loads(x) for x in (tmp_path / "mpo" / "annotations" / "mixed-v1.jsonl").read_text().splitlines()]
    assert [type(x.get("image")).__name__ for x in lines] == [
        "str" if len(r["images"]) == 1 else "list" if r["images"] else "NoneType" for r in expected]
    assert report.skipped == {**{cause: 1 for cause in BAD_ITEMS}, "system_message": 1}
    assert any("'system'" in e and "system_message" in e for e in report.skipped_examples)
    assert_images_written_once(tmp_path / "mpo" / "images", expected)
    # a skipped pair (the system one) neither writes nor counts its images
    assert report.images_written + report.images_reused == sum(len(r["images"]) for r in expected)
    assert sorted(p.suffix for p in (tmp_path / "mpo" / "images").iterdir()) == [".jpg", ".png", ".png", ".png"]


def test_root_prefix_and_a_second_dataset_in_the_same_meta(vqa_out, mixed_out, tmp_path):
    to = tmp_path / "mpo"
    export_pairs(vqa_out, "internvl", to, root_prefix="data/mpo")
    export_pairs(mixed_out, "internvl", to, root_prefix="data/mpo")
    meta = json.loads((to / "meta.json").read_text())
    assert meta["vqa"]["root"] == "data/mpo/images"
    assert meta["mixed"]["annotation"] == "data/mpo/annotations/mixed.jsonl"
    (tmp_path / "w" / "data").mkdir(parents=True)
    (tmp_path / "w" / "data" / "mpo").symlink_to(to)
    data = internvl_read("data/mpo/meta.json", tmp_path / "w")
    assert [len(data["vqa"]), len(data["mixed"])] == [meta["vqa"]["length"], meta["mixed"]["length"]]
