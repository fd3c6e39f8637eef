"""One source file mixing good rows and every kind of bad row: the stream finishes and reports each."""

from __future__ import annotations

import csv
import json
import os

import pytest

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.sources import CAUSES, iter_items


def _split(stream):
    out = list(stream)
    items = [x for x in out if isinstance(x, QuestionItem)]
    errors = [x for x in out if isinstance(x, ItemError)]
    assert len(items) + len(errors) == len(out)
    return out, items, errors


@pytest.fixture
def mixed_jsonl(tmp_path, make_png):
    """A JSONL source in tmp_path/src with images beside it; returns (path, expected [(id, cause or None)])."""
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    good = make_png(8, 8)
    (src / "img/ok.png").write_bytes(good)
    (src / "img/ok2.png").write_bytes(make_png(4, 6))
    (src / "img/garbage.png").write_bytes(b"this is not an image at all")
    (src / "img/truncated.png").write_bytes(make_png(64, 64, noise=True)[:300])
    (src / "img/wide.png").write_bytes(make_png(300, 300))          # 90,000 px > 50,000
    (src / "img/heavy.png").write_bytes(make_png(120, 120, noise=True))  # ~43 kB > 20,000 bytes
    (src / "img/folder.png").mkdir()                                  # exists, cannot be read as a file
    (tmp_path / "outside.png").write_bytes(good)
    (src / "img/link.png").symlink_to(tmp_path / "outside.png")

    rows = [
        ({"id": "good-1", "question": "What color?", "image": "img/ok.png", "answer": "red"}, None),
        ({"id": "no-question", "image": "img/ok.png"}, "missing_question"),
        ({"id": "blank-question", "question": "   ", "image": "img/ok.png"}, "missing_question"),
        ({"id": "no-file", "question": "q", "image": "img/absent.png"}, "missing_image"),
        ({"id": "garbage", "question": "q", "image": "img/garbage.png"}, "corrupt_image"),
        ({"id": "truncated", "question": "q", "image": "img/truncated.png"}, "corrupt_image"),
        ({"id": "too-many-pixels", "question": "q", "image": "img/wide.png"}, "image_too_large"),
        ({"id": "too-many-bytes", "question": "q", "image": "img/heavy.png"}, "image_too_large"),
        ({"id": "unreadable", "question": "q", "image": "img/folder.png"}, "unreadable_image"),
        ({"id": "remote", "question": "q", "image": "https://example.com/cat.png"}, "remote_image_refused"),
        ({"id": "dotdot", "question": "q", "image": "../outside.png"}, "path_escapes_root"),
        ({"id": "absolute", "question": "q", "image": str(tmp_path / "outside.png")}, "path_escapes_root"),
        ({"id": "symlink-out", "question": "q", "image": "img/link.png"}, "path_escapes_root"),
        ({"id": "empty-dict", "question": "q", "image": {"bytes": None, "path": None}}, "missing_image"),
        ({"id": "null-in-list", "question": "q", "images": ["img/ok.png", None]}, "missing_image"),
        ({"id": "good-2", "question": "Which is bigger?", "images": ["img/ok.png", "img/ok2.png"],
          "choices": ["3", 5], "answer": 5}, None),
        ({"id": "question-number", "question": 42}, "bad_type"),
        ({"id": "answer-list", "question": "q", "answer": ["a", "b"]}, "bad_type"),
        ({"id": "choices-dict", "question": "q", "choices": {"A": "x"}}, "bad_type"),
        ({"id": "image-number", "question": "q", "image": 7}, "bad_type"),
        ({"id": ["not", "an", "id"], "question": "q"}, "bad_type"),
        ("LINE-JSON-LIST", "bad_type"),               # a row that is not an object
        ("LINE-BAD-UTF8", "bad_encoding"),
        ("LINE-NOT-JSON", "unparsable_row"),
        ({"id": "good-1", "question": "again"}, "duplicate_id"),
        ({"id": "good-3", "question": "What is 2+2? Answer with a single word.", "answer": "4"}, None),
    ]
    lines, expected = [], []
    for index, (row, cause) in enumerate(rows):
        if row == "LINE-JSON-LIST":
            lines.append(b'["a", "list", "row"]')
            expected.append((str(index), cause))
        elif row == "LINE-BAD-UTF8":
            lines.append(b'{"id": "latin1", "question": "caf\xe9 au lait?"}')
            expected.append(("latin1", cause))
        elif row == "LINE-NOT-JSON":
            lines.append(b'{"id": "broken", "question": "unterminated')
            expected.append((None, cause))
        else:
            lines.append(json.dumps(row).encode())
            expected.append((str(row["id"]) if isinstance(row["id"], str) else str(index), cause))
    lines.insert(5, b"")  # blank lines are not rows
    path = src / "items.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, expected


def test_every_bad_row_is_reported_and_the_stream_finishes(mixed_jsonl):
    path, expected = mixed_jsonl
    source = SourceConfig(path=str(path), max_image_pixels=50_000, max_image_bytes=20_000)
    out, items, errors = _split(iter_items(source, base_dir=path.parent, source_name="mixed", answer_type="auto"))

    assert [(x.id if isinstance(x, QuestionItem) else x.item_id,
             None if isinstance(x, QuestionItem) else x.cause) for x in out] == expected
    assert {e.cause for e in errors} <= set(CAUSES)
    assert [i.id for i in items] == ["good-1", "good-2", "good-3"]
    for e in errors:  # the message names the cause and the id
        assert e.cause in str(e)


