"""Rules around Math-Verify (issue 13): preparation, relation shapes, members, the
numeric guard in the worker, and the external-suite harness (on a synthetic suite)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from mmpr_builder.labelers.mathprep import is_simple_lhs, prepare, relation, strip_remark
from mmpr_builder.labelers.mathworker import MathVerifyWorker
from mmpr_builder.labelers.members import match_members, split_members


@pytest.mark.parametrize(
    "text, out",
    [
        ("(a-b)/4 (> 0)", "(a-b)/4"), ("12 (since 3*4)", "12"), ("x^2 (for x > 0)", "x^2"),
        ("5 (i.e. five)", "5"), ("(x+1) (x-1)", "(x+1) (x-1)"), ("7 (mod 9)", "7"), ("(3)", "(3)"),
        ("2n \\text{ (for } n \\geq 1)", "2n"),
    ],
)
def test_strip_remark(text, out):
    assert strip_remark(text) == out


@pytest.mark.parametrize(
    "text, out",
    [
        ("C(8,3)", "\\binom{8}{3}"), ("C(8, 3)", "\\binom{8}{3}"), ("8 choose 3", "\\binom{8}{3}"),
        ("{8 \\choose 3}", "\\binom{8}{3}"), ("\\dbinom{8}{3}", "\\binom{8}{3}"), ("sqrt(x+1)", "\\sqrt{x+1}"),
        ("log(8)", "\\log(8)"), ("\\sin(x)", "\\sin(x)"), ("1 - \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{e}"),
        ("3e-9", "3\\times10^{-9}"), ("C(x, y)", "C(x, y)"),
    ],
)
def test_prepare(text, out):
    assert prepare(text) == out


@pytest.mark.parametrize(
    "text, ops",
    [
        ("x \\geq 1", (">=",)), ("2 < x \\le 5", ("<", "<=")), ("a+3z=0", ("=",)), ("f(x=1)", ()),
        ("\\{x : x > 0\\}", ()), ("x \\neq 3", ("!=",)), ("(1, 2]", ()), ("x \\approx 3", ("~",)),
    ],
)
def test_relation(text, ops):
    assert relation(text).ops == ops


@pytest.mark.parametrize(
    "lhs, simple",
    [
        ("x", True), ("a_1", True), ("\\theta", True), ("f(2)", True), ("(x, y)", True), ("AB", True), ("|AB|", True),
        ("V_{1}:V_{2}", True), ("\\frac{NO}{BO}", True),
        ("a+3z", False), ("x-y", False), ("2x", False), ("x^2", False), ("p + q", False), ("1", False), ("", False),
    ],
)
def test_is_simple_lhs(lhs, simple):
    assert is_simple_lhs(lhs) is simple


@pytest.mark.parametrize(
    "text, members, form",
    [
        ("\\{1, 2\\}", ("1", "2"), "set"), ("\\left\\{ a, b \\right\\}", ("a", "b"), "set"), ("{1,3}", ("1", "3"), "list"),
        ("3, 5 and 7", ("3", "5", "7"), "list"), ("3, 5, and 7", ("3", "5", "7"), "list"), ("12 or 13", ("12", "13"), "list"),
        ("(11,7)or(7,11)", ("(11,7)", "(7,11)"), "list"), ("a=4,\\,-8,\\,-10", ("a=4", "-8", "-10"), "list"),
        ("1 \\text{ and } 2", ("1", "2"), "list"), ("(1,2,3)", ("(1,2,3)",), "tuple"), ("(1,2]", ("(1,2]",), "tuple"),
        ("1,234", ("1,234",), "single"), ("0,111", ("0,111",), "single"), ("x \\land y", ("x \\land y",), "single"),
        ("(2,12) \\cup (12,102)", ("(2,12) \\cup (12,102)",), "single"),
        ("\\{1\\} \\cup \\{2, 3\\}", ("\\{1\\} \\cup \\{2, 3\\}",), "single"),
        ("\\{-1\\} \\cup [0,7)", ("\\{-1\\} \\cup [0,7)",), "single"), ("salt and pepper", ("salt", "pepper"), "list"),
    ],
)
def test_split_members(text, members, form):
    assert split_members(text) == (members, form)


def test_match_members_is_a_set_comparison():
    eq = lambda a, b: a == b  # noqa: E731
    assert match_members(["1", "2"], ["2", "1"], eq) is True
    assert match_members(["1", "2"], ["1", "2", "3"], eq) is False  # missing member
    assert match_members(["1", "1"], ["1", "2"], eq) is False  # one gold member cannot match twice
    assert match_members(["1", "3"], ["1", "2"], lambda a, b: None if a == "3" else a == b) is None  # undecided


def test_worker_numeric_guard():
    worker = MathVerifyWorker()
    try:
        assert worker.check("5\\times 10^{-31}", "10^{-30}", timeout_s=30)[0] is True  # Math-Verify alone rounds
        assert worker.check("5\\times 10^{-31}", "10^{-30}", timeout_s=30, rel_tol=1e-3)[0] is False
        assert worker.check("10^{-30}", "1.0\\times10^{-30}", timeout_s=30, rel_tol=1e-3)[0] is True
        assert worker.check("\\frac{1}{12}", "0.0833333333333333", timeout_s=30, rel_tol=1e-3)[0] is True
        assert worker.check("0", "10^{-9}", timeout_s=30, rel_tol=1e-3)[0] is False
        assert worker.check("x^2+1", "1+x^2", timeout_s=30, rel_tol=1e-3)[0] is True
    finally:
        worker.close()


SYNTHETIC_SUITE = '''
import pytest

def compare_strings(gold, pred, match_types=["latex", "expr"], precision=6, strict=True):
    pass

@pytest.mark.parametrize("gold,pred,expected", [("$7$", "so we get $\\\\boxed{7}$", 1), ("$x > 3$", "$x < 3$", 0)])
def test_plain(gold, pred, expected):
    assert compare_strings(gold, pred) == expected

@pytest.mark.parametrize("gold,pred,expected,precision", [("$1/3$", "$0.33$", 1, 2), ("$4$", "$\\\\boxed{4}$", 1, 6)])
def test_precision(gold, pred, expected, precision):
    assert compare_strings(gold, pred, precision=precision) == expected

@pytest.mark.parametrize("gold, pred, strict, expected", [("$f(x)$", "$f(y)$", False, 1)])
def test_loose(gold, pred, strict, expected):
    assert compare_strings(gold, pred, strict=strict) == expected
'''


def _harness():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_mathverify_suite.py"
    spec = importlib.util.spec_from_file_location("eval_mathverify_suite", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_suite_harness_reads_pairs_and_skips_non_default_settings(tmp_path, capsys):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_synthetic.py").write_text(textwrap.dedent(SYNTHETIC_SUITE))
    mod = _harness()
    pairs, skipped = mod.collect(tmp_path)
    assert [(p.gold, p.expected) for p in pairs] == [("$7$", True), ("$x > 3$", False), ("$4$", True)]
    assert skipped == {"precision=2": 1, "strict=False": 1}
    assert mod.main(["--repo", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[math] agreement 3/3 = 100.0%; false correct: 0" in out and "[auto] agreement 3/3" in out


def test_mathverify_suite_agreement(mathverify_repo, capsys):
    """Issue 13, Done-when: on Math-Verify's own pairs (default settings), no false "correct"
    and >= 97% agreement for answer types ``math`` and ``auto``."""
    mod = _harness()
    pairs, _ = mod.collect(mathverify_repo)
    assert len(pairs) >= 200, "too few pairs read from %s" % mathverify_repo
    status = mod.main(["--repo", str(mathverify_repo), "--min-agreement", "0.97"])
    out = capsys.readouterr().out
    for kind in ("math", "auto"):
        line = next(ln for ln in out.splitlines() if ln.startswith("[%s] agreement" % kind))
        assert "false correct: 0;" in line, out
    assert status == 0, out
