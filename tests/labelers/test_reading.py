"""Reading mode (extraction="reading"): committed answers of prose solutions, and the modes' API."""

from __future__ import annotations

import pytest

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers import Verdict, check_answer
from mmpr_builder.labelers.extract import EXTRACTION_MODES, extract_answer, resolve_extraction, weak_answer
from mmpr_builder.labelers.prose import sentences
from mmpr_builder.labelers.reading import claim_polarity, read_answer

WORK = ("We set up the count first. Each arrangement is determined by the order of the people, and we "
        "must be careful not to count the same arrangement twice.\n\n")


def read(text: str, question: str | None = None, **kw) -> str | None:
    return extract_answer(text, mode="reading", question=question, **kw).text


def test_modes_and_aliases():
    assert EXTRACTION_MODES == ("strict", "weak", "reading")
    assert resolve_extraction("strict", allow_weak=True) == "weak"
    assert resolve_extraction("reading") == "reading"
    with pytest.raises(ConfigError, match="did you mean 'reading'"):
        resolve_extraction("readng")
    with pytest.raises(ConfigError, match="conflicts"):
        resolve_extraction("reading", allow_weak=True)
    with pytest.raises(ConfigError, match="unknown extraction"):
        check_answer("x", "y", extraction="loose")
    prose = WORK + "Therefore, there are 412 ways."
    assert check_answer(prose, "412").verdict is Verdict.NO_ANSWER  # strict stays the default
    assert check_answer(prose, "412", allow_weak=True).method == "weak"
    check = check_answer(prose, "412", extraction="reading")
    assert (check.verdict, check.method, check.extracted) == (Verdict.CORRECT, "reading", "412")


@pytest.mark.parametrize("text, question, want", [
    (WORK + "Therefore, there are 412 ways.", None, "412"),
    (WORK + "So the number of sequences is $3^{k+1}$.", None, "3^{k+1}"),  # kept whole, never "1"
    (WORK + "Hence the closed form is 3^(k+1).", None, "3^(k+1)"),
    (WORK + "So the minimum is n - 1.", None, "n - 1"),
    (WORK + "Thus $x = 2 + 3 = 5$.", None, "5"),  # last side of an equation chain
    (WORK + "So the probability is $\\frac{3}{8} \\approx 0.375$.", None, "\\frac{3}{8}"),  # before \approx
    (WORK + "In conclusion, the solution set is $x \\geq 3$.", None, "x \\geq 3"),  # relations whole
    (WORK + "Therefore, the solutions are $x = 2$ and $x = 3$.", "Solve $x^2 - 5x + 6 = 0$.", "2, 3"),
    (WORK + "Putting this together, the value is 1,250.", None, "1,250"),
    (WORK + "So with 5 people we get 60 arrangements.", "How many ways can 5 people sit in 3 chairs?", "60"),
    (WORK + "Therefore, the 13-14-15 triangle has area 84.", "Find the area of a 13, 14, 15 triangle.", "84"),
    (WORK + "So Alice has 12 marbles and Bob has 48 marbles.", "How many marbles does Bob have?", "48"),
    (WORK + "Hence, the determinant equals 2.", "Compute det of rows (3, 1), (4, 2).", "2"),  # 'is N.' frame
    (WORK + "There are 72 valid seatings.", "In how many ways can 5 people sit?", "72"),  # no cue, final
    (WORK + "The jacket costs $66 after tax.", "A jacket costs $80. What does it cost after tax?", "66"),
    (WORK + "Therefore, option (C) is correct.", None, "(C)"),
])
def test_reads_the_committed_answer(text, question, want):
    assert read(text, question, numeric=True) == want


