"""Compose tests/data/answer_corpus.jsonl: hand-labelled long free-form solutions.

Run ``python tests/data/make_answer_corpus.py`` (deterministic) and commit the
JSONL. Each case holds ``id``, ``class``, ``question``, ``ground_truth``,
``response``, ``label`` (``correct``/``incorrect``: the final answer only, as a
human grader reads it), optional ``choices``, and ``depends`` when a correct
case needs verifier work of issue 13 (``sets``: set/tuple comparison,
``ground_truth``: wordy ground-truth normalisation).

Labels are fixed by construction, one rule per class: a response is correct
when it commits to one final answer equal to the ground truth; a hedge between
values, several candidate values, a cut-off or looping response, or a
restatement without a result is incorrect. Problems and their reasoning are in
corpus_problems.py and corpus_extra.py; corpus_handwritten.py holds whole responses
written by hand in the styles of several chat models.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_extra import MULTIPLE_CHOICE, PROBES, SETS, WORDY  # noqa: E402
from corpus_handwritten import HANDWRITTEN  # noqa: E402
from corpus_problems import NUMERIC, YES_NO  # noqa: E402

OUT = Path(__file__).resolve().parent / "answer_corpus.jsonl"
C, I = "correct", "incorrect"
EXPRESSION_IDS = {"recurrence", "min-moves", "sqrt-expr", "frac-sum", "prob-heads"}

OPEN = ["Let's work through this carefully, one step at a time.", "We are asked the following. {q}",
        "To solve this problem, I'll break it into a few steps.",
        "Okay, let me restate the problem to make sure I understand it. {q}", "", "**Solution.**",
        "This is a standard exercise; the key is to set up the count (or the equation) correctly."]
PROSE = ["Therefore, {subj} is {v}.", "So {noun}.", "Hence, {subj} equals {v}.", "In conclusion, {noun}.",
         "Thus {noun}, which completes the solution.", "We conclude that {subj} is {v}.", "Consequently, {noun}.",
         "All in all, {noun}. This matches the quick estimate above."]
LATEX = ["Putting everything together,\n\n$$ {var} = {calc} = {raw} $$\n\nSo {subj} is ${raw}$.",
         "Therefore,\n$$\n{var} = {raw}.\n$$", "Thus, we obtain ${var} = {calc} = {raw}$.",
         "So {subj} is \\(\\displaystyle {raw}\\)."]
HEDGE = ["So {subj} is either {v} or {w}, depending on how the condition is read; I'm not sure which reading is intended.",
         "Therefore, {subj} is probably {v}, but it could also be {w} if I misread the condition.",
         "I'm not completely sure, but I think {subj} is {v} or maybe {w}."]
SINGLE_HEDGE = ["Therefore, {subj} is probably {v}, although I have not double-checked every step."]
SEVERAL = ["We therefore have two candidates, {v} and {w}, and both seem consistent with the conditions.",
           "Hence {subj} is {w} or {v}."]
SELF_FIX = "So {subj} is {a}. Wait, I made a slip in the last step; redoing it carefully changes the result. Therefore, {subj} is {b}."
LOOP = "Let me double-check this. {step} "
LATE = ("So {subj} is {a}. However, I have not used every condition of the problem yet. Taking the last condition "
        "into account, I redo the final step, and {subj} comes out as {b}.")


def _raw(v: str) -> str:
    return v[1:-1] if v.startswith("$") and v.endswith("$") else v


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


PLAN = ["First I'll identify what is being asked, then set up the relevant quantities, and finally compute the "
        "result and check it.",
        "The idea is to translate the words into a small computation and to be careful with the edge cases.",
        "I'll organise the solution in steps and verify each intermediate quantity as I go.", ""]
CHECK = ["Before concluding, let me double-check the arithmetic: each step above follows from the previous one, and "
         "nothing has been counted twice.",
         "A quick sanity check: the size of the result is reasonable given the quantities in the problem.",
         "I re-read the question to make sure I am answering what is asked and not an intermediate quantity.", "", ""]
HEADERS = ["**Step {k}.** ", "### Step {k}\n", "", "", "{k}. "]


def _body(rng: random.Random, p: dict, steps: list[str] | None = None) -> str:
    """Opening, plan, the problem's reasoning steps (with a header style) and a check paragraph."""
    opening, plan, header = rng.choice(OPEN).format(q=p["q"]), rng.choice(PLAN), rng.choice(HEADERS)
    steps = [header.format(k=k) + st for k, st in enumerate(steps if steps is not None else p["steps"], 1)]
    check = rng.choice(CHECK) if len(steps) > 1 else ""
    return "\n\n".join(x for x in [opening, plan, *steps, check] if x)


