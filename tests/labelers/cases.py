"""Table of labelled responses written the way models write them (long CoT,
markdown, LaTeX, several candidate answers, refusals), each with its right label.

Used by ``test_answers.py`` (one test per row; loaded by file path, not imported as a package).
"""

from __future__ import annotations

from dataclasses import dataclass, field

C, I, N, U = "correct", "incorrect", "no_answer", "unverifiable"


@dataclass(frozen=True)
class Case:
    id: str
    response: str
    gt: str
    verdict: str
    choices: list[str] | None = None
    type: str = "auto"
    extracted: str | None = None  # expected extracted answer, when the row checks it
    weak: bool = False
    kwargs: dict = field(default_factory=dict)


STEPS = (
    "Let me work through this step by step.\n\n"
    "**Step 1:** Identify what the question asks.\n"
    "**Step 2:** Read the relevant values from the image (the legend is at the top right).\n"
    "**Step 3:** Compute the result and double-check it against the figure.\n\n"
)
PLAIN = (
    "Looking at the image, I can see several objects arranged on a wooden table. To answer the "
    "question I need to compare them carefully, because two of them look alike at first glance. "
    "The lighting comes from the left, which makes the colours on the right side look darker.\n\n"
)
MATH = (
    "We start from the given relation and isolate the unknown. Since $a^2 + b^2 = c^2$ holds for a "
    "right triangle, substituting $a = 3$ and $b = 4$ yields $c = 5$. Next we consider the ratio "
    "$\\frac{a}{c}$ and simplify step by step:\n\n$$\\frac{3}{5} \\cdot \\frac{10}{2} = 3$$\n\n"
)
OPTS = ["A bicycle", "A motorcycle", "A scooter", "A skateboard"]
CITIES = ["London", "Paris", "Rome", "Madrid"]
TEN = ["2", "4", "6", "8", "10", "12", "14", "16", "18", "20"]

