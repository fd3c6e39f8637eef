"""The pair row schema, declared once as ``datasets.Features``.

Rows follow TRL's conversational preference format, so TRL's DPO/MPO trainers
and ``datasets.load_dataset("parquet", ...)`` read them with no conversion:

- ``prompt``: list of messages ``{role, content: [{type, text}]}``; an image
  part is ``{"type": "image", "text": None}`` and stands for the next entry of
  ``images`` (one part per image, in order).
- ``chosen`` / ``rejected``: one assistant message each, same layout.
- ``images``: list of images, stored as ``{bytes, path}`` with the bytes
  embedded; decoded to ``PIL.Image`` by ``datasets`` (Image feature).

The other columns record provenance: how the pair was made (``method``:
``correctness`` or ``dropout_ntp``), the answers and verdicts of both sides
(``*_judged_by``: the judge that gave a verdict, None for rule verdicts),
finish reasons, token counts, the DropoutNTP cut, the model, the sampling
parameters and the seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported for annotations only (keeps this module cheap)
    from mmpr_builder.items import QuestionItem, Response
    from mmpr_builder.labelers.answers import AnswerCheck

SCHEMA_VERSION = "2"

METHODS = ("correctness", "dropout_ntp")


def _features():
    from datasets import Features, Image, List, Value

    message = {"role": Value("string"), "content": List({"type": Value("string"), "text": Value("string")})}
    return Features({
        "id": Value("string"),
        "item_id": Value("string"),
        "source": Value("string"),
        "question": Value("string"),
        "ground_truth": Value("string"),
        "ground_truth_kind": Value("string"),
        "prompt": List(message),
        "chosen": List(message),
        "rejected": List(message),
        "images": List(Image()),
        "method": Value("string"),
        "chosen_answer": Value("string"),
        "rejected_answer": Value("string"),
        "chosen_verdict": Value("string"),
        "rejected_verdict": Value("string"),
        "chosen_judged_by": Value("string"),
        "rejected_judged_by": Value("string"),
        "chosen_finish_reason": Value("string"),
        "rejected_finish_reason": Value("string"),
        "chosen_num_tokens": Value("int32"),
        "rejected_num_tokens": Value("int32"),
        "cut_char": Value("int32"),
        "cut_token": Value("int32"),
        "model": Value("string"),
        "sampling": Value("string"),
        "seed": Value("int64"),
        "recipe": Value("string"),
        "mmpr_version": Value("string"),
        "dtype": Value("string"),
    })


_FEATURES = None


def pair_features():
    """The ``datasets.Features`` of a pair row (built once; importing datasets is slow)."""
    global _FEATURES
    if _FEATURES is None:
        _FEATURES = _features()
    return _FEATURES


def text_message(role: str, text: str) -> dict[str, Any]:
    """A message with one text part: ``{"role": role, "content": [{"type": "text", "text": text}]}``."""
    return {"role": role, "content": [{"type": "text", "text": text}]}


def user_message(question: str, num_images: int) -> dict[str, Any]:
    """The user turn: ``num_images`` image parts first, then the text part."""
    parts = [{"type": "image", "text": None} for _ in range(num_images)]
    parts.append({"type": "text", "text": question})
    return {"role": "user", "content": parts}


def message_text(messages: list[dict[str, Any]]) -> str:
    """Concatenated text of all text parts of a message list (e.g. a ``chosen`` cell)."""
    return "".join(p["text"] or "" for m in messages for p in m["content"] if p["type"] == "text")


def pair_id(item_id: str, method: str, chosen: str, rejected: str) -> str:
    """Stable pair id: first 16 hex digits of SHA-256 over item id, method and both texts."""
    h = hashlib.sha256()
    for part in (item_id, method, chosen, rejected):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def git_commit(path: Path | None = None) -> str | None:
    """The git commit (40 hex digits) of the checkout holding ``path`` (default: this package), or None.

    None when the package is not in a git checkout (an installed wheel) or git is missing.
    """
    where = Path(path or __file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


@dataclass(frozen=True)
class Provenance:
    """Who made a build and how: stamped into rows, shard metadata and the card, and fingerprinted for resume.

    Attributes:
        recipe, recipe_version: the recipe's name and version (``pipelines/<name>.yaml``).
        mmpr_version: the package version; git_commit: the checkout's commit, or None.
        model: the model as given (alias, Hub id or folder name).
        dtype: the dtype the engine runs (``auto`` resolved, see :mod:`mmpr_builder.hardware`).
        engine: the engine arguments (``EngineConfig`` as a dict).
        seed: the run seed.
    """

    recipe: str
    recipe_version: str
    mmpr_version: str
    model: str
    dtype: str
    seed: int
    engine: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None

    @property
    def recipe_ref(self) -> str:
        """``name@version``, as written in each row's ``recipe`` column."""
        return f"{self.recipe}@{self.recipe_version}"

    def fingerprint(self) -> dict[str, Any]:
        """The fields that decide the output (for resume): all but ``mmpr_version`` and ``git_commit``."""
        d = dataclasses.asdict(self)
        d.pop("mmpr_version")
        d.pop("git_commit")
        return d

    def stamp(self) -> dict[str, Any]:
        """Every field, for the shards' ``mmpr`` Parquet metadata and the card."""
        return dataclasses.asdict(self)


