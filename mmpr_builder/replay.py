"""Read back a build's stored responses and serve them in place of the engine (``mmpr relabel``).

- :func:`stored_items` streams the items of an output folder, in commit order, each with
  its rows of the responses table (:mod:`mmpr_builder.output.responses`), read from the
  finished shards' ``responses/`` files and the open shard's parts; and the bad rows
  (``errors.jsonl``) the build recorded.
- :class:`ReplayEngine` has the streaming engine's interface (``submit``, ``step``,
  ``in_flight``) but runs no model: a request gets the stored result of the request
  with the same key and :func:`~mmpr_builder.output.responses.request_digest`, or a
  result marked ``not_generated``. :meth:`ReplayEngine.stored_cut` gives the
  labeller the DropoutNTP cuts the build made (no tokenizer needed).

Nothing here imports vLLM or loads a model.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path

from mmpr_builder.engines import GenerationRequest, GenerationResult
from mmpr_builder.errors import OutputError
from mmpr_builder.items import QuestionItem, Response
from mmpr_builder.labelers.dropout_ntp import Cut
from mmpr_builder.labeling import MissingGeneration
from mmpr_builder.output.responses import item_from_row, request_digest

log = logging.getLogger(__name__)

BATCH_ROWS = 512


def stored_errors(out_dir: Path) -> list[dict]:
    """The bad rows a build committed, ``{"item_id", "cause", "message"}``, in commit order.

    Raises:
        OutputError: no manifest, or a shard, part or commit record is damaged (rerun
            ``mmpr build`` on the folder first: it repairs what it can and redoes the rest).
    """
    state = _checked_state(out_dir)
    return [e for c in state.manifest.commits for e in state.records[c.index]["errors"]]


def stored_items(out_dir: Path) -> Iterator[tuple[QuestionItem, list[dict]]]:
    """Each committed item of ``out_dir`` with its response rows, in commit order.

    Yields:
        ``(item, rows)``: the item as stored on its first row (:func:`item_from_row`) and
        all its rows (``sample`` rows, then ``dropout_ntp`` and ``judge`` rows), as dicts.
    Raises:
        OutputError: the folder is damaged (see :func:`stored_errors`), or it holds a
            committed item without stored responses (built before mmpr kept them).
    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    state = _checked_state(out_dir)
    expected = [it["item_id"] for c in state.manifest.commits for it in state.records[c.index]["items"]]
    files = [s.responses_name for s in state.manifest.shards if s.responses_name is not None]
    finished = {s.index for s in state.manifest.shards}
    files += [c.responses_part for c in state.manifest.commits
              if c.shard not in finished and c.responses_part is not None]
    position = 0
    current: list[dict] = []
    for name in files:
        for batch in pq.ParquetFile(out_dir / name).iter_batches(batch_size=BATCH_ROWS):
            for row in batch.to_pylist():
                if current and row["item_id"] != current[0]["item_id"]:
                    position = _check_next(expected, position, current[0]["item_id"], out_dir)
                    yield item_from_row(current[0]), current
                    current = []
                current.append(row)
    if current:
        position = _check_next(expected, position, current[0]["item_id"], out_dir)
        yield item_from_row(current[0]), current
    if position != len(expected):
        raise OutputError(f"{out_dir}: item {expected[position]!r} has no stored responses (built before mmpr kept "
                          "them?); rebuild with `mmpr build --overwrite`")


def _check_next(expected: list[str], position: int, item_id: str, out_dir: Path) -> int:
    """The next committed item must be ``item_id``; returns the position after it."""
    if position >= len(expected) or expected[position] != item_id:
        want = expected[position] if position < len(expected) else "none"
        raise OutputError(f"{out_dir}: stored responses of item {item_id!r} where the commits list {want!r} "
                          "(a committed item without stored responses?); rebuild with `mmpr build --overwrite`")
    return position + 1


def _checked_state(out_dir: Path):
    from mmpr_builder.output.state import read_state

    state = read_state(out_dir)
    if state.problems:
        raise OutputError(f"{out_dir} is damaged ({'; '.join(state.problems)}); rerun `mmpr build` on it first "
                          "to repair it (damaged items are redone)")
    return state


def request_key(row: dict) -> str | None:
    """The engine request key a stored row answered (None for a DropoutNTP attempt without a request)."""
    if row["kind"] == "sample":
        return row["item_id"]
    if row["request_sha256"] is None:
        return None
    return f"{row['item_id']}#{row['kind']}/{row['index']}"


