"""Correctness labels for responses to items with a ground truth.

MMPR (arXiv 2411.10442, sec. 3.2) splits sampled responses into correct,
incorrect and *format negatives* (no answer could be extracted); pairs are
correct x incorrect and correct x format-negative. A wrong label is a poisoned
pair, so this module is strict: no substring "answer fix", no whole-response
fallback, no random option, and a check that cannot finish in time is
``unverifiable``, never correct.

``check_answer`` = :func:`.ground_truth.normalize_ground_truth` (the ground
truth's candidate values and kind) + :func:`.extract.extract_answer` (what was
found and how) + one verifier of :mod:`.verify` (chosen by the caller or
inferred: ``auto``).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers.choice import asserted_options
from mmpr_builder.labelers.extract import Extraction, clean_answer, extract_answer, final_statement, resolve_extraction
from mmpr_builder.labelers.ground_truth import GroundTruth, normalize_ground_truth, prose_words, strip_sentence
from mmpr_builder.labelers.mathcheck import MAX_PROSE_WORDS
from mmpr_builder.labelers.members import split_members
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL, parse_number
from mmpr_builder.labelers.reading import sentence_value
from mmpr_builder.labelers.verify import (
    Outcome,
    looks_like_math,
    verify_anls,
    verify_choice,
    verify_math,
    verify_number,
    verify_relaxed,
    verify_short_text,
    verify_yes_no,
    vqa_normalize,
)

__all__ = [
    "Verdict", "AnswerCheck", "check_answer", "answers_equivalent", "infer_answer_type",
    "validate_answer_type", "ANSWER_TYPES", "DEFAULT_REL_TOL", "DEFAULT_TIMEOUT_S",
]

ANSWER_TYPES: tuple[str, ...] = ("auto", "multiple_choice", "number", "math", "yes_no", "short_text", "anls", "relaxed")
"""Verifier names accepted by :func:`check_answer` (``auto`` infers one of the others
except ``anls``/``relaxed``, which are dataset choices: documents and charts)."""

DEFAULT_TIMEOUT_S = float(os.environ.get("MMPR_MATH_TIMEOUT_S", "3.0"))
"""Default wall-clock bound (seconds) for one Math-Verify check; ``$MMPR_MATH_TIMEOUT_S`` overrides it
(a slow or busy machine needs more; past it a verdict is ``unverifiable``, never a label)."""


class Verdict(str, enum.Enum):
    """Label of one response."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    NO_ANSWER = "no_answer"  # format negative: no final answer could be extracted
    UNVERIFIABLE = "unverifiable"  # could not decide (timeout, bad ground truth): never paired as correct


@dataclass(frozen=True)
class AnswerCheck:
    """Outcome of :func:`check_answer`.

    Attributes:
        extracted: the extracted final answer, None if none was found.
        verdict: the label.
        reason: how the answer was extracted and why it is (in)correct.
        method: extraction method, ``"boxed"``, ``"statement"``, ``"weak"``, ``"reading"`` or ``"none"``.
        answer_type: the verifier actually used (``auto`` resolved).
        judged_by: None for a rule verdict; for a verdict given by a judge model
            (:func:`mmpr_builder.labelers.judge.apply_judge`), the judge's id
            (prompt version and model).
        gt_kind: kind of the normalised ground truth (``value``, ``set``,
            ``yes_no``, ``expression``; :mod:`.ground_truth`), None when there was none.
        gt_warning: why the ground truth could not be normalised (log it per
            item), else None.
    """

    extracted: str | None
    verdict: Verdict
    reason: str
    method: str
    answer_type: str
    judged_by: str | None = None
    gt_kind: str | None = None
    gt_warning: str | None = None

    def to_dict(self) -> dict:
        """JSON-safe dict with keys ``extracted, verdict, reason, method, answer_type, gt_kind, gt_warning``,
        and ``judged_by`` when a judge gave the verdict."""
        d = {"extracted": self.extracted, "verdict": self.verdict.value, "reason": self.reason,
             "method": self.method, "answer_type": self.answer_type, "gt_kind": self.gt_kind,
             "gt_warning": self.gt_warning}
        if self.judged_by is not None:
            d["judged_by"] = self.judged_by
        return d


def validate_answer_type(answer_type: str) -> str:
    """Return ``answer_type`` if known; raise ConfigError with a "did you mean" otherwise."""
    if answer_type in ANSWER_TYPES:
        return answer_type
    from mmpr_builder.registry import Registry

    raise Registry("answer_type", zip(ANSWER_TYPES, ANSWER_TYPES), error=ConfigError, cutoff=0.5).unknown(answer_type)


_LETTER_GOLD_RE = re.compile(r"^\(?[A-Z]\)?\.?$")


