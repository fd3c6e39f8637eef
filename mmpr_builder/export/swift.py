"""ms-swift's RLHF (DPO) dataset format: one JSONL file, no index.

Source: modelscope/ms-swift at commit 3602360a562313afbf2ef6065fdf61f271a2c5b9,
``docs/source_en/Customization/Custom-dataset.md`` ("RLHF", "DPO/ORPO/CPO/SimPO/RM" and
"Multimodal") and ``swift/dataset/preprocessor/core.py``:

- ``messages``: ``{role, content}`` with content a string; roles ``system`` (optional),
  ``user``, ``assistant``; the last message is the chosen response.
- ``rejected_response``: the rejected text (the images are shared: ``rejected_images``
  defaults to ``images``). ``RowPreprocessor._check_rejected_response`` refuses a rejected
  response equal to the chosen one (such pairs are skipped before any format).
- ``images``: paths, one per ``<image>`` tag in the messages, in order. A relative path is
  resolved from the working folder, or from ``$ROOT_IMAGE_DIR`` when set
  (``swift/template/vision_utils.py``, ``_check_path``); the paths here are relative to DIR,
  so train with ``ROOT_IMAGE_DIR=DIR`` (or from DIR). A text-only pair has ``images: []``.

Layout: ``DIR/images/<sha256>.<ext>``, ``DIR/NAME.jsonl``.
"""

from __future__ import annotations

from typing import Any

from .base import ExportFormat, ExportTarget
from .pairs import ExportPair


def annotation(target: ExportTarget) -> str:
    return f"{target.name}.jsonl"


def row(pair: ExportPair, images: list[str], target: ExportTarget) -> dict[str, Any]:
    """``{messages: [system?, user, assistant (chosen)], rejected_response, images}``."""
    messages = [{"role": "system", "content": pair.system}] if pair.system is not None else []
    messages += [{"role": "user", "content": pair.question()}, {"role": "assistant", "content": pair.chosen}]
    return {"messages": messages, "rejected_response": pair.rejected, "images": list(images)}


def usage(target: ExportTarget, annotation_path: str) -> str:
    return (f"ms-swift: ROOT_IMAGE_DIR={target.dir} swift rlhf --rlhf_type dpo "
            f"--dataset {target.dir / annotation_path} --model MODEL")


SWIFT = ExportFormat(name="swift", summary="ms-swift RLHF/DPO: NAME.jsonl (messages, rejected_response, images)",
                     annotation=annotation, row=row, usage=usage)
