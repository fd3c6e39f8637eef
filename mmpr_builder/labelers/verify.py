"""Score an extracted answer against the ground truth, one verifier per answer type.

Every verifier is pure (the math one talks to a worker process, see
:mod:`.mathworker`) and returns an :class:`Outcome`: ``ok`` is True/False, or
None when the check could not decide (timeout, unparsable ground truth).
``golds`` is a list of accepted answers (DocVQA-style items have several).

Sources of the rules:

- ``short_text``/``yes_no``: the official VQA evaluation normalisation
  (Antol et al. 2015, ``vqaEval.py``: punctuation, articles, contractions, number
  words; number words extended here up to "twenty"), then exact match.
- ``anls``: Average Normalised Levenshtein Similarity (Biten et al. 2019, DocVQA):
  ``1 - NL`` if ``NL < 0.5`` else 0, with ``NL`` = rapidfuzz's
  ``Levenshtein.normalized_distance`` on lowercased, space-collapsed text. It is a
  *similarity* (the reference scorer used the distance, inverting it). An answer
  is correct when its ANLS is above 0 (``NL < 0.5``) **and** it has the same
  digit runs as the gold: a typo is forgiven, a different date or amount is not.
- ``relaxed``: ChartQA relaxed accuracy (Masry et al. 2022): numbers within 5%
  of the gold, otherwise exact match after normalisation.
- ``number``/``math``: :mod:`.numeric` for plain numbers (no CAS), Math-Verify
  (huggingface/Math-Verify) for LaTeX, expressions, intervals, equations, with
  our rules around it in :mod:`.mathcheck` (issue 13: relations as relations,
  sets as sets, lists never one member, tiny values relative, sentences never
  sent to Math-Verify).
- ``multiple_choice``: :mod:`.choice`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from rapidfuzz.distance import Levenshtein

from mmpr_builder.labelers.choice import asserted_options, letter_of, resolve_gold_option
from mmpr_builder.labelers.mathcheck import verify_math_candidates
from mmpr_builder.labelers.members import match_members, split_members
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL, numbers_match, parse_number

__all__ = [
    "Outcome", "vqa_normalize", "looks_like_math", "anls_score", "ANLS_TAU", "RELAXED_TOL",
    "verify_short_text", "verify_yes_no", "verify_anls", "verify_relaxed", "verify_number",
    "verify_math", "verify_choice",
]

ANLS_TAU = 0.5
RELAXED_TOL = 0.05


class Outcome(NamedTuple):
    """Result of one verifier: ``ok`` True/False, or None if undecidable; ``reason`` says why."""

    ok: bool | None
    reason: str


# --- VQA normalisation (vqaEval.py) -------------------------------------------------
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldnt": "couldn't", "didnt": "didn't",
    "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't", "hasnt": "hasn't", "havent": "haven't",
    "isnt": "isn't", "shouldnt": "shouldn't", "wasnt": "wasn't", "werent": "weren't", "wont": "won't",
    "wouldnt": "wouldn't", "youre": "you're", "theyre": "they're", "thats": "that's", "whats": "what's",
    "im": "i'm", "ive": "i've", "shes": "she's", "hes": "he's", "lets": "let's", "theres": "there's",
}
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS["none"] = "0"
_ARTICLES = {"a", "an", "the"}
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
          "*", "#"]
_PERIOD_STRIP = re.compile(r"(?<!\d)\.(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_LEAD_INS = re.compile(r"^(?:it is|it's|its|they are|there are|there is|this is|that is|he is|she is)\s+")


def vqa_normalize(text: str) -> str:
    """VQA-eval normalisation: lowercase, punctuation, periods, number words, articles, contractions."""
    s = text.replace("\n", " ").replace("\t", " ").strip().lower()
    has_comma_num = _COMMA_STRIP.search(s) is not None
    for p in _PUNCT:
        if p in s:
            s = s.replace(p, "" if (p + " " in s or " " + p in s or has_comma_num) else " ")
    s = _PERIOD_STRIP.sub("", s)
    words = []
    for w in s.split():
        w = _NUMBER_WORDS.get(w, w)
        if w not in _ARTICLES:
            words.append(_CONTRACTIONS.get(w, w))
    return " ".join(words)


_MATH_RE = re.compile(
    r"\\[a-zA-Z]+|[\^_{}=<>≤≥√π∞]|(?<![A-Za-z])[a-zA-Z]\s*[-+*/^]\s*(?:\d|[a-zA-Z](?![A-Za-z]))"
    r"|[\d)]\s*[+*/]\s*[\d(a-zA-Z]|\d[a-zA-Z](?![A-Za-z])|^\s*[\[(][^,]*,[^,]*[\])]\s*$|\bsqrt\b|\bpi\b|\d\s*!"
)


def looks_like_math(text: str) -> bool:
    """Heuristic: LaTeX, operators between terms, variables glued to numbers, intervals."""
    return _MATH_RE.search(text) is not None


_NEGATION_RE = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot)\b|n't")
_COPULA = r"(?:^|\s)(?:is|are|was|were|be|equals?|shows?|says|reads|appears to be|looks)\s+"


def _digit_runs(text: str) -> list[str]:
    """Digit runs with thousands separators removed: ``(1,2,3)`` -> 1, 2, 3; ``1,000`` -> 1000."""
    return _DIGIT_RUN_RE.findall(_THOUSANDS_RE.sub(r"\1", text))


_DIGIT_RUN_RE = re.compile(r"\d+")
_THOUSANDS_RE = re.compile(r"(\d),(?=\d{3}(?!\d))")


def _text_equal(a: str, b: str) -> bool:
    """One list member against another: equal after VQA normalisation, or equal numbers."""
    if vqa_normalize(a) == vqa_normalize(b) and _digit_runs(a) == _digit_runs(b):
        return True
    na, nb = parse_number(a), parse_number(b)
    return na is not None and nb is not None and numbers_match(nb, na)


def verify_short_text(pred: str, golds: Sequence[str]) -> Outcome:
    """Exact match after :func:`vqa_normalize` (numbers compared as numbers).

    A short sentence ending in "<copula> <gold>" ("The bus is red" for "red")
    also matches, unless it has a negation ("is not red"). No other substring
    rule: "dark red" is not "red". The digit runs must be equal, so "123" is
    never "(1,2,3)"; a gold list ("red, white and blue") compares as a set of
    items (:mod:`.members`).
    """
    p = vqa_normalize(pred)
    p_short = _LEAD_INS.sub("", p)
    pn = parse_number(pred)
    sentence = len(p.split()) <= 12 and _NEGATION_RE.search(p) is None
    pmem = split_members(pred)[0]
    for g in golds:
        gmem = split_members(g)[0]
        if len(gmem) > 1:  # a list gold compares as a set, never as run-together text
            if match_members(pmem, gmem, _text_equal):
                return Outcome(True, "same set of %d items as %r" % (len(gmem), g))
            continue
        gn = vqa_normalize(g)
        if gn and gn in (p, p_short) and _digit_runs(pred) == _digit_runs(g):
            return Outcome(True, "matches %r after VQA normalisation" % g)
        if gn and sentence and re.search(_COPULA + re.escape(gn) + "$", p):
            return Outcome(True, "sentence ends with '... is %s'" % gn)
        if pn is not None and (gv := parse_number(g)) is not None and numbers_match(gv, pn):
            return Outcome(True, "same number as %r" % g)
    return Outcome(False, "%r differs from %r after VQA normalisation" % (p, vqa_normalize(golds[0])))


_YES = {"yes", "true", "yeah", "yep"}
_NO = {"no", "false", "nope"}


def _polarity(text: str) -> str | None:
    toks = vqa_normalize(text).replace(":", " ").split()
    if not toks:
        return None
    pols = {"yes" if t in _YES else "no" for t in toks if t in _YES or t in _NO}
    if len({t in _YES for t in toks[:3] if t in _YES or t in _NO}) > 1:
        return None  # "yes or no", "yes/no, hard to say": a hedge
    if toks[0] in _YES or toks[0] in _NO:
        return "yes" if toks[0] in _YES else "no"
    return pols.pop() if len(pols) == 1 and len(toks) <= 4 else None


def verify_yes_no(pred: str, golds: Sequence[str]) -> Outcome:
    """Yes/no: the answer's polarity (first word, or the only yes/no in a short answer)."""
    want = _polarity(golds[0])
    if want is None:
        return verify_short_text(pred, golds)
    got = _polarity(pred)
    if got is None:
        return Outcome(False, "answer %r says neither yes nor no" % pred)
    return Outcome(got == want, "answer says %s, ground truth %s" % (got, want))


