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
   otherwise, in the consequence clause (after ", so"/", hence"), one
   negation ("not", "cannot", "there is no", "impossible",
   "irrational" for a question about "rational", "diverges" for one about
   "converge" and other listed opposites, ...) reads ``no``, none
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

from mmpr_builder.labelers.extract import Extraction, clean_answer
from mmpr_builder.labelers.hygiene import repetition_share
from mmpr_builder.labelers.prose import HEDGE_RE, OR_RE, cut_off_reason, mark_currency, sentences
from mmpr_builder.labelers.values import Question, candidates, choose_value, norm_num, read_question, related

__all__ = ["read_answer", "sentence_value", "claim_polarity", "LOOP_SHARE", "LOOP_TAIL_CHARS", "TAIL_CHARS"]

LOOP_SHARE = 0.5
"""Share of repeated 4-grams in the tail above which output is a loop (as ``PairingConfig.repetition_threshold``)."""
LOOP_TAIL_CHARS = 1500
"""Characters at the end of a response checked for a loop."""
TAIL_CHARS = 4000
"""Characters at the end of a response read for the conclusion (from a paragraph start); keeps reading linear."""
_TRAILING_SENTENCES = 3  # the answer sentence must be among the last three

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


def _answer_sentence(sents: list[str], q: Question, has_value) -> tuple[int, str, bool] | None:
    """Index, text (cue stripped) and "has a cue" of the answer sentence (rule 3), or None."""
    last = len(sents) - 1
    cue = _cue_stripped(sents[last])
    if cue is not None:
        return last, cue, True
    if (related(sents[last], q) or _SHORT_FINAL_RE.search(sents[last])) and has_value(sents[last]):
        return last, sents[last], False
    for i in range(last - 1, max(-1, last - _TRAILING_SENTENCES), -1):
        cue = _cue_stripped(sents[i])
        if cue is not None:
            return i, cue, True
    return None


# --- yes/no claims ----------------------------------------------------------------
_YESNO_FIRST_RE = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_NEG_RE = re.compile(
    r"\b(?:not|no|never|cannot|none|neither|nor|impossible|false|fails?|nonexistent|negative)\b|n['’]t\b",
    re.IGNORECASE,
)
_CLAIM_RE = re.compile(r"\b(?:possible|impossible|exists?|existence|true|false|can|cannot|always|holds?"
                       r"|affirmative|negative)\b|n['’]t\b", re.IGNORECASE)
_PREFIX_NEG_RE = re.compile(r"\b(?:ir|im|un|in|non-?)([a-z]{4,})", re.IGNORECASE)


# (question word, its opposite), first 5 letters: "Does it converge?" - "it diverges" reads as "no"
_ANTONYMS = [("conve", "diver"), ("even", "odd"), ("finit", "infin"), ("incre", "decre"), ("posit", "negat"),
             ("conve", "conca"), ("open", "close"), ("bound", "unbou"), ("prime", "compo"), ("equal", "diffe"),
             ("same", "diffe"), ("large", "small"), ("great", "less"), ("more", "fewer"), ("more", "less"),
             ("true", "false"), ("yes", "no"), ("exist", "nonex"), ("inter", "disjo"), ("above", "below"),
             ("inside", "outsi"), ("win", "lose"), ("win", "loses"), ("wins", "lose"), ("survi", "dies")]
