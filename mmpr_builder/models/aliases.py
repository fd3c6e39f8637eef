"""Model aliases: one table from a short name to a Hub id and its family.

``--model`` takes an alias, a Hub id or a local folder. ``embedded`` (the
default) is the tiny offline model of :mod:`mmpr_builder.models.embedded`.
What a model needs in vLLM (stop tokens, tiling, remote code) comes from its
family (:mod:`mmpr_builder.models.families`); an alias only adds what is
particular to one checkpoint (its context length). A folder's or a Hub id's
family is read from its ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpr_builder.errors import ModelError
from mmpr_builder.models.families import FAMILIES, ModelFamily, family_for_config, fetch_hub_config, read_config
from mmpr_builder.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What the engine needs to load one model.

    Attributes:
        name: the alias or the id the user gave.
        path: Hub id or local folder passed to ``vllm.LLM(model=...)``.
        family: name of its :class:`~mmpr_builder.models.families.ModelFamily`.
        max_model_len: context length to reserve, in tokens (None = model default).
        limit_mm_per_prompt: most images per prompt (None = the family's).
        engine_kwargs: further ``vllm.LLM`` arguments this checkpoint needs (over the family's).
    """

    name: str
    path: str
    family: str
    max_model_len: int | None = None
    limit_mm_per_prompt: int | None = None
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def model_family(self) -> ModelFamily:
        """The :class:`ModelFamily` named by :attr:`family`."""
        return FAMILIES.get(self.family)

    @property
    def trust_remote_code(self) -> bool:
        """The family ships its own modelling code (InternVL2 remote-code layout)."""
        return self.model_family.trust_remote_code


def _alias(name: str, path: str, family: str, max_model_len: int | None = 8192) -> tuple[str, ModelSpec]:
    FAMILIES.check(family)
    return name, ModelSpec(name, path, family, max_model_len=max_model_len)


#: Short model names -> :class:`ModelSpec` (``mmpr models list``); unknown names raise :class:`ModelError`.
#: 8k context as in the MPO recipe; LLaVA-OneVision 16k as in vLLM's example (its anyres images are long).
MODEL_ALIASES: Registry[ModelSpec] = Registry("model", [
    _alias("internvl2-8b", "OpenGVLab/InternVL2-8B", "internvl-chat"),
    _alias("internvl2-2b", "OpenGVLab/InternVL2-2B", "internvl-chat"),
    _alias("internvl2.5-1b", "OpenGVLab/InternVL2_5-1B", "internvl-chat"),
    _alias("internvl2.5-8b", "OpenGVLab/InternVL2_5-8B", "internvl-chat"),
    _alias("internvl3-8b", "OpenGVLab/InternVL3-8B", "internvl-chat"),
    _alias("internvl3-1b-hf", "OpenGVLab/InternVL3-1B-hf", "internvl-hf"),
    _alias("internvl3-8b-hf", "OpenGVLab/InternVL3-8B-hf", "internvl-hf"),
    _alias("internvl3.5-8b-hf", "OpenGVLab/InternVL3_5-8B-HF", "internvl-hf"),
    _alias("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", "qwen2-vl"),
    _alias("qwen2-vl-7b", "Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl"),
    _alias("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "qwen2.5-vl"),
    _alias("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
    _alias("llava-onevision-0.5b", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-onevision", 16384),
    _alias("llava-onevision-7b", "llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-onevision", 16384),
    _alias("llava-1.5-7b", "llava-hf/llava-1.5-7b-hf", "llava", 4096),
    _alias("smolvlm-256m", "HuggingFaceTB/SmolVLM-256M-Instruct", "idefics3"),
    _alias("smolvlm-2b", "HuggingFaceTB/SmolVLM-Instruct", "idefics3"),
    _alias("smolvlm2-2.2b", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "smolvlm"),
    _alias("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "text"),
    _alias("llama3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "text"),
], error=ModelError)

EMBEDDED_ALIASES = ("embedded", "default")
EMBEDDED_FAMILY = "idefics3"


def aliases_of(family: str) -> list[str]:
    """Alias names whose family is ``family`` (the embedded model under ``idefics3``)."""
    names = [name for name, spec in MODEL_ALIASES.items() if spec.family == family]
    return (["embedded"] if family == EMBEDDED_FAMILY else []) + names


def _is_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith(("/", ".", "~"))


def resolve_model(name: str | None) -> ModelSpec:
    """Turn ``--model`` into a :class:`ModelSpec` with its family.

    ``None``/``embedded`` builds (once) and returns the embedded model; an alias
    from :data:`MODEL_ALIASES`; an existing local folder (family from its
    ``config.json``); otherwise a Hub id ``org/name``, whose ``config.json`` is
    fetched with huggingface_hub (or read from the HF cache) to find its family.

    Raises:
        ModelError: an unknown name that is neither a folder nor ``org/name``
            (with the closest alias suggested); a folder or Hub model whose
            architecture no family supports (the supported ones are listed);
            a Hub ``config.json`` that cannot be fetched.
    """
    check_model_name(name)
    if name is None or name in EMBEDDED_ALIASES:
        from mmpr_builder.models.embedded import ensure_embedded_model

        return ModelSpec("embedded", str(ensure_embedded_model()), EMBEDDED_FAMILY, max_model_len=4096,
                         limit_mm_per_prompt=4)
    if name in MODEL_ALIASES:
        return MODEL_ALIASES.get(name)
    folder = Path(name).expanduser()
    if folder.is_dir():
        family = family_for_config(read_config(folder), where=name)
        return ModelSpec(name, str(folder.resolve()), family.name)
    return ModelSpec(name, name, family_for_config(fetch_hub_config(name), where=name).name)


def check_model_name(name: str | None) -> None:
    """Check that ``--model`` names something :func:`resolve_model` can use, without building, loading or fetching.

    A local folder's ``config.json`` is read to check that a family supports it.

    Raises:
        ModelError: an unknown name that is neither an alias, a folder nor ``org/name``
            (with the closest alias suggested); a folder without a supported ``config.json``.
    """
    if name is None or name in EMBEDDED_ALIASES or name in MODEL_ALIASES:
        return
    folder = Path(name).expanduser()
    if folder.is_dir():
        family_for_config(read_config(folder), where=name)
        return
    if _is_hub_id(name):
        return
    raise MODEL_ALIASES.unknown(name, others=EMBEDDED_ALIASES, also="or a local folder, or a Hub id org/name")


def family_name_of(name: str | None) -> str:
    """The family name of ``--model`` without building or loading it (a Hub id's ``config.json`` is fetched).

    Raises:
        ModelError: as :func:`resolve_model`.
    """
    check_model_name(name)
    if name is None or name in EMBEDDED_ALIASES:
        return EMBEDDED_FAMILY
    if name in MODEL_ALIASES:
        return MODEL_ALIASES.get(name).family
    folder = Path(name).expanduser()
    config = read_config(folder) if folder.is_dir() else fetch_hub_config(name)
    return family_for_config(config, where=name).name
