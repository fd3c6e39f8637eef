"""Read an answer as a set, a tuple or a single value, and match members.

Rules (issue 13, parts 1 and 4):

- ``\\{A, B\\}`` (also ``\\left\\{ ... \\right\\}``) is a **set**; ``A, B``,
  ``A; B``, ``A and B``, ``A, B, and C``, ``A or B``, ``{A, B}`` (grouping
  braces, typeset "A, B") and several boxed answers joined by the extractor
  are a **list**, compared as a set (order-free), or in order against a tuple. ``A or B`` in an answer is a hedge or a list of roots: it is
  never one of its members.
- ``(A, B)`` and ``[A, B]`` are **tuples** or intervals: one value, compared in
  order by Math-Verify.
- A plain number with thousands separators (``1,234``) or a decimal comma
  (``0,111``) is one value (:mod:`.numeric`).
- Sets match when every member of one matches exactly one member of the other
  and the sizes are equal (no extra or missing members); a set never matches a
  single value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mmpr_builder.labelers.mathprep import top_level_spans
from mmpr_builder.labelers.numeric import parse_number

__all__ = ["split_members", "match_members", "MAX_MEMBERS"]

MAX_MEMBERS = 16
"""Sets larger than this are not matched member by member (the caller decides as a whole)."""

_SP = r"(?:\s|\\[ ,;:!]|\\q?quad)"
_SEP_RE = re.compile(
    r"(?:" + _SP + r"*(?:,|;|\b(?:and|or)\b|\\(?:text|mathrm|textrm)\s*\{\s*,?\s*(?:and|or)?\s*,?\s*\})" + _SP + r"*)+"
    r"|" + _SP + r"*\\q?quad" + _SP + r"*"
)
_EDGE_SPACE_RE = re.compile("^" + _SP + "+|" + _SP + "+$")
_SET_OPEN_RE = re.compile(r"^(?:\\left\s*)?\\\{")
_SET_CLOSE_RE = re.compile(r"(?:\\right\s*)?\\\}$")


def _balanced_top(text: str) -> list[tuple[int, int]]:
    """Spans of top-level separators in ``text`` (outside brackets of any kind)."""
    return top_level_spans(text, _SEP_RE)


def _wrapped(text: str, opener: str, closer: str) -> bool:
    """``text`` starts with ``opener`` whose matching bracket is the final ``closer``."""
    if not (text.startswith(opener) and text.endswith(closer)):
        return False
    depth = 0
    for k, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and k != len(text) - 1:
                return False
    return depth == 0


def _closes_at_end(inner: str) -> bool:
    """The brackets of ``inner`` (the inside of ``\\{...\\}``) never close below depth 0."""
    depth, i = 0, 0
    while i < len(inner):
        if inner.startswith(("\\{", "\\}"), i):
            depth += 1 if inner[i + 1] == "{" else -1
            i += 2
        else:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(inner[i], 0)
            i += 1
        if depth < 0:
            return False
    return True


def _split(text: str) -> list[str]:
    out, last = [], 0
    for a, b in _balanced_top(text):
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    members = [m for m in (_EDGE_SPACE_RE.sub("", m) for m in out) if m]
    seen: list[str] = []
    for m in members:  # a set lists a member once: {a, a} is {a}
        if m.replace(" ", "") not in [x.replace(" ", "") for x in seen]:
            seen.append(m)
    return seen


def split_members(text: str) -> tuple[tuple[str, ...], str]:
    """Members of ``text`` and its form: ``"set"``, ``"list"``, ``"tuple"`` or ``"single"``.

    Args:
        text: a cleaned answer or ground-truth candidate.

    Returns:
        ``(members, form)``; for ``"tuple"`` and ``"single"`` the members are
        ``(text,)`` (a tuple is one ordered value). Pure; never raises.
    """
    s = text.strip()
    if not s:
        return (), "single"
    if _SET_OPEN_RE.match(s) and _SET_CLOSE_RE.search(s):
        inner = _SET_CLOSE_RE.sub("", _SET_OPEN_RE.sub("", s, count=1)).strip()
        if _closes_at_end(inner):  # not "\{1\} \cup \{2\}"
            return tuple(_split(inner)), "set"
    if _wrapped(s, "{", "}") and "," in s:  # LaTeX grouping braces: {1,3} is typeset "1,3", a list
        return tuple(_split(s[1:-1])), "list"
    if parse_number(s) is not None:
        return (s,), "single"
    if s[0] in "([" and s[-1] in ")]" and _wrapped(s, s[0], s[-1]):
        return (s,), "tuple" if _balanced_top(s[1:-1]) else "single"
    parts = _split(s)
    return (tuple(parts), "list") if len(parts) > 1 else ((s,), "single")


def match_members(
    preds: Sequence[str], golds: Sequence[str], same: Callable[[str, str], bool | None]
) -> bool | None:
    """Whether two member lists are equal as sets under ``same(pred, gold)``.

    Each predicted member must match a distinct gold member and the sizes must
    be equal (greedy matching, exact for an equivalence relation such as
    mathematical equality). ``same`` may return None (undecided); the result is
    then None unless a size mismatch or an unmatched member already decides
    False. Calls ``same`` at most ``len(preds) * len(golds)`` times; raises only
    what ``same`` raises.
    """
    if len(preds) != len(golds):
        return False
    left = list(range(len(golds)))
    undecided = False
    for p in preds:
        hit = None
        for k in left:
            r = same(p, golds[k])
            if r:
                hit = k
                break
            undecided = undecided or r is None
        if hit is None:
            return None if undecided else False
        left.remove(hit)
    return True
