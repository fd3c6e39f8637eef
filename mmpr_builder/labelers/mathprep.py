"""Rules around Math-Verify: rewrite an answer into the form it parses, and read its shape.

Math-Verify (huggingface/Math-Verify) decides equivalence; these pure string
functions only prepare both sides the same way and say what an answer *is*
(a relation, an equation, a list), so that the verifiers never compare a
relation by one side or a list by one member. Sources of the rules:

- ``prepare``: forms Math-Verify misreads (issue 13 probes against
  math-verify 0.9): ``C(8,3)``/``8 choose 3``/``{8 \\choose 3}``/``_8C_3`` are
  binomials (written ``\\binom{8}{3}``; ``C(n,k)`` is read as a binomial only
  with integer arguments); ``sqrt(x)``, ``log(x)``, ``sin(x)`` ... without a
  backslash become LaTeX functions (Math-Verify would read ``s*q*r*t*x``);
  ``\\mathrm{e}`` is Euler's number ``e`` (Math-Verify truncates
  ``\\frac{1}{\\mathrm{e}}``); ``3e-9`` is ``3\\times10^{-9}`` (Math-Verify
  reads ``3e - 9``); a trailing parenthetical remark is dropped (see
  :func:`strip_remark`).
- ``relation``: the top-level relation operator of an answer (``=``, ``<``,
  ``\\le``, ``\\neq`` ...), outside brackets.
"""

from __future__ import annotations

import math
import re

__all__ = ["prepare", "strip_remark", "relation", "Relation", "top_level_spans", "is_simple_lhs", "binomial_value", "MAX_BINOM_N"]

MAX_BINOM_N = 10_000
"""Binomials with a larger top argument are left to Math-Verify (no exact evaluation here)."""

_FUNCS = "sqrt|log|ln|lg|exp|sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh"
_BARE_FUNC_RE = re.compile(r"(?<![\\A-Za-z])(" + _FUNCS + r")(?=\s*\()")
_COMB_RES = [
    (re.compile(r"\\[dt]binom\b"), r"\\binom"),
    (re.compile(r"\{\s*([A-Za-z0-9]+)\s*\\choose\s*([A-Za-z0-9]+)\s*\}"), r"\\binom{\1}{\2}"),
    (re.compile(r"(?<![\w\\])([A-Za-z0-9]+)\s*\\choose\s*([A-Za-z0-9]+)"), r"\\binom{\1}{\2}"),
    (re.compile(r"(?<![\w\\])(\d+|[a-z])\s+choose\s+(\d+|[a-z])(?![\w])", re.IGNORECASE), r"\\binom{\1}{\2}"),
    (re.compile(r"(?<![\w\\])C\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)"), r"\\binom{\1}{\2}"),
    (re.compile(r"(?:\{\}|(?<![\w}]))[_^]\{?(\d+)\}?\s*C_\{?(\d+)\}?"), r"\\binom{\1}{\2}"),
]
_E_RE = re.compile(r"\\(?:mathrm|mathit|text|operatorname)\s*\{\s*e\s*\}")
_SCI_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w.])")
_REMARK_RE = re.compile(r"\s+\\?\(([^()]*)\\?\)\s*\.?$")
_REMARK_WORDS_RE = re.compile(
    r"^\s*(?:[<>≤≥≈~=≠]|\\(?:approx|le|ge|leq|geq|neq|lt|gt|sim)\b|(?:[A-Za-z]{2,}|i\.e\.|e\.g\.))"
)
_HEDGE_RE = re.compile(r"^\s*(?:or|and|not|nor|maybe|possibly|perhaps|otherwise|alternatively|else|but)\b", re.IGNORECASE)
_TEXT_REMARK_RE = re.compile(r"\s*\\text\{\s*\((?:[^{}]*)\}.*$")


def _sqrt_braces(s: str) -> str:
    """``sqrt(x+1)`` -> ``\\sqrt{x+1}`` (balanced parentheses)."""
    out, i = [], 0
    for m in re.finditer(r"(?<![\\A-Za-z])sqrt\s*\(", s):
        if m.start() < i:
            continue
        depth, j = 0, m.end() - 1
        while j < len(s):
            depth += {"(": 1, ")": -1}.get(s[j], 0)
            if depth == 0:
                break
            j += 1
        if j >= len(s):
            break
        out.append(s[i : m.start()] + "\\sqrt{" + s[m.end() : j] + "}")
        i = j + 1
    return "".join(out) + s[i:]


def strip_remark(text: str) -> str:
    """Drop a trailing parenthetical remark after a value.

    ``(a-b)/4 (> 0)`` -> ``(a-b)/4``; ``12 (since 3*4)`` -> ``12``;
    ``2n \\text{ (for } n \\geq 1)`` -> ``2n``. A parenthesis counts as a remark
    only when it follows whitespace and starts with a word of two or more
    letters, ``i.e.``/``e.g.``, or a relation sign; ``(x+1) (x-1)`` (a product)
    and a hedge (``5 (or 6)``, ``5 (not 6)``) are kept. Returns ``text`` unchanged when nothing would be left.
    """
    s = _TEXT_REMARK_RE.sub("", text).strip() or text.strip()
    m = _REMARK_RE.search(s)
    if m and _REMARK_WORDS_RE.match(m.group(1)) and not _HEDGE_RE.match(m.group(1)) and s[: m.start()].strip():
        return s[: m.start()].strip()
    return s


