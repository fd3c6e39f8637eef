"""Issue 13, fault classes of the number / math / choice verifiers, one table per class.

Each row is (response, ground truth, expected verdict). The rows are our own,
written in the spirit of the issue's examples; every class has several rows
so that the class is fixed, not the one example. Rows run with answer type
``auto`` and, where the class is about maths, again with ``math``.
"""

from __future__ import annotations

import pytest

from mmpr_builder.labelers import check_answer

C, I = "correct", "incorrect"
NOT_C = "not correct"  # incorrect, or no answer where the extractor refuses a negated statement

SIGN = [  # the sign of a LaTeX fraction is never dropped
    ("\\boxed{-\\frac{10}{9}}", "10/9", I),
    ("\\boxed{\\frac{1}{2}}", "-\\frac{1}{2}", I),
    ("\\boxed{-\\dfrac{3}{7}}", "\\frac{3}{7}", I),
    ("\\boxed{-\\tfrac34}", "0.75", I),
    ("\\boxed{- \\frac{2}{5}}", "0.4", I),
    ("\\boxed{-\\frac{3}{7}}", "-3/7", C),
    ("\\boxed{\\frac{-5}{4}}", "-1.25", C),
    ("\\boxed{-\\frac{2}{5}}", "-0.4", C),
]

FUNCTIONS = [  # a function-wrapped value is never read as its argument
    ("Answer: sqrt(2)", "2", I),
    ("\\boxed{sqrt(5)}", "5", I),
    ("\\boxed{log(8)}", "8", I),
    ("The answer is ln(3).", "3", I),
    ("\\boxed{f(x)}", "x", I),
    ("\\boxed{g(4)}", "4", I),
    ("\\boxed{\\sin(30)}", "30", I),
    ("\\boxed{\\sqrt{16}}", "4", C),
    ("Answer: sqrt(9)", "3", C),
]

RELATIONS = [  # relations compare as relations, equations as equations, never by one side
    ("\\boxed{x \\geq 1}", "x \\leq 1", I),
    ("\\boxed{x-y=10}", "x+y=10", I),
    ("\\boxed{0}", "a+3z=0", I),
    ("\\boxed{p+q=7}", "7", I),
    ("\\boxed{n \\geq k}", "k", I),
    ("\\boxed{x \\le 4}", "4", I),
    ("\\boxed{5}", "x < 5", I),
    ("Answer: t >= 3", "t <= 3", I),
    ("\\boxed{x > 2}", "x>2", C),
    ("\\boxed{2 < x}", "x > 2", C),
    ("\\boxed{x = 7}", "7", C),
    ("\\boxed{y = 3x - 2}", "y=3x-2", C),
    ("\\boxed{a + 3z = 0}", "a+3z=0", C),
]

REMARKS = [  # a trailing parenthetical remark is not the value
    ("Answer: (a-b)/4 (> 0)", "0", I),
    ("Answer: x^2 (for x > 0)", "0", I),
    ("\\boxed{2n \\text{ (for } n \\geq 1)}", "1", I),
    ("The answer is 7 (mod 9).", "9", I),
    ("Answer: 5 (or 6)", "5", I),
    ("Answer: 5 (not 6)", "5", I),
    ("Answer: 5 (approximately)", "5", C),
    ("Answer: 12 (since 3*4)", "12", C),
    ("Answer: \\frac{3}{4} (in metres)", "0.75", C),
]

WORDS_BEFORE = [  # a word before the number changes it: a negation or a bound is not the value
    ("The answer is not 19.", "19", NOT_C),
    ("Answer: at least 3", "3", NOT_C),
    ("The answer is no more than 7.", "7", NOT_C),
    ("Answer: less than 4", "4", NOT_C),
    ("Answer: never 5", "5", NOT_C),
    ("Answer: about 3", "3", C),
    ("Answer: USD 500", "500", C),
    ("The answer is: the only possible value is 8.", "8", C),
    ("Final Answer: The volume of the box is 120. I hope it is correct.", "120", C),
    ("Final Answer: The largest $n$ is 34.", "34", C),
    ("Final Answer: The largest $n$ is not 34.", "34", NOT_C),
]

TINY_HUGE = [  # tiny and huge values compare relatively or exactly, never within an absolute epsilon
    ("\\boxed{10^{-30}}", "5\\times 10^{-31}", I),
    ("\\boxed{2 \\times 10^{-40}}", "10^{-40}", I),
    ("\\boxed{\\frac{1}{10^{9}}}", "2\\times10^{-9}", I),
    ("\\boxed{0}", "10^{-12}", I),
    ("\\boxed{10^{-7}}", "0", I),
    ("\\boxed{10^{20}+1}", "10^{20}", I),
    ("\\boxed{1.0\\times10^{-30}}", "10^{-30}", C),
    ("\\boxed{3\\cdot 10^{-25}}", "3 \\cdot 10^{-25}", C),
]

