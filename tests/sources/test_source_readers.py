"""Each reader on real files: the bundled sample_data, the TabMWP copy, and files written here."""

from __future__ import annotations

import io
import json

import pytest

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ConfigError, ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.sources import iter_items


def _items(source: SourceConfig, base_dir, **kw) -> list[QuestionItem]:
    out = list(iter_items(source, base_dir=base_dir, source_name="t", **kw))
    errors = [x for x in out if isinstance(x, ItemError)]
    assert errors == [], errors
    return out


def test_jsonl_mathqa_sample(sample_data):
    items = _items(SourceConfig(path="mathqa/items.jsonl", meta_fields=["solution"]), sample_data, answer_type="number")
    assert len(items) == 120
    first = items[0]
    assert first.id == "gsm8k-test-0024" and first.ground_truth == "26" and first.images == []
    assert first.question.startswith("Kyle bought last year's best-selling book for $19.50.")
    assert first.answer_type == "number" and first.source == "t"
    assert first.meta["solution"].startswith("Let X be the original price of the book.")
    assert len({i.id for i in items}) == 120


def test_jsonl_vqa_sample_keeps_original_image_bytes(sample_data):
    items = _items(SourceConfig(path=str(sample_data / "vqa")), base_dir="/")  # a folder with one items.jsonl
    assert len(items) == 60
    first = items[0]
    assert (first.id, first.question, first.ground_truth) == ("easyvqa-test-1", "what is the color of the triangle?", "red")
    assert [im.path for im in first.images] == ["images/0.png"]
    assert first.images[0].bytes == (sample_data / "vqa/images/0.png").read_bytes()
    assert first.images[0].to_pil().size == (64, 64)


def test_jsonl_caption_sample_has_no_ground_truth(sample_data):
    items = _items(SourceConfig(path="caption/items.jsonl"), sample_data)
    assert len(items) == 6
    assert all(i.ground_truth is None and len(i.images) == 1 for i in items)
    assert items[0].images[0].bytes == (sample_data / "caption/images/astronaut.jpg").read_bytes()


def test_image_folder_reader(sample_data):
    source = SourceConfig(path="caption/images", default_question="Describe this image.")
    items = _items(source, sample_data)
    assert [i.id for i in items] == ["astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg",
                                     "hubble_deep_field.jpg", "rocket.jpg"]
    assert all(i.question == "Describe this image." and i.ground_truth is None for i in items)
    assert items[1].images[0].bytes == (sample_data / "caption/images/camera.png").read_bytes()


def test_image_folder_needs_a_default_question(sample_data):
    with pytest.raises(ConfigError, match="default_question"):
        iter_items(SourceConfig(path="caption/images"), base_dir=sample_data, source_name="t")


def test_json_keyed_by_id_tabmwp(tabmwp_dir):
    problems = json.loads((tabmwp_dir / "problems.json").read_text())
    source = SourceConfig(path=str(tabmwp_dir), format="json", image_template="tables/{id}.png", meta_fields=["unit"])
    items = _items(source, base_dir=".")
    assert [i.id for i in items] == list(problems)  # file order, id = the key
    by_id = {i.id: i for i in items}
    mc = by_id["54"]
    assert mc.choices == ["shortage", "surplus"] and mc.ground_truth == "shortage"
    assert [im.path for im in mc.images] == ["tables/54.png"]
    assert mc.images[0].bytes == (tabmwp_dir / "tables/54.png").read_bytes()
    assert by_id["16"].ground_truth == "84" and by_id["16"].choices is None
    assert all(len(i.images) == 1 for i in items)
    assert sum(i.choices is not None for i in items) == sum(p["choices"] is not None for p in problems.values())


def test_tabmwp_limit(tabmwp_dir):
    source = SourceConfig(path=str(tabmwp_dir / "problems.json"), image_template="tables/{id}.png")
    items = _items(source, base_dir=".", limit=3)
    assert len(items) == 3


