"""Run a build as one stream: source -> engine -> labelling -> pairing -> writer.

Two threads share the work so that the engine never waits for labelling or
writing:

- the **engine thread** (the caller's) keeps up to ``run.inflight_items``
  items in the engine: it pulls items from the source as others finish,
  submits their sampling requests and the DropoutNTP continuations handed
  (and judge requests) handed back by the writer thread, steps the engine and
  passes each finished request on;
- the **writer thread** labels each finished item, consults the optional
  judge, makes its pairs, asks for its DropoutNTP continuations (they join the
  same stream at once) and hands the finished item to the
  :class:`~mmpr_builder.output.writer.ShardWriter`, with every response it got
  (:func:`~mmpr_builder.output.responses.make_response_rows`).

Durability: items are committed in order of completion, at least every
``run.commit_interval_s`` seconds and whenever the writer thread has nothing
else to do, so a ``kill -9`` loses only the items still in the engine and
those finished since the last commit. A rerun skips committed items; per-item
seeds make its pairs the same as an uninterrupted run's. Memory stays flat in
the dataset size: the source streams and at most ``inflight_items`` items are
held.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mmpr_builder.engines import GenerationRequest, GenerationResult
from mmpr_builder.errors import ItemError
from mmpr_builder.items import QuestionItem
from mmpr_builder.labeling import ItemLabeler, JudgeAsk, PreparedItem
from mmpr_builder.output.responses import make_response_rows

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class StreamStats:
    """Running totals of one stream (this invocation only; items committed by earlier runs are not counted).

    Attributes:
        generated_tokens: tokens the engine generated (samples, continuations, judge replies).
        seconds: wall seconds the engine thread ran.
        items: items finished and handed to the writer with their pairs and outcome.
        errors: bad source rows and items that failed (``engine_error``, ``labeling_error``).
        pairs: pair rows of those items.
        verdicts: verdict -> responses of those items (``correct``, ``incorrect``, ...).
    """

    generated_tokens: int = 0
    seconds: float = 0.0
    items: int = 0
    errors: int = 0
    pairs: int = 0
    verdicts: Counter = field(default_factory=Counter)


class _Writer(threading.Thread):
    """The writer thread: labels finished requests, commits items, hands continuations back.

    Messages in (``inbox``): ``("result", item, tag, result)`` (tag None: the item's samples; a
    :class:`~mmpr_builder.labeling.Continuation`; a :class:`~mmpr_builder.labeling.JudgeAsk`) and
    ``("bad", ItemError)``. Messages out (``outbox``): ``("submit", item, [(request, tag)])``,
    ``("done", item, committed)``, ``("fatal", exception)``.
    """

    def __init__(self, labeler: ItemLabeler, writer, commit_interval_s: float):
        super().__init__(name="mmpr-writer", daemon=True)
        self.labeler, self.writer, self.interval = labeler, writer, commit_interval_s
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.open_ids: set[str] = set()  # items in flight; the engine thread adds, this thread removes
        self._held: dict[str, list[ItemError]] = {}  # bad rows naming an item in flight (a duplicate id)
        self._uncommitted = 0

    def run(self) -> None:
        last_commit = time.monotonic()
        try:
            while True:
                timeout = None if not self._uncommitted else max(0.0, last_commit + self.interval - time.monotonic())
                try:
                    msg = self.inbox.get(timeout=timeout)
                except queue.Empty:
                    msg = None
                if msg is _STOP:
                    break
                if msg is not None:
                    self._handle(*msg)
                if self._uncommitted and (self.inbox.empty() or time.monotonic() - last_commit >= self.interval):
                    self.writer.checkpoint()
                    self._uncommitted, last_commit = 0, time.monotonic()
            self.writer.checkpoint()
        except BaseException as e:  # noqa: BLE001 - reported to the engine thread, which raises it
            self.outbox.put(("fatal", e))

    def _handle(self, kind: str, *args) -> None:
        if kind == "bad":
            (err,) = args
            if err.item_id in self.open_ids:  # recorded once that item is done, so it cannot pre-empt it
                self._held.setdefault(err.item_id, []).append(err)
            elif err.item_id is None or err.item_id not in self.writer.done_items:
                self.writer.add_error(err.item_id, err.cause, str(err))
                self._uncommitted += 1
            return
        p: PreparedItem = args[0]
        tag, result = args[1], args[2]
        try:
            if tag is None:  # the item's K samples
                if result.error:
                    self.writer.add_error(p.item.id, "not_generated" if result.not_generated else "engine_error",
                                          result.error)
                    self._finish(p, commit=False)
                    return
                self.labeler.take_samples(p, result)
                p.labeled = self.labeler.check_samples(p, p.responses)
                if p.labeled is not None and self.labeler.judge_in_stream:
                    asks = self.labeler.judge_requests(p, p.labeled)
                    if asks:
                        self._submit(p, asks)
                        return
                elif p.labeled is not None and self.labeler.http_judge is not None:
                    p.labeled = self.labeler.apply_judge(p, p.labeled)
                jobs = self.labeler.label_samples(p, p.responses, p.labeled)
            elif isinstance(tag, JudgeAsk):
                self.labeler.take_judge_reply(p, tag, result)
                p.open_requests -= 1
                if p.open_requests:
                    return
                labeled = self.labeler.apply_judge(p, p.labeled, p.judge_replies)
                jobs = self.labeler.label_samples(p, p.responses, labeled)
            else:  # a DropoutNTP continuation
                self.labeler.add_continuation(p, tag, result)
                p.open_requests -= 1
                jobs = []
        except Exception as e:  # noqa: BLE001 - one item's labelling fault must not end the run
            self.writer.add_error(p.item.id, "labeling_error", f"{type(e).__name__}: {e}")
            self._finish(p, commit=False)
            return
        if jobs:
            self._submit(p, [(self.labeler.continuation_request(p, job), job) for job in jobs])
        elif not p.open_requests:
            self._finish(p, commit=True)

    def _submit(self, p: PreparedItem, requests: list[tuple]) -> None:
        """Hand ``(request, tag)`` pairs to the engine thread; their results come back tagged."""
        p.open_requests += len(requests)
        self.outbox.put(("submit", p, requests))

    def _finish(self, p: PreparedItem, *, commit: bool) -> None:
        if commit:
            self.writer.add_item(p.item.id, p.sorted_rows(), p.outcome.to_json(), responses=make_response_rows(p))
        self.open_ids.discard(p.item.id)
        for err in self._held.pop(p.item.id, []):
            self.writer.add_error(err.item_id, err.cause, str(err))
        self._uncommitted += 1
        self.outbox.put(("done", p, commit))


def run_stream(items: Iterator[QuestionItem | ItemError], engine, labeler: ItemLabeler, writer, *,
               inflight_items: int = 256, commit_interval_s: float = 2.0, progress=None) -> StreamStats:
    """Push ``items`` through ``engine`` and ``labeler`` into ``writer``; returns throughput figures.

    Args:
        items: the source stream (bad rows as ``ItemError``).
        engine: a streaming engine (``submit``, ``step``, ``in_flight``), see :class:`mmpr_builder.engines.StreamingEngine`.
        labeler: labels items and makes requests and pair rows.
        writer: a ``ShardWriter`` (``done_items``, ``add_item`` with ``responses=``, ``add_error``, ``checkpoint``).
            Items in ``writer.done_items`` are skipped.
        inflight_items: most items in the engine at once.
        commit_interval_s: longest time (seconds) a finished item waits for its commit.
        progress: called with the running :class:`StreamStats` after each finished item and each bad
            row (on this thread), e.g. :class:`mmpr_builder.output.progress.RunProgress`; or None.
    Raises:
        MmprError or OSError: the writer failed (what was committed stays; rerun to resume).
    """
    worker = _Writer(labeler, writer, commit_interval_s)
    worker.start()
    stats = StreamStats()
    routes: dict[str, tuple[PreparedItem, Any]] = {}  # request key -> (item, tag: None = its samples)
    open_items = 0
    source = iter(items)
    exhausted = False
    t0 = time.perf_counter()

    def route(result: GenerationResult) -> None:
        p, tag = routes.pop(result.key)
        stats.generated_tokens += (result.completion_tokens if result.completion_tokens is not None
                                   else sum(r.num_tokens for r in result.responses))
        worker.inbox.put(("result", p, tag, result))

    def submit(p: PreparedItem, request: GenerationRequest, tag: Any) -> None:
        routes[request.key] = (p, tag)
        rejected = engine.submit(request)
        if rejected is not None:
            route(rejected)

    def handle(msg: tuple) -> None:
        nonlocal open_items
        kind = msg[0]
        if kind == "fatal":
            raise msg[1]
        if kind == "submit":
            for request, tag in msg[2]:
                submit(msg[1], request, tag)
        else:  # "done"
            open_items -= 1
            p, committed = msg[1], msg[2]
            if committed:
                stats.items += 1
                stats.pairs += len(p.rows)
                stats.verdicts.update(p.outcome.verdicts)
            else:
                stats.errors += 1
            if progress is not None:
                progress(stats)

    def bad_row(err: ItemError) -> None:
        worker.inbox.put(("bad", err))
        if err.item_id is not None and err.item_id in writer.done_items:
            return  # recorded by an earlier run
        stats.errors += 1
        if progress is not None:
            progress(stats)

    try:
        while True:
            while True:  # continuations and finished items from the writer thread
                try:
                    handle(worker.outbox.get_nowait())
                except queue.Empty:
                    break
            while not exhausted and open_items < inflight_items:
                x = next(source, None)
                if x is None:
                    exhausted = True
                elif isinstance(x, ItemError):
                    bad_row(x)
                elif x.id not in writer.done_items:
                    try:
                        p = labeler.prepare(x)
                    except ItemError as e:
                        bad_row(e)
                        continue
                    open_items += 1
                    worker.open_ids.add(x.id)
                    submit(p, labeler.sample_request(p), None)
            if engine.in_flight:
                for result in engine.step():
                    route(result)
            elif exhausted and open_items == 0:
                break
            else:  # the engine is idle until the writer thread hands back work
                handle(worker.outbox.get())
    finally:
        stats.seconds = time.perf_counter() - t0
        worker.inbox.put(_STOP)
        worker.join()
    while not worker.outbox.empty():  # a failure in the final commit
        msg = worker.outbox.get_nowait()
        if msg[0] == "fatal":
            raise msg[1]
    return stats


__all__ = ["run_stream", "StreamStats"]
