"""Response hygiene: empty, truncated and degenerate (repetitive) responses."""

from __future__ import annotations

import pytest

from mmpr_builder.config import PairingConfig
from mmpr_builder.items import Response
from mmpr_builder.labelers.hygiene import is_no_space_char, repetition_share, response_issue, text_units

THRESHOLD = PairingConfig().repetition_threshold

COT = (
    "The chart shows two bars. The bar for 2019 reaches 40 and the bar for 2020 reaches 55. "
    "To find the increase, subtract the first value from the second: 55 - 40 = 15. "
    "So the value increased by 15 from 2019 to 2020.\n\nAnswer: \\boxed{15}"
)


def _resp(text: str, finish_reason: str = "stop") -> Response:
    return Response(text=text, finish_reason=finish_reason, num_tokens=len(text.split()))


def test_repetition_share_exact_values():
    assert repetition_share("a b c d e f g h") == 0.0
    # 8 words -> 5 word 4-grams; "a b c d" occurs at 0 and 4; "b c d a" ... all distinct except the repeat
    assert repetition_share("a b c d a b c d") == pytest.approx(1 / 5)
    # a loop of a 4-word phrase repeated 10 times: 37 4-grams, 4 distinct
    assert repetition_share(" ".join(["the cat sat down"] * 10)) == pytest.approx(33 / 37)
    assert repetition_share("one two three") == 0.0  # fewer than n units
    assert repetition_share("") == 0.0
    assert repetition_share("a b a b", n=2) == pytest.approx(1 / 3)


def test_repetition_share_rejects_bad_n():
    with pytest.raises(ValueError):
        repetition_share("a b c", n=0)


def test_units_for_text_without_spaces_and_mixed_text():
    assert text_units("图中有狗") == ["图", "中", "有", "狗"]
    assert text_units("答案是 15 dogs") == ["答", "案", "是", "15", "dogs"]
    assert text_units("x=1+2") == ["x", "=", "1", "+", "2"]  # no whitespace at all: characters
    assert is_no_space_char("狗") and is_no_space_char("。") and is_no_space_char("カ")
    assert not is_no_space_char("a") and not is_no_space_char("\u3000")


def test_chinese_loop_is_repetitive_and_normal_chinese_is_not():
    normal = "图中有一只狗和一只猫。狗在左边，猫在右边。因此一共有两只动物，答案是二。"
    assert repetition_share(normal) < 0.2
    loop = "我们需要计算。" * 20
    assert repetition_share(loop) > 0.8


def test_normal_cot_is_far_below_threshold():
    assert repetition_share(COT) < 0.1


def test_response_issue_each_kind():
    assert response_issue(_resp(COT), THRESHOLD) is None
    assert response_issue(_resp(""), THRESHOLD) == "empty"
    assert response_issue(_resp(" \n\t"), THRESHOLD) == "empty"
    assert response_issue(_resp(COT, "length"), THRESHOLD) == "truncated"
    assert response_issue(_resp("Let me check again. " * 30), THRESHOLD) == "repetitive"


def test_response_issue_precedence_and_threshold_is_strict():
    # empty beats truncated; truncated beats repetitive
    assert response_issue(_resp("", "length"), THRESHOLD) == "empty"
    assert response_issue(_resp("Let me check again. " * 30, "length"), THRESHOLD) == "truncated"
    text = "a b c d a b c d"  # share 0.2
    assert response_issue(_resp(text), 0.2) is None
    assert response_issue(_resp(text), 0.19) == "repetitive"