@pytest.mark.parametrize("text, question, why", [
    (WORK + "So the result is either 3 or 5.", None, "hedges"),
    (WORK + "Therefore, x is 3, or maybe 5.", None, "hedges"),
    (WORK + "Thus the total is probably 12, but I'm not sure.", None, "hedges"),
    (WORK + "Hence the count is 12 or 13.", None, "hedges"),
    (WORK + "So the total is 12. Maybe it is 14, I am not sure.", None, "hedges"),  # a hedge after the conclusion
    (WORK + "So we need to seat the 5 people in the 3 chairs.", "How many ways can 5 people sit in 3 chairs?",
     "no value"),  # only numbers restated from the question
    (WORK + "So there are 336 ordered choices and 56 committees here.", None, "several"),
    (WORK + "Therefore, the number of ways is 4", None, "cut off"),  # cut by the token limit
    (WORK + "So $N = \\frac{3}{", None, "cut off"),
    (WORK + "Let me recompute the total once more. " * 30, None, "loops"),
    (WORK + "So x = 4.\n\nNext we need y. We have y = 2x + 1 = 9. Then z = y - 3 = 6. We now combine them.", None,
     "no conclusion"),  # an intermediate result is not the final answer
    (WORK + "Therefore, there are 56 committees. Excluding the rivals removes 6 of them, leaving 50.", None,
     "values after"),
])
def test_prefers_no_answer(text, question, why):
    ext = extract_answer(text, mode="reading", question=question, numeric=True)
    assert ext.text is None and ext.method == "none", ext
    assert why.split()[0] in ext.detail or why == "hedges" and "hedge" in ext.detail, ext.detail


@pytest.mark.parametrize("claim, question, want", [
    ("Therefore, 91 is not a prime.", "Is 91 prime?", "no"),
    ("Hence such a coloring exists.", "Does there exist a coloring with no monochromatic line?", "yes"),
    ("It is therefore not possible to tile the board.", "Is it possible to tile the board?", "no"),
    ("So the knight cannot visit every square.", "Can a knight visit every square?", "no"),
    ("Thus there is no such triangle.", "Does a triangle with sides 3, 4, 8 exist?", "no"),
    ("Therefore, $\\sqrt{2}$ is irrational.", "Is $\\sqrt{2}$ rational?", "no"),
    ("So it is not impossible to do so.", "Is it possible?", None),  # double negation
    ("Therefore, the claim holds.", "Isn't the claim false?", None),  # negated question: ambiguous
    ("Therefore, yes: the sum can be even.", "Can the sum be even?", "yes"),
])
def test_yes_no_claims(claim, question, want):
    assert read(WORK + claim, question, yes_no=True) == want


def test_yes_no_claims_through_check_answer():
    text = WORK + "Trying 7 gives 7 x 13 = 91.\n\nTherefore, 91 is not a prime number."
    assert check_answer(text, "no", question="Is 91 prime?", extraction="reading").verdict is Verdict.CORRECT
    assert check_answer(text, "yes", question="Is 91 prime?", extraction="reading").verdict is Verdict.INCORRECT
    explicit = WORK + "Final answer: It is not possible."
    assert check_answer(explicit, "no", extraction="strict").verdict is Verdict.INCORRECT  # a claim is no yes/no word
    check = check_answer(explicit, "no", extraction="reading")
    assert (check.verdict, check.extracted, check.method) == (Verdict.CORRECT, "no", "statement")


def test_claim_polarity_unit():
    assert claim_polarity("91 is not a prime", need_topic=False) == ("no", "negative claim")
    assert claim_polarity("Yes, it is", need_topic=False)[0] == "yes"
    assert claim_polarity("The sum is 12.", "Is 91 prime?")[0] is None  # no claim about the question


def test_strict_evidence_comes_first_and_is_unchanged():
    text = WORK + "So the total is 14.\n\n**Final Answer:** $\\boxed{12}$"
    assert read(text) == extract_answer(text).text == "12"
    assert read_answer(text, strict=extract_answer(text)).text == "12"


def test_sentences_keep_math_and_abbreviations():
    text = "We use $3.5 \\cdot 2 = 7$. It is e.g. the case.\n\n$$\nx = 1.\n$$\nSo x is 1."
    assert sentences(text) == ["We use $3.5 \\cdot 2 = 7$.", "It is e.g. the case.", "$$ x = 1. $$", "So x is 1."]
    # a display that does not end with a period belongs to the sentence around it
    assert sentences("We get\n$$x = 1$$\nso x is 1.") == ["We get $$x = 1$$ so x is 1."]
    assert sentences("Hence $$y = 2.$$ Therefore, y is 2.") == ["Hence $$y = 2.$$", "Therefore, y is 2."]


