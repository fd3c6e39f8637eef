"""The hand-labelled corpus of long free-form solutions (tests/data/answer_corpus.jsonl).

Labels are the human reading of the final answer (correct/incorrect); a
``no_answer``/``unverifiable`` verdict counts as "incorrect" when comparing.
Goals (issue 13): strict mode never says "correct" wrongly; reading mode agrees
with >= 97% of the labels at >= 99.5% precision of "correct".

Cases with ``depends`` exercise set comparison and wordy ground-truth
normalisation (:mod:`mmpr_builder.labelers.ground_truth`); the aggregate
figures are taken over all cases.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from functools import lru_cache

import pytest

from mmpr_builder.labelers import Verdict, check_answer
from testlib import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "data" / "answer_corpus.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
FIELDS = {"id", "class", "question", "ground_truth", "response", "label"}
CLASSES = {"prose_conclusion", "latex_prose", "restated_question", "hedge", "several_candidates", "yes_no_claim",
           "set_answer", "wordy_ground_truth", "truncated", "looping", "expression_answer", "self_correction",
           "explicit_answer", "answer_sentence", "multiple_choice", "negated_or_bounded"}
INDEPENDENT = [c for c in CASES if not c.get("depends")]
DEPENDENT = [c for c in CASES if c.get("depends")]


@lru_cache(maxsize=None)
def _verdict(case_id: str, mode: str) -> Verdict:
    c = next(x for x in CASES if x["id"] == case_id)
    return check_answer(c["response"], c["ground_truth"], c.get("choices"), extraction=mode,
                        question=c["question"]).verdict


def _scores(cases: list[dict], mode: str) -> tuple[float, float, list[str], list[str]]:
    """(agreement, precision of "correct", false-correct ids, disagreeing ids)."""
    said = {c["id"]: _verdict(c["id"], mode) is Verdict.CORRECT for c in cases}
    agree = [c for c in cases if said[c["id"]] == (c["label"] == "correct")]
    said_correct = [c for c in cases if said[c["id"]]]
    false_correct = [c["id"] for c in said_correct if c["label"] != "correct"]
    precision = 1 - len(false_correct) / len(said_correct) if said_correct else 1.0
    return len(agree) / len(cases), precision, false_correct, [c["id"] for c in cases if c not in agree]


def test_corpus_shape():
    assert len(CASES) >= 300
    assert all(FIELDS <= set(c) for c in CASES)
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["label"] for c in CASES} == {"correct", "incorrect"}
    counts = Counter(c["class"] for c in CASES)
    assert set(counts) == CLASSES and min(counts.values()) >= 5, counts
    lengths = sorted(len(c["response"]) for c in CASES)
    assert lengths[0] > 120 and lengths[len(lengths) // 2] > 400  # free-form solutions, not one-liners
    assert {c["depends"] for c in DEPENDENT} == {"sets", "ground_truth"}


def test_corpus_file_is_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_answer_corpus", REPO_ROOT / "tests" / "data" / "make_answer_corpus.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.build() == CASES


def test_strict_mode_never_says_correct_wrongly():
    agreement, precision, false_correct, _ = _scores(CASES, "strict")
    assert false_correct == [] and precision == 1.0
    assert 0.40 < agreement < 0.55  # most prose answers have no box or "Answer:" cue: no answer


def test_reading_mode_agreement_and_precision():
    agreement, precision, false_correct, wrong = _scores(CASES, "reading")
    assert precision >= 0.995, false_correct
    assert agreement >= 0.97, wrong
    # the known disagreements are all "no answer" on a right answer (a single hedged value,
    # a value changed after a restated number): never a false "correct"
    assert false_correct == []


def test_weak_mode_is_worse_than_reading():
    weak = _scores(INDEPENDENT, "weak")
    reading = _scores(INDEPENDENT, "reading")
    assert weak[1] < 0.99 and weak[0] < reading[0]  # the finding: the weak fallback costs precision


@pytest.mark.parametrize("case", [c for c in CASES if c["label"] == "incorrect"], ids=lambda c: c["id"])
def test_no_false_correct_in_reading_mode(case):
    assert _verdict(case["id"], "reading") is not Verdict.CORRECT


@pytest.mark.parametrize("case", DEPENDENT, ids=lambda c: "%s[%s]" % (c["id"], c["depends"]))
def test_sets_and_wordy_ground_truths_read_correct(case):
    assert _verdict(case["id"], "reading") is Verdict.CORRECT
