"""Reading mode: the committed final answer of a free-form prose solution.

Issue 13 measured 217 real chain-of-thought solutions whose authors were not
asked for a box: 198 had no ``\\boxed{}`` and no "Answer:" cue but stated the
answer in prose ("Therefore, there are 412 ways."). The weak fallback (last
number) read the wrong span in 19 of them, mostly a number restated from the
question or an expression cut to its last number. This module reads such
prose with rules that prefer **no answer over a wrong span**:

1. Strict evidence first (a box or an explicit answer statement, found by
   :mod:`.extract`); for a yes/no item a strict answer that is a claim ("It
   is not possible") is mapped to yes/no (rule 6).
2. Output that loops (its last 1,500 characters have more than half of their
   4-grams repeated, :func:`.hygiene.repetition_share`) or is cut off (it does
   not end a sentence, or leaves a ``$``/``\\(``/``\\[`` open) has no answer.
3. The answer sentence: the last sentence if it is a *conclusion* (opens with
   "Therefore/So/Hence/Thus/Consequently/In conclusion/In total/Finally/This
   means/We conclude ..." or has "therefore/thus/hence" inside), or if it
   answers the question asked (it shares a content word with the question,
   or is a short "There are N ..."/"... is N." sentence) with a value in it;
   else the last conclusion among the last three sentences. Any sentence
   after it may only repeat its value (or restate the question's numbers).
   Only the last 4,000 characters are read.
4. A hedge in or after the answer sentence ("maybe", "perhaps", "either",
   "I'm not sure", "could be", "might", "probably") gives no answer; so do
   alternatives joined by "or" ("3 or 5"; "or equivalently" is not one).
5. Candidate values in the sentence: math spans (``$...$``, ``\\(...\\)``,
   ``\\[...\\]``, taken whole: ``3^{k+1}`` is never cut to ``1``), plain
   expressions (``3^(k+1)``, ``2n - 1``) and numbers; number words only when
   nothing else is there. An equation chain keeps its last side (``x = 2 + 3
   = 5`` -> ``5``; the part before ``\\approx`` wins) unless the question asks
   for an equation; relations are kept whole. Restated from the question (so
   dropped): its standalone numbers (not exponents, subscripts or
   coefficients) and its math spans verbatim. One value left: the answer.
   Several: a list joined by "and" ("2, 3 and 6") is the (set) answer; else
   the one followed by the noun of a "how many X" question; else the one
   stated for the question's subject ("how many marbles does Bob have" ->
   "Bob has 48"); else the last value when no other is stated as a result
   ("over the 5 hours the speed is 80"); else no answer. A question number is
   an answer only when it is the sentence's only value, stated as the result
   at its end ("the determinant equals 2.").
6. Yes/no items: the answer sentence's claim is read. "Yes"/"No" first wins;
   otherwise one negation ("not", "cannot", "there is no", "impossible",
   "irrational" for a question about "rational", ...) reads ``no``, none
   reads ``yes``, two or more (a double negation) read nothing. The sentence
   must be about the question (a shared content word, or possible/exist/true/
   false/can). A question with "not"/"n't"/"never" is ambiguous: nothing.
7. Multiple choice: "option (C) is correct", "(B) is the right choice",
   "... which is option (B)" give that letter.

Rules 2-7 were written against the hand-labelled corpus
``tests/data/answer_corpus.jsonl`` (issue 13's fault classes); the goal is a
precision of "correct" of at least 99.5% there.

Everything here is pure (regexes over the given strings; no I/O).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmpr_builder.labelers.extract import Extraction, clean_answer
from mmpr_builder.labelers.hygiene import repetition_share
from mmpr_builder.labelers.prose import CURRENCY_RE, HEDGE_RE, MATH_SPAN_RE, OR_RE, cut_off_reason, sentences

__all__ = ["read_answer", "claim_polarity", "LOOP_SHARE", "LOOP_TAIL_CHARS", "TAIL_CHARS"]

LOOP_SHARE = 0.5
"""Share of repeated 4-grams in the tail above which output is a loop (as ``PairingConfig.repetition_threshold``)."""
LOOP_TAIL_CHARS = 1500
"""Characters at the end of a response checked for a loop."""
TAIL_CHARS = 4000
"""Characters at the end of a response read for the conclusion (from a paragraph start); keeps reading linear."""
_TRAILING_SENTENCES = 3  # the answer sentence must be among the last three

_NAME = r"[a-zA-Z](?:_\{?\w+\}?)?(?:\([^()]{1,12}\))?"
# --- the question -------------------------------------------------------------------
_STOP = {"does", "there", "exist", "exists", "which", "their", "these", "those", "with", "that", "this", "from",
         "have", "what", "when", "where", "such", "each", "every", "some", "than", "then", "they", "will", "would",
         "could", "should", "into", "your", "answer", "prove", "show", "justify", "explain", "find", "many",
         "much", "value", "values", "number", "compute", "determine", "calculate", "evaluate", "given", "after",
         "before", "only", "also", "both", "same", "other", "being", "make", "made", "possible", "true", "false"}
_QNUM_RE = re.compile(r"(?<![\w^_{.\\])\d[\d,]*(?:\.\d+)?(?![\w^]|\.\d)")
_WORD_RE = re.compile(r"[A-Za-z]{4,}")


@dataclass(frozen=True)
class _Question:
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


def _question(q: str | None) -> _Question:
    if not q:
        return _Question()
    noun = re.search(r"\bhow\s+many\s+(?:(?:different|distinct|positive|possible|integer|more|whole)\s+)*([a-z]+)",
                     q, re.IGNORECASE)
    math = " ".join(m.group(0) for m in MATH_SPAN_RE.finditer(q))
    names = {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", q) if w.lower()[:5] not in _STOP}
    names |= set(re.findall(r"(?<![A-Za-z\\])[a-zA-Z](?:_\{?\w+\}?)?(?![A-Za-z])", math))
    names |= set(re.findall(r"(?<![A-Za-z'’\\])([b-hj-z])(?![A-Za-z'’])", MATH_SPAN_RE.sub(" ", q)))
    target = re.search(r"\b(?:[Ff]ind|[Cc]ompute|[Dd]etermine|[Ee]valuate|[Ww]hat\s+is)\s+\$?\s*(%s)\s*\$?(?![\w(]|\s*[-+*/^=<>])" % _NAME, q)
    subject = re.search(r"\b[Hh]ow\s+many\s+\w+\s+(?:\w+\s+)?(?:does|do|did|will|can|would)\s+([A-Z]\w+)", q)
    return _Question(
        frozenset(_norm_num(n) for n in _QNUM_RE.findall(q)),
        frozenset(_norm_num(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", q)),
        frozenset(_squash(m.group(0).strip("$")) for m in MATH_SPAN_RE.finditer(q)),
        frozenset(w.lower()[:5] for w in _WORD_RE.findall(q) if w.lower() not in _STOP),
        noun.group(1).lower().rstrip("s")[:6] if noun else None,
        re.search(r"\bnot\b|n['’]t\b|\bnever\b", q, re.IGNORECASE) is not None,
        re.search(r"\bequations?\b", q, re.IGNORECASE) is not None,
        frozenset(names),
        subject.group(1).lower() if subject else None,
        _squash(target.group(1)) if target else None,
    )


def _squash(s: str) -> str:
    return re.sub(r"\s+|\\[,;!]", "", s)


def _norm_num(s: str) -> str:
    s = s.replace(",", "").lstrip("-")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _related(sent: str, q: _Question) -> bool:
    """The sentence is about the question: it shares a content word with it."""
    return bool(q.stems & {w.lower()[:5] for w in _WORD_RE.findall(sent)})


# --- the answer sentence ------------------------------------------------------------
_CUE_RE = re.compile(
    r"^[*_#>\s]*(?:\*\*)?(?:therefore|thus|hence|so(?!\s+far\b|\s+that\b|\s+let)|consequently|accordingly|in\s+conclusion|to\s+conclude"
    r"|in\s+summary|to\s+summari[sz]e|in\s+total|altogether|all\s+in\s+all|overall|finally|as\s+a\s+result"
    r"|this\s+(?:means|shows|gives|yields)|which\s+gives|we\s+conclude|we\s+(?:get|obtain|find)\s+(?:that\s+)?"
    r"|putting\s+(?:it|this|these|everything)?\s*(?:all\s+)?together|conclusion|result)\b[\s,:*]*(?:that\s+)?",
    re.IGNORECASE,
)
_MID_CUE_RE = re.compile(r"\b(?:therefore|thus|hence|consequently)\b", re.IGNORECASE)


def _cue_stripped(sent: str) -> str | None:
    m = _CUE_RE.match(sent)
    if m and m.end() < len(sent):
        return sent[m.end():]
    return sent if _MID_CUE_RE.search(sent) else None  # "It is therefore not possible ..."


_SHORT_FINAL_RE = re.compile(
    r"^(?:there\s+(?:are|is)\b|[^.]{0,80}\b(?:is|are|equals)\s+\S+[^.]{0,30}[.!]?$)"
    r"|\b(?:total|sum|result|count|answer)\s+(?:is|equals|=)\s+\S+[.!]?$", re.IGNORECASE)


def _answer_sentence(sents: list[str], q: _Question, has_value) -> tuple[int, str, bool] | None:
    """Index, text (cue stripped) and "has a cue" of the answer sentence (rule 3), or None."""
    last = len(sents) - 1
    cue = _cue_stripped(sents[last])
    if cue is not None:
        return last, cue, True
    if (_related(sents[last], q) or _SHORT_FINAL_RE.search(sents[last])) and has_value(sents[last]):
        return last, sents[last], False
    for i in range(last - 1, max(-1, last - _TRAILING_SENTENCES), -1):
        cue = _cue_stripped(sents[i])
        if cue is not None:
            return i, cue, True
    return None


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
class _Cand:
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
    return _squash(m.group(1)) if m else None


def _bare_restated(value: str, nums: frozenset[str]) -> bool:
    v = value.strip("$ ").rstrip("%").strip()
    return bool(re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", v)) and _norm_num(v) in nums


def _candidates(sent: str, numeric: bool, q: _Question, loose: bool = False, words: bool = True) -> list[_Cand]:
    """Every candidate value in ``sent`` (rule 5), in order. ``loose``: any digit run of the
    question counts as restated (for sentences other than the answer's); ``words``: read number words."""
    qnums = q.all_numbers if loose else q.numbers
    found: list[_Cand] = []
    taken = [False] * len(sent)
    for m in MATH_SPAN_RE.finditer(sent):
        taken[m.start():m.end()] = [True] * (m.end() - m.start())
        inner = m.group(0).strip("$").strip()
        inner = inner[2:-2].strip() if inner[:2] in ("\\(", "\\[") else inner
        inner = re.sub(r"^\\displaystyle\s*", "", inner)
        if _NOT_VALUE_RE.search(inner):
            continue
        value = _value_of(inner, q.equation)
        found.append(_Cand(m.start(), m.end(), value, _squash(inner) in q.spans or _bare_restated(value, qnums),
                           framed=value != inner.strip() or bool(_FRAMED_RE.search(sent[:m.start()])),
                           lhs=_lhs(inner)))
    plain = "".join(" " if t else c for c, t in zip(sent, taken))
    for m in _PLAIN_EXPR_RE.finditer(plain):
        tok = m.group(0).strip()
        if not re.search(r"\d", tok) and not (numeric and re.search(r"[-+*/^]", tok) and len(tok) > 2):
            continue
        nums = [_norm_num(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", tok)]
        restated = bool(nums) and all(n in qnums for n in nums) and not re.search(r"[a-zA-Z]", tok)
        value = _value_of(tok, q.equation)
        found.append(_Cand(m.start(), m.end(), value, restated,
                           framed=value != tok or bool(_FRAMED_RE.search(plain[:m.start()])), lhs=_lhs(tok)))
    for m in [] if not words else re.finditer(r"\b(%s)\b" % "|".join(_NUMBER_WORDS), plain, re.IGNORECASE):
        if m.group(1).lower() != "one" or re.search(r"(?:exactly|only)\s+$", plain[:m.start()], re.IGNORECASE):
            value = _NUMBER_WORDS[m.group(1).lower()]
            found.append(_Cand(m.start(), m.end(), value, value in qnums, word=True))
    found.sort(key=lambda c: c.start)
    return [c for c in found if c.value]


_ITEM = r"(?:\$[^$]+\$|\\\(.+?\\\)|-?[\w.^()/]+)"
_LIST_RE = re.compile(r"%s(?:\s*,\s*%s)*,?\s+and\s+%s" % (_ITEM, _ITEM, _ITEM))
_CLAUSE_RE = re.compile(r"[,;]|\b(?:and|but|while|whereas)\b")
_SUBJECT_AFTER_RE = re.compile(r"^\s*\$?\s*(?:is|are|was|were|equals?)\b", re.IGNORECASE)


def _clause(sent: str, c: _Cand) -> tuple[int, int]:
    """Span of the clause holding candidate ``c`` (between commas, semicolons, "and", "but")."""
    start, end = 0, len(sent)
    for m in _CLAUSE_RE.finditer(sent):
        if m.end() <= c.start:
            start = m.end()
        elif m.start() >= c.end:
            end = m.start()
            break
    return start, end


def _keys(text: str, q: _Question) -> int:
    """How many of the question's content words and names the text has."""
    stems = {w.lower()[:5] for w in _WORD_RE.findall(text)} & q.stems
    names = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)} & q.names
    return len(stems | names)


def _choose(sent: str, cands: list[_Cand], q: _Question) -> tuple[str | None, str]:
    """The single committed value of the answer sentence, or (None, why) (rule 5)."""
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
    clauses: dict[tuple[int, int], list[_Cand]] = {}
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


# --- yes/no claims ----------------------------------------------------------------
_YESNO_FIRST_RE = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_NEG_RE = re.compile(
    r"\b(?:not|no|never|cannot|none|neither|nor|impossible|false|fails?|nonexistent|negative)\b|n['’]t\b",
    re.IGNORECASE,
)
_CLAIM_RE = re.compile(r"\b(?:possible|impossible|exists?|existence|true|false|can|cannot|always|holds?"
                       r"|affirmative|negative)\b|n['’]t\b", re.IGNORECASE)
_PREFIX_NEG_RE = re.compile(r"\b(?:ir|im|un|in|non-?)([a-z]{4,})", re.IGNORECASE)


def claim_polarity(sent: str, question: str | None = None, *, need_topic: bool = True) -> tuple[str | None, str]:
    """Read a yes/no claim (rule 6 of the module doc).

    Args:
        sent: the answer sentence or an extracted answer ("91 is not a prime").
        question: the question; a negated one ("Is it not true ...") makes the
            reading ambiguous; its words also turn "irrational" into a negation
            of "rational".
        need_topic: require the sentence to be about the question (off for an
            explicit answer statement).

    Returns:
        ``("yes" | "no", how)`` or ``(None, why)``. Pure.
    """
    m = _YESNO_FIRST_RE.match(sent)
    if m:
        return m.group(1).lower(), "leading %s" % m.group(1).lower()
    if HEDGE_RE.search(sent):
        return None, "hedged claim"
    q = _question(question)
    if q.negated:
        return None, "negated question: claim polarity is ambiguous"
    if need_topic and not _related(sent, q) and not _CLAIM_RE.search(sent):
        return None, "sentence makes no claim about the question"
    negs = len(_NEG_RE.findall(sent))
    negs += sum(1 for w in _PREFIX_NEG_RE.finditer(sent)
                if not _NEG_RE.fullmatch(w.group(0)) and w.group(1).lower()[:5] in q.stems)
    if negs >= 2:
        return None, "double negation"
    return ("no", "negative claim") if negs == 1 else ("yes", "affirmative claim")


# --- multiple choice ----------------------------------------------------------------
_OPTION_CLAIM_RE = re.compile(
    r"(?:^|\b(?:option|choice)\s*|\s)\(?([A-H])\)?\s+(?:is|must\s+be|would\s+be)\s+(?:the\s+)?"
    r"(?:correct|right|best)(?:\s+(?:one|choice|option|answer))?\s*[.!]?$"
    r"|\bwhich\s+is\s+(?:option|choice)\s*\(?([A-H])\)?\s*[.!]?$",
    re.IGNORECASE,
)


# --- entry point ---------------------------------------------------------------------
def read_answer(response: str, *, strict: Extraction | None = None, question: str | None = None,
                numeric: bool = False, yes_no: bool = False) -> Extraction:
    """Reading-mode extraction of ``response`` (rules 1-6 of the module doc).

    Args:
        response: the full response text.
        strict: the strict extraction already found (box/statement), or None.
        question: the question text, or None (then restated numbers cannot be
            recognised, and a conclusion is needed: the no-cue "last sentence
            answering the question" rule uses the question's words).
        numeric: the expected answer is a number or expression.
        yes_no: the expected answer is yes/no.

    Returns:
        An :class:`~.extract.Extraction` with ``method`` ``boxed``/``statement``
        (strict evidence), ``reading`` (prose), or ``none`` with the reason.
        Pure; never raises on odd text.
    """
    if strict is not None:
        if yes_no and strict.text and not _YESNO_FIRST_RE.match(strict.text):
            pol, how = claim_polarity(strict.text, question, need_topic=False)
            if pol is not None:
                return Extraction(pol, strict.method, "%s; %s read as %s" % (strict.detail, how, pol))
        return strict
    response = CURRENCY_RE.sub("USD ", response)
    if repetition_share(response[-LOOP_TAIL_CHARS:], 4) > LOOP_SHARE:
        return Extraction(None, "none", "reading: output loops (repeated 4-grams in the tail)")
    cut = cut_off_reason(response)
    if cut is not None:
        return Extraction(None, "none", "reading: output looks cut off (%s)" % cut)
    q = _question(question)
    tail = response[-TAIL_CHARS:]
    if len(response) > TAIL_CHARS and "\n\n" in tail:
        tail = tail[tail.index("\n\n"):]  # start at a paragraph: never inside a math span
    sents = sentences(tail)
    if not sents:
        return Extraction(None, "none", "reading: no sentence")
    def has_value(s: str) -> bool:
        return yes_no or _choose(_main_clause(s), _candidates(_main_clause(s), numeric, q, loose=True, words=False),
                                 q)[0] is not None

    found = _answer_sentence(sents, q, has_value)
    if found is None:
        return Extraction(None, "none", "reading: no conclusion among the last %d sentences" % _TRAILING_SENTENCES)
    idx, sent, cue = found
    if any(HEDGE_RE.search(x) for x in [sent, *sents[idx + 1:]]) or OR_RE.search(sent):
        return Extraction(None, "none", "reading: the conclusion hedges or lists alternatives")
    if yes_no:
        if {_norm_num(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", sent)} - q.all_numbers:
            return Extraction(None, "none", "reading: the claim is about numbers the question does not have")
        pol, how = claim_polarity(sent, question)
        if pol is None:
            return Extraction(None, "none", "reading: %s" % how)
        return Extraction(pol, "reading", "conclusion %r: %s" % (sent[:80], how))
    opt = _OPTION_CLAIM_RE.search(sent.strip())
    if opt:
        return Extraction("(%s)" % (opt.group(1) or opt.group(2)).upper(), "reading",
                          "conclusion %r: option claimed correct" % sent[:80])
    main = _main_clause(sent)
    cands = _candidates(main, numeric, q, words=cue)
    if _VALUE_NEG_RE.search(sent) or any(_BOUND_RE.search(main[:c.start]) for c in cands if not c.restated):
        return Extraction(None, "none", "reading: the conclusion negates or bounds a value ('not 5', 'at least 4')")
    if any(_UNFINISHED_RE.search(x) for x in sents[idx + 1:]):
        return Extraction(None, "none", "reading: the solution goes on after the conclusion ('we still need ...')")
    value, how = _choose(main, cands, q)
    if value is None and not numeric:
        value, how = _phrase(sent), "the phrase after the last copula"
    if value is None:
        return Extraction(None, "none", "reading: %s" % how)
    for later in sents[idx + 1:]:
        others = {c.value for c in _candidates(later, numeric, q, loose=True)
                  if (c.framed or not c.restated) and not c.word} - {value}
        if others:
            return Extraction(None, "none", "reading: values after the conclusion (%s)" % ", ".join(sorted(others)[:3]))
    ans = clean_answer(value)
    if not ans:
        return Extraction(None, "none", "reading: empty value")
    return Extraction(ans, "reading", "conclusion %r: %s" % (sent[:80], how))


_VALUE_NEG_RE = re.compile(r"\b(?:not|no|never|cannot|neither|nor|none)\b|n['’]t\b", re.IGNORECASE)
_BOUND_RE = re.compile(r"\b(?:at\s+(?:least|most)|(?:less|more|greater|fewer|smaller|larger|bigger)\s+than|up\s+to"
                       r"|around|about|nearly|almost|give\s+or\s+take|between|over|under|upwards\s+of)\s+[$\\(]*$",
                       re.IGNORECASE)
_UNFINISHED_RE = re.compile(r"\b(?:still\s+(?:need|have)\s+to|remains?\s+to|next,?\s+(?:we|I)|let(?:'s|’s|\s+us|\s+me)\s+now"
                            r"|we\s+(?:must|should)\s+(?:also|still|now)|to\s+be\s+continued)\b", re.IGNORECASE)
_TRAILING_CLAUSE_RE = re.compile(
    r",\s*(?:attained|achieved|reached|obtained|when|where|for|at|with|which|since|because|as|given|using"
    r"|so\s+that|while|whereas|by|from|after|before|if|unless)\b", re.IGNORECASE)


def _main_clause(sent: str) -> str:
    """``sent`` without a trailing subordinate clause ("..., attained at x = 3", "..., which is 120"),
    when the part before it has a value."""
    for m in _TRAILING_CLAUSE_RE.finditer(sent):
        if re.search(r"\d|\$", sent[:m.start()]):
            return sent[:m.start()]
    return sent


_PHRASE_RE = re.compile(r"\b(?:is|are|was|were)\s+(?P<v>[^,;]{1,60}?)\s*(?:[,;]|$)", re.IGNORECASE)


def _phrase(sent: str) -> str | None:
    """A short text answer after the last copula ("the capital is Paris" -> ``Paris``), at most six words."""
    ms = list(_PHRASE_RE.finditer(sent.rstrip(" .!")))
    if not ms:
        return None
    v = ms[-1].group("v").strip()
    return v if 0 < len(v.split()) <= 6 else None
