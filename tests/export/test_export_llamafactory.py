"""`--format llamafactory`, read back the way LLaMA-Factory reads a sharegpt preference dataset.

The reader below follows hiyouga/LLaMA-Factory (commit ff6d4d1): data/README.md and
src/llamafactory/data/parser.py (the ``dataset_info.json`` entry: ``file_name`` in
``dataset_dir``, ``formatting``, ``ranking``, ``columns``, ``tags``), the loader (``datasets``
"json" for .jsonl), and ``SharegptDatasetConverter`` (converter.py): a leading system-tag
message is the system prompt; the other messages alternate user/assistant tags starting with
the user and, for ranking, are an odd count; ``chosen``/``rejected`` are dicts with an
assistant tag; images are joined to ``media_dir`` (= ``dataset_dir``); and, per the README,
the images are as many as the ``<image>`` tokens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from export_cases import (BAD_ITEMS, assert_images_written_once, assert_same_image, exported_rows, image_bytes,
                          question_of, system_of)

from mmpr_builder.errors import ConfigError
from mmpr_builder.export.run import export_pairs
from mmpr_builder.schema import message_text


def llamafactory_read(dataset_dir: Path, name: str, cache: Path) -> list[dict]:
    """Rows ``{system, prompt, chosen, rejected, image_paths}`` as LLaMA-Factory's sharegpt converter aligns them."""
    from datasets import load_dataset

    attr = json.loads((dataset_dir / "dataset_info.json").read_text())[name]
    assert attr["formatting"] == "sharegpt" and attr["ranking"] is True
    cols = {"messages": "conversations", "system": None, "images": None, **attr.get("columns", {})}
    tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
            "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
            **attr.get("tags", {})}
    assert os.path.splitext(attr["file_name"])[1] in (".json", ".jsonl")
    ds = load_dataset("json", data_files=str(dataset_dir / attr["file_name"]), split="train", cache_dir=str(cache))
    role, content = tags["role_tag"], tags["content_tag"]
    odd, even = (tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"])
    rows = []
    for example in ds:
        messages = example[cols["messages"]]
        system = None
        if messages and messages[0][role] == tags["system_tag"]:
            system, messages = messages[0][content], messages[1:]
        for i, m in enumerate(messages):
            assert m[role] in (odd, even)[i % 2], f"invalid role tag in {messages}"
        assert len(messages) % 2 == 1, "a ranking example needs an odd message count"
        chosen, rejected = example[cols["chosen"]], example[cols["rejected"]]
        assert isinstance(chosen, dict) and isinstance(rejected, dict)
        assert chosen[role] in even and rejected[role] in even
        images = example[cols["images"]] or []
        for response in (chosen, rejected):
            assert sum(m[content].count("<image>") for m in [*messages, response]) == len(images)
        paths = []
        for p in images:
            assert not os.path.isabs(p)
            paths.append(dataset_dir / p)  # media_dir defaults to dataset_dir
            assert paths[-1].is_file()
        rows.append({"system": system, "prompt": [m[content] for m in messages], "chosen": chosen[content],
                     "rejected": rejected[content], "image_paths": paths})
    return rows


def check_rows(read: list[dict], expected: list[dict]) -> None:
    assert len(read) == len(expected)
    for got, row in zip(read, expected):
        assert got["prompt"] == ["<image>\n" * len(row["images"]) + question_of(row)]
        assert got["system"] == system_of(row)
        assert got["chosen"] == message_text(row["chosen"]) and got["rejected"] == message_text(row["rejected"])
        assert len(got["image_paths"]) == len(row["images"])
        for path, data in zip(got["image_paths"], image_bytes(row)):
            assert_same_image(path, data)


def test_vqa_build_exports_and_loads(vqa_out, tmp_path):
    to = tmp_path / "data"
    report = export_pairs(vqa_out, "llamafactory", to)
    expected = exported_rows(vqa_out, set())
    check_rows(llamafactory_read(to, "vqa", tmp_path / "cache"), expected)
    assert report.pairs == len(expected) and report.skipped == {} and report.index == "dataset_info.json"
    assert_images_written_once(to / "images", expected)


def test_mixed_rows_and_an_existing_dataset_info(mixed_out, tmp_path):
    to = tmp_path / "data"
    to.mkdir()
    other = {"file_name": "alpaca_en_demo.json"}
    (to / "dataset_info.json").write_text(json.dumps({"alpaca_en_demo": other}))
    report = export_pairs(mixed_out, "llamafactory", to)
    expected = exported_rows(mixed_out, set(BAD_ITEMS.values()))
    check_rows(llamafactory_read(to, "mixed", tmp_path / "cache"), expected)
    assert report.skipped == {cause: 1 for cause in BAD_ITEMS}
    info = json.loads((to / "dataset_info.json").read_text())
    assert list(info) == ["alpaca_en_demo", "mixed"] and info["alpaca_en_demo"] == other
    assert_images_written_once(to / "images", expected)


def test_rerun_rewrites_the_same_files_and_writes_no_image_again(mixed_out, tmp_path):
    to = tmp_path / "data"
    first = export_pairs(mixed_out, "llamafactory", to)
    before = {p.name: p.read_bytes() for p in to.rglob("*") if p.is_file()}
    second = export_pairs(mixed_out, "llamafactory", to)
    assert {p.name: p.read_bytes() for p in to.rglob("*") if p.is_file()} == before
    assert second.images_written == 0 and second.images_reused == first.images_written + first.images_reused
    assert not [p for p in to.rglob(".*.tmp")]


def test_a_name_taken_by_another_file_is_refused(mixed_out, tmp_path):
    to = tmp_path / "data"
    to.mkdir()
    (to / "dataset_info.json").write_text(json.dumps({"mixed": {"file_name": "mine.json"}}))
    with pytest.raises(ConfigError, match="already has a dataset 'mixed' for another file"):
        export_pairs(mixed_out, "llamafactory", to)
    assert json.loads((to / "dataset_info.json").read_text()) == {"mixed": {"file_name": "mine.json"}}
    assert sorted(p.name for p in to.iterdir()) == ["dataset_info.json"]  # refused before writing anything
