"""Correctness pairs on fixed response sets: sides, limits, seeds, format negatives, duplicates, equivalence."""

from __future__ import annotations

import random

import pytest

from mmpr_builder.config import PairingConfig
from mmpr_builder.items import Response
from mmpr_builder.labelers.answers import AnswerCheck, Verdict
from mmpr_builder.pairing import COUNT_KEYS, LabeledResponse, correctness_pairs

C, I, F, U = Verdict.CORRECT, Verdict.INCORRECT, Verdict.NO_ANSWER, Verdict.UNVERIFIABLE


def lr(text: str, verdict: Verdict, extracted: str | None = None, *, issue: str | None = None,
       finish_reason: str = "stop") -> LabeledResponse:
    if extracted is None and verdict in (C, I):
        extracted = text.rsplit(" ", 1)[-1]
    check = AnswerCheck(extracted=extracted, verdict=verdict, reason="test", method="test", answer_type="number")
    return LabeledResponse(Response(text, finish_reason, num_tokens=len(text.split())), check, issue)


def corrects(n: int, answer: str = "15") -> list[LabeledResponse]:
    return [lr(f"Reasoning path {k}. So the answer is {answer}", C) for k in range(n)]


def incorrects(n: int) -> list[LabeledResponse]:
    return [lr(f"Wrong path {k}. So the answer is {20 + k}", I) for k in range(n)]


def format_negatives(n: int) -> list[LabeledResponse]:
    return [lr(f"I cannot tell from the picture ({k}).", F) for k in range(n)]


def run(labeled, seed: int = 0, **cfg):
    return correctness_pairs(labeled, PairingConfig(**cfg), random.Random(seed))


def texts(result):
    return [(c.response.text, r.response.text) for c, r in result.pairs]


def test_all_combinations_when_under_the_limit():
    res = run(corrects(3) + incorrects(3))
    assert res.status == "paired"
    assert len(res.pairs) == 9 and len(set(texts(res))) == 9
    assert all(c.check.verdict is C and r.check.verdict is I for c, r in res.pairs)
    assert res.counts == {**dict.fromkeys(COUNT_KEYS, 0), "responses": 6, "correct": 3, "incorrect": 3, "pairs": 9}


def test_at_most_m_pairs_and_no_repeated_pair():
    res = run(corrects(8) + incorrects(8))
    assert len(res.pairs) == 15  # MMPR's default M
    assert len(set(texts(res))) == 15
    assert len(run(corrects(8) + incorrects(8), max_pairs_per_item=4).pairs) == 4


def test_same_seed_same_pairs_other_seed_other_pairs():
    labeled = corrects(8) + incorrects(8) + format_negatives(4)
    assert texts(run(labeled, seed=3)) == texts(run(labeled, seed=3))
    assert texts(run(labeled, seed=3)) != texts(run(labeled, seed=4))
    # the rng is the only source of randomness: a fresh Random with the same seed replays
    rng = random.Random(11)
    first = correctness_pairs(labeled, PairingConfig(), rng)
    assert texts(first) == texts(correctness_pairs(labeled, PairingConfig(), random.Random(11)))


@pytest.mark.parametrize("seed", range(5))
def test_format_negative_share_caps_format_negatives(seed):
    labeled = corrects(8) + incorrects(8) + format_negatives(8)
    res = run(labeled, seed, max_pairs_per_item=10, format_negative_share=0.3)
    fmt = sum(r.check.verdict is F for _, r in res.pairs)
    assert len(res.pairs) == 10 and fmt == 3 == res.counts["pairs_format_negative"]
    res = run(labeled, seed, max_pairs_per_item=10, format_negative_share=0.0)
    assert len(res.pairs) == 10 and all(r.check.verdict is I for _, r in res.pairs)


def test_format_negatives_alone():
    labeled = corrects(4) + format_negatives(4)
    res = run(labeled, max_pairs_per_item=10, format_negative_share=0.5)
    assert res.status == "paired" and len(res.pairs) == 5  # quota floor(0.5 * 10), not topped up
    assert all(r.check.verdict is F for _, r in res.pairs)
    assert len(run(labeled, max_pairs_per_item=10, format_negative_share=1.0).pairs) == 10
    res = run(labeled, format_negative_share=0.0)
    assert res.status == "no_usable_rejected" and res.pairs == []


