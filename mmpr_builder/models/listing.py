"""``mmpr models list``: the families, what each supports, and the aliases of each."""

from __future__ import annotations

from typing import Any

from mmpr_builder.models.aliases import MODEL_ALIASES, aliases_of
from mmpr_builder.models.families import FAMILIES, ModelFamily


def family_summary(family: ModelFamily) -> dict[str, Any]:
    """One family as a JSON-ready dict.

    Keys: ``name``, ``title``, ``architectures``, ``model_types``,
    ``build_vllm`` (the architecture is in vLLM's registry: true for every
    family), ``build_vllm_cpu_here`` (:attr:`ModelFamily.vllm_cpu`), ``train``
    (the transformers classes, or how to get there), ``convert_to``,
    ``stop_tokens``, ``tiling`` (the family's ``mm_processor_kwargs``),
    ``trust_remote_code``, ``aliases`` (``{alias: Hub id}``; the embedded model
    under ``idefics3``).
    """
    if family.train_class:
        train = f"{family.train_class} + {family.processor_class}"
    elif family.convert_to:
        train = f"after conversion to {family.convert_to} (mmpr train converts it into the cache)"
    else:
        train = "no"
    return {
        "name": family.name, "title": family.title, "architectures": list(family.architectures),
        "model_types": list(family.model_types), "build_vllm": True, "build_vllm_cpu_here": family.vllm_cpu,
        "train": train, "convert_to": family.convert_to, "stop_tokens": list(family.stop_tokens),
        "tiling": dict(family.mm_processor_kwargs), "trust_remote_code": family.trust_remote_code,
        "aliases": {a: (MODEL_ALIASES.get(a).path if a in MODEL_ALIASES else "offline tiny Idefics3 (smoke tests)")
                    for a in aliases_of(family.name)},
    }


def list_families() -> list[dict[str, Any]]:
    """:func:`family_summary` of every family, in registry order."""
    return [family_summary(f) for _, f in FAMILIES.items()]


def format_families(rows: list[dict[str, Any]]) -> str:
    """The text of ``mmpr models list``: a block per family (support, stops, tiling, aliases)."""
    blocks = []
    for r in rows:
        archs = ", ".join(r["architectures"]) or "any *ForCausalLM without a vision tower"
        tiling = ", ".join(f"{k}={v}" for k, v in r["tiling"].items()) or "checkpoint's own"
        convert = (f"to {r['convert_to']} (`mmpr models convert SRC DST`; `mmpr train` does it once into the cache)"
                   if r["convert_to"] else "not needed")
        aliases = ", ".join(r["aliases"]) or "none (use a Hub id or folder)"
        remote = " (remote code)" if r["trust_remote_code"] else ""
        blocks.append("\n".join([
            f"{r['name']}: {r['title']}",
            f"  architectures: {archs}{remote}",
            f"  build: vLLM yes; vLLM-CPU here {r['build_vllm_cpu_here']}",
            f"  train: {r['train']}; convert: {convert}",
            f"  stop tokens: {' '.join(r['stop_tokens']) or 'EOS only'}; tiling: {tiling}",
            f"  aliases: {aliases}",
        ]))
    return "\n\n".join(blocks)
