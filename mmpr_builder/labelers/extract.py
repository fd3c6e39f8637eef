"""Find the final answer in a chain-of-thought response.

Evidence is tried from strongest to weakest (MMPR, arXiv 2411.10442, sec. 3.2,
labels a response whose answer cannot be extracted as a *format negative*):

1. ``boxed``: the content of the last *complete* ``\\boxed{...}`` (or
   ``\\fbox{...}``); several boxes at the end joined only by separators
   ("\\boxed{-2} and \\boxed{1}") are read together as a list ("-2, 1"). Braces are matched with a scan (escaped ``\\{``/``\\}`` are
   skipped), so ``\\boxed{\\frac{1}{3}}`` gives ``\\frac{1}{3}`` where the usual
   ``[^}]*`` regex gives ``\\frac{1`` (huggingface/trl#5026). A box cut off by the
   token limit is ignored; an empty or placeholder box (an echoed instruction)
   too. One exception: a "final answer" statement that comes after the last box
   wins over it when a self-correction ("wait", "actually", "wrong") comes
   between them, or when the statement gives a value of its own (a digit or
   math) in which the box's content does not appear ("\\boxed{255} ... Final
   Answer: The final answer is $10,455$": the box was an intermediate step).
2. ``statement``: the last explicit final-answer statement: "Final answer:",
   "Answer:", "the (correct|final|best) answer is", "the correct option is",
   "答案是" ... in any case and through markdown emphasis. Cues saying "final" win
   over plain ones. The answer runs to the end of the line (or the next
   non-empty line when the cue ends its line) and is cut at the end of the
   sentence ("The answer is B. Note that A ..." gives ``B``).
3. ``weak`` (only in mode ``"weak"``): the committed answer of a prose
   conclusion, as step 4 reads it ("Therefore, there are 12 sequences."); else
   for numeric answers the last math span of the last line or the last number
   (``\\frac{a}{b}``, ``a/b``, decimals, percent, ``1 000`` with SI digit
   groups) of the response; else the last non-empty line. An escaped ``\\$`` is
   a dollar sign, never a math delimiter.
4. ``reading`` (only in mode ``"reading"``): the committed final answer of a
   free-form prose solution ("Therefore, there are 412 ways."), read by
   :func:`mmpr_builder.labelers.reading.read_answer` with rules that prefer no
   answer over a wrong span; it also maps yes/no claims ("it is not possible")
   to yes/no when the caller expects a yes/no answer.

The modes are :data:`EXTRACTION_MODES`: ``strict`` (1-2, the default: MMPR asks
for a boxed answer and uses responses without one as format negatives),
``weak`` (1-3) and ``reading`` (1, 2, 4).

In every mode the response ends at the first chat-template token
(``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``, ``<|eot_id|>``, ``</s>``
...): what follows is a turn the model invented, not its answer.

Whatever was found is cleaned by :func:`clean_answer` (``$...$``, ``\\text{}``,
markdown and trailing punctuation removed). No answer is ``method="none"`` and
``text=None``: never the whole response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmpr_builder.errors import ConfigError
from mmpr_builder.labelers.boxes import BOX_RE, balanced_end, box_spans, boxed_list, find_boxed, last_box_run
from mmpr_builder.registry import did_you_mean

__all__ = ["Extraction", "EXTRACTION_MODES", "resolve_extraction", "find_boxed", "final_statement", "weak_answer",
           "clean_answer", "extract_answer", "end_of_turn", "boxed_list"]

EXTRACTION_MODES: tuple[str, ...] = ("strict", "weak", "reading")
"""Extraction modes (``labeler.extraction``): ``strict`` = boxed or explicit answer
statement only; ``weak`` = strict, else the last number/line; ``reading`` =
strict, else the committed answer of a prose solution (see the module doc)."""


def resolve_extraction(extraction: str = "strict", allow_weak: bool = False) -> str:
    """The extraction mode to use, from a mode name and the legacy ``allow_weak`` flag.

    ``allow_weak=True`` is an alias of ``extraction="weak"`` (it upgrades
    ``"strict"``; it conflicts with ``"reading"``).

    Raises:
        ConfigError: unknown mode (with a "did you mean"), or ``allow_weak=True``
            together with ``extraction="reading"``.
    """
    if extraction not in EXTRACTION_MODES:
        raise ConfigError("unknown extraction %r%s; expected one of %s"
                          % (extraction, did_you_mean(extraction, EXTRACTION_MODES), ", ".join(EXTRACTION_MODES)))
    if allow_weak and extraction == "reading":
        raise ConfigError("allow_weak=True (an alias of extraction='weak') conflicts with extraction='reading'")
    return "weak" if allow_weak else extraction


@dataclass(frozen=True)
class Extraction:
    """The final answer found in a response.

    Attributes:
        text: the cleaned answer, or None when nothing was found.
        method: ``"boxed"``, ``"statement"``, ``"weak"``, ``"reading"`` or ``"none"``.
        detail: human-readable note on how it was found (for reasons/logs).
    """

    text: str | None
    method: str
    detail: str


# --- final-answer statements -------------------------------------------------
_EMPH = r"[*_`#]*"
_CUE_RE = re.compile(
    r"(?P<final>final\s+answer|最终答案)"
    r"|(?:(?:correct|right|best|short)\s+(?:answer|option|choice))"
    r"|\banswers?\b(?:\s+to\s+(?:the|this)\s+(?:question|problem))?"
    r"|答案",
    re.IGNORECASE,
)
_AFTER_CUE_RE = re.compile(
    _EMPH + r"\s*(?:\([^()\n]{0,30}\)\s*)?"  # optional "(short)" etc.
    r"(?:is|should\s+be|would\s+be|will\s+be|=|:|：|是|为)" + _EMPH + r"\s*:?\s*" + _EMPH,
    re.IGNORECASE,
)
_HEADING_END_RE = re.compile(r"[#*_: ]*(?=\n|$)")
_HEADING_START_RE = re.compile(r"(?:^|\n)[#*_ ]*$")
_MAX_LINE = 1000  # an answer line longer than this is cut (keeps every step linear)
_ABBREV = {"st", "dr", "mr", "mrs", "ms", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx",
           "u.s", "inc", "ltd", "co", "mt", "ft"}
_SENT_END_RE = re.compile(
    r"[.!?。](?=\s+\S)|\s+(?:because|since)\b|[,;]\s+(?:because|since|which|as)\b", re.IGNORECASE
)


_LAST_WORD_RE = re.compile(r"([\w.]+)$")


def _cut_sentence(s: str) -> str:
    """Cut ``s`` at its first sentence end (not after an abbreviation or an initial)."""
    for m in _SENT_END_RE.finditer(s):
        if m.group(0) == ".":
            word = _LAST_WORD_RE.search(s[max(0, m.start() - 12) : m.start()])
            w = word.group(1).lower() if word else ""
            # keep "St. Louis", "John F. Kennedy"; but "B. Note ..." (a leading label) is cut
            if w in _ABBREV or (len(w) == 1 and w.isalpha() and s[: m.start()].strip(" *_(").lower() != w):
                continue
        return s[: m.start()]
    return s


_NEXT_LINE_RE = re.compile(r"[^\s][^\n]*")


def _statement(text: str) -> tuple[int, bool, str] | None:
    """``(cue start, cue says "final", raw answer)`` of the chosen statement, or None."""
    best: tuple[int, int, bool] | None = None
    for m in _CUE_RE.finditer(text):
        after = _AFTER_CUE_RE.match(text, m.end())
        if after is not None:
            end = after.end()
        else:  # a heading line holding only the cue: "### Final Answer", "**Answer**"
            head = _HEADING_END_RE.match(text, m.end())
            if head is None or not _HEADING_START_RE.search(text[max(0, m.start() - 12) : m.start()]):
                continue
            end = head.end()
        is_final = m.group("final") is not None
        if best is None or is_final or not best[2]:
            best = (m.start(), end, is_final)
    if best is None:
        return None
    nl = text.find("\n", best[1])
    line = text[best[1] : nl if nl >= 0 else len(text)][:_MAX_LINE].strip()
    if not line.strip("*_`# ") and nl >= 0:
        nxt = _NEXT_LINE_RE.search(text, nl)
        line = nxt.group(0)[:_MAX_LINE].strip() if nxt else ""
    line = _cut_sentence(line).strip().rstrip(".!?。").strip()
    return (best[0], best[2], line) if line else None


def final_statement(text: str) -> str | None:
    """Raw answer text after the last explicit final-answer cue, or None.

    Cues containing "final" win over plain "answer" cues. See the module doc.
    """
    found = _statement(text)
    return found[2] if found else None


# --- weak fallback ---------------------------------------------------------------
_NUMBER_TOKEN_RE = re.compile(  # a fraction keeps its sign; a digit glued to a word (AZYUK2A) is no number
    r"(?:-\s*)?\\[dt]?frac\s*\{[^{}]+\}\s*\{[^{}]+\}"
    r"|(?<![A-Za-z\d,.])-?[1-9]\d{0,2}(?:[ \u00a0\u202f]\d{3})+(?![\d,]|\.\d)"  # SI digit groups: 1 000, 12 345 678
    r"|(?<![A-Za-z])-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?\s*(?:\\?%|percent)?"
    r"|-?\.\d+"
)
_MATH_SPAN_RE = re.compile(r"(?<!\\)\$\$?((?:\\.|[^$\\])+)\$\$?|\\\((.+?)\\\)")  # \$ is a dollar sign


def weak_answer(text: str, numeric: bool) -> str | None:
    """Weak fallback: the last math span or number (``numeric``), else the last line."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip(" *_#-`>")]
    if not lines:
        return None
    if numeric:
        spans = list(_MATH_SPAN_RE.finditer(lines[-1]))
        if spans:
            return (spans[-1].group(1) or spans[-1].group(2)).strip()
        nums = list(_NUMBER_TOKEN_RE.finditer(text))
        return nums[-1].group(0).strip() if nums else None
    last = re.sub(r"^(?:[-*>#]+\s*|\d+\.\s+)", "", lines[-1]).strip()
    return last or None


