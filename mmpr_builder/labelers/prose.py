"""Prose helpers for reading mode: sentence splitting, cut-off output, hedges. Pure (regexes only).

Rules and sources are in :mod:`.reading` (issue 13, part 3).
"""

from __future__ import annotations

import re

__all__ = ["sentences", "cut_off_reason", "mark_currency", "HEDGE_RE", "OR_RE", "MATH_SPAN_RE", "CURRENCY_RE"]

MATH_SPAN_RE = re.compile(r"\$\$.+?\$\$|\$(?:[^$\n]|\n(?!\s*\n))+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
"""A math span: ``$$...$$``, ``$...$`` (not across a blank line), ``\\(...\\)``, ``\\[...\\]``."""
CURRENCY_RE = re.compile(r"(?<![\\$\w])\$(?=\d[\d,]*(?:\.\d+)?(?:\s+[A-Za-z]|[,.;:!?]?(?:\s|$)))")
"""A dollar sign before an amount: "$1000 invested", "costs $80." (a currency sign unless
:func:`mark_currency` finds it opens a math span)."""
_MATHY_SPAN_RE = re.compile(r"\\[A-Za-z]+|[\^_{}]|(?<![A-Za-z])[a-zA-Z](?![A-Za-z])")
_PROSE_WORD_RE = re.compile(r"(?<!\\)\b[A-Za-z]{2,}\b")


def mark_currency(text: str, repl: str = "USD ") -> str:
    """``text`` with each currency ``$`` (:data:`CURRENCY_RE`) replaced by ``repl``.

    A ``$`` before a number opens a math span instead when the next ``$`` on its
    line closes a span that is math, not prose: LaTeX commands, ``^``/``_``/braces
    or a one-letter variable, and no word of two letters outside commands
    (``$1, 1+d, 1+2d, \\dots$`` is math; ``$10,000 + $200`` and ``$5 and the
    other costs $x$`` are money). Pure; linear in ``len(text)``.
    """
    out, last, skip_to = [], 0, -1
    for m in CURRENCY_RE.finditer(text):
        if m.start() < skip_to:
            continue
        close = text.find("$", m.end())
        inner = text[m.end():close] if close >= 0 and text.find("\n", m.end(), close) < 0 else None
        if inner is not None and _MATHY_SPAN_RE.search(inner) and not _PROSE_WORD_RE.search(re.sub(r"\\[A-Za-z]+", " ", inner)):
            skip_to = close + 1  # "$1, 1+d, ... \\dots$" is a math span
            continue
        out.append(text[last:m.start()] + repl)
        last = m.end()
    return "".join(out) + text[last:]


_SPLIT_RE = re.compile(r"(?<=[.!?\x02])[*_)\"”]*\s+(?=\S)|\n\s*\n|\n(?=\s*(?:[-*+]\s|\d+[.)]\s|#))")
_ABBREV_END_RE = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|approx|cf|Fig|Eq|No)\.|\b[A-Z]\.)$")
_UNMASK_RE = re.compile(r"\x00(\d+)[\x01\x02]")
_SPAN_END_STOP_RE = re.compile(r"[.!?]\s*(?:\$\$?|\\\)|\\\])$")  # "... = 2.$$": the display ends the sentence


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; math spans are never split (``$3.5$``, display math).

    Boundaries: ``.``/``!``/``?`` followed by white space (not after "e.g.",
    "i.e.", an initial), also at the end of a math span (``$$x = 2.$$ So``),
    blank lines, and list items. Line breaks inside a
    paragraph join (a display equation belongs to the sentence it ends).
    White space inside a sentence is collapsed.
    """
    spans: list[str] = []

    def keep(m: re.Match) -> str:
        spans.append(m.group(0))
        return "\x00%d%s" % (len(spans) - 1, "\x02" if _SPAN_END_STOP_RE.search(m.group(0)) else "\x01")

    masked = MATH_SPAN_RE.sub(keep, text)
    out: list[str] = []
    start = 0
    for m in _SPLIT_RE.finditer(masked):
        piece = masked[start:m.start()]
        if _ABBREV_END_RE.search(piece.rstrip()) and "\n" not in m.group(0):
            continue
        out.append(piece)
        start = m.end()
    out.append(masked[start:])
    res = [" ".join(_UNMASK_RE.sub(lambda m: spans[int(m.group(1))], s).split()) for s in out]
    return [s for s in res if s.strip(" *_#-")]


_CUT_END_RE = re.compile(r"[\w,(\[{+\-=^\\:;&|</]\s*$")  # a word, number, comma, operator or opener


def cut_off_reason(text: str) -> str | None:
    """Why ``text`` looks cut off by a token limit, or None.

    Cut off: its last paragraph leaves a ``$``, ``\\(``, ``\\[`` or ``{`` open, or
    the text ends inside a sentence: on a letter or digit (no ``.``/``!``/``?``),
    a comma, colon, operator or opening bracket. A final ``.``, ``!``, ``?``,
    closing bracket or math delimiter, markdown emphasis, quote or symbol
    (``✓``) ends a sentence.
    """
    t = text.rstrip()
    last = re.split(r"\n\s*\n", t)[-1]
    if len(re.findall(r"(?<!\\)\$", last)) % 2:
        return "unclosed $"
    if last.count("\\(") > last.count("\\)") or last.count("\\[") > last.count("\\]"):
        return "unclosed math"
    if last.count("{") > last.count("}"):
        return "unclosed brace"
    if _CUT_END_RE.search(t):
        return "no sentence end"
    return None


HEDGE_RE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|might|either|not\s+(?:entirely\s+|completely\s+|100%\s+)?(?:sure|certain)"
    r"|unsure|uncertain|i\s+guess|could\s+(?:be|also\s+be)|may\s+be|likely|roughly|somewhere\s+between"
    r"|can(?:no|')t\s+(?:be\s+)?(?:sure|determine|decide)|hard\s+to\s+say|not\s+clear)\b",
    re.IGNORECASE,
)
"""Words that hedge a conclusion ("maybe", "either", "I'm not sure", "could be", ...)."""
OR_RE = re.compile(r"(?:\$[^$]+\$|\d\S*|\([A-Z]\))\s*,?\s+or\s+(?!equivalently|in\s+other|simply|just)"
                   r"(?:\$|\d|[a-z]\s*=|\([A-Z]\))", re.IGNORECASE)
"""Alternatives joined by "or" ("3 or 5", "$x = 2$ or $x = 3$", "(B) or (D)"); "or equivalently" is not one."""
