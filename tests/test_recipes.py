"""Recipe registry and the bundled pipelines/*.yaml."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from testlib import require_tabmwp

from mmpr_builder.config import Recipe
from mmpr_builder.errors import ConfigError, ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.prompt import check_template
from mmpr_builder.recipes import list_recipes, load_recipe, recipe_dirs
from mmpr_builder.sources import iter_items

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ("arith", "caption", "mathqa", "tabmwp", "vqa")


@pytest.fixture(autouse=True)
def _no_user_dirs(monkeypatch):
    monkeypatch.delenv("MMPR_PIPELINES", raising=False)


def test_recipe_dirs(monkeypatch, tmp_path):
    assert recipe_dirs() == [REPO_ROOT / "pipelines"]
    monkeypatch.setenv("MMPR_PIPELINES", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b"), ""]))
    assert recipe_dirs() == [REPO_ROOT / "pipelines", tmp_path / "a", tmp_path / "b"]


def test_bundled_recipes_are_listed_with_description_and_version():
    recipes = {r.name: r for r in list_recipes()}
    assert set(BUNDLED) <= set(recipes)
    for name in BUNDLED:
        r = recipes[name]
        assert isinstance(r, Recipe)
        assert r.description and "\n" not in r.description and r.version
        assert 4 <= r.sampling.num_samples <= 8 and 256 <= r.sampling.max_tokens <= 512
        check_template(r.prompt.template)
        assert Path(r.base_dir) == REPO_ROOT / "pipelines"


def test_bundled_recipe_settings():
    mathqa, vqa, tabmwp, caption = (load_recipe(n) for n in ("mathqa", "vqa", "tabmwp", "caption"))
    assert mathqa.methods == ["correctness"] and mathqa.labeler.answer_type == "number"
    assert mathqa.source.path == "../sample_data/mathqa/items.jsonl"
    assert vqa.methods == ["correctness", "dropout_ntp"] and vqa.pairing.too_easy_to_dropout_ntp is True
    assert vqa.labeler.answer_type == "auto"
    assert caption.methods == ["dropout_ntp"]
    assert tabmwp.source.path == "../../shared/data/tabmwp" and tabmwp.labeler.answer_type == "auto"
    assert tabmwp.source.image_template == "tables/{id}.png"
    for r in (mathqa, vqa, tabmwp):
        assert "step by step" in r.prompt.template and "Answer: \\boxed{{" in r.prompt.template


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_sources_stream_clean_items(name):
    r = load_recipe(name)
    if name == "tabmwp":
        require_tabmwp()
    head = list(itertools.islice(iter_items(r.source, base_dir=r.base_dir, source_name=r.name,
                                            answer_type=r.labeler.answer_type), 5))
    assert len(head) == 5 and not [x for x in head if isinstance(x, ItemError)]
    assert all(isinstance(x, QuestionItem) and x.source == name for x in head)
    if name in ("vqa", "caption", "tabmwp"):
        assert all(len(x.images) == 1 for x in head)
    if name == "caption":
        assert all(x.ground_truth is None for x in head)
    else:
        assert all(x.ground_truth for x in head)


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'mathqa'"):
        load_recipe("mathq")
    with pytest.raises(ConfigError, match="known recipes: .*vqa"):
        load_recipe("zzzzzz")


def test_load_by_path_and_default_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("description: my data\nsource:\n  path: items.jsonl\nmethods: [correctness]\n")
    r = load_recipe(str(path))
    assert (r.name, r.description, r.methods, r.base_dir) == ("mine", "my data", ["correctness"], str(tmp_path))


def test_user_dirs_add_recipes_and_clashes_fail(monkeypatch, tmp_path):
    (tmp_path / "mine.yaml").write_text("name: mine\ndescription: extra\nversion: '2'\n")
    monkeypatch.setenv("MMPR_PIPELINES", str(tmp_path))
    assert load_recipe("mine").version == "2"
    assert "mine" in [r.name for r in list_recipes()]
    (tmp_path / "vqa.yaml").write_text("name: vqa\n")
    with pytest.raises(ConfigError, match="defined twice"):
        load_recipe("vqa")


def test_name_must_match_file(monkeypatch, tmp_path):
    (tmp_path / "alpha.yaml").write_text("name: beta\n")
    monkeypatch.setenv("MMPR_PIPELINES", str(tmp_path))
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_recipe("alpha")


def test_unknown_key_in_recipe(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("source:\n  pth: x.jsonl\n")
    with pytest.raises(ConfigError, match="did you mean 'path'"):
        load_recipe(str(path))
