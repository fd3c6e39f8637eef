"""Math-Verify's own test pairs as an external suite (issue 13, part 4).

The pairs are not stored here (workplace rule: none of Math-Verify's code or
test data in this repository). Point ``MMPR_MATHVERIFY_REPO`` at a checkout of
huggingface/Math-Verify to run this test; otherwise it is skipped. The
harness is ``benchmarks/eval_mathverify_suite.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = os.environ.get("MMPR_MATHVERIFY_REPO")
MIN_AGREEMENT = 0.94  # reached at Math-Verify 5d148cf (issue 13's goal is 0.97; the rest is extraction policy)


@pytest.mark.skipif(not REPO or not (Path(REPO) / "tests").is_dir(), reason="MMPR_MATHVERIFY_REPO not set")
def test_math_verify_suite_no_false_correct(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_mathverify_suite.py"
    spec = importlib.util.spec_from_file_location("eval_mathverify_suite", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    mod.main(["--repo", REPO, "--min-agreement", str(MIN_AGREEMENT)])
    out = capsys.readouterr().out
    for kind in ("math", "auto"):
        line = next(ln for ln in out.splitlines() if ln.startswith("[%s]" % kind))
        assert "false correct: 0;" in line, out
        agree, total = map(int, line.split("agreement ")[1].split(" ")[0].split("/"))
        assert agree / total >= MIN_AGREEMENT, line
