"""Build configuration: a recipe is a YAML file that fills these dataclasses.

Layering (as TRL's parser): dataclass defaults, then the recipe YAML, then a
``--config FILE`` of overrides (same layout), then command-line flags. An
unknown key anywhere is a :class:`ConfigError` with a "did you mean".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers.judge import JudgeConfig
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL

METHOD_NAMES = ("correctness", "dropout_ntp")


SOURCE_FORMATS = ("auto", "jsonl", "json", "parquet", "csv", "images", "hf_disk", "hub")


@dataclass
class SourceConfig:
    """Where items come from and how their fields map to :class:`~mmpr_builder.items.QuestionItem`.

    Readers and the per-row checks live in :mod:`mmpr_builder.sources`.
    """

    path: str = field(default="", metadata={"help": "file, folder or Hub dataset id; relative paths resolve against the recipe's folder"})
    format: str = field(default="auto", metadata={"help": "auto, jsonl, json (a list, or an object keyed by id), parquet, csv, images, hf_disk, hub"})
    split: str = field(default="train", metadata={"help": "split for Hub / save_to_disk datasets"})
    subset: str = field(default="", metadata={"help": "Hub dataset config name (load_dataset's `name`), if it has several"})
    id_field: str = field(default="id", metadata={"help": "column with a stable item id (row index, or the key of a keyed JSON object, when absent)"})
    question_field: str = field(default="question", metadata={"help": "column with the question text"})
    image_field: str = field(default="image", metadata={"help": "column with one image (path, bytes, {bytes, path} or PIL)"})
    images_field: str = field(default="images", metadata={"help": "column with a list of images"})
    image_template: str = field(default="", metadata={"help": "image path built from the row, e.g. 'tables/{id}.png' ({id} and any column); used when the row has no image column"})
    answer_field: str = field(default="answer", metadata={"help": "column with the ground truth; missing = no ground truth"})
    choices_field: str = field(default="choices", metadata={"help": "column with multiple-choice option texts"})
    meta_fields: list[str] = field(default_factory=list, metadata={"help": "extra columns copied into the item's meta (kept out of the prompt)"})
    default_question: str = field(default="", metadata={"help": "question used for rows without one (required for image folders)"})
    allow_remote_images: bool = field(default=False, metadata={"help": "allow http(s) image URLs"})
    max_image_pixels: int = field(default=40_000_000, metadata={"help": "reject images with more pixels (width*height)"})
    max_image_bytes: int = field(default=50_000_000, metadata={"help": "reject image files larger than this (bytes)"})

    def __post_init__(self):
        if self.format not in SOURCE_FORMATS:
            raise ConfigError(f"source.format: unknown format {self.format!r}{_suggest(self.format, list(SOURCE_FORMATS))}; "
                              f"known: {', '.join(SOURCE_FORMATS)}")
        if self.max_image_pixels < 1 or self.max_image_bytes < 1:
            raise ConfigError("source.max_image_pixels and source.max_image_bytes must be >= 1")


@dataclass
class PromptConfig:
    """How an item becomes the CoT prompt."""

    template: str = field(
        default=(
            "{question}\n\nThink through the problem step by step, then give your final answer "
            "on the last line in the form \"Answer: \\boxed{{...}}\"."
        ),
        metadata={"help": "CoT template; {question} is the question (with lettered options appended)"},
    )
    strip_short_answer_instructions: bool = field(default=True, metadata={"help": "remove 'Answer with a single word.'-style endings"})


@dataclass
class SamplingConfig:
    """vLLM sampling for the CoT responses (MMPR: T=0.7, top_k=50, top_p=1.0)."""

    num_samples: int = field(default=8, metadata={"help": "K responses per item (SamplingParams.n)"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    top_k: int = field(default=50, metadata={"help": "top-k sampling (-1 = off)"})
    max_tokens: int = field(default=1024, metadata={"help": "max new tokens per response"})


@dataclass
class LabelerConfig:
    """Answer checking (see :mod:`mmpr_builder.labelers`)."""

    answer_type: str = field(default="auto", metadata={"help": "verifier: auto, multiple_choice, number, math, yes_no, short_text, anls, relaxed"})
    extraction: str = field(default="strict", metadata={"help": "strict (boxed or 'Answer:' line; others are format negatives), weak (else the last number/line), reading (else the committed answer of a prose solution)"})
    allow_weak: bool = field(default=False, metadata={"help": "legacy alias of extraction: weak"})
    rel_tol: float = field(default=DEFAULT_REL_TOL, metadata={"help": "relative tolerance for numeric answers (0.001 = 0.1%, as MMPR's scorer; `mmpr check-answer` uses the same default)"})


    judge: JudgeConfig = field(default_factory=JudgeConfig, metadata={"help": "optional judge model for verdicts the rules leave undecided (off by default)"})


@dataclass
class PairingConfig:
    """Correctness pairs (MMPR section 3.1: correct x incorrect/format negative)."""

    max_pairs_per_item: int = field(default=15, metadata={"help": "at most M pairs per item (MMPR: 15)"})
    format_negative_share: float = field(default=0.5, metadata={"help": "max share of rejected drawn from format negatives"})
    too_easy_to_dropout_ntp: bool = field(default=False, metadata={"help": "send all-correct items on to DropoutNTP"})
    repetition_threshold: float = field(default=0.5, metadata={"help": "share of repeated 4-grams above which a response is degenerate"})


@dataclass
class DropoutNTPConfig:
    """DropoutNTP (MMPR section 3.1): rejected = prefix of chosen + continuation without the image."""

    ratio: float = field(default=0.5, metadata={"help": "cut point as a share of the chosen's tokens"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature of the continuation"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass of the continuation"})
    num_chosen: int = field(default=1, metadata={"help": "chosen responses (pairs) per item without ground truth"})


@dataclass
class Recipe:
    """A named, versioned pipeline recipe (``pipelines/<name>.yaml``)."""

    name: str = field(default="custom", metadata={"help": "recipe name"})
    description: str = field(default="", metadata={"help": "one line for `mmpr sources`"})
    version: str = field(default="1", metadata={"help": "bump when the recipe's output changes"})
    methods: list[str] = field(default_factory=lambda: ["correctness", "dropout_ntp"],
                               metadata={"help": "correctness, dropout_ntp or both"})
    source: SourceConfig = field(default_factory=SourceConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    labeler: LabelerConfig = field(default_factory=LabelerConfig)
    pairing: PairingConfig = field(default_factory=PairingConfig)
    dropout_ntp: DropoutNTPConfig = field(default_factory=DropoutNTPConfig)
    base_dir: str = field(default=".", metadata={"help": "folder relative source paths resolve against (set by the loader)"})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-safe) of every field, ``base_dir`` excluded."""
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        return d