# --- cleaning ------------------------------------------------------------------
_TEXT_CMD_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|mbox|emph|textsf|mathsf)\s*\{([^{}]*)\}"
)
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("__", "__"),
             ("*", "*"), ("_", "_"), ("`", "`"), ('"', '"'), ("“", "”"), ("'", "'"))


def _unbox(s: str) -> str:
    """``\\boxed{X}`` -> ``X`` when the box spans all of ``s``."""
    m = BOX_RE.match(s)
    if m:
        i = m.end()
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == "{" and balanced_end(s, i) == len(s):
            return s[i + 1 : -1].strip()
    return s


_TRAIL_PUNCT_RE = re.compile(r"(?:[ .,;:。]|(?<![\d)}])!)+$")


def clean_answer(s: str) -> str:
    """Normalise a found answer's surface: strip math delimiters, ``\\text{}``-like
    wrappers, markdown emphasis, surrounding quotes and trailing punctuation.

    ``"**$\\text{13}$.**"`` -> ``"13"``; ``"\\boxed{C}"`` -> ``"C"``.
    """
    s = s.strip()
    for _ in range(6):
        before = s
        s = _unbox(s)
        s = _TEXT_CMD_RE.sub(lambda m: m.group(1), s).strip()
        s = _TRAIL_PUNCT_RE.sub("", s).strip()  # keeps a factorial: \\boxed{5!}
        for a, b in _WRAPPERS:
            if len(s) > len(a) + len(b) and s.startswith(a) and s.endswith(b):
                s = s[len(a) : len(s) - len(b)].strip()
                break
        s = s.strip(" *_`")
        if s == before:
            break
    return s


