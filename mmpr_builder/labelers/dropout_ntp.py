"""DropoutNTP (MMPR, arXiv 2411.10442, section 3.1): pairs for items without a ground truth.

The chosen is the model's own response generated *with* the image. It is cut
at a share ``ratio`` of its tokens (:func:`cut_response`); the same model then
continues the prefix with every image removed from the prompt
(:func:`continuation_messages`, sent with ``continue_final_message=True``);
the rejected is the prefix followed by that continuation (:func:`make_rejected`).
MMPR's data files call these ``*_prefix_pair_sr0.5_wo_image`` (InternVL#831).

Where this differs from the reference tools (``shared/notes/mmpr-reference.md``):

- The cut is counted in the model's tokens, not in space-separated words, so
  text without spaces (Chinese, Japanese, Thai) is cut too.
- **Join rule.** The prefix always ends where a word ends: on a character that
  is not whitespace, followed by whitespace, or next to a character of a
  no-space script. The whitespace that followed it in the chosen is *not* part
  of the prefix; the model's continuation supplies it (BPE/SentencePiece
  tokenizers attach a leading space to the next word, e.g. ``" the"``, so that
  is the continuation the model naturally produces). The rejected is the plain
  concatenation ``prefix + continuation``: no stripping, no inserted space.
  A prefix ending in whitespace would also be unsafe: transformers'
  ``apply_chat_template(continue_final_message=True)`` may trim the trailing
  whitespace of the final message, so the model would not see what we join.
- A continuation that is empty/whitespace, or a rejected equal to the chosen
  (ignoring whitespace differences), gives no pair; the reason is returned so
  the pipeline can count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmpr_builder.labelers.hygiene import is_no_space_char

IMAGE_PART_TYPES = frozenset({"image", "image_url", "image_pil", "image_embeds", "input_image"})


@dataclass(frozen=True)
class Cut:
    """Where a chosen response was cut.

    Attributes:
        prefix: the kept text, equal to ``chosen[:cut_char]``; non-empty and not
            ending in whitespace.
        cut_char: length of the prefix in characters (Python ``str`` indices).
        cut_token: number of the chosen's tokens that decode to the prefix.
    """

    prefix: str
    cut_char: int
    cut_token: int


def _decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _is_word_end(text: str, c: int) -> bool:
    """True when position ``c`` (0 < c < len(text)) ends a word: ``text[c-1]`` is not
    whitespace and either ``text[c]`` is whitespace or one side is a no-space-script character."""
    before, after = text[c - 1], text[c]
    if before.isspace():
        return False
    return after.isspace() or is_no_space_char(before) or is_no_space_char(after)


def cut_response(text: str, token_ids: list[int], tokenizer, ratio: float) -> Cut | None:
    """Cut a chosen response at ``ratio`` of its tokens, snapped back to a word boundary.

    The target is ``k = round(ratio * n)`` tokens (clamped to ``1..n-1``) of the
    ``n`` tokens that decode to ``text``. Candidate cut points are token
    boundaries ``j <= k`` whose decoded prefix ``decode(token_ids[:j])`` is
    exactly ``text[:c]`` (so a boundary inside a multi-byte character, which
    decodes to U+FFFD, is never used). From ``k`` downwards, the first candidate
    that ends a word is taken (see the module docstring: not whitespace
    before, whitespace or a no-space-script character at the join; for Chinese or
    Japanese text every whole-character token boundary qualifies). Text with no
    whitespace at all (e.g. one long formula) is cut at the last candidate, a
    plain token boundary.

    Args:
        text: the chosen response's text.
        token_ids: its generated token ids (``Response.token_ids``); special
            tokens such as a final EOS are ignored. If they do not decode to
            ``text`` (or are empty), ``text`` is re-encoded with ``tokenizer``.
        tokenizer: a Hugging Face tokenizer of the model that wrote ``text``
            (``decode`` and ``encode`` are used).
        ratio: share of tokens to keep, in (0, 1) (``DropoutNTPConfig.ratio``, MMPR: 0.5).
    Returns:
        A :class:`Cut`, or None when the text cannot be cut: fewer than 2 tokens,
        or no boundary with a non-empty prefix at or before the target.
    Raises:
        ValueError: ``ratio`` not in (0, 1).
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    ids = list(token_ids or [])
    if not ids or _decode(tokenizer, ids) != text:
        ids = tokenizer.encode(text, add_special_tokens=False)
    # Drop trailing tokens that decode to nothing (EOS, other special tokens).
    while ids and _decode(tokenizer, ids[:-1]) == text:
        ids.pop()
    n = len(ids)
    if n < 2:
        return None
    k = min(max(round(ratio * n), 1), n - 1)
    spaced = any(ch.isspace() for ch in text)
    for j in range(k, 0, -1):
        prefix = _decode(tokenizer, ids[:j])
        c = len(prefix)
        if c == 0 or c >= len(text) or not text.startswith(prefix):
            continue  # inside a character, or a token that decodes differently in context
        if not spaced or _is_word_end(text, c):
            return Cut(prefix=prefix, cut_char=c, cut_token=j)
    return None


def strip_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy of OpenAI-style chat ``messages`` with every image part removed.

    Parts whose ``type`` is ``image``, ``image_url``, ``image_pil``,
    ``image_embeds`` or ``input_image`` are dropped; text and other parts are
    kept in order. String contents are kept as they are. The input is not
    modified (messages and content lists are copied; parts are shared).
    """
    out = []
    for msg in messages:
        msg = dict(msg)
        content = msg.get("content")
        if isinstance(content, list):
            msg["content"] = [p for p in content if not (isinstance(p, dict) and p.get("type") in IMAGE_PART_TYPES)]
        out.append(msg)
    return out


def continuation_messages(messages: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The DropoutNTP continuation prompt: the question without images, then the prefix as an open assistant turn.

    Returns ``strip_images(messages) + [{"role": "assistant", "content": [{"type": "text", "text": prefix}]}]``,
    to be rendered with ``continue_final_message=True`` and ``add_generation_prompt=False``
    (vLLM ``LLM.chat``; transformers rejects the two together).

    Raises:
        ValueError: ``prefix`` is empty or whitespace (nothing to continue).
    """
    if not prefix.strip():
        raise ValueError("DropoutNTP prefix is empty")
    return strip_images(messages) + [{"role": "assistant", "content": [{"type": "text", "text": prefix}]}]


def make_rejected(chosen: str, cut: Cut, continuation: str) -> tuple[str | None, str | None]:
    """Join the prefix and the model's continuation into the rejected response.

    ``rejected = cut.prefix + continuation``, unchanged (see the join rule in the
    module docstring).

    Returns:
        ``(rejected, None)``, or ``(None, reason)`` with reason
        ``"empty_continuation"`` (continuation empty or whitespace) or
        ``"identical_to_chosen"`` (rejected equals the chosen once runs of
        whitespace are collapsed).
    Raises:
        ValueError: ``cut.prefix`` is not ``chosen[:cut.cut_char]`` (cut from another text).
    """
    if chosen[:cut.cut_char] != cut.prefix:
        raise ValueError("cut.prefix is not a prefix of the chosen at cut.cut_char")
    if not continuation.strip():
        return None, "empty_continuation"
    rejected = cut.prefix + continuation
    if rejected.split() == chosen.split():
        return None, "identical_to_chosen"
    return rejected, None