MC = [
    Case("mc-boxed", STEPS + "Comparing the options, the answer is \\boxed{C}.", "C", C, list("ABCD"), extracted="C"),
    Case("mc-boxed-wrong", STEPS + "Therefore \\boxed{B}", "C", I, list("ABCD")),
    Case("mc-boxed-text", PLAIN + "\\boxed{\\text{E}}", "E", C, list("ABCDE"), extracted="E"),
    Case("mc-boxed-label-text", PLAIN + "So: \\boxed{E: a risk score built from many variants}", "E", C,
         ["a", "b", "c", "d", "a risk score built from many variants"]),
    Case("mc-paren", PLAIN + "**Answer:** (B)", "B", C, OPTS),
    Case("mc-paren-lower", PLAIN + "Answer: (b)", "B", C, OPTS),
    Case("mc-letter-dot", PLAIN + "Final answer: B.", "B", C, OPTS),
    Case("mc-letter-colon-text", PLAIN + "The correct answer is B: A motorcycle", "B", C, OPTS),
    Case("mc-option-word", PLAIN + "Therefore, the correct option is option D.", "D", C, OPTS),
    Case("mc-text-only", PLAIN + "The answer is a motorcycle.", "B", C, OPTS, extracted="a motorcycle"),
    Case("mc-text-only-wrong", PLAIN + "The answer is a scooter.", "B", I, OPTS),
    Case("mc-gt-as-text", PLAIN + "Final Answer: (B)", "A motorcycle", C, OPTS),
    Case("mc-gt-as-text-wrong", PLAIN + "Final Answer: (C)", "A motorcycle", I, OPTS),
    Case("mc-labeled-choices", STEPS + "The answer is C.", "Rome", C, ["A. London", "B. Paris", "C. Rome", "D. Madrid"]),
    Case("mc-city-text", STEPS + "The landmark is the Colosseum, so the answer is **Rome**.", "C", C, CITIES),
    Case("mc-city-fuzzy", STEPS + "Answer: Pariss", "B", C, CITIES),
    Case("mc-hedge-or", PLAIN + "The answer is A or C, I cannot tell which.", "A", I, OPTS),
    Case("mc-hedge-two-parens", PLAIN + "Answer: (A) and (C)", "A", I, OPTS),
    Case("mc-contradiction", STEPS + "Answer: C. Paris", "B", I, CITIES),
    Case("mc-distractor-after", PLAIN + "The answer is B. Note that A is a common distractor.", "B", C, list("ABCD"), extracted="B"),
    Case("mc-uppercase-cue", PLAIN + "ANSWER IS D. A is wrong.", "D", C, list("ABCD")),
    Case("mc-pronoun-i", "I think the picture shows 14 dots. I counted twice.\n\nThe answer is G. I am confident.", "G", C, TEN),
    Case("mc-pronoun-i-only", "Hmm, I am not sure what I see here, I would need a clearer image.", "I", N, TEN),
    Case("mc-option-i-explicit", STEPS + "Answer: (I)", "I", C, TEN),
    Case("mc-article-a", PLAIN + "The answer is A bicycle.", "A", C, OPTS),
    Case("mc-article-a-wrong", PLAIN + "Final answer: a scooter", "A", I, OPTS),
    Case("mc-no-answer", PLAIN + "Both the bicycle and the scooter have two wheels, so it is hard to decide.", "A", N, OPTS),
    Case("mc-refusal", "I'm sorry, but I can't determine which vehicle is shown from this image.", "A", N, OPTS),
    Case("mc-last-box-wins", STEPS + "At first I thought \\boxed{A}, but re-reading the legend gives \\boxed{D}.", "D", C, list("ABCD")),
    Case("mc-truncated-box", STEPS + "Answer: B\n\nTo confirm, the final choice is \\boxed{C", "B", C, list("ABCD")),
    Case("mc-out-of-range", STEPS + "The answer is E.", "D", I, list("ABCD")),
    Case("mc-numeric-options", STEPS + "The answer is 1000.", "A", I, ["100", "200", "300", "400"]),
    Case("mc-numeric-option-value", STEPS + "The answer is 200.", "B", C, ["100", "200", "300", "400"]),
    Case("mc-none-of-above", STEPS + "The answer is none of the above.", "A", I, OPTS),
    Case("mc-chinese", "根据图像中的信息，我们可以得出结论。答案是 C", "C", C, list("ABCD")),
    Case("mc-markdown-bold", PLAIN + "### Final Answer\n**(D) A skateboard**", "D", C, OPTS),
    Case("mc-no-choices-letter", STEPS + "Answer: (C)", "C", C),
    Case("mc-no-choices-wrong", STEPS + "Answer: (A)", "C", I),
    Case("mc-answer-newline", PLAIN + "**Answer:**\n\nB", "B", C, OPTS),
    Case("mc-latex-inline", STEPS + "The correct choice is $\\text{(C)}$.", "C", C, list("ABCD")),
    Case("mc-roman-options", STEPS + "Answer: II only", "B", C, ["I only", "II only", "I and II", "neither"]),
    Case("mc-vitamin", STEPS + "The answer is Vitamin C.", "B", C, ["Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K"]),
    Case("mc-likely", PLAIN + "The answer is likely B", "B", C, list("ABCD")),
    Case("mc-neither", PLAIN + "The answer is neither A nor B.", "A", I, list("ABCD")),
    Case("mc-not-a", PLAIN + "The answer is B, not A.", "B", C, list("ABCD")),
    Case("mc-paren-not", PLAIN + "Answer: (B), not (A)", "B", C, list("ABCD")),
    Case("mc-not-text", PLAIN + "Final answer: not a scooter but a bicycle", "A", C, OPTS),
    Case("mc-letter-options-negated", PLAIN + "Answer: A, not B", "B", I, list("ABCD")),
    Case("mc-multi-gold", STEPS + "Answer: A, C", "A, C", C, list("ABCD")),
    Case("mc-multi-gold-partial", STEPS + "Answer: A", "A, C", I, list("ABCD")),
]