_TURN_END_RE = re.compile(
    r"<\|(?:im_start|im_end|endoftext|end_of_text|eot_id|eom_id|start_header_id|end|user|assistant|system)\|>"
    r"|</s>|<end_of_turn>|<start_of_turn>"
)


def end_of_turn(response: str) -> str:
    """``response`` up to its first chat-template token (``<|im_start|>``, ``<|im_end|>``,
    ``<|endoftext|>``, ``<|eot_id|>``, ``</s>``, ``<end_of_turn>`` ...); what follows
    such a token is a turn the model invented, never its answer (Math-Verify's
    suite has "... I hope it is correct. <|im_start|>user")."""
    m = _TURN_END_RE.search(response)
    return response[: m.start()] if m else response


_CORRECTION_RE = re.compile(r"\b(?:wait|actually|mistake|correction|re-?check\w*|wrong|instead)\b", re.IGNORECASE)


def extract_answer(response: str, *, allow_weak: bool = False, numeric: bool = False, mode: str = "strict",
                   question: str | None = None, yes_no: bool = False) -> Extraction:
    """Extract the final answer of ``response`` (see the module doc for the order).

    Pure: no I/O. Linear-time regexes only.

    Args:
        response: the model's full response text.
        allow_weak: alias of ``mode="weak"`` (kept for callers of the old API).
        numeric: the expected answer is a number/expression (weak fallback takes
            the last number instead of the last line; reading keeps only
            number/expression spans).
        mode: one of :data:`EXTRACTION_MODES`.
        question: the question text (``reading`` only: numbers restated from it
            are never taken as the answer; "how many X" names the counted noun).
        yes_no: the expected answer is yes/no (``reading`` only: claims such as
            "it is not possible" are read as ``no``).

    Returns:
        An :class:`Extraction`; ``method="none"``/``text=None`` when nothing was found.

    Raises:
        ConfigError: unknown ``mode`` (see :func:`resolve_extraction`).
    """
    mode = resolve_extraction(mode, allow_weak)
    response = end_of_turn(response or "")
    if not response.strip():
        return Extraction(None, "none", "empty response")
    found = _strict(response)
    if mode == "strict":
        return found or Extraction(None, "none", "no \\boxed{} or final-answer statement (weak fallback off)")
    from mmpr_builder.labelers.reading import read_answer  # reading builds on this module

    if mode == "reading":
        return read_answer(response, strict=found, question=question, numeric=numeric, yes_no=yes_no)
    if found is not None:
        return found
    read = read_answer(response, question=question, numeric=numeric, yes_no=yes_no)
    if read.text is not None:
        return Extraction(read.text, "weak", "weak fallback: prose conclusion, %s" % read.detail)
    weak = weak_answer(response, numeric)
    ans = clean_answer(weak) if weak is not None else ""
    if ans:
        return Extraction(ans, "weak", "weak fallback: last %s" % ("number" if numeric else "line"))
    return Extraction(None, "none", "no \\boxed{}, final-answer statement, conclusion or number")


