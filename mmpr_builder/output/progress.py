"""Run-level progress of a build: one tqdm bar on stderr and ``progress.jsonl`` in the output folder.

``progress.jsonl`` is for other tools to follow (``tail -f``): one JSON object a line,
appended across resumes (a build with ``--overwrite`` starts it over). Keys of each line:

- ``event``: ``start`` (the run began; counts are those committed by earlier runs),
  ``progress`` (at most one every ``interval_s`` seconds while items finish) or ``end``;
- ``time`` (Unix seconds), ``elapsed_s`` (seconds since this invocation's start);
- ``items`` (finished items, earlier runs included; equals the summary's ``items`` at the
  end), ``errors`` (bad rows and failed items recorded in ``errors.jsonl``), ``total``
  (source rows to handle, ``--limit``, or null when unknown);
- ``pairs`` (all pairs so far), ``accuracy`` (correct / checked responses, as in the
  summary; null before any checked response);
- ``generated_tokens`` and ``tokens_per_s`` (this invocation: generated tokens / elapsed_s).

The bar shows rows handled (items + errors) of ``total`` with tqdm's rate and ETA, and
pairs, accuracy and tokens/s as its postfix. It is drawn only when stderr is a terminal
(tqdm's ``disable=None``) and never with ``show_bar=False`` (``--quiet``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..items import ItemOutcome
from .manifest import PROGRESS_NAME


def accuracy(verdicts: Counter) -> float | None:
    """Correct / checked responses (checked = correct + incorrect + no_answer), 4 decimals; None if none checked.

    The rule of :func:`mmpr_builder.output.summary.summarize`.
    """
    checked = verdicts["correct"] + verdicts["incorrect"] + verdicts["no_answer"]
    return round(verdicts["correct"] / checked, 4) if checked else None


class RunProgress:
    """The bar and the JSON-lines log of one build invocation; call it with the stream's running totals.

    Args:
        out_dir: the output folder (the log is ``out_dir/progress.jsonl``).
        total: source rows to handle (``--limit``), or None when unknown.
        committed: outcomes of the items committed by earlier runs (a resume starts from them).
        committed_errors: errors recorded by earlier runs.
        show_bar: draw the bar (when stderr is a terminal); False for ``--quiet``.
        interval_s: least seconds between two ``progress`` lines.
        clock: seconds (``time.time``), replaceable in tests.

    Use: ``start()``, then call the object with each
    :class:`~mmpr_builder.pipeline.StreamStats` update (``items``, ``errors``, ``pairs``,
    ``verdicts``, ``generated_tokens`` of this run), then ``close()``.
    """

    def __init__(self, out_dir: Path, *, total: int | None, committed: Iterable[ItemOutcome] = (),
                 committed_errors: int = 0, show_bar: bool = True, interval_s: float = 2.0, clock=time.time):
        committed = list(committed)
        self.path = Path(out_dir) / PROGRESS_NAME
        self.total, self.interval_s, self.clock = total, interval_s, clock
        self.base_items, self.base_errors = len(committed), committed_errors
        self.base_pairs = sum(sum(o.pairs.values()) for o in committed)
        self.base_verdicts: Counter = Counter()
        for o in committed:
            self.base_verdicts.update(o.verdicts)
        self.show_bar = show_bar
        self.bar = None
        self.t0 = self.last_line = 0.0
        self.state: dict[str, Any] = {}

    def start(self) -> None:
        """Open the bar and write the ``start`` line."""
        from tqdm.auto import tqdm

        self.t0 = self.clock()
        initial = self.base_items + self.base_errors
        self.bar = tqdm(total=self.total, initial=initial, desc="items", unit="item",
                        disable=None if self.show_bar else True, dynamic_ncols=True)
        self.state = self._line("start", items=0, errors=0, pairs=0, verdicts=Counter(), tokens=0)
        self._write(self.state)
        self.last_line = self.t0

    def __call__(self, stats) -> None:
        """Take the stream's running totals (a :class:`~mmpr_builder.pipeline.StreamStats`) after an item or bad row."""
        line = self._line("progress", items=stats.items, errors=stats.errors, pairs=stats.pairs,
                          verdicts=stats.verdicts, tokens=stats.generated_tokens)
        if self.bar is not None:
            done = line["items"] + line["errors"]
            self.bar.update(done - self.bar.n)
            acc = line["accuracy"]
            self.bar.set_postfix_str(f"pairs={line['pairs']} acc={'n/a' if acc is None else f'{acc:.1%}'} "
                                     f"tok/s={line['tokens_per_s']:.0f}", refresh=False)
        self.state = line
        if line["time"] - self.last_line >= self.interval_s:
            self._write(line)
            self.last_line = line["time"]

    def close(self, stats=None, *, errors: int | None = None) -> dict[str, Any]:
        """Write the ``end`` line, close the bar; returns the line.

        Args:
            stats: the stream's final totals (None after a failure: the last totals seen).
            errors: the errors recorded in the folder in all (``errors.jsonl``), which wins over
                the running count (a resumed source re-reads bad rows without an id).
        """
        if stats is not None:
            line = self._line("end", items=stats.items, errors=stats.errors, pairs=stats.pairs,
                              verdicts=stats.verdicts, tokens=stats.generated_tokens)
        else:
            line = {**self.state, "event": "end"}
        if errors is not None:
            line["errors"] = errors
        self._write(line)
        if self.bar is not None:
            self.bar.close()
        return line

    def _line(self, event: str, *, items: int, errors: int, pairs: int, verdicts: Counter,
              tokens: int) -> dict[str, Any]:
        now = self.clock()
        elapsed = max(now - self.t0, 0.0)
        return {"event": event, "time": round(now, 3), "elapsed_s": round(elapsed, 3),
                "items": self.base_items + items, "errors": self.base_errors + errors, "total": self.total,
                "pairs": self.base_pairs + pairs, "accuracy": accuracy(self.base_verdicts + Counter(verdicts)),
                "generated_tokens": tokens, "tokens_per_s": round(tokens / elapsed, 1) if elapsed > 0 else 0.0}

    def _write(self, line: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")


def read_progress(out_dir: Path) -> list[dict[str, Any]]:
    """The lines of ``out_dir/progress.jsonl`` (empty if there is none). Raises ``ValueError`` on a bad line."""
    path = Path(out_dir) / PROGRESS_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
