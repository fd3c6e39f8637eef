"""LLaMA-Factory's sharegpt preference format: a JSONL file plus an entry in ``dataset_info.json``.

Source: hiyouga/LLaMA-Factory at commit ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30,
``data/README.md`` ("Sharegpt Format": "Preference Dataset" and "Multimodal Image Dataset"),
``src/llamafactory/data/parser.py`` (the entry's ``file_name``, ``formatting``, ``ranking``,
``columns`` and ``tags``) and ``src/llamafactory/data/converter.py``
(``SharegptDatasetConverter``):

- ``conversations``: ``{from, value}`` messages; a leading ``from: system`` message is taken
  as the system prompt; the rest alternate ``human``/``gpt`` and, for a ranking dataset,
  number an odd count (they end with a ``human`` turn).
- ``chosen`` / ``rejected``: one ``{from: gpt, value}`` message each.
- ``images``: paths, as many as ``<image>`` tokens in the conversations
  (``IMAGE_PLACEHOLDER``); ``DatasetConverter._find_medias`` joins each to ``media_dir``,
  which defaults to ``dataset_dir``, the folder of ``dataset_info.json``: DIR itself.
  A text-only pair has ``images: []`` (read as no images).

Layout: ``DIR/images/<sha256>.<ext>``, ``DIR/NAME.jsonl``, ``DIR/dataset_info.json``
(train with ``dataset_dir: DIR`` and ``dataset: NAME``).
"""

from __future__ import annotations

from typing import Any

from .base import ExportFormat, ExportTarget
from .pairs import ExportPair

INDEX_NAME = "dataset_info.json"
TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
        "system_tag": "system"}


def annotation(target: ExportTarget) -> str:
    return f"{target.name}.jsonl"


def row(pair: ExportPair, images: list[str], target: ExportTarget) -> dict[str, Any]:
    """``{conversations: [system?, human], chosen: {gpt}, rejected: {gpt}, images}``."""
    conversations = [{"from": TAGS["system_tag"], "value": pair.system}] if pair.system is not None else []
    conversations.append({"from": TAGS["user_tag"], "value": pair.question()})
    return {"conversations": conversations,
            "chosen": {"from": TAGS["assistant_tag"], "value": pair.chosen},
            "rejected": {"from": TAGS["assistant_tag"], "value": pair.rejected},
            "images": list(images)}


def dataset_info_entry(target: ExportTarget, annotation_path: str, rows: int) -> dict[str, Any]:
    """The ``dataset_info.json`` entry: sharegpt, ranking, the column mapping and the role tags."""
    return {"file_name": annotation_path, "formatting": "sharegpt", "ranking": True,
            "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"},
            "tags": dict(TAGS)}


def usage(target: ExportTarget, annotation_path: str) -> str:
    return (f"LLaMA-Factory: stage: dpo, dataset_dir: {target.dir}, dataset: {target.name} "
            "(in the training YAML of llamafactory-cli train)")


LLAMAFACTORY = ExportFormat(name="llamafactory", summary="LLaMA-Factory sharegpt preference: NAME.jsonl "
                                                         "(conversations, chosen, rejected, images) + a "
                                                         "dataset_info.json entry",
                            annotation=annotation, row=row, usage=usage, index_name=INDEX_NAME,
                            index_entry=dataset_info_entry, index_key="file_name")
