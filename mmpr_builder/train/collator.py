"""Collate prepared pairs into one ``[chosen; rejected]`` batch for a single forward pass.

For ``B`` pairs the batch holds ``2B`` sequences: rows ``0..B-1`` are
``prompt_i + chosen_i``, rows ``B..2B-1`` are ``prompt_i + rejected_i``, right
padded. The prompts (with their images) go through the model's processor once;
the image tensors it returns are repeated for the rejected half (concatenated
on dim 0, which is the image, tile or row axis of every family in
:data:`~mmpr_builder.train.families.TRAIN_FAMILIES`: Idefics3 and
LLaVA-OneVision ``pixel_values`` per row, ``image_sizes`` and
``batch_num_images`` per image/row, Qwen2-VL/2.5-VL patches and
``image_grid_thw`` per image, InternVL tiles; tests/train/test_train_families.py
checks each against the pairs run alone). Output keys:

- ``input_ids``, ``attention_mask``: ``(2B, L)``;
- ``completion_mask``: ``(2B, L)``, 1 on response tokens only (the labels);
- the processor's image tensors (``pixel_values``, ``pixel_attention_mask``,
  ``image_grid_thw``, ...), and per-token type ids extended with zeros;
- ``ref_chosen_logps`` / ``ref_rejected_logps``: ``(B,)`` float32, when the
  rows carry cached reference log-probs (or :attr:`MPODataCollator.reference` has
  them by ``row_hash``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mmpr_builder.errors import ItemError
from mmpr_builder.train.data import decode_images, is_vision_processor, tokenizer_of

PER_TOKEN_KEYS = ("token_type_ids", "mm_token_type_ids")
NON_MODEL_KEYS = ("completion_mask", "ref_chosen_logps", "ref_rejected_logps")


@dataclass
class MPODataCollator:
    """Callable ``list[row] -> batch`` for rows from :func:`~mmpr_builder.train.data.prepare_pairs`.

    Attributes:
        processor: the model's processor (or tokenizer for a text-only model).
        pad_token_id: padding id; default the tokenizer's pad id, else its eos id, else 0.
        reference: reference log-probs ``(chosen, rejected)`` by ``row_hash``, for rows without
            ``ref_*_logps`` columns (set by the trainer after a reference pass through a sharded model).
    """

    processor: Any
    pad_token_id: int | None = None
    reference: dict[str, tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if self.pad_token_id is None:
            tok = tokenizer_of(self.processor)
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            self.pad_token_id = int(pad) if pad is not None else 0

    def _prompts(self, rows: list[dict[str, Any]]) -> tuple[list[list[int]], dict[str, torch.Tensor], dict]:
        texts = [r["prompt_text"] for r in rows]
        if not is_vision_processor(self.processor):
            enc = self.processor(texts, add_special_tokens=False)
            return [list(ids) for ids in enc["input_ids"]], {}, {}
        images = [decode_images(r["images"]) for r in rows]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt", "add_special_tokens": False}
        if any(images):
            kwargs["images"] = images
        enc = self.processor(**kwargs)
        mask = enc["attention_mask"].bool()
        prompt_ids = [enc["input_ids"][i][mask[i]].tolist() for i in range(len(rows))]
        per_token = {k: [enc[k][i][mask[i]] for i in range(len(rows))] for k in PER_TOKEN_KEYS if k in enc}
        extra = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask", *PER_TOKEN_KEYS)}
        return prompt_ids, extra, per_token

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prompt_ids, extra, per_token = self._prompts(rows)
        for row, ids in zip(rows, prompt_ids):
            if len(ids) != row["prompt_len"]:
                raise ItemError(row.get("id"), "prompt_length_changed",
                                f"the processor gave {len(ids)} prompt tokens, {row['prompt_len']} when the row "
                                "was prepared (was the processor or max_length changed?)")
        responses = [r["chosen_ids"] for r in rows] + [r["rejected_ids"] for r in rows]
        prompts = prompt_ids + prompt_ids
        length = max(len(p) + len(c) for p, c in zip(prompts, responses))
        n = len(prompts)
        input_ids = torch.full((n, length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((n, length), dtype=torch.long)
        completion_mask = torch.zeros((n, length), dtype=torch.long)
        for i, (p, c) in enumerate(zip(prompts, responses)):
            input_ids[i, : len(p) + len(c)] = torch.tensor(p + list(c), dtype=torch.long)
            attention_mask[i, : len(p) + len(c)] = 1
            completion_mask[i, len(p): len(p) + len(c)] = 1
        batch: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask,
                                          "completion_mask": completion_mask}
        for key, parts in per_token.items():
            t = torch.zeros((n, length), dtype=parts[0].dtype)
            for i, part in enumerate(parts + parts):
                t[i, : len(part)] = part
            batch[key] = t
        for key, value in extra.items():
            batch[key] = torch.cat([value, value], dim=0) if isinstance(value, torch.Tensor) else value
        if "ref_chosen_logps" in rows[0]:
            refs = [(r["ref_chosen_logps"], r["ref_rejected_logps"]) for r in rows]
        elif self.reference is not None:
            refs = [self.reference[r["row_hash"]] for r in rows]
        else:
            return batch
        batch["ref_chosen_logps"] = torch.tensor([c for c, _ in refs], dtype=torch.float32)
        batch["ref_rejected_logps"] = torch.tensor([r for _, r in refs], dtype=torch.float32)
        return batch
