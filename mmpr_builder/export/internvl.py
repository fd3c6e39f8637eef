"""InternVL's MPO preference data: a JSONL annotation plus an entry in ``meta.json``.

Source: OpenGVLab/InternVL at commit 2410d1dbf208f0e799459aff9376e5747dbf41a2,
``internvl_chat/internvl/train/internvl_chat_mpo.py``:

- ``build_datasets`` reads the meta file (``--meta_path``), a JSON object ``{ds_name: entry}``;
  an entry needs ``root``, ``annotation`` (must end in ``.jsonl``) and ``repeat_time``, and
  may give ``data_augment`` and ``max_dynamic_patch`` (when absent, the trainer's
  ``--max_dynamic_patch`` applies, so the entry leaves it out). ``length`` is the row count,
  as in InternVL's own meta files (``internvl_chat_gpt_oss/shell/data/debug_mpo.json``).
- ``LazySupervisedDataset.__getitem__`` reads one JSON object per line: ``image`` a string
  (one image) or a list (several), absent for a text-only pair; ``question``, ``chosen``,
  ``rejected`` strings. Image paths are joined to ``root`` (``os.path.join(self.root, path)``),
  and ``root`` and ``annotation`` are opened as given, i.e. from the trainer's working folder.
- The question holds one ``<image>`` per image (``multi_modal_multi_image_get_item`` replaces
  them in order); ``multi_modal_get_item`` would prepend ``'<image>\\n'`` itself when missing.
  A system message has no field in this format (the conversation template sets it): a pair
  with one is skipped (cause ``system_message``) rather than trained on another prompt.

Layout: ``DIR/images/<sha256>.<ext>``, ``DIR/annotations/NAME.jsonl``, ``DIR/meta.json``. The
paths in ``meta.json`` start with ``root_prefix`` (default: DIR's own name), as MMPR's meta
files start with ``MMPR-v1.2/``: run InternVL from DIR's parent, or pass ``--root-prefix``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ItemError
from .base import ExportFormat, ExportTarget
from .images import IMAGES_DIR
from .pairs import ExportPair

META_NAME = "meta.json"


def annotation(target: ExportTarget) -> str:
    return f"annotations/{target.name}.jsonl"


def check(pair: ExportPair) -> None:
    """Raises ItemError (cause ``system_message``) for a pair with a system message."""
    if pair.system is not None:
        raise ItemError(pair.item_id, "system_message", f"pair {pair.id}: InternVL's MPO rows have no system field")


def row(pair: ExportPair, images: list[str], target: ExportTarget) -> dict[str, Any]:
    """``{image?, question, chosen, rejected}``; image paths relative to ``root`` (``DIR/images``)."""
    out: dict[str, Any] = {}
    names = [p.removeprefix(f"{IMAGES_DIR}/") for p in images]
    if len(names) == 1:
        out["image"] = names[0]
    elif names:
        out["image"] = names
    out.update(question=pair.question(), chosen=pair.chosen, rejected=pair.rejected)
    return out


def meta_entry(target: ExportTarget, annotation_path: str, rows: int) -> dict[str, Any]:
    """The ``meta.json`` entry: root, annotation, data_augment, repeat_time, length."""
    prefix = target.root_prefix.rstrip("/")
    join = (lambda p: f"{prefix}/{p}") if prefix else (lambda p: p)
    return {"root": join(IMAGES_DIR), "annotation": join(annotation_path), "data_augment": False,
            "repeat_time": 1, "length": rows}


def usage(target: ExportTarget, annotation_path: str) -> str:
    where = f"the folder holding {target.root_prefix}/" if target.root_prefix else str(target.dir)
    return (f"InternVL: from {where}, run internvl_chat/internvl/train/internvl_chat_mpo.py with "
            f"--meta_path {target.root_prefix + '/' if target.root_prefix else ''}{META_NAME}")


INTERNVL = ExportFormat(name="internvl", summary="InternVL MPO: annotations/NAME.jsonl (image, question, chosen, "
                                                 "rejected) + a meta.json entry",
                        annotation=annotation, row=row, usage=usage, index_name=META_NAME, index_entry=meta_entry,
                        index_key="annotation", check=check)
