"""The responses table: every engine result of a build, labelled, declared once as ``datasets.Features``.

The build keeps every response it sampled (``responses/responses-NNNNN.parquet``,
committed with the item exactly like its pairs; see :mod:`mmpr_builder.output.manifest`),
so that ``mmpr relabel`` can re-label and re-pair without the model
(:mod:`mmpr_builder.relabel`). One row per response, ``kind`` says which request
made it:

- ``sample``: the ``index``-th of the item's K chain-of-thought samples, with its
  labels (``answer``: the extracted final answer, ``verdict``, ``judged_by``,
  hygiene ``issue``);
- ``dropout_ntp``: the ``index``-th DropoutNTP attempt: the sample ``chosen_index``
  cut at ``cut_char``/``cut_token`` and continued without the image (``text`` is
  the continuation; the rejected is ``chosen[:cut_char] + text``). ``drop_reason``
  says why it gave no pair (``too_short``: no cut, no request; null: a pair);
- ``judge``: the judge model's reply about sample ``index`` (judge backend ``engine``).

Every row carries its request's ``seed`` and ``request_sha256`` (:func:`request_digest`:
what was asked, so a relabel reuses a response only for the very same request), the
request's ``prompt_num_tokens`` and the generated ``token_ids``. The item itself
(question, ground truth, choices, answer type, meta, images: stored once, not per
response) is on its first row (``sample`` 0), null elsewhere; the request's
``prompt_token_ids`` are on the first row of each request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from ..errors import OutputError
from .manifest import RESPONSE_PARTS_DIR, RESPONSES_DIR

RESPONSE_KINDS = ("sample", "dropout_ntp", "judge")
#: columns that may not be null in a response row
REQUIRED = ("id", "item_id", "kind", "index")
#: the item's columns, set on its first row only
ITEM_COLUMNS = ("question", "ground_truth", "choices", "answer_type", "meta", "images")


def _features():
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("string"),
        "item_id": Value("string"),
        "source": Value("string"),
        "kind": Value("string"),
        "index": Value("int32"),
        "chosen_index": Value("int32"),
        "seed": Value("int64"),
        "request_sha256": Value("string"),
        "text": Value("string"),
        "finish_reason": Value("string"),
        "num_tokens": Value("int32"),
        "token_ids": List(Value("int32")),
        "prompt_num_tokens": Value("int32"),
        "prompt_token_ids": List(Value("int32")),
        "error": Value("string"),
        "answer": Value("string"),
        "verdict": Value("string"),
        "judged_by": Value("string"),
        "issue": Value("string"),
        "cut_char": Value("int32"),
        "cut_token": Value("int32"),
        "drop_reason": Value("string"),
        "question": Value("string"),
        "ground_truth": Value("string"),
        "choices": List(Value("string")),
        "answer_type": Value("string"),
        "meta": Value("string"),
        "images": List(Image()),
    })


_FEATURES = None


def response_features():
    """The ``datasets.Features`` of a response row (built once; importing datasets is slow)."""
    global _FEATURES
    if _FEATURES is None:
        _FEATURES = _features()
    return _FEATURES


def response_shard_name(index: int) -> str:
    """Relative path of the responses of shard ``index``: ``responses/responses-00000.parquet``."""
    return f"{RESPONSES_DIR}/responses-{index:05d}.parquet"


def response_part_name(shard: int, commit: int) -> str:
    """Relative path of the responses committed by commit ``commit`` to shard ``shard`` (open shard)."""
    return f"{RESPONSE_PARTS_DIR}/responses-{shard:05d}.part-{commit:05d}.parquet"


def request_digest(request) -> str:
    """Hex SHA-256 of what a :class:`~mmpr_builder.engines.GenerationRequest` asks.

    Covers the key, seed, ``n``, ``continue_final_message``, the sampling settings and the
    messages' roles and text parts, each image part counted as ``<image>`` (the images are
    the item's own, stored with it). A relabel serves a stored response only to a request
    with the same digest.
    """
    messages = [{"role": m.get("role"), "content": m["content"] if isinstance(m.get("content"), str) else
                 [p.get("text") if p.get("type") == "text" else "<image>" for p in m.get("content") or []]}
                for m in request.messages]
    sampling = dataclasses.asdict(request.sampling) if request.sampling is not None else None
    blob = json.dumps({"key": request.key, "seed": request.seed, "n": request.n,
                       "continue": request.continue_final_message, "sampling": sampling, "messages": messages},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def empty_row(item_id: str, source: str, kind: str, index: int) -> dict[str, Any]:
    """A response row with every column of :func:`response_features`, all but the named ones null."""
    row = dict.fromkeys(response_features(), None)
    row.update(id=f"{item_id}#{kind}/{index}", item_id=item_id, source=source, kind=kind, index=index)
    return row


def item_columns(item) -> dict[str, Any]:
    """The columns that store a :class:`~mmpr_builder.items.QuestionItem` (its first row's)."""
    return {"question": item.question, "ground_truth": item.ground_truth, "choices": item.choices,
            "answer_type": item.answer_type, "meta": json.dumps(item.meta, sort_keys=True, ensure_ascii=False),
            "images": [{"bytes": im.bytes, "path": im.path} for im in item.images]}


def item_from_row(row: dict[str, Any]):
    """The :class:`~mmpr_builder.items.QuestionItem` stored on an item's first row (``sample`` 0).

    Raises:
        OutputError: the row is not an item's first row (no question stored).
    """
    from ..items import ImageData, QuestionItem

    if row["kind"] != "sample" or row["index"] != 0 or row["question"] is None:
        raise OutputError(f"item {row['item_id']!r}: its first stored response row ({row['id']}) does not hold the item")
    images = [ImageData(im["bytes"], im.get("path")) for im in row["images"] or []]
    return QuestionItem(row["item_id"], row["question"], images, row["ground_truth"], row["choices"],
                        row["answer_type"] or "auto", row["source"] or "", json.loads(row["meta"] or "{}"))


def encode_response_rows(item_id: str, rows: list[dict], schema):
    """Check and encode the response rows of one item into a ``pyarrow.Table`` with ``schema``.

    Each row must have exactly the columns of :func:`response_features`, non-null
    :data:`REQUIRED` columns, ``item_id == item_id``, a ``kind`` of :data:`RESPONSE_KINDS`
    and an ``id`` unique within the item; images are embedded as in the pair shards.

    Args:
        schema: ``response_features().arrow_schema``, possibly with extra metadata.
    Raises:
        OutputError: naming the item and row, for any of the above or a value of the wrong type.
    """
    from .shard_rows import encode_checked

    return encode_checked(item_id, rows, schema, response_features(), required=REQUIRED, kind_column="kind",
                          kinds=RESPONSE_KINDS, what="response")


def make_response_rows(p) -> list[dict[str, Any]]:
    """The response rows of one finished item, from its :class:`~mmpr_builder.labeling.PreparedItem`.

    Rows: the K samples in sampling order (labels from ``p.record``), then the DropoutNTP
    attempts by draw position, then the judge replies by sample index; columns as in the
    module docstring.
    """
    item, rec = p.item, p.record
    rows = []

    def request_columns(row: dict, key: str, result_prompt_ids: bool) -> None:
        sha, seed = rec.requests.get(key, (None, None))
        ids = rec.prompt_ids.get(key)
        row.update(request_sha256=sha, seed=seed, prompt_num_tokens=None if ids is None else len(ids))
        if result_prompt_ids:
            row["prompt_token_ids"] = ids

    def response_columns(row: dict, r) -> None:
        row.update(text=r.text, finish_reason=r.finish_reason, num_tokens=r.num_tokens, token_ids=r.token_ids)

    for j, r in enumerate(p.responses):
        row = empty_row(item.id, item.source, "sample", j)
        request_columns(row, item.id, j == 0)
        response_columns(row, r)
        if j == 0:
            row.update(item_columns(item))
        if rec.labels is not None:
            lr = rec.labels[j]
            row.update(answer=lr.check.extracted, verdict=lr.check.verdict.value, judged_by=lr.check.judged_by,
                       issue=lr.issue)
        elif rec.issues is not None:
            row["issue"] = rec.issues[j]
        rows.append(row)
    for k, attempt in sorted(rec.attempts.items()):
        row = empty_row(item.id, item.source, "dropout_ntp", k)
        cut, result = attempt["cut"], attempt["result"]
        row.update(chosen_index=attempt["chosen_index"], drop_reason=attempt["drop"],
                   cut_char=cut.cut_char if cut else None, cut_token=cut.cut_token if cut else None)
        if cut is not None:
            request_columns(row, f"{item.id}#dropout_ntp/{k}", True)
        if result is not None:
            row["error"] = result.error
            if result.responses:
                response_columns(row, result.responses[0])
        rows.append(row)
    for i, result in sorted(rec.judge.items()):
        row = empty_row(item.id, item.source, "judge", i)
        request_columns(row, result.key, True)
        row["error"] = result.error
        if result.responses:
            response_columns(row, result.responses[0])
        rows.append(row)
    return rows
