"""Math-Verify worker process (run as a script by :mod:`mmpr_builder.labelers.mathworker`).

Protocol, one JSON array per line: the parent writes ``[id, gold, pred]`` or
``[id, gold, pred, rel_tol]`` on stdin; this process answers
``[id, true|false|null, note]`` on stdout (null: could not decide).

With ``rel_tol``, a pair Math-Verify calls equal that is two plain numbers
(no free symbols) must also pass an exact check (two integers) or a relative
one (``|p - g| <= rel_tol * |g|``, a zero gold needs an exact zero): Math-Verify
rounds to 6 decimal places, which makes ``10^{-30}`` equal ``5\times10^{-31}``
(issue 13: tiny values compare relatively or exactly). It starts by writing ``["ready"]`` (or ``["error", msg]``),
and exits when stdin closes. Math-Verify's own SIGALRM timeouts are disabled
(``parsing_timeout=None``, ``timeout_seconds=None``): the parent enforces the
deadline by killing this process. Imports nothing from mmpr_builder, so it runs
whether or not the package is installed.
"""

import os
import sys

# Run as a script, this file's folder would be sys.path[0] and its siblings would
# shadow the standard library; drop it before importing anything else.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402


def _out(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _latex(s: str) -> str:
    """Wrap a bare answer as inline LaTeX, the form Math-Verify parses best."""
    if "$" in s or "\\(" in s or "\\[" in s or "\\boxed" in s:
        return s
    s = s.replace("**", "^")
    s = re.sub(r"(?<![\\a-zA-Z])pi(?![a-zA-Z])", r"\\pi", s)
    return "$" + s + "$"


def _close(g, p, rel_tol: float) -> bool:
    """The relative/exact check on two sympy numbers (module doc); True when not numbers."""
    import sympy

    if not (isinstance(g, sympy.Basic) and isinstance(p, sympy.Basic)):
        return True
    if not (getattr(g, "is_number", False) and getattr(p, "is_number", False)):
        return True
    if isinstance(g, sympy.Integer) and isinstance(p, sympy.Integer):
        return g == p
    gv, pv = sympy.N(g, 40), sympy.N(p, 40)
    try:
        if gv == 0:
            return bool(pv == 0)
        return bool(abs(pv - gv) <= sympy.Float(rel_tol, 40) * abs(gv))
    except TypeError:  # not comparable (nan, zoo)
        return False


def _check(verify, g_list, p_list, rel_tol) -> bool:
    if not verify(g_list, p_list, timeout_seconds=None):
        return False
    if rel_tol is None:
        return True
    for g in g_list:
        for p in p_list:
            if verify([g], [p], timeout_seconds=None) and _close(g, p, rel_tol):
                return True
    return False


def main() -> None:
    mem_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if mem_mb > 0:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        except (ImportError, ValueError, OSError):
            pass
    logging.disable(logging.CRITICAL)  # Math-Verify warns that its timeout is off: we know
    try:
        from math_verify import parse, verify
    except Exception as e:  # noqa: BLE001 - reported to the parent
        _out(["error", "cannot import math_verify: %r" % (e,)])
        return
    _out(["ready"])
    for line in sys.stdin:
        try:
            req = json.loads(line)
            rid, gold, pred = req[:3]
            rel_tol = float(req[3]) if len(req) > 3 and req[3] is not None else None
        except (ValueError, TypeError):
            continue
        try:
            g = parse(_latex(gold), parsing_timeout=None)
            if not g:
                res = [rid, None, "Math-Verify cannot parse the ground truth"]
            else:
                p = parse(_latex(pred), parsing_timeout=None)
                if not p:
                    res = [rid, False, "answer is not a math expression"]
                else:
                    res = [rid, _check(verify, g, p, rel_tol), "Math-Verify"]
        except MemoryError:
            res = [rid, None, "Math-Verify ran out of memory"]
        except Exception as e:  # noqa: BLE001 - one bad expression must not end the worker
            res = [rid, None, "Math-Verify error: %s" % type(e).__name__]
        _out(res)


if __name__ == "__main__":
    main()
