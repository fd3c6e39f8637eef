"""Correctness pairs (MMPR, arXiv 2411.10442, section 3.1): labelled responses -> (chosen, rejected).

For an item with a ground truth, K sampled responses are each labelled
(:class:`~mmpr_builder.labelers.answers.AnswerCheck`: correct, incorrect,
no answer = "format negative", or unverifiable) and checked for hygiene
(:func:`~mmpr_builder.labelers.hygiene.response_issue`). :func:`correctness_pairs`
then applies these rules, a pure function of its inputs and the ``rng``:

Who may be on which side
    - **chosen**: verdict ``correct`` and no issue.
    - **rejected**: verdict ``incorrect`` or ``no_answer`` (format negative),
      issue None or ``"repetitive"`` (a loop that ended is a fair negative).
    - never used: ``unverifiable`` responses, ``"empty"`` ones and
      ``"truncated"`` ones (cut by ``max_tokens``: the text is not a whole
      answer, and its verdict says nothing about the model's final answer).

Item status (counted in the run summary)
    The *judged* responses are those with verdict correct/incorrect/no_answer
    that are neither empty nor truncated.
    - ``too_easy``: every judged response is correct (MMPR drops these; a
      recipe may send them on to DropoutNTP). ``too_hard``: none is correct
      (MMPR keeps them aside). Both give no pairs. An item with no judged
      response at all is ``no_usable_chosen``.
    - ``no_usable_chosen``: the correct ones all have an issue (repetitive).
    - ``no_usable_rejected``: no pair is left: every candidate had equivalent
      answers, or only format negatives remain and their quota is 0.
    - ``paired``: at least one pair.

Pair sampling
    1. Identical texts (after stripping surrounding whitespace) are kept once per
       side (``dropped_duplicate`` counts the others).
    2. Every (chosen, rejected) combination is a candidate; one whose two
       extracted answers are equivalent (``answers_equivalent``, the same
       normalisation as the verifier) is dropped (``dropped_equivalent``).
       This replaces the reference's substring "entailment" test, which drops
       good pairs (chosen "no" vs rejected "not sure").
    3. At most ``M = max_pairs_per_item`` pairs (MMPR: 15), drawn uniformly
       without replacement with ``rng`` (the candidates are shuffled and taken in
       order), except that at most ``floor(format_negative_share * M)`` of them
       may have a format negative as rejected: once that quota is full, further
       format-negative candidates are skipped (even when too few incorrect ones
       remain to fill M). Share 1.0 = no limit, 0.0 = no format negatives.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from mmpr_builder.config import PairingConfig
from mmpr_builder.items import Response
from mmpr_builder.labelers.answers import AnswerCheck, Verdict, answers_equivalent
from mmpr_builder.labelers.hygiene import response_issue

STATUSES = ("paired", "too_easy", "too_hard", "no_usable_chosen", "no_usable_rejected")

COUNT_KEYS = (
    "responses", "correct", "incorrect", "no_answer", "unverifiable",
    "empty", "truncated", "repetitive",
    "dropped_duplicate", "dropped_equivalent", "pairs", "pairs_format_negative",
)

# Issues that exclude a response from both sides (see the module docstring).
_UNUSABLE_ISSUES = frozenset({"empty", "truncated"})


@dataclass
class LabeledResponse:
    """One sampled response with its answer check and hygiene issue.

    Attributes:
        response: the sampled response (text, finish reason, tokens).
        check: the verdict of the answer checker (extracted answer, verdict, reason, method).
        issue: :func:`~mmpr_builder.labelers.hygiene.response_issue` of the response
            (``"empty"``, ``"truncated"``, ``"repetitive"``) or None.
    """

    response: Response
    check: AnswerCheck
    issue: str | None = None

    @classmethod
    def of(cls, response: Response, check: AnswerCheck, repetition_threshold: float) -> "LabeledResponse":
        """Build one, computing ``issue`` with :func:`response_issue`."""
        return cls(response, check, response_issue(response, repetition_threshold))

    @property
    def verdict(self) -> Verdict:
        """The answer check's verdict (as a :class:`Verdict`)."""
        return Verdict(self.check.verdict)


