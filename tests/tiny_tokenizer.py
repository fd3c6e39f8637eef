"""A tokenizer built in memory (no files, no downloads) for the model-family tests."""

from __future__ import annotations


def make_tokenizer(special_tokens: list[str], chat_template: str | None = None):
    """A word-level fast tokenizer over a few plain words plus ``special_tokens`` (each one token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "the", "sum", "of", "2", "and", "3", "is", "5", "what", "?"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    tok.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok
