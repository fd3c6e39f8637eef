"""Ground-truth normalisation (issue 13 part 2) and the number rules it relies on."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mmpr_builder.labelers import check_answer
from mmpr_builder.labelers.ground_truth import GroundTruth, normalize_ground_truth
from mmpr_builder.labelers.numeric import parse_number


@pytest.mark.parametrize(
    "text, candidates, kind",
    [
        ("42", ("42",), "value"),
        ("$\\text{odd}$", ("odd",), "value"),
        ("\\boxed{\\frac{1}{2}}", ("\\frac{1}{2}",), "value"),
        ("C(8, 3), or equivalently 56", ("C(8, 3)", "56"), "value"),
        ("n-1 (i.e., every one of them)", ("n-1", "every one of them"), "expression"),
        ("1 is the only possible value", ("1",), "value"),
        ("The only possible value of the limit is sqrt(b)", ("sqrt(b)",), "expression"),
        ("The answer is 4.", ("4",), "value"),
        ("Yes", ("yes",), "yes_no"),
        ("No, it is not possible", ("no",), "yes_no"),
        ("No solution", ("No solution",), "value"),
        ("\\{1, 2\\}", ("\\{1, 2\\}",), "set"),
        ("3, 5 and 7", ("3, 5 and 7",), "set"),
        ("-2,1", ("-2,1",), "set"),
        ("x^2+1", ("x^2+1",), "expression"),
        ("x \\geq 2", ("x \\geq 2",), "expression"),
        ("(1, 2, 3)", ("(1, 2, 3)",), "expression"),
        ("golden retriever", ("golden retriever",), "value"),
        ("1,234", ("1,234",), "value"),
        ("0,111", ("0,111",), "value"),
    ],
)
def test_normalize_ground_truth(text, candidates, kind):
    gt = normalize_ground_truth(text)
    assert isinstance(gt, GroundTruth)
    assert gt.candidates == candidates and gt.kind == kind and gt.warning is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The committee decided after a long discussion that both of the proposed designs were acceptable "
        "for the bridge, and construction began in the spring of the following year.",
        "\\frac{1}{",
    ],
)
def test_unnormalisable_ground_truth_warns(text):
    gt = normalize_ground_truth(text)
    assert gt.warning, gt


def test_ground_truth_is_frozen_and_pure():
    gt = normalize_ground_truth("C(8, 3), or equivalently 56")
    with pytest.raises(AttributeError):
        gt.kind = "set"  # type: ignore[misc]
    assert normalize_ground_truth("C(8, 3), or equivalently 56") == gt


def test_answer_check_reports_kind_and_warning():
    check = check_answer("\\boxed{56}", "C(8, 3), or equivalently 56")
    assert check.gt_kind == "value" and check.gt_warning is None
    assert check_answer("Answer: 1, 2", "\\{1,2\\}").gt_kind == "set"
    long_gt = ("The committee decided after a long discussion that both of the proposed designs were acceptable "
               "for the bridge, and construction began in the spring of the following year.")
    check = check_answer("Answer: both designs", long_gt)
    assert check.gt_warning and check.verdict.value == "unverifiable"
    assert check.to_dict()["gt_kind"] == check.gt_kind


@pytest.mark.parametrize(
    "text, value",
    [
        ("0,111", Fraction(111, 1000)), ("0,5", Fraction(1, 2)), ("-0,25", Fraction(-1, 4)), ("1,234", Fraction(1234)),
        ("12,345,678", Fraction(12345678)), ("1000,99", Fraction(100099, 100)), ("-\\frac{10}{9}", Fraction(-10, 9)),
        ("- \\frac{2}{5}", Fraction(-2, 5)), ("\\frac{-5}{4}", Fraction(-5, 4)), ("-\\dfrac34", Fraction(-3, 4)),
        ("C(8,3)", Fraction(56)), ("\\binom{8}{3}", Fraction(56)), ("8 choose 3", Fraction(56)), ("{7 \\choose 2}", Fraction(21)),
        ("5 (approximately)", Fraction(5)), ("x = 7", Fraction(7)),
    ],
)
def test_parse_number_rules(text, value):
    n = parse_number(text)
    assert n is not None and n.value == value, text


@pytest.mark.parametrize(
    "text",
    ["sqrt(2)", "log(8)", "ln 3", "f(4)", "g(x)", "2,5", "-2,1", "1, 234", "a+3z=0", "p+q=7", "x-y=10", "n >= 7", "x \\leq 4",
     "(a-b)/4 (> 0)", "12 and 48", "0,1,2"],
)
def test_not_a_plain_number_issue13(text):
    assert parse_number(text) is None, text
