"""Final-answer extraction: boxes, statements, weak fallback, cleaning."""

from __future__ import annotations

import pytest

from mmpr_builder.labelers.extract import clean_answer, extract_answer, final_statement, find_boxed, weak_answer


@pytest.mark.parametrize(
    "text, boxes",
    [
        ("\\boxed{\\frac{1}{3}}", ["\\frac{1}{3}"]),
        ("a \\boxed{2} b \\boxed{3}", ["2", "3"]),
        ("\\boxed{\\{1, 2\\}}", ["\\{1, 2\\}"]),  # escaped braces do not close the box
        ("\\boxed{x^{2^{3}}}", ["x^{2^{3}}"]),
        ("\\fbox{7}", ["7"]),
        ("\\boxed 5", ["5"]),
        ("\\boxed{}", []),  # empty box (echoed instruction)
        ("\\boxed{\\frac{1}{", []),  # cut off by the token limit
        ("no box here", []),
    ],
)
def test_find_boxed(text, boxes):
    assert find_boxed(text) == boxes


@pytest.mark.parametrize(
    "text, stmt",
    [
        ("Reasoning...\nAnswer: C", "C"),
        ("**Final Answer:** 42", "42"),
        ("The final answer is $16$. I hope it is correct.", "$16$"),
        ("so THE ANSWER IS b.", "b"),
        ("The answer is B. Note that A is a common distractor.", "B"),
        ("The answer is 3.5. Next, we check.", "3.5"),
        ("The answer is St. Louis.", "St. Louis"),
        ("The answer is John F. Kennedy.", "John F. Kennedy"),
        ("The answer is Paris because the tower is visible.", "Paris"),
        ("**Answer:**\n\nB", "B"),
        ("### Final Answer\n**No**", "**No**"),
        ("Answer: 7\nLater: the final answer is 8", "8"),  # "final" beats a later plain cue and vice versa
        ("Final answer: 7. Indeed, the answer is 8.", "7"),
        ("答案是 C", "C"),
        ("To answer the question we need more data.", None),
        ("Answer Choices: (A) 1 (B) 2", None),
    ],
)
def test_final_statement(text, stmt):
    assert final_statement(text) == stmt


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("$\\text{13}$", "13"),
        ("**C**", "C"),
        ("\\boxed{C}", "C"),
        ("$$\\frac{1}{2}$$.", "\\frac{1}{2}"),
        ("\\(x+1\\)", "x+1"),
        ("`red`.", "red"),
        ('"Paris"', "Paris"),
        ("12\\text{ cm}", "12 cm"),
        ("(C)", "(C)"),
    ],
)
def test_clean_answer(raw, clean):
    assert clean_answer(raw) == clean


def test_box_beats_statement_and_last_box_wins():
    ext = extract_answer("Answer: 7\n\nFirst \\boxed{2}, but that is wrong; the answer is \\boxed{3}.")
    assert (ext.text, ext.method) == ("3", "boxed")
    assert "last of 2" in ext.detail


def test_no_answer_is_none_never_whole_response():
    text = "The image shows a cat. It is sitting on a mat near the window."
    ext = extract_answer(text)
    assert ext.text is None and ext.method == "none"
    assert extract_answer("").method == "none"
    assert extract_answer("   \n").text is None


def test_weak_fallback_only_when_allowed():
    text = "Adding 12 and 16 gives 28."
    assert extract_answer(text).text is None
    weak = extract_answer(text, allow_weak=True, numeric=True)
    assert (weak.text, weak.method) == ("28", "weak")
    # a prose conclusion is read first (reading rules), then the last line
    line = extract_answer("Some reasoning.\n\n- Therefore, option C is correct.", allow_weak=True)
    assert (line.text, line.method) == ("(C)", "weak")
    line = extract_answer("Some reasoning about it.\n\n- A red bus", allow_weak=True)
    assert (line.text, line.method) == ("A red bus", "weak")
    assert weak_answer("x is $\\frac{\\pi}{4}$", numeric=True) == "\\frac{\\pi}{4}"
    assert weak_answer("nothing numeric", numeric=True) is None


def test_truncated_box_falls_back_to_statement():
    ext = extract_answer("Answer: B\nTo confirm: \\boxed{C")
    assert (ext.text, ext.method) == ("B", "statement")


def test_self_correction_after_box_and_placeholders():
    text = "So \\boxed{C}.\n\nWait, I misread the legend; that is wrong.\n\nFinal answer: D"
    assert (extract_answer(text).text, extract_answer(text).method) == ("D", "statement")
    # without a correction the box stays the answer
    assert extract_answer("So \\boxed{16}.\n\nFinal answer: see above").text == "16"
    assert extract_answer("\\boxed{16}\nFinal Answer: The final answer is $16$.").text == "16"
    # echoed instruction placeholders are not answers
    assert extract_answer("Put your final answer in \\boxed{answer}. ... Answer: 7").text == "7"
