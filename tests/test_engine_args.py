"""What the engine passes to vLLM per family, checked without loading a model.

The ``vllm.LLM`` arguments are built for every alias and handed to the real
``vllm.EngineArgs`` (which rejects unknown names); stops are resolved with an
in-memory tokenizer and put into a real ``vllm.SamplingParams``.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mmpr_builder.build_config import EngineConfig, assemble, parse_engine_args
from mmpr_builder.engine_args import llm_kwargs, sampling_params, stop_settings
from mmpr_builder.errors import ConfigError
from mmpr_builder.models.aliases import MODEL_ALIASES
from mmpr_builder.models.families import FAMILIES
from tiny_tokenizer import make_tokenizer


@pytest.mark.parametrize("cpu", [False, True])
@pytest.mark.parametrize("alias", MODEL_ALIASES.names())
def test_every_alias_gives_valid_engine_args(alias, cpu):
    from vllm.engine.arg_utils import EngineArgs

    spec = MODEL_ALIASES.get(alias)
    kwargs = llm_kwargs(spec, EngineConfig(), dtype="bfloat16", seed=3, cpu=cpu)
    args = EngineArgs(**kwargs)  # a wrong name raises TypeError here
    family = spec.model_family
    assert (args.model, args.trust_remote_code, args.seed, args.max_model_len) == (
        spec.path, family.trust_remote_code, 3, spec.max_model_len)
    assert kwargs.get("mm_processor_kwargs", {}) == dict(family.mm_processor_kwargs)
    assert kwargs.get("limit_mm_per_prompt") == ({"image": 1} if family.vision else None)
    assert (kwargs.get("enable_chunked_prefill"), args.enforce_eager) == ((False, True) if cpu else (None, False))


def test_family_defaults_per_family():
    internvl = llm_kwargs(MODEL_ALIASES.get("internvl2-8b"), EngineConfig(), dtype="bfloat16", seed=0, cpu=False)
    assert internvl["trust_remote_code"] is True and internvl["mm_processor_kwargs"] == {"max_dynamic_patch": 6}
    hf = llm_kwargs(MODEL_ALIASES.get("internvl3-8b-hf"), EngineConfig(), dtype="bfloat16", seed=0, cpu=False)
    assert hf["trust_remote_code"] is False and hf["mm_processor_kwargs"] == {"max_patches": 6}
    qwen = llm_kwargs(MODEL_ALIASES.get("qwen2-vl-7b"), EngineConfig(), dtype="bfloat16", seed=0, cpu=False)
    assert qwen["mm_processor_kwargs"] == {"min_pixels": 784, "max_pixels": 1003520}
    llava = llm_kwargs(MODEL_ALIASES.get("llava-onevision-7b"), EngineConfig(), dtype="bfloat16", seed=0, cpu=False)
    assert "mm_processor_kwargs" not in llava and llava["max_model_len"] == 16384
    text = llm_kwargs(MODEL_ALIASES.get("qwen2.5-0.5b"), EngineConfig(), dtype="bfloat16", seed=0, cpu=False)
    assert "limit_mm_per_prompt" not in text and "mm_processor_kwargs" not in text


def test_user_values_override_family_defaults():
    spec = MODEL_ALIASES.get("qwen2.5-vl-7b")
    config = EngineConfig(max_model_len=4096, trust_remote_code=True, limit_mm_per_prompt=3,
                          extra_args={"mm_processor_kwargs": {"max_pixels": 512 * 28 * 28}, "max_num_seqs": 8,
                                      "enable_chunked_prefill": True})
    kwargs = llm_kwargs(spec, config, dtype="float32", seed=0, cpu=True)
    assert kwargs["mm_processor_kwargs"] == {"min_pixels": 784, "max_pixels": 401408}  # merged key by key
    assert (kwargs["max_model_len"], kwargs["trust_remote_code"], kwargs["limit_mm_per_prompt"]) == (4096, True, {"image": 3})
    assert (kwargs["max_num_seqs"], kwargs["enable_chunked_prefill"]) == (8, True)  # extra_args win over mmpr's own
    internvl = llm_kwargs(MODEL_ALIASES.get("internvl2-8b"), EngineConfig(trust_remote_code=False), dtype="bfloat16",
                          seed=0, cpu=False)
    assert internvl["trust_remote_code"] is False


@pytest.mark.parametrize("name, vocab, expected", [
    ("internvl-chat", ["<|im_start|>", "<|im_end|>", "<|endoftext|>"], ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
    ("qwen2-vl", ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>"], ["<|im_end|>", "<|endoftext|>"]),
    ("idefics3", ["<end_of_utterance>", "<image>", "<|im_end|>"], ["<end_of_utterance>", "<|im_end|>"]),
    ("text", ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"], ["<|eot_id|>"]),
    ("llava", ["<image>"], []),
])
def test_stops_go_into_sampling_params(name, vocab, expected):
    tok = make_tokenizer(vocab)
    stops = stop_settings(FAMILIES.get(name), tok, EngineConfig())
    assert stops == {"stop_token_ids": tok.convert_tokens_to_ids(expected), "stop": []}
    params = sampling_params(n=4, temperature=0.7, top_p=1.0, top_k=-1, max_tokens=64, seed=5, stops=stops)
    assert (params.n, params.max_tokens, params.seed) == (4, 64, 5)
    assert list(params.stop_token_ids or []) == tok.convert_tokens_to_ids(expected)
    assert set(tok.convert_tokens_to_ids(expected)) <= set(params.all_stop_token_ids)


def test_stop_tokens_setting_replaces_the_familys():
    tok = make_tokenizer(["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|end|>"])
    family = FAMILIES.get("internvl-chat")
    assert stop_settings(family, tok, EngineConfig(stop_tokens=["<|end|>"]))["stop_token_ids"] == \
        [tok.convert_tokens_to_ids("<|end|>")]
    assert stop_settings(family, tok, EngineConfig(stop_tokens=[]))["stop_token_ids"] == []


def test_engine_arg_flags_parse_and_layer_over_the_config_file(tmp_path):
    assert parse_engine_args(["max_num_seqs=8", "mm_processor_kwargs.max_pixels=1000", "enforce_eager=true",
                              "kv_cache_dtype=fp8", "mm_processor_kwargs={min_pixels: 10}"]) == {
        "max_num_seqs": 8, "enforce_eager": True, "kv_cache_dtype": "fp8",
        "mm_processor_kwargs": {"min_pixels": 10}}  # a later whole mapping replaces the earlier one
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_engine_args(["max_num_seqs"])
    config = tmp_path / "run.yaml"
    config.write_text("engine: {stop_tokens: ['<|im_end|>'], extra_args: {max_num_seqs: 4, "
                      "mm_processor_kwargs: {min_pixels: 10, max_pixels: 20}}}\n")
    cfg = assemble("mathqa", config_file=config,
                   engine_flags={"extra_args": parse_engine_args(["mm_processor_kwargs.max_pixels=30"])})
    assert cfg.engine.extra_args == {"max_num_seqs": 4, "mm_processor_kwargs": {"min_pixels": 10, "max_pixels": 30}}
    assert cfg.engine.stop_tokens == ["<|im_end|>"]
    cfg.validate()


def test_unknown_engine_arg_fails_before_any_work(tmp_path):
    from mmpr_builder.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["build", "--source", "mathqa", "--out", str(out), "--engine-arg", "max_num_seq=8"])
    assert isinstance(result.exception, ConfigError), result.output
    assert "unknown vLLM engine argument 'max_num_seq' (did you mean 'max_num_seqs'?)" in str(result.exception)
    result = CliRunner().invoke(app, ["build", "--source", "mathqa", "--out", str(out), "--engine-arg", "model=x/y"])
    assert "set the model with --model" in str(result.exception)
    config = tmp_path / "run.yaml"
    config.write_text("engine: {stop_tokens: '<|im_end|>'}\n")
    with pytest.raises(ConfigError, match="engine.stop_tokens: must be a list of token strings"):
        assemble("mathqa", config_file=config).validate()
    assert not out.exists()


def test_batch_invariant_mode_is_refused_on_vllm_cpu_before_loading(monkeypatch):
    """VLLM_BATCH_INVARIANT=1 fails every vLLM-CPU step (Triton kernels): refused at engine start, named."""
    from mmpr_builder.engines.vllm import Engine, is_cpu_build

    if not is_cpu_build():
        pytest.skip("the check is for vLLM-CPU; a GPU build supports the mode")
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "1")
    with pytest.raises(ConfigError, match="VLLM_BATCH_INVARIANT=1 is for GPU builds"):
        Engine(MODEL_ALIASES.get(MODEL_ALIASES.names()[0]), EngineConfig())
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "0")
    from mmpr_builder.engines.vllm import check_no_batch_invariant_mode

    check_no_batch_invariant_mode()  # off: nothing to refuse