def _case(cases: list, p: dict, cls: str, response: str, label: str, **extra) -> None:
    n = sum(1 for c in cases if c["id"].startswith(p["id"] + "/"))
    row = {"id": "%s/%d" % (p["id"], n), "class": cls, "question": p["q"], "ground_truth": p["gold"],
           "response": response, "label": label}
    row.update({k: v for k, v in extra.items() if v is not None})
    cases.append(row)


def _numeric_extra(rng, p, kind, fill, cases):
    """One case of a rotating class for a numeric problem."""
    body, v, w = _body(rng, p), fill["v"], fill["w"]
    if kind == "hedge":
        _case(cases, p, "hedge", body + "\n\n" + rng.choice(HEDGE).format(**fill), I)
    elif kind == "several":
        _case(cases, p, "several_candidates", body + "\n\n" + rng.choice(SEVERAL).format(**fill), I)
    elif kind == "selfcorr-ok":
        _case(cases, p, "self_correction", body + "\n\n" + SELF_FIX.format(subj=fill["subj"], a=w, b=v), C)
    elif kind == "selfcorr-bad":
        _case(cases, p, "self_correction", body + "\n\n" + SELF_FIX.format(subj=fill["subj"], a=v, b=w), I)
    elif kind == "truncated":
        cut = rng.choice([
            body + "\n\nTherefore, %s is %s" % (fill["subj"], _raw(v)[:-1] or "the"),
            _body(rng, p, p["steps"][:1]) + "\n\nNext, we compute the remaining",
            body + "\n\nPutting everything together,\n\n$$ %s = \\frac{" % p["var"]])
        _case(cases, p, "truncated", cut, I)
    elif kind == "looping":
        loop = body + "\n\n" + LOOP.format(step=p["steps"][-1]) * 16 + "Let me double-check this. So"
        _case(cases, p, "looping", loop, I)
    elif kind == "explicit-ok":
        _case(cases, p, "explicit_answer", body + "\n\n**Final Answer:** $\\boxed{%s}$" % _raw(v), C)
    elif kind == "explicit-bad":
        _case(cases, p, "explicit_answer", body + "\n\nThe answer is %s." % w, I)
    elif kind == "answer-sentence":
        _case(cases, p, "answer_sentence", body + "\n\n" + _cap(fill["noun"]) + ".", C)
    elif kind == "restated-only":
        nums = " and ".join(sorted(set(__import__("re").findall(r"\d+", p["q"])))[:3]) or "the given data"
        text = body + "\n\nSo, to finish, we still have to combine these pieces for the values %s given in the problem." % nums
        _case(cases, p, "restated_question", text, I)
    elif kind == "single-hedge":
        _case(cases, p, "hedge", body + "\n\n" + SINGLE_HEDGE[0].format(**fill), C)


ROTATION = ["hedge", "several", "selfcorr-ok", "truncated", "looping", "explicit-ok", "answer-sentence",
            "selfcorr-bad", "restated-only", "explicit-bad", "hedge", "truncated", "looping", "answer-sentence"]