NUMBER = [
    Case("num-boxed", MATH + "So the total is \\boxed{42}.", "42", C, extracted="42"),
    Case("num-boxed-wrong", MATH + "So the total is \\boxed{41}.", "42", I),
    Case("num-thousands", STEPS + "Final answer: 1,234", "1234", C),
    Case("num-thousands-gt", STEPS + "The answer is 1234.", "1,234", C),
    Case("num-currency", STEPS + "The total cost is **Answer: $1,250.00**", "1250", C),
    Case("num-currency-latex", MATH + "\\boxed{\\$12.50}", "12.5", C),
    Case("num-units", STEPS + "The answer is 12 cm.", "12", C),
    Case("num-units-box", MATH + "\\boxed{12\\text{ cm}^2}", "12", C),
    Case("num-percent-bare", STEPS + "The answer is 28.", "28%", C),
    Case("num-percent-both", STEPS + "The answer is 28%.", "28%", C),
    Case("num-percent-fraction", STEPS + "The answer is 0.28.", "28%", C),
    Case("num-percent-word", STEPS + "The answer is 28 percent.", "28\\%", C),
    Case("num-not-percent", STEPS + "The answer is 0.28.", "28", I),
    Case("num-fraction", MATH + "Final answer: $\\frac{3}{4}$", "0.75", C),
    Case("num-fraction-slash", MATH + "The answer is 3/4.", "\\frac{3}{4}", C),
    Case("num-fraction-wrong", MATH + "The answer is 2/3.", "0.75", I),
    Case("num-rounded-ok", MATH + "The answer is 3.1416.", "3.14159", C),
    Case("num-rounded-too-far", MATH + "The answer is 3.2.", "3.14159", I),
    Case("num-int-exact", STEPS + "Answer: 1501", "1500", I),
    Case("num-int-exact-ok", STEPS + "Answer: 1500.0", "1500", C),
    Case("num-tiny-relative", MATH + "\\boxed{3\\times 10^{-9}}", "4e-9", I),
    Case("num-tiny-relative-ok", MATH + "\\boxed{4.0 \\times 10^{-9}}", "4e-9", C),
    Case("num-zero", MATH + "\\boxed{0}", "0", C),
    Case("num-zero-not-small", MATH + "\\boxed{0.0001}", "0", I),
    Case("num-negative", MATH + "Thus $x = -7$, so the answer is $-7$.", "-7", C),
    Case("num-negative-wrong", MATH + "Thus the answer is 7.", "-7", I),
    Case("num-words", PLAIN + "Answer: twelve", "12", C),
    Case("num-x-equals", MATH + "Final answer: $x = 5$", "5", C),
    Case("num-degrees", MATH + "The angle is \\boxed{45^\\circ}.", "45", C),
    Case("num-approx", STEPS + "The answer is approximately 3.14.", "3.14", C),
    Case("num-hedge", STEPS + "The answer is 12 or 13.", "12", I),
    Case("num-range", STEPS + "The answer is between 10 and 20.", "15", I),
    Case("num-million", STEPS + "The answer is 1.2 million.", "1200000", C),
    Case("num-million-unit", STEPS + "The answer is 1.2 million.", "1.2", C),
    Case("num-sci", MATH + "\\boxed{3 \\times 10^{8}}", "300000000", C),
    Case("num-paren-remark", STEPS + "The answer is 12 (since 3 * 4 = 12).", "12", C),
    Case("num-sqrt-expr", MATH + "\\boxed{\\sqrt{144}}", "12", C),
    Case("num-text-answer", STEPS + "The answer is many.", "12", I),
    Case("num-boxed-after-text", MATH + "Answer: 7\n\nDouble-checking: \\boxed{8}", "8", C),
    Case("num-self-correction", MATH + "So the total is \\boxed{12}.\n\nWait, I double counted the corner. "
         "Removing it gives 11.\n\n**Final Answer:** 11", "11", C, extracted="11"),
    Case("num-box-then-summary", MATH + "So the total is \\boxed{12}.\n\nFinal answer: as computed above", "12", C),
    Case("num-weak-off", MATH + "Therefore the result is 8.", "8", N),
    Case("num-weak-on", MATH + "Therefore the result is 8.", "8", C, weak=True, extracted="8"),
    Case("num-weak-wrong", MATH + "Therefore the result is 9.", "8", I, weak=True),
    Case("num-minerva", MATH + "Final Answer: The final answer is $16$. I hope it is correct.", "16", C, extracted="16"),
    Case("num-custom-tol", STEPS + "The answer is 104.", "100.0", C, type="number", kwargs={"rel_tol": 0.05}),
    Case("num-custom-tol-off", STEPS + "The answer is 104.", "100.0", I, type="number"),
]