def infer_answer_type(ground_truth: str, choices: Sequence[str] | None = None) -> str:
    """The verifier ``auto`` uses: choices or a letter gold -> ``multiple_choice``;
    yes/no/true/false -> ``yes_no``; a plain number -> ``number``; LaTeX, an
    expression, a tuple, or a list with a number or expression in it (``-2,1``,
    ``(1,2,3)``) -> ``math``; anything else -> ``short_text``.
    """
    if choices:
        return "multiple_choice"
    g = clean_answer(ground_truth)
    if _LETTER_GOLD_RE.match(g):
        return "multiple_choice"
    if vqa_normalize(g) in ("yes", "no", "true", "false"):
        return "yes_no"
    if parse_number(g) is not None:
        return "number"
    if looks_like_math(g):
        return "math"
    members, form = split_members(g)
    if form == "tuple" or (len(members) > 1 and any(
            parse_number(m) is not None or looks_like_math(m) or split_members(m)[1] == "tuple" for m in members)):
        return "math"  # lists and tuples never fall to text matching
    return "short_text"


def _dispatch(kind: str, pred: str, golds: list[str], choices, rel_tol: float, timeout_s: float) -> Outcome:
    if kind == "multiple_choice":
        outs = [verify_choice(pred, g, choices) for g in golds]
        return next((o for o in outs if o.ok), outs[0])
    if kind == "number":
        return verify_number(pred, golds, rel_tol, timeout_s)
    if kind == "math":
        return verify_math(pred, golds, rel_tol, timeout_s)
    if kind == "yes_no":
        return verify_yes_no(pred, golds)
    if kind == "anls":
        return verify_anls(pred, golds)
    if kind == "relaxed":
        return verify_relaxed(pred, golds)
    return verify_short_text(pred, golds)


def _check_params(rel_tol: float, timeout_s: float) -> None:
    if not 0.0 <= rel_tol < 1.0:
        raise ConfigError("rel_tol must be in [0, 1), got %r" % rel_tol)
    if not timeout_s > 0:
        raise ConfigError("timeout_s must be > 0, got %r" % timeout_s)


def _ground_truths(ground_truth: str | Sequence[str]) -> tuple[list[str], str | None, str | None]:
    """Candidates of all accepted ground truths, the first one's kind, and a warning."""
    raw = [ground_truth] if isinstance(ground_truth, str) else [g for g in ground_truth if isinstance(g, str)]
    gts: list[GroundTruth] = [normalize_ground_truth(g) for g in raw if g.strip()]
    cands: list[str] = []
    for gt in gts:
        cands.extend(c for c in gt.candidates if c not in cands)
    warning = next((gt.warning for gt in gts if gt.warning), None)
    return cands, (gts[0].kind if gts else None), warning


def _choice_statement(response: str, ext: Extraction, choices) -> Extraction:
    """Multiple choice: a final-answer statement after the last box wins when the box
    names no option and the statement does (issue 13)."""
    if ext.method != "boxed" or asserted_options(ext.text, choices)[0]:
        return ext
    at = max(response.rfind("\\boxed"), response.rfind("\\fbox"))
    stmt = final_statement(response[at:]) if at >= 0 else None
    ans = clean_answer(stmt) if stmt else ""
    if ans and asserted_options(ans, choices)[0]:
        return Extraction(ans, "statement", "answer line naming an option, after a box naming none")
    return ext


def _statement_value(ext: Extraction, question: str | None, kind: str) -> Extraction:
    """A final-answer statement written as a sentence stands for its value: a sentence
    that only states it ("the only possible value is 3"), else, for a number or math
    answer, the one value the sentence commits to ("Final Answer: Jane started
    growing Sphere 3 hours ago." -> 3; :func:`.reading.sentence_value`)."""
    bare = strip_sentence(ext.text)
    if bare != ext.text:
        return Extraction(bare, ext.method, ext.detail + ", value of the sentence")
    if kind in ("number", "math") and prose_words(ext.text) >= MAX_PROSE_WORDS:
        value, how = sentence_value(ext.text, question, numeric=True)
        if value is not None:
            return Extraction(value, ext.method, "%s, value of the sentence (%s)" % (ext.detail, how))
    return ext


