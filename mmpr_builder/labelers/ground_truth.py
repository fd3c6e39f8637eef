"""Normalise a ground truth once per item into candidate values and a kind.

Issue 13, part 2. Ground truths come from many datasets and are not always a
bare value. Rules, applied in this order (each source is the issue's held-out
set of wordy ground truths and Math-Verify's test golds):

1. **Boxed values**: a short ground truth (at most :data:`MAX_WORDS` words
   outside its boxes) whose boxes form one list (:func:`.extract.boxed_list`:
   short gaps naming "and"/"or"/","/";") lists them all ("\\boxed{1} papers
   and \\boxed{2} bins" is the list ``1, 2``).
   **Worked solution**: a ground truth holding ``\\boxed{}``, or prose of more
   than :data:`MAX_WORDS` words outside math, stands for its final answer as
   :func:`.extract.extract_answer` reads it (strict: the last box, several
   boxes joined only by separators, or a final-answer statement), as
   MATH-style datasets store the whole solution.
2. **Surface**: ``$...$``, ``\\(...\\)``, ``\\text{}``-like wrappers, markdown and
   trailing punctuation are removed (:func:`.extract.clean_answer`, the same
   cleaning as the response's answer, so both are typed from the same form).
3. **Alternatives**: ``X, or equivalently Y``, ``X (i.e., Y)``, ``X, i.e. Y``,
   ``X (or Y)`` give the candidates X and Y (any is accepted).
4. **Sentence wrappers**: ``the only possible value (of ...) is X``,
   ``the answer is X``, ``X is the only possible value``, ``X is the answer``
   give X; so does ``The <quantity> is X`` ("The volume of $ABCD$ is 120")
   when X is a number or a formula (not words: "The bus is red" stays).
5. **Kind**: ``yes_no`` (yes/no/true/false alone or before a clause set off by
   a comma or period, "No, it is not possible"; not "No solution"; the
   candidate becomes ``yes`` or ``no``), ``set`` (several members, :mod:`.members`), ``value``
   (a number or a short text), ``expression`` (LaTeX, an expression, a
   relation, a tuple or an interval).
6. **Warning**: an empty ground truth, unbalanced braces, or prose left after
   the rules (more than :data:`MAX_WORDS` words) cannot be normalised; the
   candidates then hold the cleaned text and ``warning`` says why. Callers
   must not turn a mismatch against such a ground truth into "incorrect"
   (:func:`.answers.check_answer` reports it as unverifiable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mmpr_builder.labelers.extract import boxed_list, clean_answer, extract_answer
from mmpr_builder.labelers.members import split_members
from mmpr_builder.labelers.numeric import parse_number

__all__ = ["GroundTruth", "normalize_ground_truth", "strip_sentence", "prose_words", "GT_KINDS", "MAX_WORDS"]

GT_KINDS: tuple[str, ...] = ("value", "set", "yes_no", "expression")
"""Kinds a ground truth is normalised to."""

MAX_WORDS = 12
"""A candidate with more words than this (after the rules) is prose, not a value."""


@dataclass(frozen=True)
class GroundTruth:
    """A normalised ground truth.

    Attributes:
        candidates: accepted answers, cleaned (any one matching is correct);
            empty only for an empty ground truth.
        kind: one of :data:`GT_KINDS` (of the first candidate).
        warning: why the ground truth could not be normalised, else None.
    """

    candidates: tuple[str, ...]
    kind: str
    warning: str | None = None


_ALT_RES = (
    re.compile(r"\s*,?\s*\(\s*(?:i\.\s?e\.|e\.\s?g\.|that is|or|equivalently)\s*,?\s*([^()]+)\)\s*$", re.IGNORECASE),
    re.compile(r"\s*[,;]?\s*(?:or,?\s+equivalently|equivalently|i\.\s?e\.|that is),?\s+(.+)$", re.IGNORECASE),
)
_NOUN = r"(?:answer|value|solution|result|number|limit|minimum|maximum|sum|product|area|length|probability)s?"
_LEAD_SENT_RE = re.compile(
    r"^(?:so\s+|thus\s+|hence\s+|therefore\s+)?(?:the\s+)?(?:(?:only|unique|final|correct|possible|smallest|largest|"
    r"least|greatest|required|desired|maximum|minimum|maximal|minimal|total|exact)\s+)*" + _NOUN + r"(?:\s+(?:of|for|to)\s+[^=]{1,60}?)?\s+(?:is|are|equals|=)\s+(?P<v>.+)$",
    re.IGNORECASE,
)
_TAIL_SENT_RE = re.compile(
    r"^(?P<v>.+?)\s+(?:is|are)\s+the\s+(?:(?:only|unique|final|correct|possible|required)\s+)*" + _NOUN + r"\b.*$",
    re.IGNORECASE,
)
_YES_NO = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
_FIRST_WORD_RE = re.compile(r"^\W*([A-Za-z]+)(?:\s*[.!]?\s*$|\s*[,.;:!]\s+\S)")  # "No", "No, it is not possible"
_MATHY_RE = re.compile(r"\\[A-Za-z]+|[\^_{}=<>≤≥√π∞+*/]|\d\s*[A-Za-z]|[A-Za-z]\s*[-+]\s*\d|\bsqrt\b|\bpi\b")


_BOX_SPAN_RE = re.compile(r"\\(?:boxed|fbox)\s*\{(?:[^{}]|\{[^{}]*\})*\}")
_MATH_SPAN_RE = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
_WORD_RE = re.compile(r"[A-Za-z]{2,}")
_ENV_RE = re.compile(
    r"\\(?:begin|end)\s*\{[^{}]*\}(?:\s*\{[^{}]*\})?|\\(?:mathrm|operatorname|math[a-z]{2,4})\s*\{[^{}]*\}"
)


def prose_words(s: str) -> int:
    """Number of words of two or more letters in ``s`` outside ``$...$``/``\\(...\\)``/``\\[...\\]``
    spans and LaTeX commands (0 for a formula, 3 for "so x is 4")."""
    s = _ENV_RE.sub(" ", _MATH_SPAN_RE.sub(" ", s))
    return len(_WORD_RE.findall(re.sub(r"\\[A-Za-z]+", " ", s)))


def _balanced(s: str) -> bool:
    depth = 0
    for c in re.sub(r"\\[{}]", "", s):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


_GENERIC_SENT_RE = re.compile(
    r"^(?:so\s+|thus\s+|hence\s+|therefore\s+)?(?:the|our|its)\s+[^=<>]{1,80}?\s+(?:is|are|equals|=)\s+(?P<v>.+)$",
    re.IGNORECASE,
)


def _unwrap_sentence(s: str) -> str:
    for rx in (_LEAD_SENT_RE, _TAIL_SENT_RE):
        m = rx.match(s)
        if m and m.group("v").strip():
            return clean_answer(m.group("v"))
    m = _GENERIC_SENT_RE.match(s)  # "The volume of $ABCD$ is 120": only when what follows is a value
    if m:
        v = clean_answer(m.group("v"))
        if v and (parse_number(v) is not None or (_MATHY_RE.search(v) and prose_words(v) == 0)):
            return v
    return s


def _alternatives(s: str) -> list[str]:
    for rx in _ALT_RES:
        m = rx.search(s)
        if m and s[: m.start()].strip():
            return [s[: m.start()].strip(), m.group(1).strip()]
    return [s]


def _kind(candidate: str) -> str:
    members, form = split_members(candidate)
    if form in ("set", "list") and len(members) != 1:
        return "set"
    if parse_number(candidate) is not None:
        return "value"
    if form == "tuple" or _MATHY_RE.search(candidate):
        return "expression"
    return "value"


def normalize_ground_truth(text: str) -> GroundTruth:
    """Normalise one ground truth (rules in the module doc).

    Args:
        text: the item's ground truth as stored in the dataset.

    Returns:
        A :class:`GroundTruth`. Never raises; pure (same input, same output), so
        results are cached per process (32 samples of an item share one).
    """
    if not isinstance(text, str) or not text.strip():
        return GroundTruth((), "value", "empty ground truth")
    return _normalize(text)


def strip_sentence(text: str) -> str:
    """The value of a sentence that only states it ("the only possible value is 3",
    "3 is the answer", "The maximum number of points ... is 19"), else ``text``.
    Used on ground truths and on answers read from a final-answer statement."""
    return _unwrap_sentence(text.strip())


@lru_cache(maxsize=4096)
def _normalize(text: str) -> GroundTruth:
    s = text.strip()
    boxed = "\\boxed" in s or "\\fbox" in s
    listed = boxed_list(s) if boxed and prose_words(_BOX_SPAN_RE.sub(" ", s)) <= MAX_WORDS else []
    if listed:
        s = ", ".join(clean_answer(b) for b in listed)  # "\\boxed{1} papers and \\boxed{2} bins": each box is a value
    elif boxed or prose_words(s) > MAX_WORDS:
        found = extract_answer(s).text
        s = found if found else s
    s = clean_answer(s)
    if not _balanced(s) or s.count("$") % 2:
        return GroundTruth((s,), "value", "ground truth %r has unbalanced braces or $" % text[:80])
    first = _FIRST_WORD_RE.match(s)
    if first and first.group(1).lower() in _YES_NO and not _MATHY_RE.search(s):
        return GroundTruth((_YES_NO[first.group(1).lower()],), "yes_no")
    cands: list[str] = []
    for alt in _alternatives(s):
        c = _unwrap_sentence(clean_answer(alt))
        if c and c not in cands:
            cands.append(c)
    if not cands:
        return GroundTruth((s,), "value", "ground truth %r has no value" % text[:80])
    wordy = [c for c in cands if prose_words(c) > MAX_WORDS]
    if wordy:
        return GroundTruth((s,), "value", "ground truth %r reads as prose: no value found" % text[:80])
    return GroundTruth(tuple(cands), _kind(cands[0]))