MATH_CASES = [
    Case("math-frac-sqrt", MATH + "Hence \\boxed{\\frac{\\sqrt{2}}{2}}.", "\\frac{1}{\\sqrt{2}}", C, extracted="\\frac{\\sqrt{2}}{2}"),
    Case("math-frac-nested", MATH + "Hence \\boxed{\\frac{1}{3}}.", "\\frac{1}{3}", C, extracted="\\frac{1}{3}"),
    Case("math-poly", MATH + "Expanding, we get \\boxed{x^2+2x+1}", "(x+1)^2", C),
    Case("math-poly-wrong", MATH + "Expanding, we get \\boxed{x^2+x+1}", "(x+1)^2", I),
    Case("math-symbolic-half", MATH + "The slope is \\boxed{0.5x}", "\\frac{x}{2}", C),
    Case("math-set", MATH + "The solutions are \\boxed{\\{2, 1\\}}", "\\{1,2\\}", C),
    Case("math-set-wrong", MATH + "The solutions are \\boxed{\\{1, 3\\}}", "\\{1,2\\}", I),
    Case("math-interval", MATH + "So $x$ lies in \\boxed{(1, 2]}", "(1,2]", C),
    Case("math-interval-open", MATH + "So $x$ lies in \\boxed{(1, 2)}", "(1,2]", I),
    Case("math-equation", MATH + "The line is \\boxed{y = 1 + 2x}", "y=2x+1", C),
    Case("math-assignment", MATH + "Solving gives \\boxed{x = 3}", "3", C),
    Case("math-pi", MATH + "The area is \\boxed{\\frac{\\pi}{4}}", "\\pi/4", C),
    Case("math-pi-wrong", MATH + "The area is \\boxed{\\frac{\\pi}{2}}", "\\pi/4", I),
    Case("math-sqrt12", MATH + "\\boxed{\\sqrt{12}}", "2\\sqrt{3}", C),
    Case("math-dfrac", MATH + "Final answer: $\\dfrac{5}{6}$", "\\frac{5}{6}", C),
    Case("math-tuple", MATH + "The point is \\boxed{(2, -1)}", "(2,-1)", C),
    Case("math-tuple-wrong", MATH + "The point is \\boxed{(-1, 2)}", "(2,-1)", I),
    Case("math-text-box", MATH + "\\boxed{\\text{13}}", "13", C),
    Case("math-inf-interval", MATH + "\\boxed{(-\\infty, 3)}", "(-\\infty,3)", C),
    Case("math-expr-as-text", MATH + "The answer is x^2 - 1.", "(x-1)(x+1)", C),
    Case("math-not-expr", MATH + "The answer is undefined.", "\\frac{1}{2}", I),
    Case("math-latex-spaces", MATH + "\\boxed{\\left( \\frac{1}{2} \\right)}", "\\frac{1}{2}", C),
    Case("math-fraction-type", MATH + "\\boxed{\\frac{2}{3}}", "2/3", C, type="math"),
    Case("math-decimal-type", MATH + "\\boxed{0.66}", "2/3", I, type="math"),
    Case("math-weak-frac", "Dividing both sides gives \\frac{2}{3}.", "2/3", C, weak=True, extracted="\\frac{2}{3}"),
]

YES_NO = [
    Case("yn-yes", PLAIN + "**Answer:** Yes", "yes", C),
    Case("yn-yes-sentence", PLAIN + "Answer: Yes, the cat is sitting on the mat.", "yes", C),
    Case("yn-no", PLAIN + "Final answer: No.", "yes", I),
    Case("yn-no-correct", PLAIN + "The answer is no.", "No", C),
    Case("yn-boxed", PLAIN + "\\boxed{\\text{No}}", "no", C),
    Case("yn-true", PLAIN + "Answer: True", "yes", C),
    Case("yn-neither", PLAIN + "Answer: maybe", "yes", I),
    Case("yn-no-answer", PLAIN + "The cat might be on the mat, but the image is blurry.", "yes", N),
    Case("yn-weak", PLAIN + "Yes, the cat is on the mat.", "yes", C, weak=True),
    Case("yn-definitely", PLAIN + "The answer is definitely yes.", "yes", C),
    Case("yn-not-substring", PLAIN + "Answer: Not really, there is nothing there.", "no", I),
    Case("yn-markdown", PLAIN + "## Final Answer\n\n**No**", "no", C),
    Case("yn-uppercase", PLAIN + "ANSWER: YES", "Yes", C),
    Case("yn-chinese-box", "从图中可以看到，猫在垫子上。\\boxed{yes}", "yes", C),
    Case("yn-hedge", PLAIN + "Answer: yes or no, hard to say", "yes", I),
    Case("yn-false", PLAIN + "Answer: False", "no", C),
]

