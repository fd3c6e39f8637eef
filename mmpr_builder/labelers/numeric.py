"""Plain-number answers: parse and compare without a CAS (the fast path).

Policy (documented once, used by the ``number``, ``math`` and ``relaxed`` verifiers):

- Values are exact rationals (:class:`fractions.Fraction`): ``3/4``,
  ``\\frac{3}{4}``, ``0.75`` and ``75%`` are compared exactly, never as floats.
- Thousands separators (``1,234``, ``1{,}234``, ``12\\,000``, and a plain space
  between SI digit groups when the groups are the whole answer: ``1 000``,
  ``12 345.5``; SI Brochure 5.4.4), currency (``$``,
  ``€``, ``£``, ``¥``, ``\\$``), units and degree signs after the number are ignored;
  ``3 \\times 10^{8}`` and ``3e8`` are scientific notation; number words
  (``twelve``) are read for answers made of one word.
- **Percent** (Math-Verify#67): a number written with ``%``/``percent`` stands for
  both ``v`` and ``v/100``; a bare number stands for itself. So ``28`` ~ ``28%``
  and ``0.28`` ~ ``28%``, but ``0.28`` !~ ``28``.
- **Scale words** (thousand, million, billion, trillion) likewise: ``1.2 million``
  stands for 1,200,000 and, to allow an answer given in the chart's unit, 1.2.
- **Tolerance**: equal when exactly equal; when both are written as integers,
  only exact equality counts (1500 vs 1501 is wrong at any tolerance); otherwise
  ``|pred - gold| <= rel_tol * |gold|``. A gold of 0 therefore needs an exact 0:
  there is no absolute epsilon, so tiny values (``3e-9`` vs ``4e-9``) are
  compared relatively.
- An answer with several different numbers ("12 or 13", "between 10 and 20")
  is not a single number (:func:`parse_number` returns None), nor is one with
  a word before the number ("not 19", "at least 3", "less than 4"; leading
  "approximately"/"about" and currency codes aside).
- **Decimal commas** (issue 13): a comma between digits is a thousands
  separator only in the form ``d,ddd`` with a *non-zero* leading group of 1-3
  digits and 3-digit groups (``1,234``, ``12,345,678``). It is a decimal comma
  when the leading group is ``0`` (``0,111`` = 0.111, never 111) or has four
  or more digits and one comma is followed by 1-2 digits (``1000,99`` =
  1000.99). Any other comma between digits (``2,5``, ``-2,1``, ``1, 234``) is a
  list, not a number (None): a list is never read as one of its members.
  One exception, for a comma that is neither of the above and joins two digit
  runs with nothing else around them (``1,22``, ``2,74``, ``-2,1``): compared
  with a number written with a decimal point, it is that number's decimal
  comma (``1,22`` ~ ``1.22``; ``2,74`` !~ ``274``); see :func:`decimal_comma_as_point`.
  (Math-Verify reads ``d,dd`` in plain text as a decimal comma.)
- **Not a number** (issue 13): a function value (``sqrt(2)``, ``log 8``,
  ``f(4)``, ``\\sqrt{2}``) is never its argument; a relation (``n >= 7``) or an
  equation whose left side is not a plain variable (``a+3z=0``) is never one of
  its sides (``x = 5`` and ``3 + 4 = 7`` state a value); a trailing
  parenthetical remark (``12 (since 3*4)``) is dropped, but only a remark
  (words or a relation sign, :func:`.mathprep.strip_remark`) and never to
  reveal a number inside an expression.
- **Sign**: the sign before a LaTeX fraction applies to it (``-\\frac{10}{9}``
  is -10/9; ``\\frac{-5}{4}`` is -5/4).
- **Binomials**: ``C(8,3)``, ``8 choose 3``, ``{8 \\choose 3}`` and
  ``\\binom{8}{3}`` are evaluated exactly (56), see :mod:`.mathprep`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from mmpr_builder.labelers.mathprep import binomial_value, is_simple_lhs, prepare, relation

__all__ = ["Number", "parse_number", "numbers_match", "is_plain_number", "decimal_comma_as_point", "DEFAULT_REL_TOL"]

DEFAULT_REL_TOL = 1e-3
"""Default relative tolerance (0.1%, the reference scorer's numeric mode)."""

_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"none": 0, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
               "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000})
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_MAX_DIGITS = 60
_MAX_EXP = 300


@dataclass(frozen=True)
class Number:
    """A parsed plain number.

    Attributes:
        value: the written value as an exact rational (sign applied, before % or scale).
        percent: written with ``%``/``percent``.
        scale: multiplier from a scale word (1 if none).
        integer: written as an integer literal (no decimal point, fraction, % or exponent).
    """

    value: Fraction
    percent: bool = False
    scale: int = 1
    integer: bool = False

    def candidates(self) -> tuple[Fraction, ...]:
        """The values this writing may stand for under the percent/scale policy."""
        vals = {self.value}
        if self.scale != 1:
            vals.add(self.value * self.scale)
        if self.percent:
            vals |= {v / 100 for v in vals}
        return tuple(vals)


_LATEX_SUBS = [
    (re.compile(r"\\[dt]?frac\s*\{\s*([-+]?[\d.,]+)\s*\}\s*\{\s*([-+]?[\d.,]+)\s*\}"), r"(\1/\2)"),
    (re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)"), r"(\1/\2)"),
    (re.compile(r"\\(?:text|textbf|mathrm|mbox|textrm|mathbf|operatorname)\s*\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\^\s*\{?\\circ\}?|°|\\degree"), " deg "),
    (re.compile(r"(\d)\s*(?:,\s*\\!|\\,|\\!|\{,\}|\u2009|\u202f|\\ )\s*(?=\d{3})"), r"\1"),
    (re.compile(r"\\[,;:!]|\\quad|\\qquad|~|\\ |\\left|\\right|\\displaystyle"), " "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$|\\(?:approx|sim)\b|≈|\$"), " "),
    (re.compile(r"\s*(?:\\times|\\cdot|×|\*|x)\s*10\s*\^\s*\{?\s*([-+−]?\d+)\s*\}?"), r"e\1"),
    (re.compile(r"[−–]"), "-"),
]
_NUM_RE = re.compile(
    r"(?P<sign>-)?(?:(?P<int>[1-9]\d{0,2}(?:,\d{3})+(?![\d,])|\d+)(?P<frac>\.\d+)?|(?P<frac2>\.\d+))"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?:[eE](?P<exp>[-+]?\d+)(?!\d))?"
)
_UNIT_LETTERS = set("mgslkKNJWVhLA")  # one-letter units allowed glued to a number ("5m")
_OP_TAIL_RE = re.compile(r"^(?:\s*[\^_=+*/\\{]|[(\[!])")
_PCT_RE = re.compile(r"\s*(?:%|percent\b|per\s*cent\b)", re.IGNORECASE)
_SCALE_RE = re.compile(r"\s*(thousand|million|billion|trillion)\b", re.IGNORECASE)
_SIGNED_FRAC_RE = re.compile(r"(?<![\w)}\].])(-?)\s*\((-?)([\d.]+/[\d.]+)\)")
_DEC_COMMA_RE = re.compile(r"^(-?0),(\d+)$|^(-?\d{4,}),(\d{1,2})$")  # the whole answer only: (0,9) is an interval
_FUNC_RE = re.compile(
    r"[A-Za-z]\(|√|\b(?:sqrt|log|ln|lg|exp|sin|cos|tan|cot|sec|csc|arc\w+|sinh|cosh|tanh|gcd|lcm|max|min)\s*[\d(]",
    re.IGNORECASE,
)
_REL_SIGN_RE = re.compile(r"[<>≤≥≠]|!=")
_LEAD_RE = re.compile(
    r"^(?:approximately|approx\.?|about|around|roughly|nearly|almost|exactly|only|just|=|"
    r"USD|US\$|EUR|GBP|INR|Rs\.?|RMB|CNY|JPY|CAD|AUD)\s*",
    re.IGNORECASE,
)


_SI_GROUPS_RE = re.compile(r"^-?[1-9]\d{0,2}(?:[ \u00a0]\d{3})+(?:\.\d+)?$")  # 1 000, 12 345 678.5
_NUMERIC_LHS_RE = re.compile(r"^[\d\s+\-*/().,]+$")


def _normalise(text: str) -> str | None:
    """Surface form to scan, or None when ``text`` is a function value, a relation
    or an equation that does not state a value (module doc)."""
    s = prepare(text.strip())
    b = binomial_value(s)
    if b is not None:
        return str(b)
    if any(c in s for c in "\\${°−–×\u2009\u202f") or " x " in s:
        for rx, rep in _LATEX_SUBS:
            s = rx.sub(rep, s)
        s = _SIGNED_FRAC_RE.sub(lambda m: ("-" if bool(m.group(1)) != bool(m.group(2)) else "") + m.group(3), s)
    if _FUNC_RE.search(s) or _REL_SIGN_RE.search(s):
        return None
    if "=" in s:
        rel = relation(s)
        if len(rel.parts) != 2 or not (is_simple_lhs(rel.parts[0]) or _NUMERIC_LHS_RE.match(rel.parts[0])):
            return None  # "a+3z=0", "x = 3 = y": an equation, not a value; "x = 3 or x = -3" stays a hedge
        s = rel.parts[1]
    s = _LEAD_RE.sub("", s.strip()).strip()
    if _SI_GROUPS_RE.match(s):
        s = re.sub(r"[ \u00a0]", "", s)
    m = _DEC_COMMA_RE.match(s)
    if m:
        s = "%s.%s" % (m.group(1) or m.group(3), m.group(2) or m.group(4))
    return s[1:] if s[:1] == "+" and s[1:2].isdigit() else s


def _to_fraction(m: re.Match) -> tuple[Fraction, bool] | None:
    ip, fp, den, exp = m.group("int"), m.group("frac") or m.group("frac2"), m.group("den"), m.group("exp")
    digits = (ip or "").replace(",", "") + (fp or "")
    if len(digits) > _MAX_DIGITS or (exp and abs(int(exp)) > _MAX_EXP) or (den and len(den) > _MAX_DIGITS):
        return None
    val = Fraction((ip or "0").replace(",", "") + (fp or ""))
    if den is not None:
        d = Fraction(den)
        if d == 0:
            return None
        val /= d
    if exp:
        val *= Fraction(10) ** int(exp)
    if m.group("sign"):
        val = -val
    return val, (fp is None and den is None and exp is None)


def _scan(s: str) -> list[Number] | None:
    """All numbers in ``s``; None when ``s`` is an expression, not a plain number."""
    found: list[Number] = []
    for m in _NUM_RE.finditer(s):
        start = m.start()
        if not found and any(c.isalpha() for c in s[:start]):
            return None  # "not 19", "at least 3", "less than 4": a word before the value changes it
        prev = s[start - 1] if start else ""
        if prev in ("^", "_") or prev.isalpha() or prev == ".":
            if found:
                continue  # exponent or digit of a unit after the number: cm^2, CO2
            return None  # x2, a^3, 1.2.3
        before = s[:start].rstrip()[-1:]
        if before and before in "+*/=<>" or (m.group("sign") and (before.isalnum() or before == ")")):
            return None  # x+1, 5 - 3, x-1, 2019-2020: an expression or a range
        conv = _to_fraction(m)
        if conv is None:
            return None
        tail = s[m.end():]
        operator = _OP_TAIL_RE.match(tail) is not None
        variable = tail[:1].isalpha() and not tail[1:2].isalpha() and tail[0] not in _UNIT_LETTERS
        if operator or variable:
            return None  # 3x, 2^{10}, 5+3, 2(3), 4!
        val, integer = conv
        pct = _PCT_RE.match(tail) is not None
        sc = _SCALE_RE.match(tail)
        scale = _SCALES[sc.group(1).lower()] if sc else 1
        found.append(Number(val, pct, scale, integer and not pct and scale == 1))
    return found


def parse_number(text: str) -> Number | None:
    """Parse ``text`` as one plain number (see the module doc for the policy).

    Args:
        text: an extracted answer or a ground truth (plain text or LaTeX).

    Returns:
        A :class:`Number`, or None when ``text`` has no number, several different
        numbers, a list (``-2,1``), or is an expression, a function value, a
        relation or an equation rather than a number (``3x``, ``2^{10}``,
        ``\\sqrt{2}``, ``log(8)``, ``n >= 7``, ``a+3z=0``). A trailing
        parenthetical remark is dropped first (``12 (since 3*4)``). Never raises;
        pure and fast (regexes only; no sympy).
    """
    if len(text) > 400:
        return None
    s = _normalise(text)
    if not s:
        return None
    low = s.lower().strip(" .")
    if low in _WORDS:
        return Number(Fraction(_WORDS[low]), integer=True)
    if "\\" in s or "{" in s:
        return None
    found = _scan(s)
    if found and all(f.candidates() == found[0].candidates() for f in found):
        return found[0]
    return None


_BARE_COMMA_RE = re.compile(r"^(-?\d+),(\d+)$")
_POINT_DECIMAL_RE = re.compile(r"^-?\d*\.\d+$")


def decimal_comma_as_point(text: str, other: str) -> str:
    """``text`` with its comma read as a decimal point (``1,22`` -> ``1.22``) when ``text``
    is two digit runs joined by a comma that :func:`parse_number` does not read
    (not a thousands separator, not ``0,ddd``) and ``other`` is a number written
    with a decimal point; else ``text`` unchanged (module doc, decimal commas). Pure."""
    t, o = text.strip(), other.strip()
    m = _BARE_COMMA_RE.match(t)
    if m and _POINT_DECIMAL_RE.match(o) and parse_number(t) is None:
        return "%s.%s" % (m.group(1), m.group(2))
    return text


def is_plain_number(text: str) -> bool:
    """True when ``text`` parses as one plain number (used by ``auto`` typing)."""
    return parse_number(text) is not None


def numbers_match(gold: Number, pred: Number, rel_tol: float = DEFAULT_REL_TOL, *, exact_integers: bool = True) -> bool:
    """Compare two numbers under the module's policy.

    Args:
        gold, pred: parsed numbers.
        rel_tol: relative tolerance, a fraction of ``|gold|`` (0.001 = 0.1%).
        exact_integers: when both are integer literals, require exact equality
            (set False for chart values, which are read off an axis).
    """
    tol = Fraction(rel_tol)
    both_int = exact_integers and gold.integer and pred.integer
    for g in gold.candidates():
        for p in pred.candidates():
            if p == g:
                return True
            if not both_int and g != 0 and abs(p - g) <= tol * abs(g):
                return True
    return False
