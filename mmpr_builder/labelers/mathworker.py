"""Math-Verify with a wall-clock bound that works in any thread or process.

Math-Verify (``math_verify.parse``/``verify``) bounds its own time with
``signal.alarm``, which raises outside the main thread and cannot interrupt a
long C-level computation (``9^{9^{9^9}}`` or ``(10^{10})!`` in sympy run for
minutes). So we turn its timeouts off (``parsing_timeout=None``,
``timeout_seconds=None``) and run it in a small **persistent child process**
(``_mv_child.py``, started with ``subprocess`` so it also works from daemonic
``multiprocessing`` workers, which may not fork children of their own):

- one request at a time per worker, serialised by a lock (thread-safe);
- the parent waits for the answer with a deadline (``selectors``, POSIX);
  past it, the child is killed, the check is reported as *unverifiable*, and a
  fresh child is started at once in the background;
- the child runs under an address-space limit (``RLIMIT_AS``, default 2 GiB) so
  a huge expression fails with MemoryError instead of exhausting the machine;
- after ``fork`` the child process gets a new worker of its own (pipes are
  never shared between processes);
- the child exits when its stdin closes (parent exit), so nothing is left behind.

Start-up (importing sympy, ~0.5-2 s) is bounded separately by
``startup_timeout_s`` and does not eat into a check's deadline.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["MathVerifyWorker", "get_worker", "MAX_EXPR_CHARS"]

MAX_EXPR_CHARS = 2000
"""Longer answers/ground truths are not sent to Math-Verify (reported unverifiable)."""

_CHILD = str(Path(__file__).with_name("_mv_child.py"))


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class MathVerifyWorker:
    """A Math-Verify child process checked with a per-call deadline.

    Args:
        memory_limit_mb: address-space limit of the child (0: none).
        startup_timeout_s: how long to wait for the child to import Math-Verify.
    """

    def __init__(self, memory_limit_mb: int = 2048, startup_timeout_s: float = 120.0):
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout_s = startup_timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sel: selectors.BaseSelector | None = None
        self._buf = b""
        self._ready = False
        self._next_id = 0
        self._pid = os.getpid()
        self.restarts = 0

    # -- process management -------------------------------------------------------
    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-u", _CHILD, str(self.memory_limit_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # Ctrl-C in the parent's terminal does not hit it
        )
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout, selectors.EVENT_READ)
        self._buf, self._ready = b"", False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass

    def _readline(self, deadline: float) -> list:
        assert self._proc is not None and self._sel is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sel.select(remaining):
                raise _Timeout
            chunk = os.read(fd, 65536)
            if not chunk:
                raise _Died
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def _ensure_ready(self) -> str | None:
        """Start/await the child; returns an error message if it cannot serve."""
        if os.getpid() != self._pid:  # forked: the pipes belong to the parent's worker
            self._proc, self._sel, self._pid = None, None, os.getpid()
        if self._proc is not None and self._proc.poll() is not None:
            self._kill()
        if self._proc is None:
            self._spawn()
        if not self._ready:
            try:
                msg = self._readline(time.monotonic() + self.startup_timeout_s)
            except (_Timeout, _Died, ValueError):
                self._kill()
                return "Math-Verify worker did not start"
            if msg != ["ready"]:
                self._kill()
                return "Math-Verify worker failed: %s" % (msg[1] if len(msg) > 1 else msg)
            self._ready = True
        return None

    def close(self) -> None:
        """Stop the child process (a later :meth:`check` starts a new one)."""
        with self._lock:
            if os.getpid() == self._pid:
                self._kill()

    # -- the check -----------------------------------------------------------------
    def check(self, gold: str, pred: str, timeout_s: float, rel_tol: float | None = None) -> tuple[bool | None, str]:
        """Is ``pred`` equivalent to ``gold`` according to Math-Verify?

        Args:
            gold: ground truth (LaTeX or plain; wrapped as ``$...$`` if bare).
            pred: extracted answer, same forms.
            timeout_s: wall-clock bound for this check (start-up excluded).
            rel_tol: when given, two plain numbers Math-Verify calls equal must
                also be exactly equal (integers) or within ``rel_tol`` relative
                error (``_mv_child``: Math-Verify's rounding to 6 decimal places
                would make tiny values equal). None: Math-Verify's verdict alone.

        Returns:
            ``(True|False, note)``, or ``(None, why)`` when it could not be decided
            in time or at all (timeout, crash, unparsable gold, too long).
        """
        if len(gold) > MAX_EXPR_CHARS or len(pred) > MAX_EXPR_CHARS:
            return None, "expression longer than %d characters" % MAX_EXPR_CHARS
        with self._lock:
            err = self._ensure_ready()
            if err is not None:
                return None, err
            self._next_id += 1
            rid = self._next_id
            try:
                self._proc.stdin.write((json.dumps([rid, gold, pred] if rel_tol is None else [rid, gold, pred, rel_tol]) + "\n").encode())
                self._proc.stdin.flush()
                deadline = time.monotonic() + timeout_s
                while True:
                    msg = self._readline(deadline)
                    if msg and msg[0] == rid:
                        return msg[1], msg[2]
            except _Timeout:
                self._kill()
                self.restarts += 1
                self._spawn()  # warm up the replacement while the caller goes on
                return None, "Math-Verify exceeded %.3g s" % timeout_s
            except (_Died, BrokenPipeError, OSError, ValueError):
                self._kill()
                self.restarts += 1
                return None, "Math-Verify worker died (out of memory or crashed)"


_WORKER: MathVerifyWorker | None = None
_WORKER_LOCK = threading.Lock()


def get_worker() -> MathVerifyWorker:
    """The process-wide worker (created on first use, closed at exit)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = MathVerifyWorker()
            atexit.register(_WORKER.close)
        return _WORKER


def _after_fork_in_child() -> None:
    global _WORKER, _WORKER_LOCK
    _WORKER, _WORKER_LOCK = None, threading.Lock()  # the parent's worker object keeps the parent's pipes; make our own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
