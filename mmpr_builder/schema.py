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
``correctness`` or ``dropout_ntp``), the answers and verdicts of both sides,
finish reasons, token counts, the DropoutNTP cut, the model, the sampling
parameters and the seed.
"""

from __future__ import annotations

import hashlib
from typing import Any

SCHEMA_VERSION = "1"

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
        "prompt": List(message),
        "chosen": List(message),
        "rejected": List(message),
        "images": List(Image()),
        "method": Value("string"),
        "chosen_answer": Value("string"),
        "rejected_answer": Value("string"),
        "chosen_verdict": Value("string"),
        "rejected_verdict": Value("string"),
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