def prepare(text: str) -> str:
    """Rewrite ``text`` into the form Math-Verify parses (rules in the module doc).

    Args:
        text: an extracted answer or a ground-truth candidate (cleaned).

    Returns:
        The rewritten text (unchanged when no rule applies). Pure; never raises.
    """
    s = strip_remark(text)
    s = _E_RE.sub("e", s)
    for rx, rep in _COMB_RES:
        s = rx.sub(rep, s)
    if "sqrt" in s:
        s = _sqrt_braces(s)
    s = _BARE_FUNC_RE.sub(r"\\\1", s)
    s = _SCI_RE.sub(r"\1\\times10^{\2}", s)
    return s


_BINOM_RE = re.compile(r"\\binom\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")


def binomial_value(text: str) -> int | None:
    """Value of ``text`` when it is exactly one integer binomial ``\\binom{n}{k}`` (after
    :func:`prepare`), ``n <= MAX_BINOM_N``; None otherwise."""
    m = _BINOM_RE.fullmatch(text.strip())
    if not m:
        return None
    n, k = int(m.group(1)), int(m.group(2))
    return math.comb(n, k) if n <= MAX_BINOM_N else None


# --- relations -----------------------------------------------------------------------
_REL_TOKEN_RE = re.compile(
    r"\\(?:leq?slant|geq?slant|leq|geq|neq|le|ge|ne|lt|gt|approx)(?![A-Za-z])|<=|>=|!=|=|<|>|≤|≥|≠|≈"
)
_OPEN, _CLOSE = "([{", ")]}"


class Relation:
    """The top-level relations of an answer: ``ops`` (normalised: ``=``, ``<``, ``<=``,
    ``>``, ``>=``, ``!=``, ``~``) and ``parts`` (the sides, stripped), outside brackets."""

    __slots__ = ("ops", "parts")

    def __init__(self, ops: tuple[str, ...], parts: tuple[str, ...]):
        self.ops, self.parts = ops, parts

    @property
    def is_equation(self) -> bool:
        """Only ``=`` signs (``x = 5``, ``a+3z=0``, ``x = 1+1 = 2``)."""
        return bool(self.ops) and set(self.ops) == {"="}

    @property
    def is_inequality(self) -> bool:
        """At least one order or ``!=`` sign."""
        return any(o in ("<", "<=", ">", ">=", "!=") for o in self.ops)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "Relation(%r, %r)" % (self.ops, self.parts)


_NORM_OP = {"\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\lesssim": "<=", "≤": "<=", "<=": "<=",
            "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=", "≥": ">=", ">=": ">=",
            "\\neq": "!=", "\\ne": "!=", "≠": "!=", "!=": "!=", "\\lt": "<", "<": "<", "\\gt": ">", ">": ">",
            "=": "=", "\\approx": "~", "≈": "~"}


def top_level_spans(text: str, token: re.Pattern) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the non-empty matches of ``token`` that start outside
    brackets, scanning left to right without overlap.

    Brackets are ``( ) [ ] { }`` and the LaTeX set braces ``\\{ \\}``; any other
    escape (``\\,``, ``\\left``, ``\\(``) is skipped whole unless ``token``
    matches at its backslash (``\\le``, ``\\quad``). The one bracket scanner of
    :func:`relation` and :mod:`.members`. Pure; linear in ``len(text)`` for a
    token regex that matches in bounded time.
    """
    spans: list[tuple[int, int]] = []
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and text.startswith(("\\{", "\\}"), i):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if depth == 0:
            m = token.match(text, i)
            if m and m.end() > i:
                spans.append((i, m.end()))
                i = m.end()
                continue
        if c == "\\":
            i += 2
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        i += 1
    return spans


def relation(text: str) -> Relation:
    """Split ``text`` at its top-level relation signs (outside ``() [] {}``, ``\\{ \\}`` and
    ``\\left( ... \\right)``, :func:`top_level_spans`); ``\\le``/``<=``/``≤`` are all ``<=`` and so on.

    Returns:
        A :class:`Relation`; no sign gives ``ops == ()`` and one part. Pure;
        never raises.
    """
    ops, parts, last = [], [], 0
    for a, b in top_level_spans(text, _REL_TOKEN_RE):
        tok = text[a:b]
        ops.append(_NORM_OP.get(tok.replace("slant", ""), _NORM_OP.get(tok, "=")))
        parts.append(text[last:a].strip())
        last = b
    parts.append(text[last:].strip())
    return Relation(tuple(ops), tuple(parts))


_SUBSCRIPT_RE = re.compile(r"_\{[^{}]*\}|_\w")
_CALL_ARGS_RE = re.compile(r"(?<=[A-Za-z])\s*\([^()]*\)")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")


_SUM_SIGN_RE = re.compile(r"[+-]")


def _top_level_sum(s: str) -> bool:
    """A ``+`` or binary ``-`` outside brackets (``a + 3z``, ``x - y``)."""
    return any(s[:a].strip() for a, _ in top_level_spans(s, _SUM_SIGN_RE))


def is_simple_lhs(lhs: str) -> bool:
    """True for a left side that *names* the answer rather than stating an equation:
    a variable or quantity name (``x``, ``a_1``, ``\\theta``, ``AB``, ``|AB|``,
    ``V_1:V_2``, ``\\frac{NO}{BO}``), a function value (``f(2)``, ``P(A)``) or a
    tuple of variables (``(x, y)``): letters only, outside subscripts and call
    arguments, and no top-level sum. ``x = 5`` states 5; ``a + 3z = 0``,
    ``2x = 6`` and ``x^2 = 4`` state equations."""
    s = lhs.strip()
    if not s or len(s) > 40 or _top_level_sum(s):
        return False
    bare = _COMMAND_RE.sub("a", _CALL_ARGS_RE.sub("", _SUBSCRIPT_RE.sub("", s)))  # \theta counts as a letter
    return any(c.isalpha() for c in bare) and not any(c.isdigit() for c in bare)