class ReplayEngine:
    """The stored responses of an output folder, served like an engine (no model).

    Args:
        model_name, dtype: the stored run's (stamped into the new rows).
        is_finished: ``item id -> bool``, true once the writer has the item (its stored rows
            are then let go, so memory stays flat).
    Attributes:
        served: requests answered from storage.
        missing: requests answered ``not_generated``, per kind (``sample``, ``dropout_ntp``, ``judge``).
    """

    tokenizer = None

    def __init__(self, model_name: str, dtype: str, is_finished: Callable[[str], bool]):
        self.model_name, self.dtype = model_name, dtype
        self._is_finished = is_finished
        self._requests: dict[str, list[dict]] = {}  # request key -> its rows
        self._attempts: dict[str, dict[int, dict]] = {}  # item id -> chosen index -> DropoutNTP attempt row
        self._keys: dict[str, list[str]] = {}  # item id -> its request keys
        self._queue: deque[GenerationRequest] = deque()
        self.served = 0
        self.missing: Counter = Counter()

    def stash(self, item_id: str, rows: list[dict]) -> None:
        """Hold one item's stored rows until the writer has the item."""
        keys = self._keys.setdefault(item_id, [])
        for row in rows:
            if row["kind"] == "dropout_ntp":
                self._attempts.setdefault(item_id, {})[row["chosen_index"]] = row
            key = request_key(row)
            if key is not None:
                if key not in self._requests:
                    keys.append(key)
                self._requests.setdefault(key, []).append(row)

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, request: GenerationRequest) -> None:
        """Queue ``request``; it is answered by the next :meth:`step`."""
        self._queue.append(request)

    def step(self) -> list[GenerationResult]:
        """Answer every queued request from storage, then let go of the finished items' rows."""
        results = []
        while self._queue:
            request = self._queue.popleft()
            rows = self._requests.pop(request.key, None)
            if rows is None or rows[0]["request_sha256"] != request_digest(request):
                kind = request.key.split("#")[-1].split("/")[0] if "#" in request.key else "sample"
                self.missing[kind] += 1
                why = "never made" if rows is None else "made with other settings"
                results.append(GenerationResult(request.key, error=f"not generated: request {request.key} was {why} "
                                                "in the build; regenerate with `mmpr build`", not_generated=True))
                continue
            self.served += 1
            results.append(GenerationResult(
                request.key, [Response(r["text"], r["finish_reason"], r["num_tokens"], r["token_ids"])
                              for r in rows if r["text"] is not None],
                error=rows[0]["error"], prompt_token_ids=rows[0]["prompt_token_ids"]))
        for item_id in [i for i in self._keys if self._is_finished(i)]:
            for key in self._keys.pop(item_id):
                self._requests.pop(key, None)
            self._attempts.pop(item_id, None)
        return results

    def stored_cut(self, item_id: str, index: int, response: Response) -> Cut | None:
        """The DropoutNTP cut the build made of sample ``index`` (None: too short to cut).

        Raises:
            MissingGeneration: the build never cut that sample (it was not drawn then).
        """
        row = self._attempts.get(item_id, {}).get(index)
        if row is None:
            raise MissingGeneration(f"item {item_id!r}: sample {index} was never cut")
        if row["cut_char"] is None:
            return None
        return Cut(prefix=response.text[:row["cut_char"]], cut_char=row["cut_char"], cut_token=row["cut_token"])


def stored_run(out_dir: Path) -> dict:
    """The run fingerprint ``out_dir`` was built with (provenance fields and ``recipe_settings``).

    Raises:
        OutputError: no manifest, a corrupt one, or a fingerprint without recipe settings.
    """
    from mmpr_builder.output.manifest import read_manifest

    manifest = read_manifest(Path(out_dir))
    if manifest is None:
        raise OutputError(f"{out_dir} is not an mmpr output folder (no manifest.json)")
    fp = manifest.run_fingerprint
    missing = [k for k in ("recipe", "recipe_version", "model", "dtype", "seed", "engine", "recipe_settings")
               if k not in fp]
    if missing:
        raise OutputError(f"{out_dir}: its run fingerprint lacks {', '.join(missing)} "
                          f"({json.dumps(sorted(fp))}); it was not written by `mmpr build`")
    return fp
