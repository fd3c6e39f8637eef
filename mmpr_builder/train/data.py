"""Pair shards -> tokenised training rows for the MPO trainer.

Input: Parquet shards with the columns of :func:`mmpr_builder.schema.pair_features`
(TRL's conversational preference format plus ``images``). Output: a
``datasets.Dataset`` with one row per kept pair and the columns

- ``id``: the pair id; ``images``: the images, undecoded (``{bytes, path}``);
- ``prompt_text``: the prompt rendered with the model's chat template
  (generation prompt included); ``prompt_len``: its token count *after* the
  processor expanded the image placeholders;
- ``chosen_ids`` / ``rejected_ids``: token ids of each response as the chat
  template renders it (end-of-turn token included);
- ``row_hash``: SHA-256 of the rendered texts and image bytes (keys the
  reference log-prob cache).

Rows are never truncated: a pair whose prompt (image tokens included) plus its
longer response exceeds ``max_length`` tokens is skipped and counted, as are
rows that cannot be used at all (:class:`SkipReport`). Prompt and responses are
tokenised separately and concatenated, as TRL's DPO collators do, so the
response tokens are exactly those the labels cover.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any

from mmpr_builder.errors import ConfigError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "prompt", "chosen", "rejected", "images")
PREPARED_COLUMNS = ("id", "images", "prompt_text", "prompt_len", "chosen_ids", "rejected_ids", "row_hash")

SKIP_CAUSES = {
    "too_long": "prompt (image tokens included) + response longer than max_length tokens",
    "images_need_vision_model": "the row has images but the model is text-only",
    "image_count_mismatch": "the number of image parts in the prompt differs from the number of images",
    "empty_response": "chosen or rejected renders to no tokens",
    "bad_image": "an image cannot be decoded",
}


def find_shards(data: str | Path) -> list[Path]:
    """The Parquet files of ``data``: the file itself, ``data/data/**/*.parquet`` (``mmpr build``
    output) if that folder exists, else ``data/**/*.parquet``. Hidden files are ignored.

    Raises:
        ConfigError: the path does not exist or holds no Parquet file.
    """
    path = Path(data).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"--data {path}: no such file or folder")
    root = path / "data" if (path / "data").is_dir() else path
    files = sorted(p for p in root.rglob("*.parquet")
                   if not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise ConfigError(f"--data {path}: no .parquet shards found (expected the output folder of `mmpr build`)")
    return files


def load_pairs(data: str | Path | list[Path]):
    """Load pair shards as one ``datasets.Dataset`` with ``images`` left undecoded.

    Raises:
        ConfigError: no shards, or a shard lacks one of :data:`REQUIRED_COLUMNS`.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset, Image, List

    files = list(data) if isinstance(data, list) else find_shards(data)
    for f in files:
        names = pq.read_schema(f).names
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ConfigError(f"{f}: not a pair shard, missing columns {missing} (see mmpr_builder.schema)")
    ds = Dataset.from_parquet([str(f) for f in files])
    return ds.cast_column("images", List(Image(decode=False)))


@dataclass
class SkipReport:
    """How many pairs were read, kept and skipped (by cause, with up to 5 example ids each)."""

    total: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def message(self, max_length: int | None) -> str:
        """One human-readable line per cause, e.g. for the log."""
        if not self.skipped:
            return f"using all {self.total} pairs"
        lines = [f"skipped {sum(self.skipped.values())} of {self.total} pairs, kept {self.kept}:"]
        for cause, n in self.skipped.most_common():
            text = SKIP_CAUSES.get(cause, cause).replace("max_length", f"max_length={max_length}")
            lines.append(f"  {n} x {cause}: {text} (ids: {', '.join(self.examples.get(cause, []))})")
        if "too_long" in self.skipped:
            lines.append("  image tokens are never truncated; raise max_length or shorten these rows")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "kept": self.kept, "skipped": dict(self.skipped), "examples": self.examples}


def is_vision_processor(processor: Any) -> bool:
    """True for a multimodal processor (has an image processor), False for a plain tokenizer."""
    return getattr(processor, "image_processor", None) is not None


def tokenizer_of(processor: Any) -> Any:
    """The tokenizer inside a processor, or the tokenizer itself."""
    return getattr(processor, "tokenizer", None) or processor


def decode_images(images: list[dict[str, Any]] | None) -> list[Any]:
    """``[{bytes, path}]`` -> list of RGB ``PIL.Image`` (bytes first, else the path)."""
    from PIL import Image

    out = []
    for img in images or []:
        if hasattr(img, "convert"):  # already a PIL image
            out.append(img.convert("RGB"))
        elif img.get("bytes") is not None:
            out.append(Image.open(io.BytesIO(img["bytes"])).convert("RGB"))
        else:
            out.append(Image.open(img["path"]).convert("RGB"))
    return out


