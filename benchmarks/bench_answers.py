"""Throughput of ``check_answer`` on one core, for a realistic mix of responses.

Prints responses checked per second for:

1. the non-LaTeX path (multiple choice, numbers, yes/no, short text, ANLS,
   relaxed; no Math-Verify call), goal >= 5,000/s;
2. the LaTeX path with all-distinct (gold, answer) pairs (every check goes to
   the Math-Verify worker process);
3. the LaTeX path as sampled in MMPR (32 responses per item, answers repeat, so
   the per-process cache serves most checks).

Then, per extraction mode (strict, weak, reading), on the hand-labelled corpus
``tests/data/answer_corpus.jsonl`` (long free-form solutions; see
``tests/data/make_answer_corpus.py``): agreement with the human labels (a
``no_answer``/``unverifiable`` verdict counts as "incorrect"), precision of the
"correct" verdicts, responses/s of ``check_answer`` (second pass, Math-Verify
cache warm) and of extraction alone. Cases marked ``depends`` need verifier
work from another branch and are reported apart.

Responses are long chains of thought (~0.6-1.5 kB) with markdown, LaTeX,
restated options and several candidate answers, generated with a fixed seed.

Usage: ``python benchmarks/bench_answers.py [--n 20000] [--latex-n 300] [--corpus-only]``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from mmpr_builder.labelers import check_answer
from mmpr_builder.labelers.extract import EXTRACTION_MODES, extract_answer
from mmpr_builder.labelers.mathworker import get_worker

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "answer_corpus.jsonl"

REASONING = [
    "Let me look at the image carefully. The chart has a title at the top and a legend on the right.",
    "**Step 1.** Identify the relevant region of the figure; the x-axis shows years from 2015 to 2022.",
    "**Step 2.** Read the values: the blue bar is slightly taller than the orange one in 2019.",
    "We have $a^2 + b^2 = c^2$, so with $a = 3$ and $b = 4$ we get $c = 5$ for the hypotenuse.",
    "To answer the question, I need to compare the options one by one and rule out the distractors.",
    "Option (A) can be excluded because the object is clearly not red; option (B) is also unlikely.",
    "The sign in the background reads 'Main St.' and there are 3 cars parked along the road.",
    "Hmm, wait. Let me re-check the second row of the table, since 1,250 and 1,520 look similar.",
]
OPTIONS = ["A bicycle", "A motorcycle", "A scooter", "A skateboard"]


def _cot(rng: random.Random) -> str:
    return "\n\n".join(rng.sample(REASONING, k=rng.randint(4, 8)))


def non_latex_items(rng: random.Random, n: int) -> list[tuple]:
    """(response, ground_truth, choices, answer_type) for the plain path."""
    items = []
    for i in range(n):
        k = i % 10
        body = _cot(rng)
        if k < 4:  # multiple choice
            letter = rng.choice("ABCD")
            form = rng.choice(["Answer: %s", "The answer is (%s).", "\\boxed{%s}", "**Final Answer:** %s", "the correct option is option %s"])
            items.append((body + "\n\n" + form % letter, rng.choice("ABCD"), OPTIONS, "auto"))
        elif k < 6:  # numbers
            v = rng.randint(1, 5000)
            form = rng.choice(["The answer is %s.", "\\boxed{%s}", "Final answer: $%s$", "Answer: %s cm"])
            shown = rng.choice([str(v), "{:,}".format(v), str(v + rng.choice([0, 1]))])
            items.append((body + "\n\n" + form % shown, str(v), None, "auto"))
        elif k == 6:  # yes/no
            items.append((body + "\n\nAnswer: " + rng.choice(["Yes.", "No.", "Yes, it is.", "no"]), rng.choice(["yes", "no"]), None, "auto"))
        elif k == 7:  # short text
            items.append((body + "\n\nThe answer is " + rng.choice(["red", "the dog", "Paris", "a bus"]) + ".", rng.choice(["red", "dog"]), None, "auto"))
        elif k == 8:  # document text
            items.append((body + "\n\nAnswer: " + rng.choice(["ITC Limited", "ITC Limted", "Tobacco Inst."]), "ITC Limited", None, "anls"))
        else:  # chart value
            items.append((body + "\n\nFinal answer: " + str(round(rng.uniform(10, 60), 1)), "42", None, "relaxed"))
    return items


def latex_items(rng: random.Random, n: int, distinct: bool) -> list[tuple]:
    """Math answers that need Math-Verify; ``distinct`` makes every pair unique."""
    items = []
    for i in range(n):
        a, b = (rng.randint(2, 97), rng.randint(2, 13)) if distinct else (rng.randint(2, 4), 3)
        templates = [
            ("\\boxed{\\frac{%d\\sqrt{%d}}{2}}" % (a, b), "\\frac{%d}{2}\\sqrt{%d}" % (a, b)),
            ("\\boxed{x^2 + %dx + %d}" % (2 * a, a * a), "(x+%d)^2" % a),
            ("\\boxed{(%d, %d]}" % (a, a + b), "(%d,%d]" % (a, a + b)),
            ("\\boxed{y = %dx + %d}" % (a, b), "y=%d+%dx" % (b, a)),
        ]
        resp, gold = templates[i % len(templates)]
        items.append((_cot(rng) + "\n\nThus " + resp, gold, None, "math"))
    return items


def rate(items: list[tuple]) -> tuple[float, dict]:
    counts: dict = {}
    t0 = time.perf_counter()
    for resp, gt, choices, kind in items:
        v = check_answer(resp, gt, choices, kind).verdict.value
        counts[v] = counts.get(v, 0) + 1
    return len(items) / (time.perf_counter() - t0), counts


def corpus_scores(cases: list[dict], mode: str) -> dict:
    """Agreement, precision of "correct" and throughput of one extraction mode on the corpus."""
    def run() -> list[bool]:
        return [check_answer(c["response"], c["ground_truth"], c.get("choices"), extraction=mode,
                             question=c["question"]).verdict.value == "correct" for c in cases]

    run()  # warm the Math-Verify cache (answers repeat in a build)
    t0 = time.perf_counter()
    said = run()
    rate = len(cases) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for c in cases:
        extract_answer(c["response"], mode=mode, question=c["question"], numeric=True)
    extract_rate = len(cases) / (time.perf_counter() - t0)
    truth = [c["label"] == "correct" for c in cases]
    agree = sum(s == t for s, t in zip(said, truth))
    true_pos = sum(s and t for s, t in zip(said, truth))
    return {"n": len(cases), "agreement": agree / len(cases), "said_correct": sum(said),
            "precision": true_pos / sum(said) if sum(said) else 1.0, "false_correct": sum(said) - true_pos,
            "rate": rate, "extract_rate": extract_rate}


def print_corpus_table(path: Path = CORPUS) -> None:
    """Print agreement / precision / responses/s per extraction mode on the labelled corpus."""
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups = [("all", cases), ("no depends", [c for c in cases if not c.get("depends")])]
    print("\ncorpus %s: %d cases (%d correct), %d need verifier work from another branch (depends)"
          % (path.name, len(cases), sum(c["label"] == "correct" for c in cases), sum(bool(c.get("depends")) for c in cases)))
    print("%-8s %-11s %5s %10s %10s %6s %12s %12s" % ("mode", "cases", "n", "agreement", "precision", "false+",
                                                      "checks/s", "extracts/s"))
    for mode in EXTRACTION_MODES:
        for name, group in groups:
            r = corpus_scores(group, mode)
            print("%-8s %-11s %5d %9.1f%% %9.2f%% %6d %12.0f %12.0f" % (
                mode, name, r["n"], 100 * r["agreement"], 100 * r["precision"], r["false_correct"], r["rate"],
                r["extract_rate"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="non-LaTeX responses")
    ap.add_argument("--latex-n", type=int, default=300, help="LaTeX responses")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus-only", action="store_true", help="only the per-mode table on the labelled corpus")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.corpus_only:
        get_worker().check("1", "1", timeout_s=120)
        print_corpus_table()
        return

    plain = non_latex_items(rng, args.n)
    rate(plain[:200])  # warm up regex caches
    r, counts = rate(plain)
    print("non-LaTeX path : %8.0f responses/s  (n=%d, %s)  goal >= 5000/s" % (r, args.n, counts))

    get_worker().check("1", "1", timeout_s=120)  # start the Math-Verify worker outside the timing
    r, counts = rate(latex_items(rng, args.latex_n, distinct=True))
    print("LaTeX, distinct: %8.0f responses/s  (n=%d, %s)" % (r, args.latex_n, counts))
    r, counts = rate(latex_items(rng, args.latex_n * 10, distinct=False))
    print("LaTeX, repeated: %8.0f responses/s  (n=%d, answers repeat as with 32 samples/item; cached)" % (r, args.latex_n * 10))

    print_corpus_table()


if __name__ == "__main__":
    main()
