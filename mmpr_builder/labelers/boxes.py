"""Find ``\\boxed{...}``/``\\fbox{...}`` answers in a response or a ground truth.

Braces are matched with one linear scan (escaped ``\\{``/``\\}`` skipped), so
``\\boxed{\\frac{1}{3}}`` gives ``\\frac{1}{3}`` where the usual ``[^}]*`` regex
gives ``\\frac{1`` (huggingface/trl#5026). Incomplete boxes (cut off by the
token limit) and echoed placeholders (``\\boxed{}``, ``\\boxed{answer}``) are
skipped. Used by :mod:`.extract` (rule 1 of its module doc) and
:mod:`.ground_truth`. Pure (regexes and one brace scan).
"""

from __future__ import annotations

import re

__all__ = ["BOX_RE", "balanced_end", "box_spans", "last_box_run", "boxed_list", "find_boxed", "MAX_GAP"]

BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")


def balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start``; None if never closed."""
    depth = 0
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2  # skip escaped char, e.g. \{ \} in sets
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


_BRACE_RE = re.compile(r"\\.|[{}]", re.DOTALL)
_BARE_BOX_ARG_RE = re.compile(r"[^\s$\\]+")


def _brace_pairs(text: str) -> dict[int, int]:
    """``{index of '{': index just past its '}'}`` for every closed brace, in one pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_RE.finditer(text):
        c = m.group(0)
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            pairs[stack.pop()] = m.start() + 1
    return pairs


_PLACEHOLDERS = {"answer", "your answer", "final answer", "the answer", "...", "…", "?", "ans"}


def box_spans(text: str) -> list[tuple[int, str, int]]:
    """``(end index, content, start index)`` of every complete, non-empty, non-placeholder box."""
    out: list[tuple[int, str, int]] = []
    pairs: dict[int, int] | None = None
    for m in BOX_RE.finditer(text):
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            if pairs is None:
                pairs = _brace_pairs(text)
            end = pairs.get(i)
            if end is None:
                continue
            inner = text[i + 1 : end - 1].strip()
        else:
            tok = _BARE_BOX_ARG_RE.match(text, i) if i > m.end() else None
            inner, end = (tok.group(0).strip(), tok.end()) if tok else ("", i)
        if inner and inner.lower() not in _PLACEHOLDERS:
            out.append((end, inner, m.start()))
    return out


_BOX_JOIN_RE = re.compile(
    r"(?:\s|\$|[,;&]|\\[,;:! ]|\\q?quad\b|\\[()\[\]]|\b(?:and|or)\b|[A-Za-z](?:_\{?\w+\}?)?\s*=|"
    r"\\(?:text|mathrm|textrm)\s*\{|\}|"  # \text{ and }, \text{ for part (a) and }
    r"\b(?:for\s+)?(?:part|case)\s*\(?(?:[a-h]|\d)\)?\s*:?|\([a-h]\)\s*:?)*"  # a part label: "(b)", "for part (a)"
)


def last_box_run(text: str, boxes: list[tuple[int, str, int]]) -> list[str]:
    """Contents of the last boxes joined only by separators ("\\boxed{-2} and \\boxed{1}",
    "\\boxed{1}\\boxed{2}", "x = \\boxed{3}, \\boxed{5}") or by part labels
    ("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}", "(a) \\boxed{2}, (b) \\boxed{5}"):
    a response that boxes each member of a set answer, or each part of a
    multi-part one. Any other text between two boxes ends the run."""
    run = [boxes[-1][1]]
    for prev, cur in zip(reversed(boxes[:-1]), reversed(boxes[1:])):
        gap = text[prev[0] : cur[2]]
        if len(gap) > 40 or _BOX_JOIN_RE.fullmatch(gap) is None:
            break
        run.insert(0, prev[1])
    return run


_GAP_SEPARATOR_RE = re.compile(r"\b(?:and|or)\b|[,;]")
MAX_GAP = 70
"""Characters of text between two boxes of a ground truth still read as one list (:func:`boxed_list`)."""


def boxed_list(text: str) -> list[str]:
    """Contents of every box of ``text`` when they form one list: each gap between
    two boxes is shorter than :data:`MAX_GAP` characters and names a separator
    ("and", "or", ",", ";") or is only separators (see :func:`last_box_run`);
    else ``[]``. For ground truths, which are written by the dataset's author:
    "\\boxed{1} papers and \\boxed{2} bins" lists 1 and 2; "\\boxed{1} no no
    \\boxed{2}" is no list."""
    bs = box_spans(text)
    if len(bs) < 2:
        return []
    for prev, cur in zip(bs, bs[1:]):
        gap = text[prev[0] : cur[2]]
        if len(gap) >= MAX_GAP or not (_GAP_SEPARATOR_RE.search(gap) or _BOX_JOIN_RE.fullmatch(gap)):
            return []
    return [b[1] for b in bs]


def find_boxed(text: str) -> list[str]:
    """Contents of every complete, non-empty ``\\boxed{...}``/``\\fbox{...}``, in order.

    ``\\boxed 5`` (no braces) gives ``5``. Incomplete boxes (no closing brace)
    and echoed placeholders (``\\boxed{}``, ``\\boxed{answer}``) are skipped.
    Linear in ``len(text)`` (one pass matches all braces).
    """
    return [b[1] for b in box_spans(text)]
