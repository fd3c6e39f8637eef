"""Prompt text: short-answer instructions stripped, options lettered, CoT template filled."""

from __future__ import annotations

import pytest

from mmpr_builder.config import PromptConfig
from mmpr_builder.errors import ConfigError
from mmpr_builder.items import QuestionItem
from mmpr_builder.prompt import build_user_text, check_template, format_choices, strip_short_answer_instruction


@pytest.mark.parametrize("question, expected", [
    ("What color is the car?\nAnswer the question using a single word or phrase.", "What color is the car?"),
    ("Is it red? Answer with a single word.", "Is it red?"),
    ("Which one?\nA. cat\nB. dog\nAnswer with the option's letter from the given choices directly.",
     "Which one?\nA. cat\nB. dog"),
    ("Which one?\nAnswer with the option’s letter.", "Which one?"),
    ("How many? answer with a single word or phrase", "How many?"),
    ("How many?\nAnswer with a single number.\nAnswer using a single word.", "How many?"),
    ("图中有几只猫？请用一个单词或短语回答该问题。", "图中有几只猫？"),
    ("选哪个？\nA. 1\nB. 2\n请直接回答选项字母。", "选哪个？\nA. 1\nB. 2"),
])
def test_strip_short_answer_instruction(question, expected):
    assert strip_short_answer_instruction(question) == expected


@pytest.mark.parametrize("question", [
    "Write the answer using a single word.",             # part of the task, not a trailing instruction
    "Answer with a single word.",                         # nothing would be left
    "Answer with a single word. What color is the sky?",  # not at the end
    "Which is the correct answer with one word?",
    "Is there a dog? Please answer yes or no.",           # yes/no does not conflict with reasoning first
])
def test_strip_leaves_other_text_alone(question):
    assert strip_short_answer_instruction(question) == question


def test_format_choices():
    assert format_choices(["3", " 5 ", "seven"]) == "A. 3\nB. 5\nC. seven"
    assert format_choices([]) == ""
    with pytest.raises(ValueError, match="26"):
        format_choices([str(i) for i in range(27)])


def test_build_user_text_strips_and_letters_options():
    item = QuestionItem(id="1", question="Which is larger?\nAnswer with the option's letter from the given choices directly.",
                        choices=["3", "5"])
    text = build_user_text(item, PromptConfig(template="{question}\n\nThink step by step. Answer: \\boxed{{X}}"))
    assert text == "Which is larger?\nA. 3\nB. 5\n\nThink step by step. Answer: \\boxed{X}"


def test_braces_in_the_question_are_kept():
    item = QuestionItem(id="1", question="Simplify {x + 1} - {x}. Answer with a single word.")
    assert build_user_text(item, PromptConfig(template="Q: {question} \\boxed{{A}}")) == "Q: Simplify {x + 1} - {x}. \\boxed{A}"
    check_template(PromptConfig().template)  # the dataclass default is a valid template


def test_options_already_in_the_question_are_not_repeated():
    item = QuestionItem(id="1", question="Pick one:\nA. red\nB. blue", choices=["red", "blue"])
    assert build_user_text(item, PromptConfig(template="{question}")) == "Pick one:\nA. red\nB. blue"


def test_stripping_can_be_turned_off():
    item = QuestionItem(id="1", question="Color? Answer with a single word.")
    cfg = PromptConfig(template="{question}", strip_short_answer_instructions=False)
    assert build_user_text(item, cfg) == "Color? Answer with a single word."


@pytest.mark.parametrize("template, match", [
    ("no placeholder", "must contain"),
    ("{question} {answer}", "unknown field"),
    ("{question} \\boxed{X}", "unknown field"),
    ("{question} {", "does not parse"),
])
def test_bad_templates(template, match):
    with pytest.raises(ConfigError, match=match):
        check_template(template)
    with pytest.raises(ConfigError, match=match):
        build_user_text(QuestionItem(id="1", question="q"), PromptConfig(template=template))