_CONSEQUENCE_RE = re.compile(r"[,;:]\s*(?:and\s+)?(?:so|hence|thus|therefore|which\s+means(?:\s+that)?)\b", re.IGNORECASE)


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
    sent = _CONSEQUENCE_RE.split(sent)[-1]  # "None of them divides it, so 2027 is prime": the consequence
    q = read_question(question)
    if q.negated:
        return None, "negated question: claim polarity is ambiguous"
    said = {w.lower()[:5] for w in re.findall(r"[A-Za-z]{3,}", sent)}
    asked = {w.lower()[:5] for w in re.findall(r"[A-Za-z]{3,}", question or "")}
    opposites = sum(1 for pair in _ANTONYMS for x, y in (pair, pair[::-1])
                    if x in asked and y not in asked and y in said and x not in said)
    if any(x in asked and y in asked and y in said and x not in said for pair in _ANTONYMS for x, y in (pair, pair[::-1])):
        return None, "the claim uses a word whose opposite the question also has"
    if need_topic and not related(sent, q) and not _CLAIM_RE.search(sent) and not opposites:
        return None, "sentence makes no claim about the question"
    negs = len(_NEG_RE.findall(sent))
    negs += sum(1 for w in _PREFIX_NEG_RE.finditer(sent)
                if not _NEG_RE.fullmatch(w.group(0)) and w.group(1).lower()[:5] in q.stems)
    negs += opposites
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
    response = mark_currency(response)
    if repetition_share(response[-LOOP_TAIL_CHARS:], 4) > LOOP_SHARE:
        return Extraction(None, "none", "reading: output loops (repeated 4-grams in the tail)")
    cut = cut_off_reason(response)
    if cut is not None:
        return Extraction(None, "none", "reading: output looks cut off (%s)" % cut)
    q = read_question(question)
    tail = response[-TAIL_CHARS:]
    if len(response) > TAIL_CHARS and "\n\n" in tail:
        tail = tail[tail.index("\n\n"):]  # start at a paragraph: never inside a math span
    sents = sentences(tail)
    if not sents:
        return Extraction(None, "none", "reading: no sentence")
    def has_value(s: str) -> bool:
        return yes_no or choose_value(_main_clause(s), candidates(_main_clause(s), numeric, q, loose=True, words=False),
                                 q)[0] is not None

    found = _answer_sentence(sents, q, has_value)
    if found is None:
        return Extraction(None, "none", "reading: no conclusion among the last %d sentences" % _TRAILING_SENTENCES)
    idx, sent, cue = found
    if any(HEDGE_RE.search(x) for x in [sent, *sents[idx + 1:]]) or OR_RE.search(sent):
        return Extraction(None, "none", "reading: the conclusion hedges or lists alternatives")
    if yes_no:
        if {norm_num(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", sent)} - q.all_numbers:
            return Extraction(None, "none", "reading: the claim is about numbers the question does not have")
        pol, how = claim_polarity(sent, question)
        if pol is None:
            return Extraction(None, "none", "reading: %s" % how)
        return Extraction(pol, "reading", "conclusion %r: %s" % (sent[:80], how))
    opt = _OPTION_CLAIM_RE.search(sent.strip())
    if opt:
        return Extraction("(%s)" % (opt.group(1) or opt.group(2)).upper(), "reading",
                          "conclusion %r: option claimed correct" % sent[:80])
    if any(_UNFINISHED_RE.search(x) for x in sents[idx + 1:]):
        return Extraction(None, "none", "reading: the solution goes on after the conclusion ('we still need ...')")
    value, how = _committed_value(sent, q, numeric, cue)
    if value is None and how.startswith("the conclusion negates"):
        return Extraction(None, "none", "reading: " + how)
    if value is None and not numeric:
        value, how = _phrase(sent), "the phrase after the last copula"
    if value is None:
        return Extraction(None, "none", "reading: %s" % how)
    for later in sents[idx + 1:]:
        others = {c.value for c in candidates(later, numeric, q, loose=True)
                  if (c.framed or not c.restated) and not c.word} - {value}
        if others:
            return Extraction(None, "none", "reading: values after the conclusion (%s)" % ", ".join(sorted(others)[:3]))
    ans = clean_answer(value)
    if not ans:
        return Extraction(None, "none", "reading: empty value")
    return Extraction(ans, "reading", "conclusion %r: %s" % (sent[:80], how))


def _committed_value(sent: str, q: Question, numeric: bool, words: bool) -> tuple[str | None, str]:
    """Rule 5 on one answer sentence: its single committed value, or ``(None, why)``."""
    main = _main_clause(sent)
    cands = candidates(main, numeric, q, words=words)
    if _VALUE_NEG_RE.search(sent) or any(_BOUND_RE.search(main[:c.start]) for c in cands if not c.restated):
        return None, "the conclusion negates or bounds a value ('not 5', 'at least 4')"
    return choose_value(main, cands, q)


def sentence_value(sent: str, question: str | None = None, numeric: bool = True) -> tuple[str | None, str]:
    """The one value a sentence states as its answer, read with rules 4-5 of the module doc
    ("Jane started growing Sphere 3 hours ago" -> ``3``); used on a final-answer
    statement written as a sentence. ``(None, why)`` when it hedges, lists
    alternatives, negates or bounds a value, or states several values. Pure."""
    if HEDGE_RE.search(sent) or OR_RE.search(sent):
        return None, "the sentence hedges or lists alternatives"
    value, how = _committed_value(sent, read_question(question), numeric, True)
    return (clean_answer(value) or None, how) if value is not None else (None, how)


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
