"""Check one source row and turn it into a :class:`~mmpr_builder.items.QuestionItem`.

A bad row raises :class:`~mmpr_builder.errors.ItemError` with one of
:data:`CAUSES`; :func:`mmpr_builder.sources.iter_items` yields it and goes on.

Field rules (names come from :class:`~mmpr_builder.config.SourceConfig`):

- id: ``str`` or ``int``; when the column is absent or null the reader's
  default id is used (the row index, or the key of a keyed JSON object).
- question: non-empty ``str``, else ``default_question`` when set.
- images: ``images_field`` (a list) and/or ``image_field`` (one value), in that
  order; else ``image_template`` formatted with ``id`` and the row's columns.
  No image is fine (text-only items).
- answer: ``str``, ``int`` or ``float`` (floats that are whole print without
  ``.0``); null or ``""`` means no ground truth.
- choices: a list of ``str``/numbers (or a JSON list in a string, as CSV
  holds it), at most 26 (letters A-Z); null or ``[]`` means not multiple choice.
- every text must encode as UTF-8 (lone surrogates come from undecodable
  bytes read with ``surrogateescape``): else ``bad_encoding``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.sources.images import load_image

CAUSES = (
    "unparsable_row",        # a line / record that cannot be parsed (bad JSON, unreadable batch)
    "bad_encoding",          # text that is not valid UTF-8
    "bad_type",              # a field of the wrong type (row not a mapping, question a number, ...)
    "duplicate_id",          # the id was already seen in this source
    "missing_question",      # no question text and no default_question
    "missing_image",         # image path not found, empty, or no image in a dict
    "unreadable_image",      # the file exists but cannot be read (permissions, network)
    "corrupt_image",         # not decodable by PIL (truncated, not an image)
    "image_too_large",       # over max_image_bytes / max_image_pixels, or a PIL decompression bomb
    "remote_image_refused",  # http(s) image while allow_remote_images is false
    "path_escapes_root",     # a path outside the source root (absolute elsewhere, '..', symlink out)
)
"""Every cause an :class:`ItemError` from a source can carry."""

MAX_CHOICES = 26


def row_to_item(row: Any, default_id: str, *, source: SourceConfig, root: Path | None,
                answer_type: str, source_name: str, seen_ids: set[str]) -> QuestionItem:
    """Validate one row and build its item; adds the row's id to ``seen_ids`` once it is read.

    Args:
        row: the parsed row (should be a mapping of column -> value).
        default_id: id to use when the row has no id column (row index or JSON key).
        source: field mapping and limits.
        root: resolved source root for relative image paths (None: no local files).
        answer_type: verifier name stamped on the item.
        source_name: recipe/source name stamped on the item.
        seen_ids: ids already yielded from this source (for ``duplicate_id``).

    Raises:
        ItemError: the row is bad; ``cause`` is one of :data:`CAUSES`.
    """
    if not isinstance(row, dict):
        raise ItemError(default_id, "bad_type", f"row is {type(row).__name__}, expected an object/mapping")
    item_id = _item_id(row.get(source.id_field), default_id)
    if item_id in seen_ids:
        raise ItemError(item_id, "duplicate_id", f"id {item_id!r} appears more than once in the source")
    seen_ids.add(item_id)  # a later row with this id is a duplicate even if this row proves bad

    question = row.get(source.question_field)
    if question is None or (isinstance(question, str) and not question.strip()):
        question = source.default_question
        if not question.strip():
            raise ItemError(item_id, "missing_question", f"no {source.question_field!r} and no source.default_question")
    if not isinstance(question, str):
        raise ItemError(item_id, "bad_type", f"{source.question_field!r} is {type(question).__name__}, expected a string")
    _check_text(question, item_id, source.question_field)

    answer = _answer(row.get(source.answer_field), item_id, source.answer_field)
    choices = _choices(row.get(source.choices_field), item_id, source.choices_field)
    meta = {name: row[name] for name in source.meta_fields if name in row}
    images = [load_image(v, item_id=item_id, source=source, root=root) for v in _image_values(row, item_id, source)]

    return QuestionItem(id=item_id, question=question.strip(), images=images, ground_truth=answer,
                        choices=choices, answer_type=answer_type, source=source_name, meta=meta)


def _item_id(value: Any, default_id: str) -> str:
    if value is None or value == "":
        return default_id
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ItemError(default_id, "bad_type", f"id is {type(value).__name__}, expected a string or an integer")
    item_id = str(value).strip()
    _check_text(item_id, default_id, "id")
    return item_id


def _check_text(text: str, item_id: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ItemError(item_id, "bad_encoding", f"{what!r} is not valid UTF-8 text (at character {e.start})") from e


def _scalar_text(value: Any, item_id: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ItemError(item_id, "bad_type", f"{what!r} is {type(value).__name__}, expected a string or a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ItemError(item_id, "bad_type", f"{what!r} is {value}, expected a finite number")
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value).strip()
    _check_text(text, item_id, what)
    return text


def _answer(value: Any, item_id: str, what: str) -> str | None:
    if value is None:
        return None
    text = _scalar_text(value, item_id, what)
    return text or None


def _choices(value: Any, item_id: str, what: str) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # CSV cells hold lists as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ItemError(item_id, "bad_type", f"{what!r} is a string that is not a JSON list: {e}") from e
    if hasattr(value, "tolist") and not isinstance(value, list):  # numpy arrays from some readers
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ItemError(item_id, "bad_type", f"{what!r} is {type(value).__name__}, expected a list of option texts")
    if not value:
        return None
    if len(value) > MAX_CHOICES:
        raise ItemError(item_id, "bad_type", f"{what!r} has {len(value)} options; at most {MAX_CHOICES} (A-Z)")
    return [_scalar_text(v, item_id, f"{what}[{i}]") for i, v in enumerate(value)]


def _image_values(row: dict, item_id: str, source: SourceConfig) -> list[Any]:
    values: list[Any] = []
    many = row.get(source.images_field)
    if isinstance(many, str):  # CSV cells hold lists as JSON text
        try:
            many = json.loads(many)
        except json.JSONDecodeError as e:
            raise ItemError(item_id, "bad_type", f"{source.images_field!r} is a string that is not a JSON list: {e}") from e
    if many is not None:
        if hasattr(many, "tolist") and not isinstance(many, list):
            many = many.tolist()
        if not isinstance(many, (list, tuple)):
            raise ItemError(item_id, "bad_type", f"{source.images_field!r} is {type(many).__name__}, expected a list of images")
        if any(v is None for v in many):
            raise ItemError(item_id, "missing_image", f"{source.images_field!r} holds a null image")
        values.extend(many)
    one = row.get(source.image_field)
    if one is not None:
        values.append(one)
    if not values and source.image_template:
        fields = {k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, (str, int, float))}
        try:
            values.append(source.image_template.format_map({**fields, "id": item_id}))
        except (KeyError, IndexError, ValueError) as e:
            raise ItemError(item_id, "missing_image", f"image_template {source.image_template!r} cannot be filled: {e!r}") from e
    return values
