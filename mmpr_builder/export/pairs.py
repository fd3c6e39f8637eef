"""Pair rows of an output folder's shards -> :class:`ExportPair`, the form every export format starts from.

The rows have the columns of :func:`mmpr_builder.schema.pair_features`: ``prompt`` (a
system message, optionally, then one user message whose content parts are text or
image parts), ``chosen`` and ``rejected`` (one assistant message each) and ``images``
(``{bytes, path}``, one per image part, in order). A row that no trainer format can
hold is returned as a :class:`~mmpr_builder.errors.ItemError` with a cause from
:data:`SKIP_CAUSES` (counted and skipped by the export, never fatal).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ItemError, OutputError

logger = logging.getLogger(__name__)

#: the image placeholder that InternVL (``internvl_chat_mpo.py``: ``'<image>' in data_item['question']``),
#: ms-swift (docs ``Customization/Custom-dataset.md``, "Multimodal") and LLaMA-Factory
#: (``extras/constants.py`` ``IMAGE_PLACEHOLDER``) all expect in the user text, one per image.
IMAGE_PLACEHOLDER = "<image>"

#: the pair columns an export reads
COLUMNS = ("id", "item_id", "prompt", "chosen", "rejected", "images")

SKIP_CAUSES = {
    "unknown_part": "a message part is neither text nor image",
    "multi_turn_prompt": "the prompt is not one user turn (after an optional system message)",
    "bad_response": "chosen or rejected is not one assistant message with text only",
    "image_count_mismatch": "the number of image parts in the prompt differs from the number of images",
    "placeholder_in_text": f"a text contains {IMAGE_PLACEHOLDER!r}, which the trainers would take for an image",
    "identical_responses": "chosen and rejected have the same text (ms-swift refuses such rows)",
    "bad_image": "an image has no bytes or cannot be identified by Pillow",
    "system_message": "the format has no field for the prompt's system message",
}


@dataclass(frozen=True)
class ExportPair:
    """One pair as the trainer formats need it.

    Attributes:
        id, item_id: the pair id and its item's id.
        system: the system message's text, or None.
        user: the user turn's content parts in order: a ``str`` is text, an ``int`` is the
            index of an image in ``images``.
        chosen, rejected: the response texts.
        images: the encoded image files (PNG, JPEG, ... bytes as embedded in the shard).
    """

    id: str
    item_id: str
    system: str | None
    user: tuple[str | int, ...]
    chosen: str
    rejected: str
    images: tuple[bytes, ...]

    def question(self, placeholder: str = IMAGE_PLACEHOLDER) -> str:
        """The user turn as one string: each image part becomes ``placeholder + "\\n"``, text parts stay.

        With the builder's prompts (images first, then the text) this is InternVL's own
        layout, ``'<image>\\n' + question`` (``internvl_chat_mpo.py``, ``multi_modal_get_item``).
        """
        return "".join(f"{placeholder}\n" if isinstance(p, int) else p for p in self.user)


def _texts(message: dict, row_id: str, item_id: str, what: str) -> list[str | None]:
    """The parts of a message: text (str) or image (None)."""
    parts = []
    for p in message.get("content") or []:
        if p.get("type") == "text":
            parts.append(p.get("text") or "")
        elif p.get("type") == "image":
            parts.append(None)
        else:
            raise ItemError(item_id, "unknown_part", f"pair {row_id}: {what} has a part of type {p.get('type')!r}")
    return parts


def _response(messages: list[dict] | None, row_id: str, item_id: str, what: str) -> str:
    if not messages or len(messages) != 1 or messages[0].get("role") != "assistant":
        roles = [m.get("role") for m in messages or []]
        raise ItemError(item_id, "bad_response", f"pair {row_id}: {what} is not one assistant message (roles {roles})")
    parts = _texts(messages[0], row_id, item_id, what)
    if any(p is None for p in parts):
        raise ItemError(item_id, "bad_response", f"pair {row_id}: {what} contains an image part")
    return "".join(parts)


def to_export_pair(row: dict) -> ExportPair:
    """Check one pair row (a dict with at least :data:`COLUMNS`) and convert it.

    Raises:
        ItemError: with ``item_id`` and a cause from :data:`SKIP_CAUSES`.
    """
    row_id, item_id = row["id"], row["item_id"]
    prompt = list(row["prompt"] or [])
    system = None
    if prompt and prompt[0].get("role") == "system":
        parts = _texts(prompt[0], row_id, item_id, "prompt")
        if any(p is None for p in parts):
            raise ItemError(item_id, "multi_turn_prompt", f"pair {row_id}: the system message has an image part")
        system, prompt = "".join(parts), prompt[1:]
    if len(prompt) != 1 or prompt[0].get("role") != "user":
        raise ItemError(item_id, "multi_turn_prompt",
                        f"pair {row_id}: prompt roles {[m.get('role') for m in row['prompt'] or []]}; "
                        "expected [system,] user")
    parts = _texts(prompt[0], row_id, item_id, "prompt")
    chosen = _response(row["chosen"], row_id, item_id, "chosen")
    rejected = _response(row["rejected"], row_id, item_id, "rejected")
    images = [im or {} for im in row["images"] or []]
    n_parts = sum(p is None for p in parts)
    if n_parts != len(images):
        raise ItemError(item_id, "image_count_mismatch",
                        f"pair {row_id}: {n_parts} image parts in the prompt, {len(images)} images")
    for what, text in (("system", system), ("prompt", "".join(p for p in parts if p)), ("chosen", chosen),
                       ("rejected", rejected)):
        if text and IMAGE_PLACEHOLDER in text:
            raise ItemError(item_id, "placeholder_in_text", f"pair {row_id}: the {what} text contains "
                                                            f"{IMAGE_PLACEHOLDER!r}")
    if chosen == rejected:
        raise ItemError(item_id, "identical_responses", f"pair {row_id}: chosen and rejected are the same text")
    if any(not im.get("bytes") for im in images):
        raise ItemError(item_id, "bad_image", f"pair {row_id}: an image has no bytes")
    user, k = [], 0
    for p in parts:
        if p is None:
            user.append(k)
            k += 1
        elif p:
            user.append(p)
    return ExportPair(id=row_id, item_id=item_id, system=system, user=tuple(user), chosen=chosen,
                      rejected=rejected, images=tuple(im["bytes"] for im in images))


def pair_shards(out_dir: Path) -> list[Path]:
    """The finished shards of an output folder, in order.

    With a ``manifest.json`` (an ``mmpr build`` folder): the shards it lists, each checked
    (size and SHA-256). Without one (e.g. a dataset downloaded from the Hub):
    ``data/*.parquet``. Rows still in the shard being filled (an unfinished build) are
    not exported; a warning says how many.

    Raises:
        OutputError: no such folder, no shards, or a listed shard is missing or damaged.
    """
    from ..output.manifest import MANIFEST_NAME
    from ..output.state import read_state

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir}: no such output folder")
    if (out_dir / MANIFEST_NAME).is_file():
        state = read_state(out_dir)
        bad = [p for p in state.problems if p.startswith("shard ")]
        if bad:
            raise OutputError(f"{out_dir}: {'; '.join(bad)}; rerun `mmpr build` to repair the folder first")
        if state.open_rows():
            logger.warning("%s: %d pair rows of the unfinished shard are not exported (finish the build first)",
                           out_dir, state.open_rows())
        files = [out_dir / s.name for s in state.manifest.shards]
    else:
        files = sorted(p for p in (out_dir / "data").glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise OutputError(f"{out_dir}: no finished pair shards (expected data/*.parquet of `mmpr build`)")
    return files


def read_pairs(shards: list[Path], batch_rows: int = 256) -> Iterator[ExportPair | ItemError]:
    """Each row of ``shards`` in order, as an :class:`ExportPair`, or the :class:`ItemError` that skips it.

    Rows are read ``batch_rows`` at a time (only :data:`COLUMNS`), so memory does not grow with the shards.

    Raises:
        OutputError: a shard cannot be read or lacks one of :data:`COLUMNS`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in shards:
        try:
            pf = pq.ParquetFile(path)
            missing = [c for c in COLUMNS if c not in pf.schema_arrow.names]
            if missing:
                raise OutputError(f"{path}: not a pair shard (missing columns {missing})")
            batches = pf.iter_batches(batch_size=batch_rows, columns=list(COLUMNS))
            for batch in batches:
                for row in batch.to_pylist():
                    try:
                        yield to_export_pair(row)
                    except ItemError as e:
                        yield e
        except (OSError, pa.ArrowException) as e:
            raise OutputError(f"{path}: cannot read the shard: {e}") from e