def test_good_rows_between_bad_ones_are_complete(mixed_jsonl):
    path, _ = mixed_jsonl
    source = SourceConfig(path=str(path), max_image_pixels=50_000, max_image_bytes=20_000)
    _, items, _ = _split(iter_items(source, base_dir=path.parent, source_name="mixed", answer_type="number"))
    good1, good2, good3 = items
    assert good1.ground_truth == "red" and good1.choices is None and good1.source == "mixed"
    assert good1.answer_type == "number"
    assert [im.path for im in good1.images] == ["img/ok.png"]
    assert good1.images[0].bytes == (path.parent / "img/ok.png").read_bytes()
    assert [im.path for im in good2.images] == ["img/ok.png", "img/ok2.png"]
    assert good2.choices == ["3", "5"] and good2.ground_truth == "5"
    assert good3.images == [] and good3.question == "What is 2+2? Answer with a single word."


def test_limit_counts_good_and_bad_rows(mixed_jsonl):
    path, expected = mixed_jsonl
    source = SourceConfig(path=str(path), max_image_pixels=50_000, max_image_bytes=20_000)
    out = list(iter_items(source, base_dir=path.parent, source_name="mixed", limit=4))
    assert [getattr(x, "id", None) or x.item_id for x in out] == [e[0] for e in expected[:4]]
    assert list(iter_items(source, base_dir=path.parent, source_name="mixed", limit=0)) == []


def test_remote_images_allowed_reach_the_network_path(mixed_jsonl, monkeypatch):
    """With allow_remote_images the URL is fetched (mocked here) and verified like any image."""
    import urllib.request

    path, _ = mixed_jsonl
    png = (path.parent / "img/ok.png").read_bytes()

    class FakeResponse:
        def __init__(self, url, timeout):
            self.url = url

        def read(self, n):
            return png[:n]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(url, timeout))
    line = {"id": "remote", "question": "q", "image": "https://example.com/cat.png"}
    one = path.parent / "one.jsonl"
    one.write_text(json.dumps(line) + "\n")
    (item,) = iter_items(SourceConfig(path=str(one), allow_remote_images=True), base_dir=".", source_name="r")
    assert item.images[0].bytes == png and item.images[0].path == "https://example.com/cat.png"


def test_csv_bad_rows(tmp_path, make_png):
    (tmp_path / "a.png").write_bytes(make_png())
    path = tmp_path / "items.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "question", "image", "answer", "choices"])
        w.writerow(["c1", "Pick one", "a.png", "x", json.dumps(["x", "y"])])
        w.writerow(["c2", "", "a.png", "", ""])
        w.writerow(["c3", "q", "a.png", "x", "x|y"])
        w.writerow(["c4", "q", "", "", "", "extra"])
        w.writerow(["c5", "Text only?", "", "no", ""])
    with open(path, "ab") as f:
        f.write(b"c6,caf\xe9?,,,\n")
        f.write(b"c7,Last?,a.png,1,\n")
    out, items, errors = _split(iter_items(SourceConfig(path=str(path)), base_dir=tmp_path, source_name="csv"))
    assert [(e.item_id, e.cause) for e in errors] == [
        ("c2", "missing_question"), ("c3", "bad_type"), (None, "unparsable_row"), ("c6", "bad_encoding")]
    assert [i.id for i in items] == ["c1", "c5", "c7"]
    assert items[0].choices == ["x", "y"] and items[0].ground_truth == "x" and len(items[0].images) == 1
    assert items[1].images == [] and items[1].ground_truth == "no"


def test_json_array_bad_rows_and_truncation(tmp_path):
    path = tmp_path / "items.json"
    path.write_text('[{"id": "a", "question": "one"}, "not an object", {"id": "a", "question": "dup"},'
                    ' {"id": 3, "question": "three", "answer": 2.50}, {"id": 4, "question": "cut')
    out, items, errors = _split(iter_items(SourceConfig(path=str(path)), base_dir=".", source_name="j"))
    assert [(i.id, i.ground_truth) for i in items] == [("a", None), ("3", "2.5")]
    # the non-object row has no id of its own: its row index (1) stands in
    assert [(e.item_id, e.cause) for e in errors] == [("1", "bad_type"), ("a", "duplicate_id"), (None, "unparsable_row")]
    assert isinstance(out[-1], ItemError)


def test_decompression_bomb_is_image_too_large(tmp_path, make_png, monkeypatch):
    """PIL raises DecompressionBombError above 2 * Image.MAX_IMAGE_PIXELS; that is image_too_large, not a crash."""
    from PIL import Image

    (tmp_path / "big.png").write_bytes(make_png(100, 100))
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "bomb", "question": "q", "image": "big.png"}) + "\n")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    (err,) = iter_items(SourceConfig(path=str(path), max_image_pixels=10**9), base_dir=".", source_name="b")
    assert isinstance(err, ItemError) and err.cause == "image_too_large" and err.item_id == "bomb"


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_symlink_inside_root_is_fine(tmp_path, make_png):
    (tmp_path / "real.png").write_bytes(make_png())
    (tmp_path / "alias.png").symlink_to(tmp_path / "real.png")
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "s", "question": "q", "image": "alias.png"}) + "\n")
    (item,) = iter_items(SourceConfig(path=str(path)), base_dir=".", source_name="s")
    assert isinstance(item, QuestionItem) and item.images[0].path == "real.png"
