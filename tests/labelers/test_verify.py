"""Verifiers by answer type, number policy, option matching and the bounded Math-Verify worker."""

from __future__ import annotations

import multiprocessing
import threading
from fractions import Fraction

import pytest

from mmpr_builder.labelers.choice import asserted_options, resolve_gold_option
from mmpr_builder.labelers.mathworker import MathVerifyWorker
from mmpr_builder.labelers.numeric import numbers_match, parse_number
from mmpr_builder.labelers.verify import (
    anls_score,
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


# --- numbers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, value",
    [
        ("1,234", Fraction(1234)), ("$1,234.50", Fraction(246900, 200)), ("1{,}234", Fraction(1234)),
        ("12\\,000", Fraction(12000)), ("\\frac{3}{4}", Fraction(3, 4)), ("\\dfrac34", Fraction(3, 4)),
        ("3/4", Fraction(3, 4)), ("-7", Fraction(-7)), ("−7", Fraction(-7)), ("+5", Fraction(5)),
        ("x = 5", Fraction(5)), ("12 cm^2", Fraction(12)), ("5 m/s^2", Fraction(5)), ("45^\\circ", Fraction(45)),
        ("3 \\times 10^{8}", Fraction(300000000)), ("2.5e-3", Fraction(1, 400)), ("twelve", Fraction(12)),
        ("approximately 3.14", Fraction(314, 100)), ("12 (since 3 * 4)", Fraction(12)), ("\\text{13}", Fraction(13)),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text).value == value


@pytest.mark.parametrize(
    "text", ["3x", "x+1", "(x+1)^2", "2^{10}", "\\sqrt{2}", "12 or 13", "2019-2020", "5 - 3", "CO2", "(1, 2]", "1e999999", "9" * 100, "red"]
)
def test_not_a_plain_number(text):
    assert parse_number(text) is None


def test_percent_and_scale_candidates():
    assert set(parse_number("28%").candidates()) == {Fraction(28), Fraction(28, 100)}
    assert set(parse_number("1.2 million").candidates()) == {Fraction(12, 10), Fraction(1200000)}
    assert parse_number("28").candidates() == (Fraction(28),)


def test_numbers_match_policy():
    p = parse_number
    assert numbers_match(p("3.14159"), p("3.1416"))  # within 0.1%
    assert not numbers_match(p("3.14159"), p("3.2"))
    assert not numbers_match(p("1500"), p("1501"), rel_tol=0.01)  # integers are exact
    assert numbers_match(p("1500"), p("1501"), rel_tol=0.01, exact_integers=False)
    assert not numbers_match(p("4e-9"), p("3e-9"))  # relative, no absolute epsilon
    assert numbers_match(p("4e-9"), p("4.000001e-9"))
    assert not numbers_match(p("0"), p("1e-12"))  # a zero gold needs an exact zero
    assert numbers_match(p("1/3"), p("0.3333"))


# --- short text / yes-no / anls / relaxed ------------------------------------------------
def test_vqa_normalize():
    assert vqa_normalize("The Dog!") == "dog"
    assert vqa_normalize("Two cats.") == "2 cats"
    assert vqa_normalize("dont") == "don't"
    assert vqa_normalize("3.5") == "3.5"
    assert vqa_normalize("1,000") == "1000"


def test_short_text_rules():
    assert verify_short_text("The bus is red", ["red"]).ok
    assert not verify_short_text("The bus is not red", ["red"]).ok
    assert not verify_short_text("dark red", ["red"]).ok  # no substring "answer fix"
    assert not verify_short_text("not", ["no"]).ok
    assert verify_short_text("2.0", ["2"]).ok
    assert verify_short_text("blue", ["red", "blue"]).ok  # any accepted answer


def test_yes_no():
    assert verify_yes_no("Yes, there is no cat near the dog", ["yes"]).ok
    assert not verify_yes_no("No.", ["yes"]).ok
    assert not verify_yes_no("yes or no", ["yes"]).ok
    assert not verify_yes_no("maybe", ["no"]).ok
    assert verify_yes_no("False", ["no"]).ok


def test_anls_is_a_similarity():
    assert anls_score("ITC Limited", "itc limited") == 1.0
    assert anls_score("ITC Limted", "ITC Limited") == pytest.approx(1 - 1 / 11)
    assert anls_score("completely different", "ITC Limited") == 0.0  # NL >= 0.5 -> 0
    assert verify_anls("ITC Limted", ["ITC Limited"]).ok
    assert not verify_anls("1996", ["1995"]).ok  # ANLS 0.75, but a different number
    assert verify_anls("itc ltd", ["Tobacco", "ITC Ltd."]).ok  # best of several golds


def test_relaxed_accuracy():
    assert verify_relaxed("41", ["42"]).ok
    assert not verify_relaxed("39", ["42"]).ok
    assert verify_relaxed("27%", ["28"]).ok
    assert not verify_relaxed("0.01", ["0"]).ok
    assert verify_relaxed("Germany", ["germany"]).ok


def test_looks_like_math():
    for s in ["x+1", "\\frac{1}{2}", "x^2", "(1, 2]", "2x", "a/b", "y = 3"]:
        assert looks_like_math(s), s
    for s in ["New York", "T-shirt", "COVID-19", "red", "St. Louis"]:
        assert not looks_like_math(s), s


# --- multiple choice ----------------------------------------------------------------------
FOUR = ["A bicycle", "A motorcycle", "A scooter", "A skateboard"]


@pytest.mark.parametrize(
    "answer, options",
    [
        ("C", {2}), ("(c)", {2}), ("C.", {2}), ("C:", {2}), ("option C", {2}), ("Choice (C)", {2}),
        ("C) A scooter", {2}), ("(C) A scooter", {2}), ("A scooter", {2}), ("scooter", {2}),
        ("a scooterr", {2}), ("A bicycle", {0}), ("A", {0}), ("B, not A", {1}), ("Neither A nor B", set()),
        ("A or C", {0, 2}), ("(A) and (C)", {0, 2}), ("C. A bicycle", {0, 2}), ("(C) A bicycle", {0, 2}), ("(B) A motorcycle", {1}), ("E", set()), ("I think so", set()),
        ("U.S. dollars", set()),
    ],
)
def test_asserted_options(answer, options):
    assert set(asserted_options(answer, FOUR)[0]) == options


def test_gold_option_forms():
    assert resolve_gold_option("C", FOUR)[0] == {2}
    assert resolve_gold_option("(C)", FOUR)[0] == {2}
    assert resolve_gold_option("A scooter", FOUR)[0] == {2}
    assert resolve_gold_option("I", ["I", "II", "III"])[0] == {0}  # letter I out of range -> text
    assert resolve_gold_option("A, C", FOUR)[0] == {0, 2}
    assert resolve_gold_option("a unicycle", FOUR)[0] == set()


def test_choice_never_guesses():
    out = verify_choice("something else entirely", "B", FOUR)
    assert out.ok is False and "no option" in out.reason
    assert verify_choice("B", "a unicycle", FOUR).ok is None  # gold not an option: undecidable
    assert not verify_choice("1000", "A", ["100", "200", "300", "400"]).ok  # 1000 is not "100"


# --- math and the worker --------------------------------------------------------------------
def test_math_fast_path_and_math_verify():
    assert verify_math("0.75", ["\\frac{3}{4}"]).reason.startswith("number")  # no CAS for plain numbers
    assert verify_math("\\sqrt{12}", ["2\\sqrt{3}"]).ok
    assert verify_math("y = 1 + 2x", ["y=2x+1"]).ok
    assert not verify_math("(1, 2)", ["(1,2]"]).ok
    assert verify_number("\\sqrt{144}", ["12"]).ok


def test_pathological_expression_is_unverifiable_and_worker_recovers():
    worker = MathVerifyWorker()
    try:
        ok, why = worker.check("5", "9^{9^{9^{9}}}", timeout_s=0.5)
        assert ok is None and "exceeded" in why
        assert worker.restarts == 1
        assert worker.check("\\frac{1}{2}", "0.5", timeout_s=30)[0] is True
    finally:
        worker.close()


def test_unparsable_gold_is_undecided_not_correct():
    worker = MathVerifyWorker()
    try:
        ok, why = worker.check("\\frac{", "1", timeout_s=30)
        assert ok is not True
    finally:
        worker.close()


def test_math_verify_from_threads():
    results = []

    def run(expr):
        results.append(verify_math(expr, ["(x+1)^2"], timeout_s=30).ok)

    threads = [threading.Thread(target=run, args=(e,)) for e in ["x^2+2x+1", "(1+x)^2", "x^2+1"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True, True]


def _in_pool(expr: str) -> bool | None:
    return MathVerifyWorker().check("\\frac{\\pi}{4}", expr, timeout_s=30)[0]


def test_math_verify_from_daemonic_pool_worker():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # pool workers are daemonic: they may not start multiprocessing children
        assert pool.map(_in_pool, ["\\pi/4", "\\pi/2"]) == [True, False]
