"""Engines: one interface (:class:`~.base.StreamingEngine`), one implementation per backend.

- ``vllm`` (default, :class:`.vllm.Engine`): an in-process ``vllm.LLM``.
- ``ray`` (:class:`.ray.RayEngine`): an actor pool of vLLM engines on a Ray
  cluster, through Ray Data (``replicas`` copies of the model).
- ``openai`` (:class:`.openai.OpenAIEngine`): any OpenAI-compatible
  chat-completions server (a ``vllm serve`` fleet behind a load balancer, SGLang, a hosted API).

The request/result types and :func:`~.base.item_seed` load cheaply from here;
the backends load on first use (:func:`make_engine`).
"""

from __future__ import annotations

from mmpr_builder.engines.base import (
    ENGINE_BACKENDS,
    GenerationRequest,
    GenerationResult,
    Sampling,
    StreamingEngine,
    item_seed,
)


def make_engine(spec, config, seed: int = 0) -> StreamingEngine:
    """The engine ``config.backend`` names, for model ``spec``.

    Args:
        spec: a :class:`~mmpr_builder.models.aliases.ModelSpec` (see ``resolve_model``).
        config: an :class:`~mmpr_builder.build_config.EngineConfig`.
        seed: the run seed.
    Raises:
        ConfigError: unknown backend. ModelError: the model or server cannot be used.
    """
    from mmpr_builder.errors import ConfigError

    if config.backend == "vllm":
        from mmpr_builder.engines.vllm import Engine

        return Engine(spec, config, seed=seed)
    if config.backend == "ray":
        from mmpr_builder.engines.ray import RayEngine

        return RayEngine(spec, config, seed=seed)
    if config.backend == "openai":
        from mmpr_builder.engines.openai import OpenAIEngine

        return OpenAIEngine(spec, config)
    raise ConfigError(f"engine.backend: must be one of {', '.join(ENGINE_BACKENDS)}, got {config.backend!r}")


__all__ = ["ENGINE_BACKENDS", "GenerationRequest", "GenerationResult", "Sampling", "StreamingEngine", "item_seed",
           "make_engine"]
