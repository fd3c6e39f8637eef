"""Math-Verify worker process (run as a script by :mod:`mmpr_builder.labelers.mathworker`).

Protocol, one JSON array per line: the parent writes ``[id, gold, pred]`` on
stdin; this process answers ``[id, true|false|null, note]`` on stdout (null:
could not decide). It starts by writing ``["ready"]`` (or ``["error", msg]``),
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
            rid, gold, pred = json.loads(line)
        except ValueError:
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
                    res = [rid, bool(verify(g, p, timeout_seconds=None)), "Math-Verify"]
        except MemoryError:
            res = [rid, None, "Math-Verify ran out of memory"]
        except Exception as e:  # noqa: BLE001 - one bad expression must not end the worker
            res = [rid, None, "Math-Verify error: %s" % type(e).__name__]
        _out(res)


if __name__ == "__main__":
    main()