BINOMIALS = [  # binomials, factorials and choose forms are evaluated
    ("\\boxed{56}", "C(8,3)", C),
    ("\\boxed{56}", "8 choose 3", C),
    ("\\boxed{56}", "\\binom{8}{3}", C),
    ("Answer: C(8, 3)", "56", C),
    ("\\boxed{{7 \\choose 2}}", "21", C),
    ("\\boxed{\\dbinom{10}{2}}", "45", C),
    ("\\boxed{5!}", "120", C),
    ("\\boxed{\\binom{9}{3}}", "56", I),
    ("\\boxed{55}", "C(8,3)", I),
    ("\\boxed{4!}", "120", I),
]

DECIMAL_COMMA = [  # one documented rule (numeric.py): 0,ddd is a decimal; d,ddd a thousands separator
    ("\\boxed{111}", "0,111", I),
    ("\\boxed{0.111}", "0,111", C),
    ("\\boxed{0,25}", "0.25", C),
    ("\\boxed{25}", "0,25", I),
    ("\\boxed{1,234}", "1234", C),
    ("\\boxed{1234}", "1,234", C),
    ("\\boxed{1.234}", "1,234", I),
    ("\\boxed{125}", "12,5", I),
]

LISTS = [  # lists and tuples never fall to text matching
    ("\\boxed{123}", "(1,2,3)", I),
    ("\\boxed{21}", "-2,1", I),
    ("\\boxed{12}", "1, 2", I),
    ("\\boxed{1 2 3}", "(1, 2, 3)", I),
    ("\\boxed{(3,2,1)}", "(1,2,3)", I),
    ("\\boxed{(1,2,3)}", "(1,2,3)", C),
    ("\\boxed{1,-2}", "-2,1", C),
]

WRAPPED_GOLD = [  # a gold in $...$ or \text{} is checked in the cleaned form it is typed from
    ("\\boxed{odd}", "$\\text{odd}$", C),
    ("Answer: even", "\\text{even}", C),
    ("\\boxed{\\text{odd}}", "$\\text{even}$", I),
    ("Answer: Tuesday", "$\\textbf{Tuesday}$", C),
    ("\\boxed{5}", "$5$", C),
    ("\\boxed{x^2+1}", "$1+x^2$", C),
]

SEVERAL_BOXES = [  # several boxed answers are read together
    ("The roots are \\boxed{-2} and \\boxed{1}.", "-2, 1", C),
    ("So $x=\\boxed{3}$, $\\boxed{5}$.", "\\{3,5\\}", C),
    ("\\boxed{1}\\boxed{2}", "1,2", C),
    ("Hence \\boxed{12} and \\boxed{48}.", "48", I),
    ("Either \\boxed{4} or \\boxed{9}.", "9", I),
    ("First guess \\boxed{2}, but that is wrong; the answer is \\boxed{3}.", "3", C),
]

E_CONSTANT = [  # \mathrm{e} is Euler's number on both sides
    ("\\boxed{1 - \\frac{1}{\\mathrm{e}}}", "1 - \\frac{1}{\\mathrm{e}}", C),
    ("\\boxed{1-e^{-1}}", "1 - \\frac{1}{\\mathrm{e}}", C),
    ("\\boxed{\\mathrm{e}^2}", "e^{2}", C),
    ("\\boxed{1 + \\frac{1}{\\mathrm{e}}}", "1 - \\frac{1}{\\mathrm{e}}", I),
    ("\\boxed{\\mathrm{e}}", "2", I),
]

SETS = [  # sets compare as sets, tuples in order; two values never pass for one
    ("Answer: 12 and 48", "48", I),
    ("\\boxed{12, 48}", "48", I),
    ("\\boxed{\\{48, 12\\}}", "12 and 48", C),
    ("Answer: 12 and 48", "\\{12, 48\\}", C),
    ("Answer: 3, 5, 7", "\\{3,5,7\\}", C),
    ("Answer: 7, 3, 5", "3, 5 and 7", C),
    ("Answer: 3, 5", "\\{3,5,7\\}", I),
    ("Answer: 3, 5, 7, 9", "3, 5 and 7", I),
    ("\\boxed{\\{3, 3, 5\\}}", "\\{3,5,7\\}", I),
    ("\\boxed{(2,3)}", "(3,2)", I),
    ("Answer: 6, 8", "(6,31,-1)", I),
    ("Answer: -2, 1", "(0,9)", I),
    ("Answer: 1, 2, 3", "(1,2,3)", C),
    ("Answer: 3, 2, 1", "(1,2,3)", I),
    ("\\boxed{(1, 2, 3)}", "1, 2, 3", C),
    ("\\boxed{\\{2, 3\\}}", "\\{3, 2\\}", C),
]