def test_identical_texts_are_kept_once():
    same_c = "The bars are 40 and 55, so the answer is 15"
    same_r = "The bars are 40 and 50, so the answer is 10"
    labeled = [lr(same_c, C), lr(same_c + "\n", C), lr(same_c, C), lr(same_r, I), lr("  " + same_r, I)]
    res = run(labeled)
    assert res.counts["dropped_duplicate"] == 3
    assert texts(res) == [(same_c, same_r)]


def test_pairs_with_equivalent_answers_are_dropped():
    labeled = corrects(2, "15") + [lr("It rises by 15.0", I, "15.0"), lr("It rises by 12", I, "12")]
    res = run(labeled)
    assert res.counts["dropped_equivalent"] == 2  # 2 chosen x the "15.0" rejected
    assert {r.check.extracted for _, r in res.pairs} == {"12"}
    only_equivalent = corrects(2, "15") + [lr("It rises by 15.0", I, "15.0")]
    res = run(only_equivalent)
    assert res.status == "no_usable_rejected" and res.pairs == []


def test_no_substring_entailment_drop():
    # the reference's substring test drops every pair whose chosen answer is "no"
    labeled = [lr("The sign says stop, so no", C, "no"), lr("Maybe it is none", I, "none"),
               lr("Probably not sure", I, "not sure")]
    res = correctness_pairs(labeled, PairingConfig(), random.Random(0), answer_type="short_text")
    assert res.counts["dropped_equivalent"] == 0 and len(res.pairs) == 2


def test_too_easy_and_too_hard():
    res = run(corrects(4))
    assert (res.status, res.pairs, res.counts["correct"]) == ("too_easy", [], 4)
    res = run(incorrects(3) + format_negatives(2))
    assert (res.status, res.pairs, res.counts["incorrect"], res.counts["no_answer"]) == ("too_hard", [], 3, 2)
    # unverifiable responses do not count either way
    assert run(corrects(2) + [lr("?", U)]).status == "too_easy"
    res = run([lr("?", U), lr("??", U)])
    assert (res.status, res.counts["unverifiable"]) == ("no_usable_chosen", 2)


def test_truncated_repetitive_and_empty_are_never_chosen():
    good = lr("Clean reasoning. So the answer is 15", C)
    labeled = [
        lr("Cut reasoning. So the answer is 15", C, "15", issue="truncated", finish_reason="length"),
        lr("Looping loop. So the answer is 15", C, "15", issue="repetitive"),
        good,
        lr("", F, issue="empty"),
        *incorrects(3),
    ]
    res = run(labeled)
    assert res.status == "paired"
    assert {c.response.text for c, _ in res.pairs} == {good.response.text}
    assert res.counts["truncated"] == 1 and res.counts["repetitive"] == 1 and res.counts["empty"] == 1
    assert all(r.response.text for _, r in res.pairs)  # the empty one is not rejected either


def test_only_degenerate_correct_ones():
    repetitive = lr("Looping loop. So the answer is 15", C, "15", issue="repetitive")
    truncated = lr("Cut reasoning. So the answer is 15", C, "15", issue="truncated", finish_reason="length")
    assert run([repetitive] + incorrects(2)).status == "no_usable_chosen"
    # a truncated response is not judged at all: the item has no complete correct response
    assert run([truncated] + incorrects(2)).status == "too_hard"


def test_rejected_side_excludes_truncated_but_keeps_repetitive():
    labeled = corrects(2) + [
        lr("Cut wrong. So the answer is 30", I, "30", issue="truncated", finish_reason="length"),
        lr("Looping wrong. So the answer is 31", I, "31", issue="repetitive"),
    ]
    res = run(labeled)
    assert {r.check.extracted for _, r in res.pairs} == {"31"}
    assert len(res.pairs) == 2


def test_labeled_response_of_computes_the_issue():
    check = AnswerCheck(extracted=None, verdict=F, reason="none", method="test", answer_type="auto")
    assert LabeledResponse.of(Response("", "stop", 0), check, 0.5).issue == "empty"
    assert LabeledResponse.of(Response("Some words", "length", 2), check, 0.5).issue == "truncated"
    assert LabeledResponse.of(Response("Some words here.", "stop", 3), check, 0.5).issue is None


def test_bad_config_raises():
    with pytest.raises(ValueError):
        run(corrects(1) + incorrects(1), format_negative_share=1.5)
    with pytest.raises(ValueError):
        run(corrects(1) + incorrects(1), max_pairs_per_item=-1)
