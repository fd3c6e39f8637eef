"""Each family's chat format renders the DropoutNTP continuation as an unfinished assistant turn.

The prompt is rendered the way vLLM's ``LLM.chat`` renders it, without a
model: vLLM's own detector decides whether the template takes content parts
(``openai``: image parts become ``{"type": "image"}``) or strings (``string``:
vLLM's placeholder, a line break, then the text); transformers'
``apply_chat_template(continue_final_message=True)`` renders the family's
reference template on an in-memory tokenizer. Positive control: the first
turn (with its image) shows the placeholder once and opens the assistant turn.
"""

from __future__ import annotations

import pytest
from PIL import Image

from mmpr_builder.labelers.dropout_ntp import IMAGE_PART_TYPES, continuation_messages
from mmpr_builder.models.families import FAMILIES
from tiny_tokenizer import make_tokenizer

PREFIX = "The sum of 2 and"
QUESTION = "What is 2 + 3?"

# How each family's continuation prompt must end: the assistant-turn opener, then the prefix, nothing after.
TAILS = {
    "internvl-chat": "<|im_end|>\n<|im_start|>assistant\n" + PREFIX,
    "internvl-hf": "<|im_end|>\n<|im_start|>assistant\n" + PREFIX,
    "qwen2-vl": "<|im_end|>\n<|im_start|>assistant\n" + PREFIX,
    "qwen2.5-vl": "<|im_end|>\n<|im_start|>assistant\n" + PREFIX,
    "llava-onevision": "<|im_end|>\n<|im_start|>assistant \n" + PREFIX,
    "llava": QUESTION + " ASSISTANT: " + PREFIX,
    "idefics3": "<end_of_utterance>\nAssistant: " + PREFIX,
    "smolvlm": "<end_of_utterance>\nAssistant: " + PREFIX,
    "text": "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" + PREFIX,
}
END_OF_TURN = ["<|im_end|>", "<end_of_utterance>", "<|eot_id|>", "<|end|>"]


def vllm_style(messages: list[dict], template: str, placeholder: str | None) -> list[dict]:
    """Messages as vLLM hands them to the template (vllm/renderers: content format detection and
    ``_get_full_multimodal_text_prompt`` for string templates)."""
    from vllm.renderers.hf import _detect_content_format

    fmt = _detect_content_format(template, default="string")
    out = []
    for msg in messages:
        parts = msg["content"] if isinstance(msg["content"], list) else [{"type": "text", "text": msg["content"]}]
        images = sum(p["type"] in IMAGE_PART_TYPES for p in parts)
        texts = [p["text"] for p in parts if p["type"] == "text"]
        if fmt == "openai":
            content = [{"type": "image"} if p["type"] in IMAGE_PART_TYPES else p for p in parts]
        else:
            content = "\n".join([placeholder] * images + ["\n".join(texts)]) if images else "\n".join(texts)
        out.append({"role": msg["role"], "content": content})
    return out


@pytest.fixture
def question():
    return [{"role": "user", "content": [{"type": "image_pil", "image_pil": Image.new("RGB", (8, 8))},
                                         {"type": "text", "text": QUESTION}]}]


@pytest.mark.parametrize("name", FAMILIES.names())
def test_continuation_is_an_open_assistant_turn_without_image(name, question):
    family = FAMILIES.get(name)
    tok = make_tokenizer(END_OF_TURN + ["<|im_start|>", "<|start_header_id|>", "<|end_header_id|>"],
                            family.chat_template)
    placeholder = family.image_placeholder
    if family.vision:  # positive control: the first turn carries the image and opens the assistant turn
        first = tok.apply_chat_template(vllm_style(question, family.chat_template, placeholder), tokenize=False,
                                        add_generation_prompt=True)
        assert first.count(placeholder) == 1 and QUESTION in first
    text_only = [{"role": "user", "content": QUESTION}] if not family.vision else question
    conv = vllm_style(continuation_messages(text_only, PREFIX), family.chat_template, placeholder)
    prompt = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=False, continue_final_message=True)
    assert prompt.endswith(TAILS[name]), prompt
    assert prompt.count(QUESTION) == 1
    if family.vision:
        assert placeholder not in prompt and "<image>" not in prompt
    ids = tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=False, continue_final_message=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert tok.convert_ids_to_tokens(ids)[-1] == "and"  # the last token is the prefix's, not an end-of-turn one