def _messages(messages: list[dict[str, Any]], vision: bool) -> list[dict[str, Any]]:
    """Schema messages -> chat-template input; text-only models get plain string content."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        else:
            parts = [{"type": p["type"], "text": p.get("text")} if p["type"] == "text" else {"type": p["type"]}
                     for p in content]
        if vision:
            out.append({"role": m["role"], "content": parts})
        else:
            out.append({"role": m["role"], "content": "".join(p.get("text") or "" for p in parts)})
    return out


def render_pair(processor: Any, prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> tuple[str, str, str]:
    """Render ``(prompt_text, chosen_text, rejected_text)`` with the model's chat template.

    The prompt is rendered with the generation prompt; each response is the
    rest of ``template(prompt + response)``. Where a template renders the
    prompt differently inside the full conversation, the prompt is cut to the
    common prefix (as ``trl.data_utils.apply_chat_template`` does).
    """
    vision = is_vision_processor(processor)
    p = _messages(prompt, vision)
    prompt_text = processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
    full_c = processor.apply_chat_template(p + _messages(chosen, vision), tokenize=False)
    full_r = processor.apply_chat_template(p + _messages(rejected, vision), tokenize=False)
    if not (full_c.startswith(prompt_text) and full_r.startswith(prompt_text)):
        prompt_text = "".join(a for a, *_ in takewhile(lambda t: t[0] == t[1] == t[2], zip(prompt_text, full_c, full_r)))
    return prompt_text, full_c[len(prompt_text):], full_r[len(prompt_text):]


def prompt_token_ids(processor: Any, prompt_text: str, images: list[Any]) -> list[int]:
    """Token ids of a rendered prompt, image placeholders expanded by the processor."""
    if images:
        enc = processor(text=[prompt_text], images=[images], add_special_tokens=False)
    elif is_vision_processor(processor):
        enc = processor(text=[prompt_text], add_special_tokens=False)
    else:
        enc = processor([prompt_text], add_special_tokens=False)
    ids = enc["input_ids"][0]
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def prepare_row(row: dict[str, Any], processor: Any, max_length: int | None) -> dict[str, Any]:
    """Tokenise one pair row; returns the new :data:`PREPARED_COLUMNS` plus ``skip`` ("" when kept).

    ``id`` and ``images`` are left as they are (not returned).
    """
    out = {"prompt_text": "", "prompt_len": 0,
           "chosen_ids": [], "rejected_ids": [], "row_hash": "", "skip": ""}
    raw_images = row["images"] or []
    n_parts = sum(1 for m in row["prompt"] for p in (m["content"] if not isinstance(m["content"], str) else [])
                  if p["type"] in ("image", "image_url", "image_pil"))
    if n_parts != len(raw_images):
        out["skip"] = "image_count_mismatch"
        return out
    if raw_images and not is_vision_processor(processor):
        out["skip"] = "images_need_vision_model"
        return out
    try:
        images = decode_images(raw_images)
    except Exception:  # PIL raises many types for corrupt bytes
        out["skip"] = "bad_image"
        return out
    prompt_text, chosen_text, rejected_text = render_pair(processor, row["prompt"], row["chosen"], row["rejected"])
    tok = tokenizer_of(processor)
    chosen_ids = tok(chosen_text, add_special_tokens=False)["input_ids"]
    rejected_ids = tok(rejected_text, add_special_tokens=False)["input_ids"]
    prompt_len = len(prompt_token_ids(processor, prompt_text, images))
    h = hashlib.sha256()
    for part in (prompt_text, chosen_text, rejected_text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    for img in raw_images:
        h.update(hashlib.sha256(img["bytes"] if img.get("bytes") is not None else str(img["path"]).encode()).digest())
    out.update(prompt_text=prompt_text, prompt_len=prompt_len, chosen_ids=chosen_ids,
               rejected_ids=rejected_ids, row_hash=h.hexdigest())
    if not chosen_ids or not rejected_ids:
        out["skip"] = "empty_response"
    elif max_length is not None and prompt_len + max(len(chosen_ids), len(rejected_ids)) > max_length:
        out["skip"] = "too_long"
    return out


def prepare_pairs(dataset, processor: Any, max_length: int | None = None,
                  num_proc: int | None = None) -> tuple[Any, SkipReport]:
    """Tokenise every pair of ``dataset`` (from :func:`load_pairs`) and drop the unusable ones.

    Returns:
        ``(prepared, report)``: ``prepared`` has :data:`PREPARED_COLUMNS`, in
        input order; ``report`` counts what was skipped and why.
    Raises:
        ConfigError: no pair is left.
    """
    mapped = dataset.map(prepare_row, fn_kwargs={"processor": processor, "max_length": max_length},
                         remove_columns=[c for c in dataset.column_names if c not in ("id", "images")],
                         num_proc=num_proc, desc="Tokenising pairs")
    report = SkipReport(total=len(mapped))
    for pair_id, cause in zip(mapped["id"], mapped["skip"]):
        if cause:
            report.skipped[cause] += 1
            ex = report.examples.setdefault(cause, [])
            if len(ex) < 5:
                ex.append(pair_id)
    kept = mapped.filter(lambda skip: not skip, input_columns=["skip"]) if report.skipped else mapped
    kept = kept.remove_columns(["skip"])
    report.kept = len(kept)
    if report.skipped:
        logger.warning(report.message(max_length))
    if report.kept == 0:
        raise ConfigError("no usable pairs: " + report.message(max_length))
    return kept, report


def data_fingerprint(prepared) -> str:
    """SHA-256 over the ``row_hash`` column, in order: identifies the tokenised training data."""
    h = hashlib.sha256()
    for row_hash in prepared["row_hash"]:
        h.update(row_hash.encode("ascii"))
    return h.hexdigest()
