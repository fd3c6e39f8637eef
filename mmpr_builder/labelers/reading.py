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
3. The answer sentence is the last *conclusion* sentence: one opening with
   "Therefore/So/Hence/Thus/Consequently/In conclusion/In total/Finally/This
   means/We conclude ...". Without one, the last sentence that answers the
   question asked ("how many ways" -> "... 412 ways."; "what is the area" ->
   "the area ... is 24"). It must be among the last three sentences, and any
   sentence after it may only repeat its value.
4. A sentence that hedges ("maybe", "perhaps", "either ... or", "I'm not
   sure", "could be", "might") gives no answer; so do alternatives joined by
   "or".
5. Candidate values in the sentence: math spans (``$...$``, ``\\(...\\)``,
   ``\\[...\\]``, taken whole: ``3^{k+1}`` is never cut to ``1``), plain
   expressions (``3^(k+1)``, ``2n - 1``) and numbers. An equation chain keeps
   its last side (``x = 2 + 3 = 5`` -> ``5``; the part before ``\\approx``
   wins), unless the question asks for an equation; relations are kept
   whole. Numbers restated from the question are dropped. One value left: the
   answer; a list right after the copula ("are 2 and 3"): the whole list (a
   set answer); several others: the one followed by the counted noun of a
   "how many" question, else no answer.
6. Yes/no items: the answer sentence's claim is read. "Yes"/"No" first wins;
   otherwise one negation ("not", "cannot", "there is no", "impossible",
   "does not exist", ...) reads ``no``, none reads ``yes``, two or more (a
   double negation) read nothing. The sentence must make a claim about the
   question (it shares a content word with it, or uses possible/exist/true/
   false/can). A question with its own negation is ambiguous: nothing.

Everything here is pure (regexes over the given strings; no I/O).
"""

from __future__ import annotations

import re

from mmpr_builder.labelers.extract import Extraction, clean_answer
from mmpr_builder.labelers.hygiene import repetition_share

__all__ = ["read_answer", "sentences", "claim_polarity", "LOOP_SHARE", "LOOP_TAIL_CHARS"]

LOOP_SHARE = 0.5
"""Share of repeated 4-grams in the tail above which output is a loop (as ``PairingConfig.repetition_threshold``)."""
LOOP_TAIL_CHARS = 1500
"""Characters at the end of a response checked for a loop."""
_TRAILING_SENTENCES = 3  # the answer sentence must be among the last three

# --- sentences ----------------------------------------------------------------
_MATH_SPAN_RE = re.compile(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
_SPLIT_RE = re.compile(r"(?<=[.!?])[*_)\"”]*\s+(?=\S)|\n\s*\n|\n(?=\s*(?:[-*+]\s|\d+[.)]\s|#))")
_ABBREV_END_RE = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|approx|cf|Fig|Eq|No)\.|\b[A-Z]\.)$")


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; math spans are never split (``$3.5$``, display math).

    Boundaries: ``.``/``!``/``?`` followed by white space (not after "e.g.",
    "i.e.", an initial), blank lines, and list items. Line breaks inside a
    paragraph join (a display equation belongs to the sentence it ends).
    """
    masked, spans = [], []

    def keep(m: re.Match) -> str:
        spans.append(m.group(0))
        return "\x00%d\x01" % (len(spans) - 1)

    masked = _MATH_SPAN_RE.sub(keep, text)
    out: list[str] = []
    start = 0
    for m in _SPLIT_RE.finditer(masked):
        piece = masked[start:m.start()]
        if _ABBREV_END_RE.search(piece.rstrip()) and "\n" not in m.group(0):
            continue
        out.append(piece)
        start = m.end()
    out.append(masked[start:])
    unmask = re.compile(r"\x00(\d+)\x01")
    res = [" ".join(unmask.sub(lambda m: spans[int(m.group(1))], s).split()) for s in out]
    return [s for s in res if s.strip(" *_#-")]


# --- gates: loops, truncation, hedges -------------------------------------------
_END_OK_RE = re.compile(r"(?:[.!?。)\]}$*_`\"'”’]|\\\)|\\\])\s*$")


def _cut_off(text: str) -> str | None:
    """Why ``text`` looks cut off (unclosed math, no sentence end), or None."""
    t = text.rstrip()
    if len(re.findall(r"(?<!\\)\$", t)) % 2:
        return "unclosed $"
    if t.count("\\(") > t.count("\\)") or t.count("\\[") > t.count("\\]"):
        return "unclosed math"
    if t.count("{") > t.count("}"):
        return "unclosed brace"
    if not _END_OK_RE.search(t):
        return "no sentence end"
    return None


_HEDGE_RE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|might|either|not\s+(?:entirely\s+|completely\s+|100%\s+)?(?:sure|certain)"
    r"|unsure|uncertain|i\s+guess|could\s+(?:be|also\s+be)|may\s+be|likely|roughly|somewhere\s+between"
    r"|can(?:no|')t\s+(?:be\s+)?(?:sure|determine|decide)|hard\s+to\s+say|not\s+clear)\b",
    re.IGNORECASE,
)