def make_pair_row(item: QuestionItem, prompt_text: str, method: str, chosen: Response, rejected: Response, *,
                  provenance: Provenance, sampling: str, chosen_check: AnswerCheck | None = None,
                  rejected_check: AnswerCheck | None = None, cut_char: int | None = None,
                  cut_token: int | None = None) -> dict[str, Any]:
    """One pair row with exactly the columns of :func:`pair_features`.

    Args:
        item: the question item (id, source, question, ground truth, images).
        prompt_text: the text of the user turn as sent to the model (CoT template applied).
        method: ``correctness`` or ``dropout_ntp`` (:data:`METHODS`).
        chosen, rejected: the two responses (text, finish reason, tokens).
        provenance: model, seed, recipe, version and dtype of the run.
        sampling: the sampling parameters as a canonical JSON string.
        chosen_check, rejected_check: answer checks (correctness pairs), else None.
        cut_char, cut_token: where DropoutNTP cut the chosen (characters / tokens), else None.
    Raises:
        ValueError: unknown ``method``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown pair method {method!r}; expected one of {METHODS}")
    return {
        "id": pair_id(item.id, method, chosen.text, rejected.text),
        "item_id": item.id,
        "source": item.source,
        "question": item.question,
        "ground_truth": item.ground_truth,
        "ground_truth_kind": chosen_check.gt_kind if chosen_check else None,
        "prompt": [user_message(prompt_text, len(item.images))],
        "chosen": [text_message("assistant", chosen.text)],
        "rejected": [text_message("assistant", rejected.text)],
        "images": [{"bytes": img.bytes, "path": img.path} for img in item.images],
        "method": method,
        "chosen_answer": chosen_check.extracted if chosen_check else None,
        "rejected_answer": rejected_check.extracted if rejected_check else None,
        "chosen_verdict": chosen_check.verdict.value if chosen_check else None,
        "rejected_verdict": rejected_check.verdict.value if rejected_check else None,
        "chosen_judged_by": chosen_check.judged_by if chosen_check else None,
        "rejected_judged_by": rejected_check.judged_by if rejected_check else None,
        "chosen_finish_reason": chosen.finish_reason,
        "rejected_finish_reason": rejected.finish_reason,
        "chosen_num_tokens": chosen.num_tokens,
        "rejected_num_tokens": rejected.num_tokens,
        "cut_char": cut_char,
        "cut_token": cut_token,
        "model": provenance.model,
        "sampling": sampling,
        "seed": provenance.seed,
        "recipe": provenance.recipe_ref,
        "mmpr_version": provenance.mmpr_version,
        "dtype": provenance.dtype,
    }