def anls_score(pred: str, gold: str, tau: float = ANLS_TAU) -> float:
    """ANLS of one pair: ``1 - NL`` if ``NL < tau`` else 0 (DocVQA; higher is better)."""
    p = " ".join(pred.lower().split())
    g = " ".join(gold.lower().split())
    nl = Levenshtein.normalized_distance(p, g)
    return 1.0 - nl if nl < tau else 0.0


_DIGITS_RE = re.compile(r"\d+")


def verify_anls(pred: str, golds: Sequence[str]) -> Outcome:
    """Correct iff max ANLS over the golds is > 0 and the digit runs are equal (module doc)."""
    best, best_g = 0.0, golds[0]
    for g in golds:
        s = anls_score(pred, g)
        if s > best:
            best, best_g = s, g
    if best <= 0.0:
        return Outcome(False, "ANLS 0 (normalised edit distance >= %.2g)" % ANLS_TAU)
    if _DIGITS_RE.findall(pred.replace(",", "")) != _DIGITS_RE.findall(best_g.replace(",", "")):
        return Outcome(False, "ANLS %.2f vs %r but the numbers differ" % (best, best_g))
    return Outcome(True, "ANLS %.2f vs %r" % (best, best_g))


def verify_relaxed(pred: str, golds: Sequence[str], rel_tol: float = RELAXED_TOL) -> Outcome:
    """ChartQA relaxed accuracy: within ``rel_tol`` of a numeric gold, else exact (normalised)."""
    pn = parse_number(pred)
    for g in golds:
        gn = parse_number(g)
        if gn is not None and pn is not None:
            if numbers_match(gn, pn, rel_tol, exact_integers=False):
                return Outcome(True, "within %g%% of %r" % (rel_tol * 100, g))
        elif vqa_normalize(pred) == vqa_normalize(g):
            return Outcome(True, "matches %r" % g)
    return Outcome(False, "not within %g%% of (or equal to) %r" % (rel_tol * 100, golds[0]))


