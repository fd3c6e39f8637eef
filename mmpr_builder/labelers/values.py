"""Reading mode, rule 5: what the question says, and the candidate values of a conclusion sentence.

Used by :mod:`.reading` (see its module doc for the rules and their source, issue 13).
Pure: regexes over the given strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mmpr_builder.labelers.prose import MATH_SPAN_RE

__all__ = ["Question", "Cand", "read_question", "candidates", "choose_value", "related", "norm_num"]

_NAME = r"[a-zA-Z](?:_\{?\w+\}?)?(?:\([^()]{1,12}\))?"
# --- the question -------------------------------------------------------------------
_STOP = {"does", "there", "exist", "exists", "which", "their", "these", "those", "with", "that", "this", "from",
         "have", "what", "when", "where", "such", "each", "every", "some", "than", "then", "they", "will", "would",
         "could", "should", "into", "your", "answer", "prove", "show", "justify", "explain", "find", "many",
         "much", "value", "values", "number", "compute", "determine", "calculate", "evaluate", "given", "after",
         "before", "only", "also", "both", "same", "other", "being", "make", "made", "possible", "true", "false"}
_QNUM_RE = re.compile(r"(?<![\w^_{.\\])\d[\d,]*(?:\.\d+)?(?![\w^]|\.\d)")
_WORD_RE = re.compile(r"[A-Za-z]{4,}")
_DIGITS_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Question:
    """What the question tells the reader (from :func:`read_question`); empty without a question."""

    numbers: frozenset[str] = frozenset()  # standalone numbers (not exponents, subscripts or coefficients)
    all_numbers: frozenset[str] = frozenset()  # every digit run (for sentences that are not the answer's)
    spans: frozenset[str] = frozenset()  # math spans, spaces removed
    stems: frozenset[str] = frozenset()  # content words, first 5 letters
    noun: str | None = None  # "how many X": stem of X
    negated: bool = False  # "Is it not true ...", "Isn't ...": claim polarity is ambiguous
    equation: bool = False  # asks for an equation: keep both sides
    names: frozenset[str] = frozenset()  # capitalised names ("Bob") and variables ("x", "a_n")
    subject: str | None = None  # "how many marbles does Bob have": bob
    target: str | None = None  # "Find c ...", "Find $f(3)$": c, f(3)


@lru_cache(maxsize=4096)  # the K samples of an item share its question
def read_question(q: str | None) -> Question:
    """Parse the question text ``q`` (None: an empty :class:`Question`). Pure (cached)."""
    if not q:
        return Question()
    noun = re.search(r"\bhow\s+many\s+(?:(?:different|distinct|positive|possible|integer|more|whole)\s+)*([a-z]+)",
                     q, re.IGNORECASE)
    math = " ".join(m.group(0) for m in MATH_SPAN_RE.finditer(q))
    names = {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", q) if w.lower()[:5] not in _STOP}
    names |= set(re.findall(r"(?<![A-Za-z\\])[a-zA-Z](?:_\{?\w+\}?)?(?![A-Za-z])", math))
    names |= set(re.findall(r"(?<![A-Za-z'’\\])([b-hj-z])(?![A-Za-z'’])", MATH_SPAN_RE.sub(" ", q)))
    target = re.search(r"\b(?:[Ff]ind|[Cc]ompute|[Dd]etermine|[Ee]valuate|[Ww]hat\s+is)\s+\$?\s*(%s)\s*\$?(?![\w(]|\s*[-+*/^=<>])" % _NAME, q)
    subject = re.search(r"\b[Hh]ow\s+many\s+\w+\s+(?:\w+\s+)?(?:does|do|did|will|can|would)\s+([A-Z]\w+)", q)
    return Question(
        frozenset(norm_num(n) for n in _QNUM_RE.findall(q)),
        frozenset(norm_num(n) for n in _DIGITS_RE.findall(q)),
        frozenset(squash(m.group(0).strip("$")) for m in MATH_SPAN_RE.finditer(q)),
        frozenset(w.lower()[:5] for w in _WORD_RE.findall(q) if w.lower() not in _STOP),
        noun.group(1).lower().rstrip("s")[:6] if noun else None,
        re.search(r"\bnot\b|n['’]t\b|\bnever\b", q, re.IGNORECASE) is not None,
        re.search(r"\bequations?\b", q, re.IGNORECASE) is not None,
        frozenset(names),
        subject.group(1).lower() if subject else None,
        squash(target.group(1)) if target else None,
    )


def squash(s: str) -> str:
    """``s`` without white space and LaTeX thin spaces (for comparing math spans)."""
    return re.sub(r"\s+|\\[,;!]", "", s)


def norm_num(s: str) -> str:
    """A number's digits for comparison: ``1,000`` -> ``1000``, ``3.50`` -> ``3.5``, sign dropped."""
    s = s.replace(",", "").lstrip("-")
    return s.rstrip("0").rstrip(".") if "." in s else s