# --- conclusion sentences -----------------------------------------------------
_CUE_RE = re.compile(
    r"^[*_#>\s]*(?:\*\*)?(?:therefore|thus|hence|so|consequently|accordingly|in\s+conclusion|to\s+conclude"
    r"|in\s+summary|to\s+summari[sz]e|in\s+total|altogether|all\s+in\s+all|overall|finally|as\s+a\s+result"
    r"|this\s+(?:means|shows|gives|yields)|which\s+gives|we\s+conclude|we\s+(?:get|obtain|find)\s+(?:that\s+)?"
    r"|putting\s+(?:it|this|these|everything)?\s*(?:all\s+)?together|conclusion|result)\b[\s,:*]*(?:that\s+)?",
    re.IGNORECASE,
)


_MID_CUE_RE = re.compile(r"\b(?:therefore|thus|hence|consequently)\b", re.IGNORECASE)


def _question_noun(question: str | None) -> str | None:
    """Counted noun of a "how many X" question (stem of X), or None."""
    if not question:
        return None
    m = re.search(r"\bhow\s+many\s+(?:different\s+|distinct\s+|positive\s+|possible\s+|integer\s+)*([a-z]+)",
                  question, re.IGNORECASE)
    return m.group(1).lower().rstrip("s")[:6] if m else None


def _question_topic(question: str | None) -> str | None:
    """Asked quantity of "what is/find/compute the X" (stem), or None."""
    if not question:
        return None
    m = re.search(r"\b(?:what\s+is|find|compute|determine|calculate|evaluate)\s+the\s+(?:value\s+of\s+the\s+)?"
                  r"(?:(?:exact|total|minimum|maximum|smallest|largest|least|greatest|final|positive)\s+)*([a-z]+)",
                  question, re.IGNORECASE)
    return m.group(1).lower().rstrip("s")[:6] if m else None


def _answers_question(sent: str, question: str | None) -> bool:
    noun, topic = _question_noun(question), _question_topic(question)
    low = sent.lower()
    if noun and re.search(r"(?:\d|\$)\S*\s+(?:\w+\s+)?" + re.escape(noun), low):
        return True
    return bool(topic and topic not in ("value", "number") and re.search(
        r"\b" + re.escape(topic) + r"\w*\b.*\b(?:is|equals|=)\b", low))


def _answer_sentence(sents: list[str], question: str | None) -> tuple[int, str] | None:
    """Index and text of the answer sentence (rule 3), cue stripped; None if there is none."""
    first = max(0, len(sents) - _TRAILING_SENTENCES)
    for i in range(len(sents) - 1, first - 1, -1):
        m = _CUE_RE.match(sents[i])
        if m and m.end() < len(sents[i]):
            return i, sents[i][m.end():]
        if _MID_CUE_RE.search(sents[i]):  # "It is therefore not possible ..."
            return i, sents[i]
    for i in range(len(sents) - 1, first - 1, -1):
        if _answers_question(sents[i], question):
            return i, sents[i]
    return None