WORDY_GOLD = [  # ground truths with alternatives or a sentence around the value
    ("\\boxed{56}", "C(8, 3), or equivalently 56", C),
    ("\\boxed{\\binom{8}{3}}", "C(8, 3), or equivalently 56", C),
    ("\\boxed{55}", "C(8, 3), or equivalently 56", I),
    ("\\boxed{1}", "1 is the only possible value", C),
    ("\\boxed{2}", "1 is the only possible value", I),
    ("\\boxed{n-1}", "n-1 (i.e., every one of them)", C),
    ("\\boxed{n}", "n-1 (i.e., every one of them)", I),
    ("\\boxed{\\sqrt{b}}", "The only possible value of the limit is sqrt(b)", C),
    ("\\boxed{b}", "The only possible value of the limit is sqrt(b)", I),
    ("The answer is 4.", "The answer is 4.", C),
]

MATH_TABLES = {
    "sign": SIGN, "functions": FUNCTIONS, "relations": RELATIONS, "remarks": REMARKS, "words_before": WORDS_BEFORE, "tiny_huge": TINY_HUGE,
    "binomials": BINOMIALS, "decimal_comma": DECIMAL_COMMA, "lists": LISTS, "several_boxes": SEVERAL_BOXES,
    "e_constant": E_CONSTANT, "sets": SETS, "wordy_gold": WORDY_GOLD,
}
ROWS = [(name, t, r, g, v) for name, rows in MATH_TABLES.items() for r, g, v in rows for t in ("auto", "math")]
ROWS += [("wrapped_gold", "auto", r, g, v) for r, g, v in WRAPPED_GOLD]


@pytest.mark.parametrize("cls, answer_type, response, gold, verdict", ROWS,
                         ids=["%s-%s-%d" % (r[0], r[1], i) for i, r in enumerate(ROWS)])
def test_fault_class(cls, answer_type, response, gold, verdict):
    check = check_answer(response, gold, answer_type=answer_type, timeout_s=30)
    if verdict == NOT_C:
        assert check.verdict.value in ("incorrect", "no_answer"), check.reason
    else:
        assert check.verdict.value == verdict, check.reason


FOUR = ["a circle", "a square", "a triangle", "a hexagon"]
CHOICE = [  # an explicit answer line naming an option wins over an earlier box that names none
    ("The shape has \\boxed{6} sides.\n\nAnswer: D", "D", C),
    ("Each angle is \\boxed{120^\\circ}, so it is regular.\n\nThe answer is (D).", "D", C),
    ("There are \\boxed{3} corners.\n\n**Final answer:** C", "C", C),
    ("There are \\boxed{3} corners.\n\n**Final answer:** C", "A", I),
    ("So \\boxed{B}.\n\nAnswer: 4 sides", "B", C),  # a box naming an option still counts
]


@pytest.mark.parametrize("response, gold, verdict", CHOICE)
def test_choice_answer_line_beats_unrelated_box(response, gold, verdict):
    check = check_answer(response, gold, FOUR)
    assert check.verdict.value == verdict, check.reason


# --- classes of Math-Verify's suite (issue 13, Done-when) -------------------------------------
SI_GROUPS = [  # a plain space between SI digit groups is a thousands separator; nothing else is
    ("Answer: 1 000", "1000", C),
    ("Answer: 12 345 678", "12345678", C),
    ("Answer: 1 000.5", "1000.5", C),
    ("Answer: 1 000", "1", I),
    ("Answer: 10 00", "1000", I),
    ("Answer: 1 2", "12", I),
]

BARE_DECIMAL_COMMA = [  # d,dd against a number written with a point is a decimal comma; else a list
    ("Answer: 1.22", "1,22", C),
    ("\\boxed{2,74}", "2.74", C),
    ("\\boxed{-2,1}", "-2.1", C),
    ("\\boxed{2,74}", "274", I),
    ("\\boxed{1,22}", "1.23", I),
    ("\\boxed{2.5}", "2, 5", I),
    ("\\boxed{1,2}", "2,1", C),
]

FINAL_AFTER_BOX = [  # a final-answer statement after the last box, with a value of its own, wins
    ("Interest: $0.04 \\cdot 5000 = \\boxed{200}$.\n\nFinal Answer: The final answer is $5,200$.", "5200", C),
    ("Interest: $0.04 \\cdot 5000 = \\boxed{200}$.\n\nFinal Answer: The final answer is $5,200$.", "200", I),
    ("So \\boxed{12}.\n\nFinal answer: 12 apples", "12", C),
    ("So \\boxed{12}.\n\n**Final Answer**\nsee above", "12", C),
]

