"""Every bug-report case of tests/data/known_failures.jsonl in our area
(answer-extraction, math-equivalence, multiple-choice) with its expected value,
plus the neighbours named in each case's note (the whole class of fault)."""

from __future__ import annotations


import pytest

from mmpr_builder.labelers import Verdict, answers_equivalent, check_answer, extract_answer
from mmpr_builder.labelers.choice import asserted_options, letter_of
from testlib import known_failures

AREAS = {"answer-extraction", "math-equivalence", "multiple-choice"}
CASES = known_failures(*AREAS)


def test_all_areas_present():
    assert {c["area"] for c in CASES} == AREAS
    assert len(CASES) >= 8


def _run(case: dict) -> None:
    inp = case["input"]
    responses = inp["responses"] if "responses" in inp else [inp["response"]]
    expected = case["expected"] if isinstance(case["expected"], list) else [case["expected"]]
    assert len(responses) == len(expected)
    for resp, exp in zip(responses, expected):
        if "ground_truth" not in inp:  # pure extraction case
            assert extract_answer(resp).text == exp, resp
            continue
        # weak fallback on: some cases state the answer without a cue ("So the share is 28.")
        check = check_answer(resp, inp["ground_truth"], inp.get("choices"), allow_weak=True)
        if isinstance(exp, bool):
            assert (check.verdict is Verdict.CORRECT) == exp, check.reason
        else:  # expected option letter
            got, _ = asserted_options(check.extracted, inp.get("choices"))
            assert [letter_of(i) for i in got] == [exp], check.reason
            assert (check.verdict is Verdict.CORRECT) == (exp == inp["ground_truth"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_known_failure(case):
    _run(case)


# --- the class of each fault, from the cases' notes -------------------------------------

def test_frac_slash_and_latex_frac_equal():  # mv-frac-slash
    assert answers_equivalent("2/3", "\\frac{2}{3}")
    assert answers_equivalent("\\frac{2}{3}", "2/3")
    assert not answers_equivalent("2/3", "2")
    assert check_answer("The answer is 2/3.", "\\dfrac{2}{3}").verdict is Verdict.CORRECT


def test_frac_decimal_symbolic_variant():  # mv-frac-decimal (compute-engine#155)
    assert check_answer("\\boxed{0.5x}", "\\frac{x}{2}").verdict is Verdict.CORRECT
    assert check_answer("\\boxed{0.25x}", "\\frac{x}{2}").verdict is Verdict.INCORRECT


def test_text_wrapper_stripped():  # mv-text-wrapper
    for resp in ["Final answer: $\\text{13}$", "\\boxed{\\text{13}}", "Answer: \\textbf{13}", "Answer: $\\mathrm{13}$."]:
        check = check_answer(resp, "13")
        assert check.extracted == "13" and check.verdict is Verdict.CORRECT, resp


def test_percent_policy():  # mv-percent-bare: documented in numeric.py
    assert check_answer("The answer is 28.", "28\\%").verdict is Verdict.CORRECT
    assert check_answer("The answer is 28 percent.", "28\\%").verdict is Verdict.CORRECT
    # explicit decision: the fraction form of a percent also matches ...
    assert check_answer("The answer is 0.28.", "28\\%").verdict is Verdict.CORRECT
    # ... but a bare number is never divided by 100 on its own
    assert check_answer("The answer is 0.28.", "28").verdict is Verdict.INCORRECT
    assert check_answer("The answer is 29%.", "28\\%").verdict is Verdict.INCORRECT
    # no cue, no weak fallback: a format negative, never the whole response
    check = check_answer("So the share is 28.", "28\\%")
    assert check.verdict is Verdict.NO_ANSWER and check.extracted is None


def test_boxed_letter_without_dollars():  # mc-boxed-letter
    for resp in ["\\boxed{C}", "Comparing the options, $\\boxed{C}$", "\\boxed{(C)}", "\\boxed{C.}", "\\boxed{\\textbf{C}}"]:
        assert check_answer(resp, "C", ["A", "B", "C", "D"]).verdict is Verdict.CORRECT, resp


def test_letter_with_separator_and_text():  # mc-boxed-text-and-label
    ch = ["w", "x", "y", "z", "a risk score built from many variants"]
    for sep in [":", ")", ".", " -"]:
        resp = "\\boxed{E%s a risk score built from many variants}" % sep
        assert check_answer(resp, "E", ch).verdict is Verdict.CORRECT, resp
    # the looser rule: bare option text, no letter
    assert check_answer("\\boxed{a risk score built from many variants}", "E", ch).verdict is Verdict.CORRECT


def test_answer_cue_beats_later_letters():  # mc-answer-is-then-distractor
    four = ["A", "B", "C", "D"]
    assert check_answer("ANSWER IS D. A is wrong.", "D", four).verdict is Verdict.CORRECT
    assert check_answer("the answer is d. B is a trap.", "D", four).verdict is Verdict.CORRECT
    ten = [str(i) for i in range(10)]
    check = check_answer("I think the answer is C. I checked twice.", "C", ten)
    assert check.verdict is Verdict.CORRECT
    # pronoun I is never option I
    assert check_answer("Answer: I think so", "I", ten).verdict is Verdict.INCORRECT
    assert check_answer("Answer: (I)", "I", ten).verdict is Verdict.CORRECT


def test_boxed_nested_and_last():  # boxed-nested-braces
    assert extract_answer("\\boxed{\\frac{\\sqrt{3}}{2}}").text == "\\frac{\\sqrt{3}}{2}"
    assert extract_answer("\\boxed{1} then \\boxed{\\{1,2\\}}").text == "\\{1,2\\}"
    assert extract_answer("\\boxed{2} ... \\boxed{\\frac{1}{").text == "2"  # truncated last box ignored
