"""Agreement of ``check_answer`` with Math-Verify's own test cases (issue 13, part 4).

Math-Verify (huggingface/Math-Verify, MIT) tests its parser and grader with
gold/prediction pairs and an expected verdict. Workplace rule: none of its
code or test data is stored in this repository, so this script reads the
pairs **at run time** from a checkout given with ``--repo`` (its
``tests/*.py`` files are parsed with :mod:`ast`, never imported or run).

What is collected: every ``@pytest.mark.parametrize`` table whose argument
names include ``gold`` and ``pred`` and an expected verdict (``expected`` or
``result``), rows written as Python literals. What is skipped, with a count:

- rows run with non-default Math-Verify *comparison* settings: ``precision``
  (``float_rounding``) other than 6, ``strict=False``,
  ``allow_set_relation_comp=True``;
- rows that are not plain literals (f-strings);
- rows parsed with a subset of the default extraction targets
  (``match_types=["latex"]`` or ``["expr"]``) whose expected verdict is not
  what the installed Math-Verify gives with its default ``parse``/``verify``:
  the expectation then depends on the non-default setting (for example
  "Answer $ \\n 9 \\n $" is 0 with LaTeX-only extraction, 1 by default);
- with ``--default-targets-only``, every row parsed with a subset of the
  default extraction targets.

Each kept row is checked as ``check_answer(pred, gold, answer_type=T,
allow_weak=W)`` for ``T`` in ``math`` and ``auto``; Math-Verify's verdict 1
must be our ``correct``, 0 anything else. The weak fallback is on by default
(``--strict-extraction`` turns it off; ``--extraction MODE`` passes a mode to a
``check_answer`` that has extraction modes): Math-Verify's tests feed whole
solutions without a final-answer cue, which Math-Verify reads with its own
fallback. Prints agreement per answer type and every false "correct"
(Math-Verify 0, ours ``correct``), then the disagreements with ``-v``.

Usage::

    git --git-dir=/path/to/Math-Verify.git archive HEAD | tar -x -C /tmp/mv
    python benchmarks/eval_mathverify_suite.py --repo /tmp/mv [-v]

Exit status 0 when every answer type reaches ``--min-agreement`` (0.97) with
no false "correct", else 1.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRECISION = 6


@dataclass(frozen=True)
class Pair:
    """One Math-Verify test row: where it comes from, the pair, the expected verdict."""

    where: str
    gold: str
    pred: str
    expected: bool
    default_targets: bool


def _kwargs_of_call(fn: ast.FunctionDef) -> dict[str, object]:
    """Literal keyword arguments of the ``compare_strings``/``verify`` call in a test body,
    and ``{"<param>": name}`` for keywords passed from a parameter."""
    out: dict[str, object] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("compare_strings", "verify"):
            for kw in node.keywords:
                try:
                    out[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    if isinstance(kw.value, ast.Name):
                        out[kw.arg] = ("param", kw.value.id)
    return out


def _settings(call_kwargs: dict, row: dict) -> tuple[dict, bool]:
    """Resolved comparison settings of one row, and whether the extraction targets are the default."""
    resolved = {}
    for key in ("precision", "strict", "allow_set_relation_comp", "match_types"):
        v = call_kwargs.get(key)
        if isinstance(v, tuple) and v and v[0] == "param":
            v = row.get(v[1])
        if key in row and v is None:
            v = row[key]
        resolved[key] = v
    targets = resolved["match_types"]
    return resolved, targets is None or sorted(targets) == ["expr", "latex"]


def _non_default(s: dict) -> str | None:
    if s["precision"] not in (None, DEFAULT_PRECISION):
        return "precision=%s" % s["precision"]
    if s["strict"] is False:
        return "strict=False"
    if s["allow_set_relation_comp"] is True:
        return "allow_set_relation_comp=True"
    return None


def collect(repo: Path) -> tuple[list[Pair], Counter]:
    """All gold/prediction rows of ``repo/tests/*.py`` with default comparison settings,
    and a counter of skipped rows by reason. Pure reading; nothing is imported."""
    pairs: list[Pair] = []
    skipped: Counter = Counter()
    for path in sorted((repo / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            call_kwargs = _kwargs_of_call(fn)
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "parametrize"):
                    continue
                try:
                    names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                except (ValueError, AttributeError, IndexError):
                    continue
                exp_key = "expected" if "expected" in names else "result" if "result" in names else None
                if "gold" not in names or "pred" not in names or exp_key is None:
                    continue
                for k, elt in enumerate(dec.args[1].elts):
                    try:
                        row = dict(zip(names, ast.literal_eval(elt)))
                    except ValueError:
                        skipped["not a literal"] += 1
                        continue
                    settings, default_targets = _settings(call_kwargs, row)
                    why = _non_default(settings)
                    if why:
                        skipped[why] += 1
                        continue
                    pairs.append(Pair("%s::%s[%d]" % (path.name, fn.name, k), row["gold"], row["pred"],
                                      bool(row[exp_key]), default_targets))
    return pairs, skipped


def _mv_default_verdict(p: Pair) -> bool | None:
    """Math-Verify's own verdict on a row with its default settings (None if it fails)."""
    try:
        from math_verify import parse, verify

        return bool(verify(parse(p.gold), parse(p.pred)))
    except Exception:  # noqa: BLE001 - a row Math-Verify cannot handle is kept as it is
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="a checkout of huggingface/Math-Verify")
    ap.add_argument("--types", default="math,auto", help="answer types to run (comma-separated)")
    ap.add_argument("--strict-extraction", action="store_true", help="no weak fallback (boxes/cues only)")
    ap.add_argument("--extraction", default=None,
                    help="extraction mode passed to check_answer(extraction=...) where it has one (strict|weak|reading); "
                         "overrides the weak/strict choice")
    ap.add_argument("--default-targets-only", action="store_true",
                    help="skip rows parsed with a subset of Math-Verify's extraction targets")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per Math-Verify call")
    ap.add_argument("--min-agreement", type=float, default=0.97)
    ap.add_argument("-v", "--verbose", action="store_true", help="also list every disagreement")
    args = ap.parse_args(argv)

    import inspect

    from mmpr_builder.labelers import Verdict, check_answer

    if args.extraction and "extraction" not in inspect.signature(check_answer).parameters:
        ap.error("this check_answer has no extraction modes; use --strict-extraction or the default (weak)")
    how = {"extraction": args.extraction} if args.extraction else {"allow_weak": not args.strict_extraction}

    pairs, skipped = collect(args.repo)
    if args.default_targets_only:
        skipped["extraction-target subset"] += sum(not p.default_targets for p in pairs)
        pairs = [p for p in pairs if p.default_targets]
    else:
        kept = [p for p in pairs if p.default_targets or _mv_default_verdict(p) in (None, p.expected)]
        skipped["verdict depends on non-default extraction targets"] += len(pairs) - len(kept)
        pairs = kept
    print("Math-Verify cases: %d kept; skipped: %s" % (len(pairs), dict(skipped) or "none"))
    ok_all = True
    for kind in [t.strip() for t in args.types.split(",") if t.strip()]:
        agree, false_correct, missed = 0, [], []
        verdicts: Counter = Counter()
        for p in pairs:
            check = check_answer(p.pred, p.gold, answer_type=kind, timeout_s=args.timeout, **how)
            ours = check.verdict is Verdict.CORRECT
            verdicts[check.verdict.value] += 1
            if ours == p.expected:
                agree += 1
            elif ours:
                false_correct.append((p, check))
            else:
                missed.append((p, check))
        rate = agree / len(pairs) if pairs else 0.0
        ok_all &= rate >= args.min_agreement and not false_correct
        print("\n[%s] agreement %d/%d = %.1f%%; false correct: %d; missed correct: %d; verdicts: %s"
              % (kind, agree, len(pairs), 100 * rate, len(false_correct), len(missed), dict(verdicts)))
        for p, c in false_correct:
            print("  FALSE CORRECT %s\n    gold=%r\n    pred=%r\n    extracted=%r: %s"
                  % (p.where, p.gold[:120], p.pred[-120:], c.extracted, c.reason[:200]))
        if args.verbose:
            for p, c in missed:
                print("  missed %s\n    gold=%r\n    pred=%r\n    extracted=%r [%s]: %s"
                      % (p.where, p.gold[:120], p.pred[-160:], c.extracted, c.verdict.value, c.reason[:200]))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