def related(sent: str, q: Question) -> bool:
    """The sentence is about the question: it shares a content word with it."""
    return bool(q.stems & {w.lower()[:5] for w in _WORD_RE.findall(sent)})




# --- candidate values ---------------------------------------------------------
_ATOM = (r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?(?!\d|\.\d|[a-zA-Z]{2})|(?<![a-zA-Z])[a-zA-Z](?![a-zA-Z'’])"
         r"|(?:sqrt|log|ln|sin|cos|tan|exp|C|P|binom)\([^()]{1,30}\)|\([^()]{1,30}\))")
_TERM = r"%s(?:%s)*(?:!|\^%s)*" % (_ATOM, _ATOM, _ATOM)
_PLAIN_EXPR_RE = re.compile(r"(?<![\w\\^_])-?%s(?:\s*[-+*/=^]\s*-?%s)*(?:\s*%%)?" % (_TERM, _TERM))
_RELATION_RE = re.compile(r"\\[lg]eq?\b|\\neq|[<>≤≥≠]|\\[lg]t\b")
_NOT_VALUE_RE = re.compile(r"\\to\b|\\rightarrow|\\mapsto|\\lim")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_FRAMED_RE = re.compile(r"(?:\b(?:is|are|was|were|be|equals?|equal\s+to|has|have|gives?|gets?|obtain|becomes?"
                        r"|comes\s+out\s+(?:as|to)|turns\s+out\s+to\s+be)|[=:])\s*\$?$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Cand:
    """One candidate value in a sentence (character offsets, the value, and how it is stated)."""

    start: int
    end: int
    value: str
    restated: bool  # restated from the question (rule 5)
    word: bool = False  # a number word ("twelve"): used only when nothing else is there
    framed: bool = False  # stated as a result: after "is"/"equals"/"=", or the last side of an equation
    lhs: str | None = None  # "x" of "x = 5"


def _value_of(span: str, keep_equation: bool) -> str:
    """The answer part of a math span: the part before ``\\approx``; the last side of
    an equation chain (unless ``keep_equation``); relations whole."""
    s = re.split(r"\\approx|≈|\\sim(?![a-z])", span)[0].strip()
    if _RELATION_RE.search(s) or keep_equation:
        return s
    sides = [p.strip() for p in re.split(r"(?<![<>!\\])=(?!=)", s)]
    return sides[-1] if sides[-1] else s


_LHS_RE = re.compile(r"^\s*(%s)\s*=(?!=)" % _NAME)


def _lhs(span: str) -> str | None:
    m = _LHS_RE.match(span)
    return squash(m.group(1)) if m else None


def _bare_restated(value: str, nums: frozenset[str]) -> bool:
    v = value.strip("$ ").rstrip("%").strip()
    return bool(re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", v)) and norm_num(v) in nums


def candidates(sent: str, numeric: bool, q: Question, loose: bool = False, words: bool = True) -> list[Cand]:
    """Every candidate value in ``sent`` (rule 5), in order of position.

    Args:
        sent: one sentence.
        numeric: the answer is a number/expression (plain expressions without digits count).
        q: the question (restated numbers and spans are flagged ``restated``).
        loose: any digit run of the question counts as restated (for sentences
            other than the answer's).
        words: also read number words ("twelve"; only conclusions use them).
    """
    qnums = q.all_numbers if loose else q.numbers
    found: list[Cand] = []
    taken = [False] * len(sent)
    for m in MATH_SPAN_RE.finditer(sent):
        taken[m.start():m.end()] = [True] * (m.end() - m.start())
        inner = m.group(0).strip("$").strip()
        inner = inner[2:-2].strip() if inner[:2] in ("\\(", "\\[") else inner
        inner = re.sub(r"^\\displaystyle\s*", "", inner)
        if _NOT_VALUE_RE.search(inner):
            continue
        value = _value_of(inner, q.equation)
        found.append(Cand(m.start(), m.end(), value, squash(inner) in q.spans or _bare_restated(value, qnums),
                           framed=value != inner.strip() or bool(_FRAMED_RE.search(sent[:m.start()])),
                           lhs=_lhs(inner)))
    plain = "".join(" " if t else c for c, t in zip(sent, taken))
    for m in _PLAIN_EXPR_RE.finditer(plain):
        tok = m.group(0).strip()
        if not re.search(r"\d", tok) and not (numeric and re.search(r"[-+*/^]", tok) and len(tok) > 2):
            continue
        nums = [norm_num(n) for n in _DIGITS_RE.findall(tok)]
        restated = bool(nums) and all(n in qnums for n in nums) and not re.search(r"[a-zA-Z]", tok)
        value = _value_of(tok, q.equation)
        found.append(Cand(m.start(), m.end(), value, restated,
                           framed=value != tok or bool(_FRAMED_RE.search(plain[:m.start()])), lhs=_lhs(tok)))
    for m in [] if not words else re.finditer(r"\b(%s)\b" % "|".join(_NUMBER_WORDS), plain, re.IGNORECASE):
        if m.group(1).lower() != "one" or re.search(r"(?:exactly|only)\s+$", plain[:m.start()], re.IGNORECASE):
            value = _NUMBER_WORDS[m.group(1).lower()]
            found.append(Cand(m.start(), m.end(), value, value in qnums, word=True))
    found.sort(key=lambda c: c.start)
    return [c for c in found if c.value]


_ITEM = r"(?:\$[^$]+\$|\\\(.+?\\\)|-?[\w.^()/]+)"
_LIST_RE = re.compile(r"%s(?:\s*,\s*%s)*,?\s+and\s+%s" % (_ITEM, _ITEM, _ITEM))
_CLAUSE_RE = re.compile(r"[,;]|\b(?:and|but|while|whereas)\b")
_SUBJECT_AFTER_RE = re.compile(r"^\s*\$?\s*(?:is|are|was|were|equals?)\b", re.IGNORECASE)


def _clause(sent: str, c: Cand) -> tuple[int, int]:
    """Span of the clause holding candidate ``c`` (between commas, semicolons, "and", "but")."""
    start, end = 0, len(sent)
    for m in _CLAUSE_RE.finditer(sent):
        if m.end() <= c.start:
            start = m.end()
        elif m.start() >= c.end:
            end = m.start()
            break
    return start, end


def _keys(text: str, q: Question) -> int:
    """How many of the question's content words and names the text has."""
    stems = {w.lower()[:5] for w in _WORD_RE.findall(text)} & q.stems
    names = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)} & q.names
    return len(stems | names)


def choose_value(sent: str, cands: list[Cand], q: Question) -> tuple[str | None, str]:
    """The single committed value of the answer sentence ``sent`` among ``cands``, and how it
    was chosen; ``(None, why)`` when no single value is committed (rule 5 of :mod:`.reading`)."""
    digits = [c for c in cands if not c.word]
    live = [c for c in digits if not c.restated] or [c for c in cands if c.word and not c.restated]
    values = list(dict.fromkeys(c.value for c in live))
    if not values:
        if len(digits) == 1 and digits[0].framed and not sent[digits[0].end:].strip(" .!$*"):
            return digits[0].value, "the question's number, stated as the result ('is N.')"
        return None, "no value in the conclusion (numbers restated from the question are not answers)"
    if len(values) == 1:
        return values[0], "the only value in the conclusion"
    lhs = list(dict.fromkeys(c.lhs for c in live if c.lhs))
    if len(lhs) > 1:  # "a = 3, b = 4 and c = 5": values of different unknowns
        if all(c.lhs for c in live) and len(lhs) == len(live):
            tup = re.search(r"\(\s*%s\s*\)" % r"\s*,\s*".join(re.escape(x) for x in lhs), " ".join(q.spans))
            if tup:
                return "(%s)" % ", ".join(c.value for c in live), "the values of the question's tuple (%s)" % ", ".join(lhs)
            asked = [c for c in live if c.lhs == q.target] or [c for c in live if c.lhs in q.names]
            if len(asked) == 1:
                return asked[0].value, "the value of the question's unknown %s" % asked[0].lhs
        return None, "values of several unknowns (%s)" % ", ".join(lhs)
    for m in _LIST_RE.finditer(sent):
        if all(m.start() <= c.start and c.end <= m.end() for c in live):
            items = [c.value for c in digits if m.start() <= c.start and c.end <= m.end()]
            return ", ".join(dict.fromkeys(items)), "a list of values joined by 'and' (set answer)"
    clauses: dict[tuple[int, int], list[Cand]] = {}
    for c in live:
        clauses.setdefault(_clause(sent, c), []).append(c)
    if len(clauses) > 1:  # parallel statements: the one clause about the question, if unique
        scored = sorted(((_keys(sent[a:b], q), (a, b)) for a, b in clauses), reverse=True)
        best = [span for k, span in scored if k == scored[0][0]]
        if len(best) > 1 and q.subject and scored[0][0] > 0:
            best = [span for span in best if re.search(r"\b%s\b" % re.escape(q.subject), sent[span[0]:span[1]].lower())]
        if scored[0][0] > 0 and len(best) != 1:
            return None, "several candidate values (%s) in parallel clauses" % ", ".join(values[:4])
        if scored[0][0] > 0:
            live = clauses[best[0]]
            if len({c.value for c in live}) == 1:
                return live[0].value, "the value in the clause about the question"
    if q.noun:
        hits = {c.value for c in live if re.match(r"\s+(?:[a-z-]+\s+)?" + re.escape(q.noun), sent[c.end:].lower())}
        if len(hits) == 1:
            return hits.pop(), "the value counting the question's '%s'" % q.noun
    others = live[:-1]
    stated = [c for c in others if _FRAMED_RE.search(sent[:c.start]) or _SUBJECT_AFTER_RE.match(sent[c.end:])]
    if not stated and live[-1].value not in [c.value for c in others]:
        return live[-1].value, "the last value; the others are not stated as results"
    return None, "several candidate values (%s)" % ", ".join(values[:4])