def check_answer(
    response: str,
    ground_truth: str | Sequence[str],
    choices: list[str] | None = None,
    answer_type: str = "auto",
    *,
    extraction: str = "strict",
    allow_weak: bool = False,
    question: str | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> AnswerCheck:
    """Label one response against the ground truth.

    Args:
        response: the model's full chain-of-thought response.
        ground_truth: the reference answer; for multiple choice the letter (``C``)
            or the option text. A list means any of these answers is accepted.
            Each is normalised first (:func:`.ground_truth.normalize_ground_truth`:
            alternatives, sentence wrappers, ``$...$``/``\\text{}``, sets).
        choices: option texts in order (A, B, C, ...), or None.
        answer_type: one of :data:`ANSWER_TYPES`; ``auto`` infers it
            (:func:`infer_answer_type`).
        extraction: one of :data:`.extract.EXTRACTION_MODES`: ``strict`` (boxed
            or explicit answer statement), ``weak`` (strict, else the last
            number/line, ``method="weak"``) or ``reading`` (strict, else the
            committed answer of a prose solution, ``method="reading"``).
        allow_weak: alias of ``extraction="weak"`` (older API).
        question: the question text, used by ``reading`` only (numbers restated
            from the question are never taken as the answer).
        rel_tol: relative tolerance for numbers (0.001 = 0.1%; integers written as
            integers are always exact; see :mod:`.numeric`).
        timeout_s: wall-clock bound for one Math-Verify check; past it the
            verdict is ``unverifiable``.

    Returns:
        An :class:`AnswerCheck` (with ``gt_kind`` and ``gt_warning``). An empty
        response or no extractable answer is ``NO_ANSWER``. An internal failure
        on odd input is ``UNVERIFIABLE`` (counted by the caller, never fatal), and
        so is a mismatch against a ground truth that could not be normalised
        (``gt_warning`` says why): never a silent "incorrect".

    Raises:
        ConfigError: unknown ``answer_type`` or ``extraction`` (with a suggestion),
            bad ``rel_tol`` or ``timeout_s``.
    """
    kind = validate_answer_type(answer_type)
    mode = resolve_extraction(extraction, allow_weak)
    _check_params(rel_tol, timeout_s)
    golds, gt_kind, gt_warning = _ground_truths(ground_truth)

    def result(extracted, verdict, reason, method, typ) -> AnswerCheck:
        return AnswerCheck(extracted, verdict, reason, method, typ, gt_kind=gt_kind, gt_warning=gt_warning)

    if kind == "auto":
        kind = ("yes_no" if gt_kind == "yes_no" and not choices
                else infer_answer_type(golds[0], choices) if golds else "short_text")
    try:
        ext = extract_answer(response or "", mode=mode, numeric=kind in ("number", "math", "relaxed"),
                             question=question, yes_no=kind == "yes_no")
        if kind == "multiple_choice" and ext.text is not None:
            ext = _choice_statement(response, ext, choices)
        elif ext.method == "statement" and ext.text:
            ext = _statement_value(ext, question, kind)
    except Exception as e:  # noqa: BLE001 - one odd response must not end a run
        return result(None, Verdict.UNVERIFIABLE, "extraction error: %s: %s" % (type(e).__name__, e), "none", kind)
    if ext.text is None:
        return result(None, Verdict.NO_ANSWER, ext.detail, "none", kind)
    if not golds:
        return result(ext.text, Verdict.UNVERIFIABLE, "empty ground truth", ext.method, kind)
    try:
        out = _dispatch(kind, ext.text, golds, choices, rel_tol, timeout_s)
    except Exception as e:  # noqa: BLE001 - one odd response must not end a run
        out = Outcome(None, "verifier error: %s: %s" % (type(e).__name__, e))
    if gt_warning and out.ok is not True:
        out = Outcome(None, "%s; %s" % (gt_warning, out.reason))
    verdict = Verdict.UNVERIFIABLE if out.ok is None else Verdict.CORRECT if out.ok else Verdict.INCORRECT
    return result(ext.text, verdict, "%s (%s): %s" % (ext.method, ext.detail, out.reason), ext.method, kind)


def answers_equivalent(a: str, b: str, answer_type: str = "auto", choices: list[str] | None = None) -> bool:
    """Whether two *extracted* answers say the same thing (used by pairing to skip
    pairs whose chosen and rejected answers agree).

    ``a`` plays the ground truth's role for ``auto`` typing and Math-Verify.
    Multiple choice: both assert the same single option. Others: the type's
    verifier accepts ``b`` against ``a``. Undecidable (timeout) counts as not
    equivalent. Empty or None answers are never equivalent.

    Raises:
        ConfigError: unknown ``answer_type``.
    """
    kind = validate_answer_type(answer_type)
    if not a or not b or not a.strip() or not b.strip():
        return False
    a, b = clean_answer(a), clean_answer(b)
    if a == b:
        return True
    if kind == "auto":
        kind = infer_answer_type(a, choices)
    try:
        if kind == "multiple_choice":
            oa, ob = asserted_options(a, choices)[0], asserted_options(b, choices)[0]
            return len(oa) == 1 and oa == ob
        return _dispatch(kind, b, [a], choices, DEFAULT_REL_TOL, DEFAULT_TIMEOUT_S).ok is True
    except Exception:  # noqa: BLE001 - undecidable counts as not equivalent
        return False
