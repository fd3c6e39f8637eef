"""Public API of mmpr_builder.labelers.answers, driven by the case table in cases.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers import ANSWER_TYPES, AnswerCheck, Verdict, answers_equivalent, check_answer, infer_answer_type

_spec = importlib.util.spec_from_file_location("mmpr_labeler_cases", Path(__file__).with_name("cases.py"))
_cases = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_cases)
CASES = _cases.CASES


def test_table_is_large_and_covers_every_type_and_verdict():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = Counter(check_answer(c.response, c.gt, c.choices, c.type, allow_weak=c.weak, **c.kwargs).answer_type for c in CASES)
    assert set(kinds) == set(ANSWER_TYPES) - {"auto"}
    assert {c.verdict for c in CASES} == {"correct", "incorrect", "no_answer"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_table(case):
    check = check_answer(case.response, case.gt, case.choices, case.type, allow_weak=case.weak, **case.kwargs)
    assert check.verdict.value == case.verdict, check.reason
    if case.extracted is not None:
        assert check.extracted == case.extracted
    if check.verdict is Verdict.NO_ANSWER:
        assert check.extracted is None and check.method == "none"
    else:
        assert check.extracted and check.extracted != case.response.strip()


def test_answer_check_to_dict_is_json_safe():
    check = check_answer("Answer: \\boxed{B}", "B", ["x", "y"])
    d = check.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d == {"extracted": "B", "verdict": "correct", "reason": d["reason"], "method": "boxed", "answer_type": "multiple_choice",
                 "gt_kind": "value", "gt_warning": None}
    assert "boxed" in d["reason"] and "option B" in d["reason"]
    assert isinstance(check, AnswerCheck) and Verdict("correct") is Verdict.CORRECT and Verdict.CORRECT == "correct"


def test_unknown_answer_type_suggests():
    with pytest.raises(ConfigError, match="did you mean 'multiple_choice'"):
        check_answer("x", "y", answer_type="multiple_choise")
    with pytest.raises(ConfigError, match="unknown answer_type"):
        answers_equivalent("x", "y", answer_type="zzz")
    with pytest.raises(ConfigError):
        check_answer("x", "y", rel_tol=-1)
    with pytest.raises(ConfigError):
        check_answer("x", "y", timeout_s=0)


def test_empty_response_is_no_answer():
    for resp in ["", "  ", None]:
        check = check_answer(resp, "42")
        assert check.verdict is Verdict.NO_ANSWER and check.extracted is None


def test_empty_ground_truth_is_unverifiable():
    assert check_answer("Answer: 4", "  ").verdict is Verdict.UNVERIFIABLE


def test_several_accepted_answers():
    assert check_answer("Answer: colour", ["color", "colour"]).verdict is Verdict.CORRECT


@pytest.mark.parametrize(
    "gt, choices, kind",
    [
        ("C", None, "multiple_choice"), ("(B)", None, "multiple_choice"), ("Paris", ["Paris", "Rome"], "multiple_choice"),
        ("Yes", None, "yes_no"), ("false", None, "yes_no"), ("1,234", None, "number"), ("28\\%", None, "number"),
        ("\\frac{1}{2}", None, "number"), ("x^2+1", None, "math"), ("(1,2]", None, "math"), ("\\sqrt{2}", None, "math"),
        ("golden retriever", None, "short_text"), ("a", None, "short_text"),
    ],
)
def test_infer_answer_type(gt, choices, kind):
    assert infer_answer_type(gt, choices) == kind


def test_explicit_type_overrides_auto():
    assert check_answer("Answer: 41", "42", answer_type="relaxed").verdict is Verdict.CORRECT
    assert check_answer("Answer: 41", "42").verdict is Verdict.INCORRECT


def test_timeout_is_unverifiable_never_correct():
    check = check_answer("\\boxed{(10^{10^{10}})! - 9^{9^{9^{9}}}}", "5", timeout_s=0.5)
    assert check.verdict is Verdict.UNVERIFIABLE and "exceeded" in check.reason


@pytest.mark.parametrize(
    "a, b, kind, choices, same",
    [
        ("0.5", "1/2", "auto", None, True), ("\\frac{2}{3}", "2/3", "auto", None, True), ("3", "4", "auto", None, False),
        ("B", "(B) Paris", "auto", ["London", "Paris"], True), ("B", "Paris", "auto", ["London", "Paris"], True),
        ("A", "B", "auto", ["London", "Paris"], False), ("A or B", "A", "multiple_choice", ["x", "y"], False),
        ("yes", "Yes.", "auto", None, True), ("no", "not", "auto", None, False),  # the reference's substring test says True
        ("red", "dark red", "auto", None, False), ("(x+1)^2", "x^2+2x+1", "auto", None, True),
        ("", "", "auto", None, False), ("ITC Limited", "ITC Limted", "anls", None, True),
    ],
)
def test_answers_equivalent(a, b, kind, choices, same):
    assert answers_equivalent(a, b, kind, choices) is same


def test_lazy_package_import():
    import mmpr_builder.labelers as lab

    assert "check_answer" in dir(lab)
    with pytest.raises(AttributeError):
        lab.no_such_name  # noqa: B018
