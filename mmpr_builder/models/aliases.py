"""Model aliases: one table from a short name to a Hub id and what it needs in vLLM.

``--model`` takes an alias, a Hub id or a local folder. ``embedded`` (the
default) is the tiny offline model of :mod:`mmpr_builder.models.embedded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpr_builder.errors import ModelError
from mmpr_builder.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What the engine needs to load one model.

    Attributes:
        name: the alias or the id the user gave.
        path: Hub id or local folder passed to ``vllm.LLM(model=...)``.
        trust_remote_code: the model ships its own modelling code (InternVL).
        max_model_len: context length to reserve, in tokens (None = model default).
        limit_mm_per_prompt: most images per prompt.
        engine_kwargs: further ``vllm.LLM`` arguments this model needs.
    """

    name: str
    path: str
    trust_remote_code: bool = False
    max_model_len: int | None = None
    limit_mm_per_prompt: int = 1
    engine_kwargs: dict[str, Any] = field(default_factory=dict)


#: Short model names -> :class:`ModelSpec` (``mmpr models list``); unknown names raise :class:`ModelError`.
MODEL_ALIASES: Registry[ModelSpec] = Registry("model", [(s.name, s) for s in [
    # InternVL2 needs its remote code; 8k context as in the MPO recipe.
    ModelSpec("internvl2-8b", "OpenGVLab/InternVL2-8B", trust_remote_code=True, max_model_len=8192),
    ModelSpec("internvl2-2b", "OpenGVLab/InternVL2-2B", trust_remote_code=True, max_model_len=8192),
    ModelSpec("internvl2.5-8b", "OpenGVLab/InternVL2_5-8B", trust_remote_code=True, max_model_len=8192),
    ModelSpec("internvl3-8b", "OpenGVLab/InternVL3-8B", trust_remote_code=True, max_model_len=8192),
    ModelSpec("qwen2-vl-7b", "Qwen/Qwen2-VL-7B-Instruct", max_model_len=8192,
              engine_kwargs={"mm_processor_kwargs": {"max_pixels": 1280 * 28 * 28}}),
    ModelSpec("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", max_model_len=8192,
              engine_kwargs={"mm_processor_kwargs": {"max_pixels": 1280 * 28 * 28}}),
    ModelSpec("smolvlm-2b", "HuggingFaceTB/SmolVLM-Instruct", max_model_len=8192),
    ModelSpec("smolvlm2-2.2b", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", max_model_len=8192),
    ModelSpec("llava-onevision-7b", "llava-hf/llava-onevision-qwen2-7b-ov-hf", max_model_len=16384),
]], error=ModelError)

EMBEDDED_ALIASES = ("embedded", "default")


def resolve_model(name: str | None) -> ModelSpec:
    """Turn ``--model`` into a :class:`ModelSpec`.

    ``None``/``embedded`` builds (once) and returns the embedded model; an alias
    from :data:`MODEL_ALIASES`; an existing local folder; otherwise a Hub id
    (``org/name``).

    Raises:
        ModelError: an unknown name that is neither a folder nor ``org/name``
            (with the closest alias suggested).
    """
    check_model_name(name)
    if name is None or name in EMBEDDED_ALIASES:
        from mmpr_builder.models.embedded import ensure_embedded_model

        return ModelSpec("embedded", str(ensure_embedded_model()), max_model_len=4096, limit_mm_per_prompt=4)
    if name in MODEL_ALIASES:
        return MODEL_ALIASES.get(name)
    if Path(name).expanduser().is_dir():
        return ModelSpec(name, str(Path(name).expanduser().resolve()))
    return ModelSpec(name, name)


def check_model_name(name: str | None) -> None:
    """Check that ``--model`` names something :func:`resolve_model` can use, without loading or building it.

    Raises:
        ModelError: an unknown name that is neither an alias, a folder nor ``org/name``
            (with the closest alias suggested).
    """
    if name is None or name in EMBEDDED_ALIASES or name in MODEL_ALIASES or Path(name).expanduser().is_dir():
        return
    if name.count("/") == 1 and not name.startswith(("/", ".")):
        return
    raise MODEL_ALIASES.unknown(name, others=EMBEDDED_ALIASES, also="or a local folder, or a Hub id org/name")