SHORT = [
    Case("st-exact", PLAIN + "Answer: red", "red", C),
    Case("st-case-punct", PLAIN + "**Answer:** Red.", "red", C),
    Case("st-article", PLAIN + "The answer is the dog.", "dog", C),
    Case("st-number-word", PLAIN + "Answer: two", "2", C),
    Case("st-number-digit", PLAIN + "Answer: 2", "two", C),
    Case("st-sentence", PLAIN + "**Final Answer:** The bus is red.", "red", C),
    Case("st-sentence-negated", PLAIN + "Final answer: The bus is not red.", "red", I),
    Case("st-dark-red", PLAIN + "Answer: dark red", "red", I),
    Case("st-wrong", PLAIN + "Answer: blue", "red", I),
    Case("st-abbrev", PLAIN + "The answer is St. Louis.", "st louis", C),
    Case("st-initial", PLAIN + "The answer is John F. Kennedy.", "John F. Kennedy", C),
    Case("st-because", PLAIN + "The answer is Paris because the Eiffel Tower is visible.", "paris", C),
    Case("st-contraction", PLAIN + "Answer: dont know", "don't know", C),
    Case("st-no-answer", PLAIN + "The sign is partly hidden by a tree.", "stop", N),
    Case("st-refusal", "I'm sorry, I can't help with identifying people in images.", "barack obama", N),
    Case("st-boxed-text", PLAIN + "\\boxed{\\text{Golden Retriever}}", "golden retriever", C),
]

ANLS = [
    Case("anls-exact", STEPS + "Answer: ITC Limited", "ITC Limited", C, type="anls"),
    Case("anls-ocr-typo", STEPS + "Answer: ITC Limted", "ITC Limited", C, type="anls"),
    Case("anls-case", STEPS + "Answer: itc limited", "ITC Limited", C, type="anls"),
    Case("anls-far", STEPS + "Answer: Tobacco Institute", "ITC Limited", I, type="anls"),
    Case("anls-date-digit", STEPS + "Answer: 12/06/1998", "12/05/1998", I, type="anls"),
    Case("anls-date-ok", STEPS + "The answer is 12/05/1998.", "12/05/1998", C, type="anls"),
    Case("anls-amount", STEPS + "Answer: $ 1,200", "$ 1200", C, type="anls"),
    Case("anls-year", STEPS + "Answer: 1996", "1995", I, type="anls"),
    Case("anls-no-answer", STEPS + "The document is too blurry to read.", "ITC Limited", N, type="anls"),
    Case("anls-half", STEPS + "Answer: ITC", "ITC Limited", I, type="anls"),
]

RELAXED = [
    Case("rel-exact", STEPS + "Answer: 42", "42", C, type="relaxed"),
    Case("rel-within", STEPS + "Answer: 41", "42", C, type="relaxed"),
    Case("rel-outside", STEPS + "Answer: 39", "42", I, type="relaxed"),
    Case("rel-percent", STEPS + "Answer: 27%", "28", C, type="relaxed"),
    Case("rel-decimal", STEPS + "Final answer: 0.52", "0.5", C, type="relaxed"),
    Case("rel-zero", STEPS + "Final answer: 0.01", "0", I, type="relaxed"),
    Case("rel-text", STEPS + "Answer: Germany", "germany", C, type="relaxed"),
    Case("rel-text-wrong", STEPS + "Answer: France", "germany", I, type="relaxed"),
    Case("rel-boxed-units", STEPS + "\\boxed{14.5\\%}", "14.2", C, type="relaxed"),
    Case("rel-weak", STEPS + "The bar for 2020 reaches about 55.", "56", C, type="relaxed", weak=True),
]

NO_ANSWER = [
    Case("na-empty", "", "42", N),
    Case("na-spaces", "   \n\n  ", "42", N),
    Case("na-empty-box", "Please put your final answer in \\boxed{}. Let me think... the image is unclear.", "42", N),
    Case("na-cut-off", MATH + "Continuing the computation we obtain \\boxed{\\frac{12", "12", N),
    Case("na-refusal-math", "I cannot solve this problem because the figure is missing.", "\\frac{1}{2}", N),
    Case("na-question-echo", STEPS + "What is the answer? Let me reconsider the figure once more.", "7", N),
    Case("na-repetition", "The the the the the the the the the the the the", "cat", N),
    Case("na-answer-word-only", PLAIN + "To answer this question, we need more context.", "cat", N),
]

CASES: list[Case] = MC + NUMBER + MATH_CASES + YES_NO + SHORT + ANLS + RELAXED + NO_ANSWER
