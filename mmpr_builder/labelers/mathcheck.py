"""The ``math`` verifier: our rules around Math-Verify.

Math-Verify (huggingface/Math-Verify, run in a worker process, see
:mod:`.mathworker`) decides whether two expressions are equivalent. Around it
(issue 13, part 1):

1. Both sides are prepared the same way (:func:`.mathprep.prepare`: remarks,
   binomials, bare function names, ``\\mathrm{e}``, ``3e-9``).
2. Sets and lists are compared as sets, member by member (:mod:`.members`);
   a list never matches a single value ("12 and 48" is not "48"); a tuple is
   one ordered value, and a bare list against a tuple is compared in order.
3. Relations compare as relations: an inequality never matches a value or an
   equation; an equation matches a value only when its left side names the
   answer (``x = 5`` ~ ``5``; ``a + 3z = 0`` !~ ``0``, ``p + q = 7`` !~ ``7``).
4. Two plain numbers are compared by :mod:`.numeric` (exact rationals, no CAS;
   ``1,22`` against ``1.22`` is a decimal comma, :func:`.numeric.decimal_comma_as_point`);
   a number Math-Verify calls equal must also pass the exact/relative check
   (``rel_tol``), so tiny values are never equal by rounding.
5. An answer that is a sentence (a negation, or :data:`MAX_PROSE_WORDS` words
   outside math) is not a math answer: Math-Verify would pick a number out of
   "the largest n is not 34".
6. Anything undecidable in time is ``None`` (unverifiable), never True.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from mmpr_builder.labelers.ground_truth import prose_words
from mmpr_builder.labelers.mathprep import is_simple_lhs, prepare, relation
from mmpr_builder.labelers.mathworker import get_worker
from mmpr_builder.labelers.members import MAX_MEMBERS, match_members, split_members
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL, decimal_comma_as_point, numbers_match, parse_number

__all__ = ["compare_math", "math_verify_check", "verify_math_candidates", "MAX_PROSE_WORDS"]

_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\displaystyle|\s+")
_CMD_RE = re.compile(r"\\[A-Za-z]+")
_NEGATION_RE = re.compile(r"\b(?:not|never|no|none|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
MAX_PROSE_WORDS = 3
"""An answer with this many words (outside math) is a sentence: never sent to Math-Verify."""
_INTERVALISH_RE = re.compile(r"^[\[(].*[\])]$|\\cup|\\infty|\\emptyset|\\varnothing|\\in\b")

_CACHE: dict[tuple[str, str, float, float], tuple[bool | None, str]] = {}
_CACHE_MAX = 65536
_CACHE_LOCK = threading.Lock()


def math_verify_check(gold: str, pred: str, timeout_s: float, rel_tol: float) -> tuple[bool | None, str]:
    """Math-Verify via the worker with the numeric guard, cached per process.

    Decided results and timeouts are cached (32 samples of one item repeat
    answers: a pathological one costs one timeout, not 32); transient failures
    (worker crash or start-up) are not. Returns ``(ok, note)``; ``ok`` None when
    undecided.
    """
    key = (gold, pred, timeout_s, rel_tol)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    res = get_worker().check(gold, pred, timeout_s, rel_tol=rel_tol)
    if res[0] is not None or res[1].startswith("Math-Verify exceeded"):
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = res
    return res


_DIGIT_GAP_RE = re.compile(r"(?<=\d)\s+(?=\d)")


def _same_text(p: str, g: str) -> bool:
    """Equal after dropping spacing and ``\\left``/``\\right``; a plain space between two
    digits is kept (``1 2`` is two numbers, never ``12``)."""
    def norm(s: str) -> str:
        return _LATEX_NOISE.sub("", _DIGIT_GAP_RE.sub("|", s)).replace("dfrac", "frac")

    return norm(p) == norm(g)


def _numeric_side(side: str) -> bool:
    """A side made of numbers and operators only (``3 + 4`` in ``3 + 4 = 7``)."""
    bare = _CMD_RE.sub("", side)
    return any(c.isdigit() for c in bare) and not any(c.isalpha() for c in bare)


def _relation_rule(p: str, g: str) -> tuple[bool | None, str] | None:
    """A decision from the shapes of the two relations alone, or None to go on."""
    rp, rg = relation(p), relation(g)
    if rp.is_inequality != rg.is_inequality:
        other = g if rp.is_inequality else p
        if _INTERVALISH_RE.search(other) and not relation(other).ops:
            return None  # x > 2 vs (2, \infty): Math-Verify compares relations with sets
        return False, "one is an inequality, the other is not"
    if rg.is_equation and not rp.ops and not is_simple_lhs(rg.parts[0]):
        return False, "the ground truth is an equation; the answer gives one side"
    if rp.is_equation and not rg.ops and not (is_simple_lhs(rp.parts[0]) or _numeric_side(rp.parts[0])):
        return False, "the answer is an equation, the ground truth a value"
    return None


def _scalar(p: str, g: str, rel_tol: float, timeout_s: float) -> tuple[bool | None, str]:
    """Compare two prepared single values (not lists)."""
    rule = _relation_rule(p, g)
    if rule is not None:
        return rule
    pn, gn = parse_number(p), parse_number(g)
    if pn is not None and gn is not None:
        ok = numbers_match(gn, pn, rel_tol)
        return ok, "number %s %s %s" % (p, "equals" if ok else "differs from", g)
    if _same_text(p, g):
        return True, "same expression"
    ok, note = math_verify_check(g, p, float(timeout_s), float(rel_tol))
    return ok, note


def compare_math(pred: str, gold: str, rel_tol: float = DEFAULT_REL_TOL, timeout_s: float = 3.0) -> tuple[bool | None, str]:
    """Is the answer ``pred`` equivalent to the ground truth ``gold`` (rules in the module doc)?

    Args:
        pred: the extracted, cleaned answer.
        gold: one ground-truth candidate, cleaned.
        rel_tol: relative tolerance for numbers (fraction of ``|gold|``).
        timeout_s: wall-clock bound (seconds) for each Math-Verify call.

    Returns:
        ``(ok, why)``: ok True/False, or None when undecidable (timeout, worker
        failure, unparsable ground truth). Never raises for odd input.
    """
    if (_NEGATION_RE.search(pred) or prose_words(pred) >= MAX_PROSE_WORDS) and _LATEX_NOISE.sub("", pred) != _LATEX_NOISE.sub("", gold):
        return False, "the answer is a sentence, not a math expression"  # never let Math-Verify pick a number out of prose
    p, g = prepare(decimal_comma_as_point(pred, gold)), prepare(decimal_comma_as_point(gold, pred))
    if any(t in s for s in (p, g) for t in ("\\pm", "\\mp", "±")):
        return _scalar(p, g, rel_tol, timeout_s)
    pm, pform = split_members(p)
    gm, gform = split_members(g)
    if pform in ("set", "list") or gform in ("set", "list"):
        if {pform, gform} == {"tuple", "list"}:  # (1,2,3) vs 1, 2, 3: in order, in the tuple's brackets
            tup, lst = (g, pm) if pform == "list" else (p, gm)
            if len(split_members(tup[1:-1])[0]) != len(lst):
                return False, "%d values against a tuple of another length" % len(lst)
            wrapped = tup[0] + ", ".join(lst) + tup[-1]
            if pform == "list":
                return _scalar(wrapped, g, rel_tol, timeout_s)
            return _scalar(p, wrapped, rel_tol, timeout_s)
        if len(pm) != len(gm):
            return False, "%d value(s) in the answer, %d in the ground truth" % (len(pm), len(gm))
        if len(pm) > MAX_MEMBERS:
            return _scalar("\\{" + ", ".join(pm) + "\\}", "\\{" + ", ".join(gm) + "\\}", rel_tol, timeout_s)
        notes: list[str] = []

        def same(a: str, b: str) -> bool | None:
            ok, why = _scalar(a, b, rel_tol, timeout_s)
            if ok is None:
                notes.append(why)
            return ok

        ok = match_members(pm, gm, same)
        if ok is None:
            return None, notes[-1] if notes else "undecided member"
        return ok, "same set of %d values" % len(pm) if ok else "the sets differ"
    return _scalar(p, g, rel_tol, timeout_s)


def verify_math_candidates(pred: str, golds: Sequence[str], rel_tol: float, timeout_s: float) -> tuple[bool | None, str]:
    """:func:`compare_math` against several accepted golds: True if any is, None if
    none is and one was undecided, else False (with the first gold's reason)."""
    undecided, first = None, None
    for g in golds:
        ok, why = compare_math(pred, g, rel_tol, timeout_s)
        if ok:
            return True, "%s (vs %r)" % (why, g)
        if ok is None and undecided is None:
            undecided = why
        if first is None:
            first = "%s (vs %r)" % (why, g)
    if undecided is not None:
        return None, undecided
    return False, first or "no ground truth"
