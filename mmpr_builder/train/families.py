"""What training needs to know per model family: the transformers class and processor that train it.

One table, keyed by the ``model_type`` of the model's ``config.json``
(:data:`TRAIN_FAMILIES`). It is the training half of a model family; the
family table of ``mmpr_builder.models`` (build side: chat format, stop tokens,
vLLM arguments) can fold these rows in. A VLM not in the table still trains
through ``AutoModelForImageTextToText``/``AutoProcessor``; a text-only model
through ``AutoModelForCausalLM``/``AutoTokenizer``.

Processors: the Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision and InternVL processors
carry a video processor, and transformers' video processors need torchvision,
which a CPU-only torch install may lack (``AutoProcessor.from_pretrained``
then fails). Those families load through :func:`image_only_processor_class`:
the family's own processor class without its video processor (the image
processor falls back to the PIL one when torchvision is absent). Image
placeholder tokens are expanded by that processor, so the prompt length
counted in :mod:`~mmpr_builder.train.data` includes every image token; pairs
too long are skipped, never truncated.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from mmpr_builder.errors import ModelError


@dataclass(frozen=True)
class TrainFamily:
    """How one model family trains.

    Attributes:
        model_type: ``config.json`` ``model_type``.
        model_class: transformers class that trains it (name, resolved lazily).
        processor_class: transformers processor class (name).
        image_only: load the processor without its video processor (see the module docstring).
        image_token: the placeholder token the chat template emits per image; the processor
            expands it (with the family's start/end tokens) to the image's feature count.
    """

    model_type: str
    model_class: str
    processor_class: str
    image_only: bool
    image_token: str


#: ``model_type`` -> :class:`TrainFamily`. Sources: the modelling/processing modules of transformers 5.
TRAIN_FAMILIES: dict[str, TrainFamily] = {f.model_type: f for f in [
    # Idefics3 = SmolVLM (v1) and the embedded model; <image> expands to the tile layout.
    TrainFamily("idefics3", "Idefics3ForConditionalGeneration", "Idefics3Processor", False, "<image>"),
    TrainFamily("llava", "LlavaForConditionalGeneration", "LlavaProcessor", False, "<image>"),
    # any-resolution tiles + base view + one newline feature per row
    TrainFamily("llava_onevision", "LlavaOnevisionForConditionalGeneration", "LlavaOnevisionProcessor", True,
                "<image>"),
    # <|vision_start|><|image_pad|><|vision_end|>; <|image_pad|> x (grid t*h*w / merge_size^2)
    TrainFamily("qwen2_vl", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor", True, "<|image_pad|>"),
    TrainFamily("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor", True, "<|image_pad|>"),
    # InternVL3/3.5 "-hf" layout: <img> + <IMG_CONTEXT> x (image_seq_length x tiles) + </img>
    TrainFamily("internvl", "InternVLForConditionalGeneration", "InternVLProcessor", True, "<IMG_CONTEXT>"),
]}


def train_family(model_type: str) -> TrainFamily | None:
    """The row of :data:`TRAIN_FAMILIES` for ``model_type``, or None (the Auto classes are used)."""
    return TRAIN_FAMILIES.get(model_type)


def transformers_class(name: str) -> Any:
    """``transformers.<name>``.

    Raises:
        ModelError: the installed transformers has no such class (too old for this family).
    """
    import transformers

    try:
        return getattr(transformers, name)
    except AttributeError as exc:
        raise ModelError(f"transformers {transformers.__version__} has no {name}; upgrade transformers "
                         "to train this model family") from exc


_IMAGE_ONLY: dict[type, type] = {}


def image_only_processor_class(processor_cls: type) -> type:
    """A subclass of ``processor_cls`` whose only parts are the image processor and the tokenizer.

    transformers derives a processor's parts from its ``__init__`` signature, so
    dropping ``video_processor`` from it makes the processor load, save and run
    on images without the (torchvision-based) video processor. The subclass keeps
    the parent's class name, so a saved ``processor_config.json`` names the
    family's own processor class.
    """
    if processor_cls not in _IMAGE_ONLY:
        _IMAGE_ONLY[processor_cls] = type(processor_cls.__name__, (processor_cls,),
                                          {"__init__": _init_without_video(processor_cls), "__module__": __name__,
                                           "__doc__": f"{processor_cls.__name__} for images only (no video processor)."})
    return _IMAGE_ONLY[processor_cls]


def _init_without_video(processor_cls: type):
    """``processor_cls.__init__`` with the ``video_processor`` parameter removed (passed as None).

    transformers reads a processor's parts from ``inspect.signature(__init__)`` and
    the settings it restores from ``__init__.__code__.co_varnames``, so the new
    ``__init__`` is compiled with the parent's named parameters (same defaults).
    """
    params = [p for p in inspect.signature(processor_cls.__init__).parameters.values()
              if p.name not in ("self", "video_processor")
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [p.name for p in params]
    source = (f"def __init__(self, {''.join(f'{n}=_defaults[{n!r}], ' for n in names)}**kwargs):\n"
              f"    _parent.__init__(self, {''.join(f'{n}={n}, ' for n in names)}video_processor=None, **kwargs)\n")
    scope = {"_parent": processor_cls, "_defaults": {p.name: p.default for p in params}}
    exec(compile(source, f"<{processor_cls.__name__} without video>", "exec"), scope)  # noqa: S102 (fixed source)
    return scope["__init__"]
