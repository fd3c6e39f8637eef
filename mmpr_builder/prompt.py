"""Item -> the text of the CoT user turn.

MMPR (arXiv 2411.10442, section 3.1; the reference's data tools) removes
short-answer instructions such as "Answer with a single word." from the end of
a question before adding its own chain-of-thought instruction, since the two
conflict. We do the same, then render multiple-choice options as lettered
lines and fill ``PromptConfig.template``. Images are not placed here: the
engine adds one image part per image through the model's chat template.
"""

from __future__ import annotations

import re
import string

from mmpr_builder.config import PromptConfig
from mmpr_builder.errors import ConfigError
from mmpr_builder.items import QuestionItem

LETTERS = string.ascii_uppercase

# Trailing short-answer instructions (English patterns are case-insensitive). Each matches
# sentence at the very end of the question, after a sentence end, a line break, or nothing.
_EN = (
    r"answer(?:\s+the\s+question)?\s+(?:with|using|in)\s+(?:a\s+single|one)\s+word(?:\s+or\s+(?:a\s+)?(?:short\s+)?phrase)?",
    r"answer(?:\s+the\s+question)?\s+(?:with|using)\s+(?:a\s+)?(?:single\s+)?(?:short\s+)?(?:word|phrase|number)"
    r"(?:\s+or\s+(?:a\s+)?(?:short\s+)?(?:word|phrase|number))?",
    r"answer\s+with\s+the\s+option[’']?s?\s+letter(?:\s+from\s+the\s+given\s+choices)?(?:\s+directly)?",
    r"answer\s+with\s+the\s+letter\s+of\s+the\s+correct\s+(?:option|choice|answer)(?:\s+directly)?",
    r"(?:please\s+)?(?:directly\s+)?answer\s+with\s+(?:only\s+)?the\s+(?:option\s+)?letter(?:\s+directly)?",
)
_ZH = (
    r"请?(?:直接)?用一个(?:单词|词)或(?:短语|词组)回答(?:该|这个)?问题",
    r"请?(?:直接)?用(?:单个|一个)(?:单词|词)(?:或短语)?回答",
    r"请?直接回答(?:正确)?选项(?:的)?字母",
    r"请?(?:直接)?(?:只)?回答选项字母",
)
_SHORT_ANSWER = re.compile(  # group 1: the sentence end or line break before the instruction (kept)
    r"(^|[.?!:。？！：\n])\s*(?:please\s+)?(?:" + "|".join(_EN) + r")\s*[.!。！]?\s*$",
    re.IGNORECASE,
)
_SHORT_ANSWER_ZH = re.compile(r"\s*(?:" + "|".join(_ZH) + r")\s*[.。!！]?\s*$")


def strip_short_answer_instruction(question: str) -> str:
    """Remove short-answer instructions from the end of ``question`` (repeatedly), trimming whitespace.

    Examples: "What color is it?\\nAnswer the question using a single word or phrase."
    -> "What color is it?"; "...\\nAnswer with the option's letter from the given choices
    directly." -> "..."; "…请直接回答选项字母。" -> "…". Text in the middle is never touched.
    If nothing would be left, the question is returned unchanged (trimmed).
    """
    text = question.strip()
    while True:
        new = _SHORT_ANSWER_ZH.sub("", _SHORT_ANSWER.sub(r"\1", text)).rstrip()
        if new == text or not new:
            return text
        text = new


def format_choices(choices: list[str]) -> str:
    """Lettered option lines: ``["3", "5"]`` -> ``"A. 3\\nB. 5"``.

    Raises:
        ValueError: more than 26 options (letters A-Z).
    """
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options can be lettered, got {len(choices)}")
    return "\n".join(f"{LETTERS[i]}. {str(c).strip()}" for i, c in enumerate(choices))


def check_template(template: str) -> None:
    """Check a CoT template: it must contain ``{question}`` and no other field.

    Literal braces are written ``{{`` and ``}}`` (``str.format`` rules).

    Raises:
        ConfigError: the template does not parse, lacks ``{question}`` or names another field.
    """
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise ConfigError(f"prompt.template does not parse ({e}); write literal braces as {{{{ and }}}}") from e
    others = sorted({n for n in names if n != "question"})
    if others:
        raise ConfigError(f"prompt.template: unknown field(s) {others}; only {{question}} is filled")
    if "question" not in names:
        raise ConfigError("prompt.template must contain {question}")


def build_user_text(item: QuestionItem, cfg: PromptConfig) -> str:
    """The text part of the user turn: question (instruction-stripped), lettered options, CoT template.

    Options are appended on their own lines after the question unless the
    question already lists every one of them as ``"<letter>. <text>"``.

    Raises:
        ConfigError: a bad ``cfg.template`` (see :func:`check_template`).
        ValueError: more than 26 choices.
    """
    check_template(cfg.template)
    question = item.question.strip()
    if cfg.strip_short_answer_instructions:
        question = strip_short_answer_instruction(question)
    if item.choices:
        options = format_choices(item.choices)
        if not all(line in question for line in options.splitlines()):
            question = f"{question}\n{options}"
    return cfg.template.format(question=question)
