"""Session fixtures: the repository root and one real vLLM engine per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Math-Verify's per-check deadline: generous, so that no verdict depends on how busy the CPU is
# (the tests of the deadline itself pass their own).
os.environ.setdefault("MMPR_MATH_TIMEOUT_S", "120")

from testlib import REPO_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def engine():
    """The real vLLM engine on the embedded model, started once per session (about 20 s on 2 cores)."""
    from mmpr_builder.engines.vllm import Engine, EngineConfig
    from mmpr_builder.models.aliases import resolve_model

    return Engine(resolve_model(None), EngineConfig(), seed=0)


def pytest_addoption(parser):
    parser.addoption(
        "--mathverify-repo", default=os.environ.get("MMPR_MATHVERIFY_REPO"), metavar="PATH",
        help="a checkout of huggingface/Math-Verify: run its test pairs against check_answer "
             "(tests/labelers/test_math_rules.py; default $MMPR_MATHVERIFY_REPO)",
    )


@pytest.fixture(scope="session")
def mathverify_repo(request) -> Path:
    """The Math-Verify checkout given with ``--mathverify-repo`` (or ``$MMPR_MATHVERIFY_REPO``).

    Not given: the test is skipped with a reason saying how to run it (the suite is
    third-party data we do not store). Given but not a checkout: the test fails."""
    given = request.config.getoption("--mathverify-repo")
    if not given:
        pytest.skip("Math-Verify's suite not run: pass --mathverify-repo=PATH (or set $MMPR_MATHVERIFY_REPO)")
    path = Path(given)
    if not (path / "tests" / "test_all.py").is_file():
        pytest.fail("--mathverify-repo %s is not a Math-Verify checkout (no tests/test_all.py)" % path)
    return path