STATEMENT_SENTENCE = [  # a final-answer statement written as a sentence stands for its one value
    ("Final Answer: Ann started the race 4 hours ago. I hope it is correct.", "4", C),
    ("Final Answer: Ann started the race 4 hours ago.", "5", I),
    ("Final Answer: It took 3 or 4 hours.", "4", NOT_C),
    ("Final Answer: The train is not 40 km away.", "40", NOT_C),
    ("Final Answer: Between 10 and 20 people came.", "20", NOT_C),
]

TURN_END = [  # a chat-template token ends the response: what follows is an invented turn
    ("So the count is \\boxed{4}.<|im_end|>\n<|im_start|>user\nNow try \\boxed{7}", "4", C),
    ("So the count is \\boxed{4}.<|im_end|>\n<|im_start|>user\nNow try \\boxed{7}", "7", I),
    ("Thus \\boxed{9}.</s>Answer: 2", "9", C),
]

BOXED_GOLD_LIST = [  # a short ground truth whose boxes are joined by a separator lists them all
    ("\\boxed{3, 5}", "\\boxed{3} cats and \\boxed{5} dogs", C),
    ("\\boxed{5}", "\\boxed{3} cats and \\boxed{5} dogs", I),
    ("\\boxed{3, 5}", "\\boxed{3} then much later \\boxed{5}", I),
]

PART_LABELS = [  # boxes separated only by part labels are one multi-part answer
    ("(a) \\boxed{2}, (b) \\boxed{5}", "2, 5", C),
    ("$\\boxed{(3, 1)} \\text{ for part (a) and } \\boxed{(2, 2)}$", "(3, 1), (2, 2)", C),
    ("\\boxed{4} for part (a) and \\boxed{9}", "9", I),
]

SUITE_TABLES = {
    "si_groups": SI_GROUPS, "bare_decimal_comma": BARE_DECIMAL_COMMA, "final_after_box": FINAL_AFTER_BOX,
    "statement_sentence": STATEMENT_SENTENCE, "turn_end": TURN_END, "boxed_gold_list": BOXED_GOLD_LIST,
    "part_labels": PART_LABELS,
}
SUITE_ROWS = [(name, t, r, g, v) for name, rows in SUITE_TABLES.items() for r, g, v in rows for t in ("auto", "math")]


@pytest.mark.parametrize("cls, answer_type, response, gold, verdict", SUITE_ROWS,
                         ids=["%s-%s-%d" % (r[0], r[1], i) for i, r in enumerate(SUITE_ROWS)])
def test_suite_fault_class(cls, answer_type, response, gold, verdict):
    test_fault_class(cls, answer_type, response, gold, verdict)


WORK = "We count the cases one at a time and check each of them carefully.\n\n"
PROSE = [  # (mode, response, gold, verdict): answers stated in prose, read without a cue
    # weak reads the conclusion before the last number/math span of the last line
    ("weak", WORK + "We solve $d = \\frac{90}{n}$ for each divisor. Therefore, there are 12 such sequences.", "12", C),
    ("weak", WORK + "We solve $d = \\frac{90}{n}$ for each divisor. Therefore, there are 12 such sequences.", "90", I),
    ("weak", WORK + "So there are 12 sequences. I hope it is correct. <|im_start|>user", "12", C),
    # an escaped \$ is a dollar sign, never a math delimiter
    ("weak", WORK + "Both cost $\\$5 + \\$7 = \\$12$", "12", C),
    ("weak", WORK + "Both cost $\\$5 + \\$7 = \\$12$", "5", I),
    # a display ending with a period ends its sentence
    ("reading", WORK + "Dividing, we get $$\\frac{a}{b} \\geq \\frac{2}{1}.$$ Therefore, the error grows by 100%.", "100%", C),
    ("reading", WORK + "Dividing, we get $$\\frac{a}{b} \\geq \\frac{2}{1}.$$ Therefore, the error grows by 100%.", "2", I),
    # a $ before a number opens a math span when its span is math, not money
    ("reading", WORK + "The terms are $1, 1+d, 1+2d, \\dots$. Therefore, there are 12 such sequences.", "12", C),
    ("reading", WORK + "He paid $10,000 + $200 in total. Therefore, he paid 10200 dollars.", "10200", C),
]


@pytest.mark.parametrize("mode, response, gold, verdict", PROSE)
def test_prose_answers(mode, response, gold, verdict):
    for answer_type in ("auto", "math"):
        check = check_answer(response, gold, answer_type=answer_type, extraction=mode, timeout_s=30)
        assert check.verdict.value == verdict, (answer_type, check.reason)