def numeric_cases(cases: list) -> None:
    for i, p in enumerate(NUMERIC):
        rng = random.Random("num/" + p["id"])
        v, w = p["v"], p["wrong"]
        fill = dict(subj=p["subj"], v=v, w=w, noun=p["noun"].replace("{v}", v))
        bad = dict(fill, v=w, noun=p["noun"].replace("{v}", w))
        cls = "expression_answer" if p["id"] in EXPRESSION_IDS else "prose_conclusion"
        _case(cases, p, cls, _body(rng, p) + "\n\n" + PROSE[i % len(PROSE)].format(**fill), C)
        _case(cases, p, cls, _body(rng, p) + "\n\n" + PROSE[(i + 3) % len(PROSE)].format(**bad), I)
        latex = LATEX[i % len(LATEX)].format(var=p["var"], calc=p["calc"], raw=_raw(v), subj=p["subj"])
        _case(cases, p, "latex_prose", _body(rng, p) + "\n\n" + latex, C)
        if i % 2:
            text = _body(rng, p) + "\n\nTherefore, %s." % p["restate"].replace("{v}", v)
        else:
            text = (_body(rng, p) + "\n\nSo %s. This is the result for exactly the situation described in the question, "
                    "with the numbers %s." % (fill["noun"], ", ".join(__import__("re").findall(r"\d+", p["q"])[:2]) or "given"))
        _case(cases, p, "restated_question", text, C)
        for kind in (ROTATION[i % len(ROTATION)], ROTATION[(i + 5) % len(ROTATION)]):
            _numeric_extra(rng, p, kind, fill, cases)
    for j, p in enumerate(NUMERIC[::3]):
        rng = random.Random("late/" + p["id"])
        a, b, label = (p["wrong"], p["v"], C) if j % 2 else (p["v"], p["wrong"], I)
        _case(cases, p, "self_correction", _body(rng, p) + "\n\n" + LATE.format(subj=p["subj"], a=a, b=b), label)
    for p in NUMERIC[:2]:
        rng = random.Random("single-hedge/" + p["id"])
        _numeric_extra(rng, p, "single-hedge", dict(subj=p["subj"], v=p["v"], w=p["wrong"], noun=""), cases)


def yes_no_cases(cases: list) -> None:
    for i, p in enumerate(YES_NO):
        rng = random.Random("yn/" + p["id"])
        gold, other = p["gold"], "no" if p["gold"] == "yes" else "yes"
        right, wrong = p[gold], p[other]
        _case(cases, p, "yes_no_claim", _body(rng, p) + "\n\nTherefore, %s." % right, C)
        _case(cases, p, "yes_no_claim", _body(rng, p) + "\n\nSo %s." % wrong, I)
        _case(cases, p, "explicit_answer", _body(rng, p) + "\n\n**Answer:** %s, %s." % (_cap(gold), right), C)
        _case(cases, p, "yes_no_claim", _body(rng, p) + "\n\nFinal answer: %s." % _cap(right), C)
        hedge = rng.choice(["So it is hard to say whether %s; it might go either way." % right,
                            "Maybe %s, but I am not sure." % right])
        _case(cases, p, "hedge", _body(rng, p) + "\n\n" + hedge, I)
        tail = rng.choice(["It therefore follows that %s." % right, "In conclusion, %s." % right,
                           "Hence %s, as claimed." % right])
        _case(cases, p, "yes_no_claim", _body(rng, p) + "\n\n" + tail, C)
        if i % 3 == 0:
            _case(cases, p, "yes_no_claim", _body(rng, p) + "\n\nThus %s." % wrong, I)


def listed_cases(cases: list, problems: list[dict], cls: str) -> None:
    for p in problems:
        rng = random.Random("%s/%s" % (cls, p["id"]))
        for text, ok, dep in p["concl"]:
            _case(cases, p, cls, _body(rng, p) + "\n\n" + text, C if ok else I,
                  choices=p.get("choices"), depends=dep if ok else None)


PROBE_CLASS = {"probe-unfinished": "self_correction", "probe-negated": "negated_or_bounded",
               "probe-bounds": "negated_or_bounded", "probe-other-number": "yes_no_claim"}


def probe_cases(cases: list) -> None:
    for p in PROBES:
        rng = random.Random("probe/" + p["id"])
        for text, ok in p["concl"]:
            _case(cases, p, PROBE_CLASS.get(p["id"], "several_candidates"), _body(rng, p) + "\n\n" + text, C if ok else I)


def build() -> list[dict]:
    cases: list[dict] = []
    numeric_cases(cases)
    yes_no_cases(cases)
    listed_cases(cases, SETS, "set_answer")
    listed_cases(cases, WORDY, "wordy_ground_truth")
    listed_cases(cases, MULTIPLE_CHOICE, "multiple_choice")
    probe_cases(cases)
    for h in HANDWRITTEN:
        row = {"id": h["id"], "class": h["cls"], "question": h["q"], "ground_truth": h["gold"],
               "response": h["response"], "label": h["label"]}
        row.update({k: h[k] for k in ("choices", "depends") if k in h})
        cases.append(row)
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    return cases


def main() -> None:
    cases = build()
    OUT.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    print("wrote %d cases to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