def _strict(response: str) -> Extraction | None:
    """Boxed answer or explicit final-answer statement (steps 1-2 of the module doc), or None."""
    boxes = box_spans(response)
    stmt = _statement(response)
    box_ans = clean_answer(boxes[-1][1]) if boxes else ""
    if stmt is not None and stmt[1] and boxes and stmt[0] >= boxes[-1][0]:
        ans = clean_answer(stmt[2])
        if ans and _CORRECTION_RE.search(response, boxes[-1][0], stmt[0]):
            # "\\boxed{C} ... Wait, that is wrong ... Final answer: D": a self-correction after the box wins
            return Extraction(ans, "statement", "final-answer statement after the last \\boxed{} and a correction")
        if ans and _OWN_VALUE_RE.search(ans) and not _mentions(ans, box_ans):
            # "\\boxed{255} ... Final Answer: The final answer is $10,455$": the box was a step
            return Extraction(ans, "statement", "final-answer statement with another value after the last \\boxed{}")
    if box_ans:
        n = len(boxes)
        run = [a for a in (clean_answer(b) for b in last_box_run(response, boxes)) if a] if n > 1 else []
        if len(run) > 1:
            return Extraction(", ".join(run), "boxed", "last %d of %d \\boxed{} read together" % (len(run), n))
        return Extraction(box_ans, "boxed", "last of %d \\boxed{}" % n if n > 1 else "\\boxed{}")
    if stmt is not None:
        ans = clean_answer(stmt[2])
        if ans and not _NEGATED_ANSWER_RE.match(ans):  # "the answer is not 5" states no answer (issue 13)
            return Extraction(ans, "statement", "final-answer statement")
    return None


_OWN_VALUE_RE = re.compile(r"\d|\\[A-Za-z]+|[=^_]")


def _squash(s: str) -> str:
    """``s`` without white space, ``$`` and thousands commas (for "does the box appear in it")."""
    return re.sub(r"[\s$]|(?<=\d),(?=\d{3})|\\[,;!]", "", s)


def _mentions(text: str, value: str) -> bool:
    """``value`` appears in ``text`` as a whole token (``200`` is not in ``5,200``)."""
    v = _squash(value)
    return bool(v) and re.search(r"(?<![\w.])" + re.escape(v) + r"(?![\w]|\.\d)", _squash(text)) is not None


_NEGATED_ANSWER_RE = re.compile(r"(?:not|never)\s+(?:equal\s+to\s+)?[-+$\\(]*\d", re.IGNORECASE)  # "not 5", not "not A but B"