@dataclass
class PairingResult:
    """The pairs of one item and how they were obtained.

    Attributes:
        pairs: ``(chosen, rejected)`` tuples, at most ``max_pairs_per_item``.
        status: one of :data:`STATUSES` (see the module docstring).
        counts: every key of :data:`COUNT_KEYS` (0 when none): responses per
            verdict and per issue, responses dropped as duplicates, candidate
            pairs dropped as equivalent, pairs kept and how many of them have a
            format negative as rejected. Summable across items.
    """

    pairs: list[tuple[LabeledResponse, LabeledResponse]] = field(default_factory=list)
    status: str = "paired"
    counts: dict[str, int] = field(default_factory=dict)


def _norm_text(text: str) -> str:
    return text.strip()


def _dedupe(responses: list[LabeledResponse], seen: set[str]) -> tuple[list[LabeledResponse], int]:
    kept, dropped = [], 0
    for lr in responses:
        key = _norm_text(lr.response.text)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(lr)
    return kept, dropped


def correctness_pairs(labeled: list[LabeledResponse], cfg: PairingConfig, rng: random.Random,
                      *, answer_type: str = "auto", choices: list[str] | None = None) -> PairingResult:
    """Make the correctness pairs of one item from its labelled responses.

    Args:
        labeled: the item's K responses, in sampling order (the order only
            matters for which of two identical texts is kept, and for the
            reproducibility of ``rng`` draws).
        cfg: ``max_pairs_per_item`` (M) and ``format_negative_share`` are used.
        rng: the run's seeded generator for this item; the same inputs and rng
            state give the same pairs.
        answer_type, choices: passed to ``answers_equivalent`` (the item's own).
    Returns:
        A :class:`PairingResult`; rules in the module docstring.
    Raises:
        ValueError: ``max_pairs_per_item < 0`` or ``format_negative_share`` not in [0, 1].
    """
    if cfg.max_pairs_per_item < 0:
        raise ValueError(f"max_pairs_per_item must be >= 0, got {cfg.max_pairs_per_item}")
    if not 0.0 <= cfg.format_negative_share <= 1.0:
        raise ValueError(f"format_negative_share must be in [0, 1], got {cfg.format_negative_share}")
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["responses"] = len(labeled)
    for lr in labeled:
        counts[lr.verdict.value] += 1
        if lr.issue is not None:
            counts[lr.issue] += 1

    judged = [lr for lr in labeled if lr.verdict is not Verdict.UNVERIFIABLE and lr.issue not in _UNUSABLE_ISSUES]
    n_correct = sum(lr.verdict is Verdict.CORRECT for lr in judged)
    if not judged:
        return PairingResult([], "no_usable_chosen", counts)
    if n_correct == len(judged):
        return PairingResult([], "too_easy", counts)
    if n_correct == 0:
        return PairingResult([], "too_hard", counts)

    seen: set[str] = set()
    chosen, dup_c = _dedupe([lr for lr in judged if lr.verdict is Verdict.CORRECT and lr.issue is None], seen)
    rejected, dup_r = _dedupe([lr for lr in judged if lr.verdict is not Verdict.CORRECT], seen)
    counts["dropped_duplicate"] = dup_c + dup_r
    if not chosen:
        return PairingResult([], "no_usable_chosen", counts)

    equivalent: dict[tuple[str, str], bool] = {}

    def same_answer(a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return False
        if (a, b) not in equivalent:
            equivalent[(a, b)] = answers_equivalent(a, b, answer_type, choices)
        return equivalent[(a, b)]

    candidates: list[tuple[LabeledResponse, LabeledResponse]] = []
    for c in chosen:
        for r in rejected:
            if same_answer(c.check.extracted, r.check.extracted):
                counts["dropped_equivalent"] += 1
            else:
                candidates.append((c, r))
    if not candidates:
        return PairingResult([], "no_usable_rejected", counts)

    budget = cfg.max_pairs_per_item
    fmt_quota = math.floor(cfg.format_negative_share * budget + 1e-9)
    order = list(range(len(candidates)))
    rng.shuffle(order)
    pairs: list[tuple[LabeledResponse, LabeledResponse]] = []
    n_fmt = 0
    for i in order:
        if len(pairs) == budget:
            break
        pair = candidates[i]
        if pair[1].verdict is Verdict.NO_ANSWER:
            if n_fmt == fmt_quota:
                continue
            n_fmt += 1
        pairs.append(pair)
    counts["pairs"] = len(pairs)
    counts["pairs_format_negative"] = n_fmt
    if not pairs:
        return PairingResult([], "no_usable_rejected", counts)
    return PairingResult(pairs, "paired", counts)
