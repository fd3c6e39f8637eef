"""Response hygiene: which sampled responses may never be a chosen.

MMPR's reference tools keep every response (see ``shared/notes/mmpr-reference.md``):
a response cut by the token limit, one stuck in a loop or an empty one could
become a chosen and be trained on with the SFT term. Here each response gets at
most one *issue*, checked in this order:

1. ``"empty"``: no text besides whitespace.
2. ``"truncated"``: ``finish_reason == "length"`` (vLLM stopped it at ``max_tokens``).
3. ``"repetitive"``: :func:`repetition_share` of its 4-grams is above
   ``PairingConfig.repetition_threshold`` (default 0.5).

What each issue excludes is decided in :mod:`mmpr_builder.pairing` (correctness
pairs) and by the pipeline (DropoutNTP chosen); none of them may be chosen.
"""

from __future__ import annotations

import re

from mmpr_builder.items import Response

# Characters of scripts written without spaces between words: CJK ideographs
# (with extensions and compatibility forms), kana, bopomofo, CJK punctuation,
# full/half-width forms, Thai, Lao, Tibetan, Myanmar, Khmer. Each such
# character counts as one word (here and in DropoutNTP's word boundaries).
NO_SPACE_CHARS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u0f00-\u0fff"  # Tibetan
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3001-\u303f"  # CJK symbols and punctuation (U+3000, a space, excluded)
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f\u31a0-\u31bf"  # Bopomofo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK ideographs (ext. A, unified)
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff01-\uffef"  # full-width and half-width forms
    "\U00020000-\U0003134f"  # CJK ideographs ext. B-G
)
_NO_SPACE_RE = re.compile(f"[{NO_SPACE_CHARS}]")
# A unit is one no-space-script character or a run of other non-space characters.
_UNIT_RE = re.compile(f"[{NO_SPACE_CHARS}]|[^\\s{NO_SPACE_CHARS}]+")

ISSUES = ("empty", "truncated", "repetitive")


def is_no_space_char(ch: str) -> bool:
    """True when ``ch`` (one character) belongs to a script written without spaces (see ``NO_SPACE_CHARS``)."""
    return bool(_NO_SPACE_RE.fullmatch(ch))


def text_units(text: str) -> list[str]:
    """Split ``text`` into the units that n-grams are counted over.

    Text with whitespace: words (runs of non-space characters), except that each
    character of a no-space script (Chinese, Japanese, Thai, ...) is its own
    unit, so mixed text works. Text with no whitespace at all: its characters.
    """
    if not any(ch.isspace() for ch in text):
        return list(text)
    return _UNIT_RE.findall(text)


def repetition_share(text: str, n: int = 4) -> float:
    """Share of the text's n-grams that repeat an earlier n-gram, in [0, 1].

    Units are those of :func:`text_units` (word n-grams, or character n-grams
    for text without spaces). With ``T`` n-grams and ``D`` distinct ones the
    share is ``(T - D) / T``: 0 for text with no repeated n-gram, close to 1 for
    a loop ("the cat the cat the cat ..."). Text with fewer than ``n`` units
    gives 0.

    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    units = text_units(text)
    total = len(units) - n + 1
    if total <= 0:
        return 0.0
    distinct = len({tuple(units[i:i + n]) for i in range(total)})
    return (total - distinct) / total


def response_issue(resp: Response, repetition_threshold: float) -> str | None:
    """The hygiene issue of one response, or None when it may be chosen.

    Args:
        resp: a sampled response (its ``text`` and ``finish_reason`` are used).
        repetition_threshold: share of repeated 4-grams (see :func:`repetition_share`)
            *above* which the response is degenerate (``PairingConfig.repetition_threshold``).
    Returns:
        ``"empty"`` (blank text), ``"truncated"`` (``finish_reason == "length"``),
        ``"repetitive"`` (share > threshold) or None; the first that applies, in that order.
    """
    if not resp.text.strip():
        return "empty"
    if resp.finish_reason == "length":
        return "truncated"
    if repetition_share(resp.text, 4) > repetition_threshold:
        return "repetitive"
    return None