def verify_math(pred: str, golds: Sequence[str], rel_tol: float = DEFAULT_REL_TOL, timeout_s: float = 3.0) -> Outcome:
    """Math answers: :func:`.mathcheck.compare_math` against each accepted gold (plain
    numbers without a CAS; sets as sets; relations as relations; Math-Verify in the
    worker bounded by ``timeout_s``, cached per (gold, answer) pair in this process)."""
    ok, why = verify_math_candidates(pred, golds, rel_tol, timeout_s)
    return Outcome(ok, why)


def verify_number(pred: str, golds: Sequence[str], rel_tol: float = DEFAULT_REL_TOL, timeout_s: float = 3.0) -> Outcome:
    """Numbers (policy in :mod:`.numeric`); an expression answer (``\\sqrt{144}``) goes to :func:`verify_math`."""
    pn = parse_number(pred)
    if pn is None:
        if looks_like_math(pred) or len(split_members(pred)[0]) > 1:
            return verify_math(pred, golds, rel_tol, timeout_s)
        return Outcome(False, "answer %r is not a single number" % pred)
    for g in golds:
        gn = parse_number(g)
        if gn is None:
            return verify_math(pred, golds, rel_tol, timeout_s)
        if numbers_match(gn, pn, rel_tol):
            return Outcome(True, "number equal to %r (rel. tol. %g)" % (g, rel_tol))
    return Outcome(False, "number %s differs from %r (rel. tol. %g)" % (pred, golds[0], rel_tol))


def verify_choice(pred: str, gold: str, choices: Sequence[str] | None) -> Outcome:
    """Multiple choice: the single option the answer asserts vs the gold option(s)."""
    want, ghow = resolve_gold_option(gold, choices)
    if not want:
        return Outcome(None, ghow)
    got, how = asserted_options(pred, choices)
    letters = "/".join(letter_of(i) for i in sorted(got))
    gold_letters = "/".join(letter_of(i) for i in sorted(want))
    if not got:
        return Outcome(False, "answer names no option (%s)" % how)
    if len(got) > 1 and len(want) == 1:
        return Outcome(False, "answer asserts several options %s (%s): not a single answer" % (letters, how))
    return Outcome(got == want, "answer is option %s (%s), ground truth %s" % (letters, how, gold_letters))