# --- candidate values ---------------------------------------------------------
_ATOM = (r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?(?![a-zA-Z]{2})|(?<![a-zA-Z])[a-zA-Z](?![a-zA-Z'’])"
         r"|(?:sqrt|log|ln|sin|cos|tan|exp|C|P|binom)\([^()]{1,30}\)|\([^()]{1,30}\))")
_TERM = r"%s(?:%s)*(?:!|\^%s)*" % (_ATOM, _ATOM, _ATOM)
_PLAIN_EXPR_RE = re.compile(r"(?<![\w\\^_])-?%s(?:\s*[-+*/=^]\s*-?%s)*\s*%%?" % (_TERM, _TERM))
_RELATION_RE = re.compile(r"\\[lg]eq?\b|\\neq|[<>≤≥≠]|\\[lg]t\b")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}


def _question_numbers(question: str | None) -> set[str]:
    """Numbers written in the question, normalised (``1,000`` -> ``1000``, ``3.50`` -> ``3.5``)."""
    if not question:
        return set()
    return {_norm_num(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", question)}


def _norm_num(s: str) -> str:
    s = s.replace(",", "").lstrip("-")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _value_of(span: str, keep_equation: bool) -> str:
    """The answer part of a math span: the part before ``\\approx``; the last side of
    an equation chain (unless ``keep_equation``); relations whole."""
    s = re.split(r"\\approx|≈|\\sim(?![a-z])", span)[0].strip()
    if _RELATION_RE.search(s) or keep_equation:
        return s
    sides = [p.strip() for p in re.split(r"(?<![<>!\\])=(?!=)", s)]
    return sides[-1] if sides[-1] else s


def _restated(value: str, qnums: set[str]) -> bool:
    """A candidate is restated from the question when it is a bare number (or ``$5$``) the question has."""
    v = value.strip("$ ")
    return bool(re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", v)) and _norm_num(v) in qnums


def _candidates(sent: str, numeric: bool, qnums: set[str], keep_equation: bool) -> list[tuple[int, int, str]]:
    """Every candidate value in ``sent`` (rule 5) as (start, end, value), restated numbers dropped."""
    found: list[tuple[int, int, str]] = []
    taken = [False] * len(sent)
    for m in _MATH_SPAN_RE.finditer(sent):
        inner = m.group(0).strip("$").strip()
        inner = inner[2:-2].strip() if inner[:2] in ("\\(", "\\[") else inner
        found.append((m.start(), m.end(), _value_of(inner, keep_equation)))
        taken[m.start():m.end()] = [True] * (m.end() - m.start())
    plain = "".join(" " if t else c for c, t in zip(sent, taken))
    for m in _PLAIN_EXPR_RE.finditer(plain):
        tok = m.group(0).strip()
        if not re.search(r"\d", tok) and not (numeric and re.search(r"[-+*/^]", tok) and len(tok) > 2):
            continue
        found.append((m.start(), m.end(), _value_of(tok, keep_equation)))
    for m in re.finditer(r"\b(%s)\b" % "|".join(_NUMBER_WORDS), plain, re.IGNORECASE):
        if m.group(1).lower() != "one" or re.search(r"(?:exactly|only)\s+$", plain[:m.start()], re.IGNORECASE):
            found.append((m.start(), m.end(), _NUMBER_WORDS[m.group(1).lower()]))
    found.sort()
    return [c for c in found if c[2] and not _restated(c[2], qnums)]


_LIST_RE = re.compile(
    r"(?:\b(?:is|are|be)|=|:)\s+(?P<list>(?:\$[^$]+\$|-?[\w.^()/]+)(?:\s*,\s*(?:\$[^$]+\$|-?[\w.^()/]+))*,?\s+and\s+"
    r"(?:\$[^$]+\$|-?[\w.^()/]+))", re.IGNORECASE)
_OR_RE = re.compile(r"(?:\$[^$]+\$|\d\S*)\s*,?\s+or\s+(?!equivalently|in\s+other|simply|just)(?:\$|\d|x\s*=)", re.IGNORECASE)


def _choose(sent: str, cands: list[tuple[int, int, str]], question: str | None) -> tuple[str | None, str]:
    """The single committed value of the answer sentence, or (None, why)."""
    values = list(dict.fromkeys(v for _, _, v in cands))
    if not values:
        return None, "no value in the conclusion"
    if len(values) == 1:
        return values[0], "the only value in the conclusion"
    lst = _LIST_RE.search(sent)
    if lst and all(lst.start("list") <= s and e <= lst.end("list") for s, e, _ in cands):
        return ", ".join(values), "a list of values (set answer)"
    noun = _question_noun(question)
    if noun:
        hits = {v for _, e, v in cands if re.match(r"\s+(?:[a-z-]+\s+)?" + re.escape(noun), sent[e:].lower())}
        if len(hits) == 1:
            return hits.pop(), "the value counting the question's '%s'" % noun
    return None, "several candidate values (%s)" % ", ".join(values[:4])


# --- yes/no claims ----------------------------------------------------------------
_YESNO_FIRST_RE = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_NEG_RE = re.compile(
    r"\b(?:not|no|never|cannot|none|neither|nor|impossible|false|fails?|nonexistent|negative)\b|n['’]t\b",
    re.IGNORECASE,
)
_CLAIM_RE = re.compile(r"\b(?:possible|impossible|exists?|existence|true|false|can|cannot|always|holds?|affirmative|negative)\b|n['’]t\b",
                       re.IGNORECASE)
_STOP = {"does", "there", "exist", "which", "their", "these", "those", "with", "that", "this", "from", "have",
         "what", "when", "where", "such", "each", "every", "some", "than", "then", "they", "will", "would",
         "could", "should", "into", "your", "answer", "prove", "show", "justify", "explain"}


def claim_polarity(sent: str, question: str | None = None, *, need_topic: bool = True) -> tuple[str | None, str]:
    """Read a yes/no claim (rule 6): ``("yes"|"no", how)`` or ``(None, why)``.

    Args:
        sent: the answer sentence or an extracted answer ("91 is not a prime").
        question: the question; a negated question makes the reading ambiguous.
        need_topic: require the sentence to be about the question (off for an
            explicit answer statement).
    """
    m = _YESNO_FIRST_RE.match(sent)
    if m:
        return m.group(1).lower(), "leading %s" % m.group(1).lower()
    if _HEDGE_RE.search(sent):
        return None, "hedged claim"
    if question and _NEG_RE.search(question):
        return None, "negated question: claim polarity is ambiguous"
    if need_topic:
        qwords = {w.lower()[:5] for w in re.findall(r"[A-Za-z]{4,}", question or "") if w.lower() not in _STOP}
        swords = {w.lower()[:5] for w in re.findall(r"[A-Za-z]{4,}", sent)}
        if not (qwords & swords) and not _CLAIM_RE.search(sent):
            return None, "sentence makes no claim about the question"
    negs = len(_NEG_RE.findall(sent))
    if negs >= 2:
        return None, "double negation"
    return ("no", "negative claim") if negs == 1 else ("yes", "affirmative claim")


# --- entry point ---------------------------------------------------------------------
def read_answer(response: str, *, strict: Extraction | None = None, question: str | None = None,
                numeric: bool = False, yes_no: bool = False) -> Extraction:
    """Reading-mode extraction of ``response`` (rules 1-6 of the module doc).

    Args:
        response: the full response text.
        strict: the strict extraction already found (box/statement), or None.
        question: the question text, or None (then restated numbers cannot be
            recognised and several values in a conclusion give no answer).
        numeric: the expected answer is a number or expression.
        yes_no: the expected answer is yes/no.

    Returns:
        An :class:`~.extract.Extraction` with ``method`` ``boxed``/``statement``
        (strict evidence), ``reading`` (prose), or ``none`` with the reason.
        Never raises on odd text.
    """
    if strict is not None:
        if yes_no and strict.text and not _YESNO_FIRST_RE.match(strict.text):
            pol, how = claim_polarity(strict.text, question, need_topic=False)
            if pol is not None:
                return Extraction(pol, strict.method, "%s; %s read as %s" % (strict.detail, how, pol))
        return strict
    tail = response[-LOOP_TAIL_CHARS:]
    if repetition_share(tail, 4) > LOOP_SHARE:
        return Extraction(None, "none", "reading: output loops (repeated 4-grams in the tail)")
    cut = _cut_off(response)
    if cut is not None:
        return Extraction(None, "none", "reading: output looks cut off (%s)" % cut)
    sents = sentences(response)
    found = _answer_sentence(sents, question)
    if found is None:
        return Extraction(None, "none", "reading: no conclusion sentence among the last %d" % _TRAILING_SENTENCES)
    idx, sent = found
    if _HEDGE_RE.search(sent) or re.search(r"\bor\b", sent, re.IGNORECASE) and _OR_RE.search(sent):
        return Extraction(None, "none", "reading: the conclusion hedges or lists alternatives")
    if yes_no:
        pol, how = claim_polarity(sent, question)
        if pol is None:
            return Extraction(None, "none", "reading: %s" % how)
        return Extraction(pol, "reading", "conclusion %r: %s" % (sent[:80], how))
    keep_eq = bool(question and re.search(r"\bequation\b", question, re.IGNORECASE))
    qnums = _question_numbers(question)
    value, how = _choose(sent, _candidates(sent, numeric, qnums, keep_eq), question)
    if value is None and not numeric:
        value, how = _phrase(sent), "the phrase after the copula"
    if value is None:
        return Extraction(None, "none", "reading: %s" % how)
    for later in sents[idx + 1:]:
        others = {v for _, _, v in _candidates(later, numeric, qnums, keep_eq)} - {value}
        if others:
            return Extraction(None, "none", "reading: values after the conclusion (%s)" % ", ".join(sorted(others)[:3]))
    ans = clean_answer(value)
    if not ans:
        return Extraction(None, "none", "reading: empty value")
    return Extraction(ans, "reading", "conclusion %r: %s" % (sent[:80], how))


_PHRASE_RE = re.compile(r"\b(?:is|are|was|were)\s+(?P<v>[^,;]{1,60}?)\s*(?:[,;]|$)", re.IGNORECASE)


def _phrase(sent: str) -> str | None:
    """A short text answer after the last copula ("the capital is Paris" -> ``Paris``), at most six words."""
    ms = list(_PHRASE_RE.finditer(sent.rstrip(" .!")))
    if not ms:
        return None
    v = ms[-1].group("v").strip()
    return v if 0 < len(v.split()) <= 6 else None
