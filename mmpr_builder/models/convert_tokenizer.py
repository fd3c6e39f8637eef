"""The tokenizer half of ``mmpr models convert``: an InternVL2/2.5 tokenizer as a plain transformers tokenizer.

InternVL2-8B ships InternLM2's tokenizer as a sentencepiece ``tokenizer.model``
with its own classes (``tokenization_internlm2*.py``); the fast one no longer
builds a working tokenizer on transformers 5 (it loses the sentencepiece
normalisation: spaces vanish). :func:`sentencepiece_tokenizer` rebuilds it from
the model file and checks it against sentencepiece. Qwen2/Llama/Phi-3
tokenizers load with transformers' own classes. Either way the result names
InternVL's image tokens (``start_image_token``, ``end_image_token``,
``context_image_token``, as the ``-hf`` checkpoints' tokenizers do) and carries
the converted chat template.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmpr_builder.errors import ModelError

#: Named image tokens of the ``-hf`` tokenizer (InternVL's ``IMG_START_TOKEN``/``IMG_END_TOKEN``/``IMG_CONTEXT_TOKEN``).
IMAGE_TOKENS = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>"}

#: Texts the tokenizer converted from ``tokenizer.model`` must split exactly as sentencepiece does.
SENTENCEPIECE_PROBES = ("Hello  world, what is 3+4?", "  two leading spaces,\ttab\n\nand newlines \n",
                        "中文：这张图里有几只猫？", "x = [1, 2, 3]  # code\n    indented",
                        "émoji 🙂 ß Ω ½ ﬁ")


def sentencepiece_tokenizer(src: str | Path):
    """A ``PreTrainedTokenizerFast`` equal to the checkpoint's sentencepiece ``tokenizer.model`` (InternLM2's).

    InternVL2-8B ships InternLM2's tokenizer as ``tokenizer.model`` plus its own
    classes (``tokenization_internlm2*.py``), whose fast class no longer builds a
    working tokenizer on transformers 5; so the BPE model is read here
    (``transformers.convert_slow_tokenizer.SentencePieceExtractor``) and assembled
    as sentencepiece runs it (``InternLM2Tokenizer._tokenize`` is ``sp_model.encode``):
    the normalizer's precompiled charsmap, ``remove_extra_whitespaces``,
    ``add_dummy_prefix``, spaces as ``▁``, byte fallback; the tokens of
    ``tokenizer_config.json``'s ``added_tokens_decoder`` keep their ids, and
    ``<s>`` is prepended when ``add_bos_token`` (InternLM2Tokenizer's default).
    The result is checked against sentencepiece on :data:`SENTENCEPIECE_PROBES`.

    Raises:
        ModelError: sentencepiece is missing, the model is not BPE, an added token
            would get another id, or the result splits a probe otherwise than sentencepiece.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    try:
        import sentencepiece as spm
        from transformers.convert_slow_tokenizer import SentencePieceExtractor
    except ImportError as exc:
        raise ModelError(f"{src}: its tokenizer is a sentencepiece model; converting it needs the sentencepiece "
                         "and protobuf packages (pip install sentencepiece protobuf)") from exc
    model_file = str(Path(src) / "tokenizer.model")
    extractor = SentencePieceExtractor(model_file)
    proto = extractor.proto
    if proto.trainer_spec.model_type != 2:
        raise ModelError(f"{model_file}: a sentencepiece model of type {proto.trainer_spec.model_type}; the converter "
                         "handles BPE models (type 2) as InternLM2's")
    parts = extractor.extract(BPE)
    tk = Tokenizer(BPE(parts["vocab"], parts["merges"], unk_token=proto.trainer_spec.unk_piece, fuse_unk=True,
                       byte_fallback=proto.trainer_spec.byte_fallback))
    spec = proto.normalizer_spec
    norm = [normalizers.Precompiled(spec.precompiled_charsmap)] if spec.precompiled_charsmap else []
    if spec.remove_extra_whitespaces:
        norm += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    if spec.add_dummy_prefix:
        norm.append(normalizers.Prepend(" "))
    tk.normalizer = normalizers.Sequence(norm + [normalizers.Replace(" ", "▁")])
    tk.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
                                   + ([decoders.Strip(content=" ", left=1)] if spec.add_dummy_prefix else []))
    tk.add_tokens([AddedToken(t.content, normalized=False, special=t.special)
                   for t in parts["additional_special_tokens"]])
    tok_cfg_file = Path(src) / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_file.read_text()) if tok_cfg_file.is_file() else {}
    for i, entry in sorted(((int(i), e) for i, e in tok_cfg.get("added_tokens_decoder", {}).items())):
        tk.add_special_tokens([AddedToken(entry["content"], normalized=False, special=entry.get("special", True),
                                          lstrip=entry.get("lstrip", False), rstrip=entry.get("rstrip", False))])
        if tk.token_to_id(entry["content"]) != i:
            raise ModelError(f"{tok_cfg_file}: added token {entry['content']!r} has id {i}, but the converted "
                             f"tokenizer gives it {tk.token_to_id(entry['content'])}")
    sp = spm.SentencePieceProcessor(model_file=model_file)
    for probe in SENTENCEPIECE_PROBES:
        if tk.encode(probe, add_special_tokens=False).ids != sp.encode(probe):
            raise ModelError(f"{model_file}: the converted tokenizer splits {probe!r} otherwise than sentencepiece "
                             f"({tk.encode(probe, add_special_tokens=False).tokens} vs "
                             f"{sp.encode(probe, out_type=str)}); please report this checkpoint")

    def token(name: str, default: str) -> str:
        value = tok_cfg.get(name, default)
        return value["content"] if isinstance(value, dict) else value

    bos, eos = token("bos_token", "<s>"), token("eos_token", "</s>")
    if tok_cfg.get("add_bos_token", True):
        tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                          special_tokens=[(bos, tk.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos,
                                   unk_token=token("unk_token", "<unk>"), pad_token=token("pad_token", eos),
                                   clean_up_tokenization_spaces=False)


def convert_tokenizer(src: str | Path, chat_template: str, vocab_size: int, trust_remote_code: bool = True):
    """The checkpoint's tokenizer as a transformers tokenizer with the named image tokens and the ``-hf`` template.

    A sentencepiece tokenizer (``tokenizer.model`` without ``tokenizer.json``:
    InternLM2's) is converted by :func:`sentencepiece_tokenizer`, running no
    remote code. Another tokenizer class that ships with the checkpoint is
    loaded with ``trust_remote_code`` and re-wrapped as ``PreTrainedTokenizerFast``
    over the same ``tokenizers`` object, so the converted folder needs no remote code.

    ``video_token`` is set to ``<video>``, because ``InternVLProcessor`` needs one;
    InternVL2's vocabulary has no such token, so it is added after the last one
    and may lie beyond the embedding matrix (as released InternVL2-1B/8B fill
    theirs exactly). A prompt or response with a literal ``<video>`` therefore
    cannot be trained; the image tokens are checked to lie inside.

    Args:
        src: the checkpoint folder.
        chat_template: the Jinja template to set.
        vocab_size: rows of the LLM's embedding matrix (image token ids must be below it).
    Raises:
        ModelError: the tokenizer cannot be loaded, has no fast version, lacks
            ``<img>``/``</img>``/``<IMG_CONTEXT>``, or has image ids beyond the model's vocabulary.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    named = {**IMAGE_TOKENS, "video_token": "<video>"}
    try:
        if (Path(src) / "tokenizer.model").is_file() and not (Path(src) / "tokenizer.json").is_file():
            tok = sentencepiece_tokenizer(src)
        else:
            tok = AutoTokenizer.from_pretrained(str(src), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelError(f"{src}: cannot load its tokenizer ({exc})") from exc
    if not tok.is_fast:
        raise ModelError(f"{src}: the tokenizer {type(tok).__name__} has no fast (tokenizers) version to convert")
    vocab = tok.get_vocab()
    missing = [t for t in IMAGE_TOKENS.values() if t not in vocab]
    if missing:
        raise ModelError(f"{src}: the tokenizer lacks the image tokens {missing} InternVL's prompts use")
    if type(tok).__module__.startswith("transformers.") and type(tok) is not PreTrainedTokenizerFast:
        tok = AutoTokenizer.from_pretrained(str(src), trust_remote_code=trust_remote_code, extra_special_tokens=named)
    else:
        tok = PreTrainedTokenizerFast(
            tokenizer_object=tok.backend_tokenizer, bos_token=tok.bos_token, eos_token=tok.eos_token,
            unk_token=tok.unk_token, pad_token=tok.pad_token, model_max_length=tok.model_max_length,
            extra_special_tokens=named, clean_up_tokenization_spaces=False)
    tok.chat_template = chat_template
    # <video> is only there because InternVLProcessor requires a video token; InternVL2 has none, so it is added
    # after the vocabulary and may lie beyond the embeddings (no image prompt contains it)
    too_big = {t: i for t, i in ((t, tok.convert_tokens_to_ids(t)) for t in IMAGE_TOKENS.values())
               if i is not None and i >= vocab_size}
    if too_big:
        raise ModelError(f"{src}: tokens {too_big} lie beyond the model's vocabulary ({vocab_size} embeddings)")
    return tok