def _suggest(key: str, known: list[str]) -> str:
    from mmpr_builder.registry import did_you_mean

    return did_you_mean(key, known)


def merge(obj: Any, overrides: dict[str, Any], where: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with ``overrides`` (nested dicts) applied.

    Raises:
        ConfigError: an unknown key (with a suggestion) or a value of the wrong type.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(overrides).__name__}")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r}{_suggest(key, list(fields))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value or {}, path)
        elif current is None:
            changes[key] = _coerce_optional(value, str(fields[key].type), path)
        else:
            changes[key] = _coerce(value, current, path)
    return dataclasses.replace(obj, **changes)


def _coerce(value: Any, current: Any, path: str) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return type(current)(value) if isinstance(current, float) or float(value).is_integer() else value
    if isinstance(current, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        from mmpr_builder.engine_args import deep_merge

        return deep_merge(current, value)
    if isinstance(current, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return list(value)
    if isinstance(current, str) and not isinstance(value, str):
        if value is None:
            return ""
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    return value


def _coerce_optional(value: Any, annotation: str, path: str) -> Any:
    """Check a value for a field whose default is None, from its annotation (``int | None``, ...)."""
    if value is None:
        return None
    base = annotation.replace(" ", "").split("|")[0]
    samples = {"int": 0, "float": 0.0, "bool": False, "str": ""}
    return _coerce(value, samples[base], path) if base in samples else value


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping. Raises ConfigError for a missing file, bad YAML or a non-mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def recipe_from_yaml(path: Path) -> Recipe:
    """Load a recipe file; relative source paths resolve against the file's folder.

    A recipe without ``name`` takes the file's stem as its name.
    """
    path = Path(path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    recipe = merge(Recipe(), data, where=path.stem)
    return dataclasses.replace(recipe, base_dir=str(path.resolve().parent))