def test_parquet_reader_with_image_structs(tmp_path, make_png):
    import pyarrow as pa
    import pyarrow.parquet as pq

    imgs = [make_png(8, 8), make_png(5, 7)]
    table = pa.table({
        "id": ["p0", "p1", "p2"],
        "question": ["q0", "q1", "q2"],
        "image": [{"bytes": imgs[0], "path": "/home/someone/secret/a.png"}, {"bytes": imgs[1], "path": None}, None],
        "answer": ["1", None, "3"],
    })
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=2)
    items = _items(SourceConfig(path="data.parquet"), tmp_path)
    assert [i.id for i in items] == ["p0", "p1", "p2"]
    assert items[0].images[0].bytes == imgs[0] and items[0].images[0].path == "a.png"  # no absolute paths leak
    assert items[1].images[0].path is None and items[1].ground_truth is None
    assert items[2].images == []


def test_parquet_written_by_datasets_and_several_shards(tmp_path, make_png):
    import datasets

    features = datasets.Features({"id": datasets.Value("string"), "question": datasets.Value("string"),
                                  "images": [datasets.Image()]})
    rows = {"id": ["a", "b"], "question": ["qa", "qb"],
            "images": [[{"bytes": make_png(3, 3), "path": None}], [{"bytes": make_png(4, 4), "path": None}] * 2]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    ds.select([0]).to_parquet(str(tmp_path / "shard-0.parquet"))
    ds.select([1]).to_parquet(str(tmp_path / "shard-1.parquet"))
    items = _items(SourceConfig(path=str(tmp_path)), base_dir=".")
    assert [(i.id, len(i.images)) for i in items] == [("a", 1), ("b", 2)]
    assert items[0].images[0].to_pil().size == (3, 3)


def test_hf_disk_reader(tmp_path, make_png):
    import datasets

    features = datasets.Features({"id": datasets.Value("string"), "question": datasets.Value("string"),
                                  "image": datasets.Image(), "answer": datasets.Value("string")})
    png = make_png(6, 6)
    ds = datasets.Dataset.from_dict({"id": ["d0", "d1"], "question": ["q0", "q1"],
                                     "image": [{"bytes": png, "path": "x.png"}, {"bytes": png, "path": "y.png"}],
                                     "answer": ["yes", "no"]}, features=features)
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "saved"))
    items = _items(SourceConfig(path="saved", split="test"), tmp_path)
    assert [(i.id, i.ground_truth) for i in items] == [("d0", "yes"), ("d1", "no")]
    assert items[0].images[0].bytes == png and items[0].images[0].path == "x.png"
    with pytest.raises(ConfigError, match="no split 'train'"):
        iter_items(SourceConfig(path="saved"), base_dir=tmp_path, source_name="t")


def test_hub_reader_streams_with_images_undecoded(monkeypatch, make_png):
    """No network here: load_dataset is replaced; the call path and arguments are what is checked."""
    import datasets

    png = make_png(5, 5)
    features = datasets.Features({"question": datasets.Value("string"), "image": datasets.Image(),
                                  "answer": datasets.Value("string")})

    def gen():
        yield {"question": "hub q", "image": {"bytes": png, "path": "h.png"}, "answer": "2"}

    calls = []

    def fake_load_dataset(path, name=None, split=None, streaming=False, **kw):
        calls.append((path, name, split, streaming, kw))
        return datasets.IterableDataset.from_generator(gen, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    items = _items(SourceConfig(path="someone/some-vqa", subset="en", split="validation"), base_dir=".")
    assert calls == [("someone/some-vqa", "en", "validation", True, {})]
    assert [(i.id, i.question, i.ground_truth) for i in items] == [("0", "hub q", "2")]
    assert items[0].images[0].bytes == png and items[0].images[0].path == "h.png"  # undecoded {bytes, path}


def test_hub_errors_are_config_errors(monkeypatch):
    import datasets

    def fail(*a, **k):
        raise FileNotFoundError("Dataset 'nobody/nothing' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", fail)
    with pytest.raises(ConfigError, match="nobody/nothing"):
        iter_items(SourceConfig(path="nobody/nothing", format="hub"), base_dir=".", source_name="t")


def test_pil_image_values_are_encoded_once(make_png):
    from PIL import Image

    from mmpr_builder.sources.images import load_image

    img = Image.open(io.BytesIO(make_png(7, 3)))
    data = load_image(img, item_id="x", source=SourceConfig(), root=None)
    assert data.path is None and data.to_pil().size == (7, 3)
    raw = make_png(2, 2)
    assert load_image(raw, item_id="x", source=SourceConfig(), root=None).bytes == raw