def test_wrong_span_from_the_issue_is_not_correct():
    # the weak fallback read the question's number or cut the expression to its last number
    q = "How many ways can 5 people be seated around a table?"
    text = WORK + "So there are 24 ways to seat the 5 people."
    assert check_answer(text, "5", question=q, extraction="reading").verdict is Verdict.INCORRECT
    # the fault of the last-number fallback; weak now reads the prose conclusion first
    assert weak_answer(text, numeric=True) == "5"
    assert check_answer(text, "5", question=q, extraction="weak").verdict is Verdict.INCORRECT
    expr = WORK + "Hence the number of strings is 3^(k+1)."
    assert check_answer(expr, "1", extraction="reading").verdict is not Verdict.CORRECT


def test_a_negated_statement_is_no_answer_in_every_mode():
    # "the answer is not 5" was read as 5 by the number parser: a false "correct" in strict mode
    for mode in EXTRACTION_MODES[:1] + EXTRACTION_MODES[2:]:
        assert check_answer(WORK + "So the answer is not 5. Trying 6 works.", "5", extraction=mode).verdict \
            is not Verdict.CORRECT
    assert extract_answer("Final answer: not a scooter but a bicycle").text == "not a scooter but a bicycle"


@pytest.mark.parametrize("text, question, want", [
    (WORK + "Thus $a = 3$, $b = 4$, and $c = 5$.", "Find c if $a + b = 7$, $b + c = 9$ and $a + c = 8$.", "5"),
    (WORK + "Hence, $f(2) = 7$ and $f(3) = 11$.", "Let $f(x) = 4x - 1$. Find $f(3)$.", "11"),
    (WORK + "Hence $x = 7$ and $y = 3$.", "Find the ordered pair $(x, y)$ with $x + y = 10$, $x - y = 4$.", "(7, 3)"),
    (WORK + "So the total area is 24 and the perimeter is 20.", "A rectangle is 6 by 4. What is its perimeter?", "20"),
    (WORK + "Therefore, the largest possible value is 9, attained at x = 3.", "What is the largest value of f?", "9"),
    (WORK + "Removing the 6 double counts leaves 14, and the total is 47.", "How many integers up to 100?", "47"),
])
def test_several_values_resolved_by_the_question(text, question, want):
    assert read(text, question, numeric=True) == want


@pytest.mark.parametrize("text, question", [
    (WORK + "In total, 15 students passed and 5 failed.", "How many students failed?"),  # parallel clauses
    (WORK + "So n is at least 4.", "Find the smallest n."),
    (WORK + "Therefore, x cannot be 5.", "Find x."),
    (WORK + "So far we have 12 valid cases. We still need to handle the case of a leading zero.", "How many?"),
    (WORK + "Thus $a = 3$, $b = 4$, and $c = 5$.", "Find a + b + c."),  # no single asked unknown
])
def test_several_values_or_bounds_give_no_answer(text, question):
    assert read(text, question, numeric=True) is None


@pytest.mark.parametrize("claim, question, want", [
    ("So the series diverges.", "Does the series converge?", "no"),
    ("Therefore, the sum is always odd.", "Can the sum of five odd integers be even?", None),  # both words asked
    ("Therefore, the sum is always odd.", "Can the sum of five such integers be even?", "no"),
    ("Hence 91 is composite.", "Is 91 prime?", "no"),
    ("So the series converges.", "Does the series converge?", "yes"),
    ("None of these primes divides 2027, so 2027 is indeed prime.", "Is 2027 a prime number?", "yes"),
])
def test_yes_no_opposites_and_consequences(claim, question, want):
    assert read(WORK + claim, question, yes_no=True) == want


def test_cut_off_output():
    from mmpr_builder.labelers.prose import cut_off_reason

    assert cut_off_reason("So the total is 4") == "no sentence end"
    assert cut_off_reason("So the total is 42,") == "no sentence end"
    assert cut_off_reason("We get $\\frac{3}{") == "unclosed $"
    assert cut_off_reason("Hence the answer follows as\n\n\\[ x = 1") == "unclosed math"
    for done in ("So the total is 42.", "So the total is **42**", "So $x = 3$", "The sum is 9. ✓", "Done!"):
        assert cut_off_reason(done) is None, done
