"""Multiple-choice answers: which option does an extracted answer assert?

Rules (each fixes a class of reported label faults):

- Letters count in explicit forms only: the whole answer (``C``, ``(c)``, ``C.``,
  ``C:``), a leading label with option text (``E: a risk score ...``, NeMo-Gym#1844),
  ``(C)`` anywhere, ``option C``/``choice C``/``answer C``. A bare capital letter
  in running text counts only when no explicit form is present, and never the
  pronoun ``I`` or the article ``A`` before a lowercase word (omlx#3668).
- Letters outside the option range are not options (``I`` with 4 choices).
- A letter counts only when exactly one option is asserted: "A or C" and "(A)
  and (C)" are hedges, not answers. A leading letter whose text names a
  *different* option is a contradiction.
- With no letter, the answer's text is matched against the option texts:
  exact after normalisation, then as equal numbers, then as the only option
  quoted whole in the answer, then by rapidfuzz ``token_sort_ratio`` >= 90
  with a margin of 10 over the runner-up and equal digits ("100" is never
  "1000").
- Nothing is ever guessed (no random fallback, unlike some reference scorers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz, process

from mmpr_builder.labelers.numeric import numbers_match, parse_number

__all__ = ["letter_of", "resolve_gold_option", "asserted_options", "FUZZY_MIN", "FUZZY_MARGIN"]

FUZZY_MIN = 90.0
FUZZY_MARGIN = 10.0
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_WHOLE_RE = re.compile(r"^\(?\s*([A-Za-z])\s*\)?\s*[.:)]?$")
_OPTION_WORD_RE = re.compile(r"^(?:option|choice|answer|letter)\s*[:#]?\s*\(?([A-Za-z])\)?\s*[.:)]?$", re.IGNORECASE)
_LABEL_RE = re.compile(
    r"^(?:\((?P<p>[A-Z])\)\s*[.:]?|(?P<l>[A-Z])\s*(?:[.:)]|\s[-–—]|[-–—](?=\s)))\s*(?P<rest>.*)$", re.DOTALL
)
_PAREN_RE = re.compile(r"\(([A-Z])\)")
_KEYWORD_RE = re.compile(r"\b(?:option|choice|answer|letter)\s*[:#]?\s*\(?([A-Z])\)?(?![A-Za-z'’])", re.IGNORECASE)
_BARE_RE = re.compile(r"(?<![A-Za-z'’.])([A-Z])(?![A-Za-z'’]|\.[A-Za-z])")
_ARTICLE_NEXT_RE = re.compile(r"\s(?!(?:or|and|nor)\b)[a-z]")
_LABELED_CHOICE_RE = re.compile(r"^\(?([A-Z])\)?\s*[.:)]\s+")
_NORM_RE = re.compile(r"[^\w%.\-/ ]+")


def _norm(s: str) -> str:
    """Lowercase, drop punctuation and articles (keeping a lone article: option "A")."""
    s = _NORM_RE.sub(" ", s.lower()).strip(" .")
    out = " ".join(w for w in s.split() if w not in ("a", "an", "the")).strip(" .")
    return out or s


_NEGATION_RE = re.compile(
    r"\b(?:not|nor|neither|except|than|instead\s+of|excluding)\s+(?:option\s+|choice\s+)?\(?$", re.IGNORECASE
)


def _negated(text: str, pos: int) -> bool:
    """True when the letter at ``pos`` is ruled out ("not A", "neither A nor B", "rather than (C)")."""
    return _NEGATION_RE.search(text[max(0, pos - 40) : pos]) is not None


def strip_labels(choices: Sequence[str]) -> list[str]:
    """Option texts without "A. "/"(B) " prefixes, when every option carries its own letter."""
    out = []
    for i, c in enumerate(choices):
        m = _LABELED_CHOICE_RE.match(c.strip())
        if not m or m.group(1) != _LETTERS[i]:
            return [c.strip() for c in choices]
        out.append(c.strip()[m.end():])
    return out


def letter_of(index: int) -> str:
    """Option letter for a 0-based index (0 -> ``A``)."""
    return _LETTERS[index]


def _letter_index(letter: str, n: int | None) -> int | None:
    i = _LETTERS.find(letter.upper())
    return i if i >= 0 and (n is None or i < n) else None


def _match_text(answer: str, options: Sequence[str]) -> tuple[int | None, str]:
    """Option index whose text the answer names, and how; (None, why) if none/ambiguous."""
    a = _norm(answer)
    if not a:
        return None, "empty text"
    normed = [_norm(o) for o in options]
    exact = [i for i, o in enumerate(normed) if o == a]
    if len(exact) == 1:
        return exact[0], "option text (exact)"
    num = parse_number(answer)
    if num is not None:
        hits = [i for i, o in enumerate(options) if (n := parse_number(o)) is not None and numbers_match(n, num, 0.0)]
        if len(hits) == 1:
            return hits[0], "option value"
        if any(parse_number(o) is not None for o in options):
            return None, "number %r is not one of the option values" % answer
    quoted = [i for i, o in enumerate(normed) if len(o) > 1 and _quotes(a, o)]
    quoted = [i for i in quoted if not any(j != i and normed[i] in normed[j] for j in quoted)]
    if len(quoted) == 1:
        return quoted[0], "option text (quoted)"
    if len(quoted) > 1:
        return None, "names several options"
    best = process.extract(a, normed, scorer=fuzz.token_sort_ratio, limit=2)
    if best and best[0][1] >= FUZZY_MIN and (len(best) < 2 or best[0][1] - best[1][1] >= FUZZY_MARGIN):
        i = best[0][2]
        if re.findall(r"\d+", a) == re.findall(r"\d+", normed[i]):
            return i, "option text (rapidfuzz %.0f)" % best[0][1]
    return None, "matches no option text"


def _quotes(text: str, phrase: str) -> bool:
    """``phrase`` occurs as whole words in ``text``, at least once not negated ("not X")."""
    rx = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)")
    return any(not _negated(text, m.start()) for m in rx.finditer(text))


def resolve_gold_option(ground_truth: str, choices: Sequence[str] | None) -> tuple[frozenset[int], str]:
    """Option indices the ground truth designates: a letter (``C``, ``(C)``), several
    letters for multi-answer items (``A, C``), or an option's text.

    Returns (indices, how); empty indices when it cannot be resolved.
    """
    n = len(choices) if choices else None
    g = ground_truth.strip()
    m = _WHOLE_RE.match(g) or _OPTION_WORD_RE.match(g)
    opts = strip_labels(choices) if choices else None
    if m and (i := _letter_index(m.group(1), n)) is not None:
        if g.isupper() or len(g) > 1 or not opts or _norm(g) not in map(_norm, opts):
            return frozenset([i]), "letter"
    multi = re.fullmatch(r"\(?[A-Z]\)?(?:\s*(?:,|and|&|\s)\s*\(?[A-Z]\)?)+", g)
    if multi and n is not None:
        idx = [_letter_index(c, n) for c in re.findall(r"[A-Z]", g)]
        if None not in idx:
            return frozenset(idx), "letters"
    if opts:
        lab = _LABEL_RE.match(g)
        if lab and (i := _letter_index(lab.group("p") or lab.group("l"), n)) is not None:
            return frozenset([i]), "letter"
        i, how = _match_text(g, opts)
        if i is not None:
            return frozenset([i]), how
    return frozenset(), "ground truth %r is not an option letter or option text" % ground_truth


def asserted_options(answer: str, choices: Sequence[str] | None) -> tuple[frozenset[int], str]:
    """Option indices the extracted ``answer`` asserts, and how they were read.

    Returns an empty set when it names no option, and a set of two or more for a
    hedge or contradiction (the caller treats both as not a single answer).
    """
    n = len(choices) if choices else None
    opts = strip_labels(choices) if choices else None
    a = answer.strip()
    m = _WHOLE_RE.match(a) or _OPTION_WORD_RE.match(a)
    if m and (i := _letter_index(m.group(1), n)) is not None:
        if a.isupper() or not a.isalpha() or not opts or _norm(a) not in map(_norm, opts):
            return frozenset([i]), "letter %s" % letter_of(i)
    lab = _LABEL_RE.match(a)
    if lab and (i := _letter_index(lab.group("p") or lab.group("l"), n)) is not None:
        rest = lab.group("rest").strip()
        if opts and rest and not _PAREN_RE.search(rest):
            j, how = _match_text(rest, opts)
            if j is not None and j != i and _norm(rest) != _norm(opts[i]) and _norm(opts[i]) not in _norm(rest):
                return frozenset([i, j]), "letter %s but text names option %s" % (letter_of(i), letter_of(j))
        others = {k for mm in _PAREN_RE.finditer(rest)
                  if not _negated(rest, mm.start()) and (k := _letter_index(mm.group(1), n)) is not None}
        return frozenset({i} | others), "leading letter %s" % letter_of(i)
    found = {k for mm in (*_PAREN_RE.finditer(a), *_KEYWORD_RE.finditer(a))
             if not _negated(a, mm.start()) and (k := _letter_index(mm.group(1), n)) is not None}
    if found:
        return frozenset(found), "letter " + "/".join(letter_of(k) for k in sorted(found))
    bare = set()
    for mm in _BARE_RE.finditer(a):
        x = mm.group(1)
        article = x == "A" and _ARTICLE_NEXT_RE.match(a, mm.end()) is not None
        if x == "I" or article or _negated(a, mm.start()):
            continue  # pronoun I, article A, "not B"
        if (k := _letter_index(x, n)) is not None:
            bare.add(k)
    if bare and (opts is None or len(bare) > 1 or _match_text(a, opts)[0] in (None, *bare)):
        return frozenset(bare), "letter " + "/".join(letter_of(k) for k in sorted(bare))
    if opts:
        i, how = _match_text(a, opts)
        return (frozenset([i]), how) if i is not None else (frozenset(), how)
    return frozenset(), "no option letter"
