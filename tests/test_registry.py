"""Registry[T]: lookup, listing, "did you mean", and the registries built on it."""

from __future__ import annotations

import pytest
from testlib import REPO_ROOT

from mmpr_builder.errors import ConfigError, ModelError
from mmpr_builder.registry import Registry, closest, did_you_mean


@pytest.fixture
def colors() -> Registry[int]:
    return Registry("color", {"red": 1, "green": 2}, error=ConfigError)


def test_get_names_items_in_registration_order(colors):
    colors.register("blue", 3)
    assert colors.get("green") == 2
    assert colors.names() == ["red", "green", "blue"] and list(colors) == colors.names()
    assert colors.items() == [("red", 1), ("green", 2), ("blue", 3)]
    assert len(colors) == 3 and "blue" in colors and "pink" not in colors and ["red"] not in colors
    assert colors.check("red") == "red"


def test_decorator_registers_and_returns_the_value():
    reg: Registry = Registry("verifier")

    @reg.add("exact")
    def exact(a, b):
        return a == b

    assert reg.get("exact") is exact and exact(1, 1)


def test_unknown_name_says_did_you_mean_and_lists_the_known_names(colors):
    with pytest.raises(ConfigError, match=r"^unknown color 'gren' \(did you mean 'green'\?\); known colors: red, green$"):
        colors.get("gren")
    with pytest.raises(ConfigError, match=r"^unknown color 'zzz'; known colors: red, green$"):
        colors.check("zzz")
    with pytest.raises(ConfigError, match="unknown color"):
        colors.get(["not", "hashable"])


def test_unknown_error_class_others_and_also():
    models = Registry("model", {"qwen2-vl-7b": "Qwen/Qwen2-VL-7B-Instruct"}, error=ModelError)
    err = models.unknown("embeded", others=("embedded",), also="or a local folder")
    assert isinstance(err, ModelError)
    assert str(err) == ("unknown model 'embeded' (did you mean 'embedded'?); known models: qwen2-vl-7b, embedded; "
                        "or a local folder")
    assert str(Registry("recipe").unknown("x")) == "unknown recipe 'x'; known recipes: none"


def test_a_name_registered_twice_is_an_error(colors):
    with pytest.raises(ConfigError, match="color 'red' is registered twice"):
        colors.register("red", 9)
    assert colors.get("red") == 1


def test_suggestion_helpers_and_cutoff():
    assert closest("sigmod", ["sigmoid", "sft"]) == "sigmoid"
    assert closest("zzz", ["sigmoid"]) is None
    assert did_you_mean("num_sample", ["num_samples"]) == " (did you mean 'num_samples'?)"
    assert did_you_mean("zzz", ["num_samples"]) == ""
    loose = Registry("answer_type", {"multiple_choice": 0}, cutoff=0.5)
    assert "did you mean 'multiple_choice'" in str(loose.unknown("multichoice"))


def test_source_formats_are_the_registered_readers():
    from mmpr_builder.config import SOURCE_FORMATS
    from mmpr_builder.sources import READERS

    assert set(SOURCE_FORMATS) == {"auto", *READERS.names()}


def test_answer_types_and_model_aliases_use_the_registry():
    from mmpr_builder.labelers.answers import validate_answer_type
    from mmpr_builder.models.aliases import MODEL_ALIASES, resolve_model

    with pytest.raises(ConfigError, match="unknown answer_type 'nubmer' \\(did you mean 'number'\\?\\); known answer_types: auto,"):
        validate_answer_type("nubmer")
    assert isinstance(MODEL_ALIASES, Registry) and "internvl2-8b" in MODEL_ALIASES.names()
    with pytest.raises(ModelError, match="did you mean 'embedded'"):
        resolve_model("embeded")


def test_only_the_registry_module_suggests_names():
    """The "did you mean" lives in one place: no other module calls difflib."""
    users = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "mmpr_builder").rglob("*.py")
                   if "difflib" in p.read_text(encoding="utf-8"))
    assert users == ["mmpr_builder/registry.py"]
