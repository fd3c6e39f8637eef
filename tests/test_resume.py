"""SIGKILL at any moment of a build, then rerun: no pair lost, none duplicated, same pair ids as an uninterrupted run.

The real pipeline (sample_data/mathqa, BuildRunner, labelers, pairing, ShardWriter) runs in a
child process with a deterministic stand-in for the vLLM engine (seeded answers). The stand-in
reports each engine call on stdout and stops for good at a chosen call, so the parent's kill
lands on a known stretch of the build (the labelling, pairing and writing of the chunk it
announced, or the stop itself) whatever the machine's speed: no sleeps, no timing. BuildRunner
checkpoints after every chunk, so with the default 500 MB shards (everything in one shard that
closes only at the end) a kill still keeps the chunks done before it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmpr_builder.engine import GenerationResult
from mmpr_builder.items import QuestionItem, Response

LIMIT = 36
FINGERPRINT = {"recipe": "mathqa", "seed": 0, "engine": "fake"}


class FakeEngine:
    """Answers each request with ``n`` seeded responses, about half with the right final answer.

    With ``announce``, prints ``call K`` (1-based) at the start of each :meth:`generate`; with
    ``stop_at``, call ``stop_at`` blocks forever (the process waits there to be killed).
    """

    model_name = "fake-engine"
    tokenizer = None

    def __init__(self, truths: dict[str, str], announce: bool = False, stop_at: int | None = None):
        self.truths, self.announce, self.stop_at, self.calls = truths, announce, stop_at, 0

    def generate(self, requests, **sampling):
        self.calls += 1
        if self.announce:
            print(f"call {self.calls}", flush=True)
        if self.calls == self.stop_at:
            threading.Event().wait()  # never set: wait here for SIGKILL
        results = []
        for req in requests:
            truth = self.truths[req.key]
            responses = []
            for j in range(req.n):
                rng = random.Random(req.seed * 1000 + j)
                answer = truth if rng.random() < 0.5 else str(int(rng.random() * 1000) + 1000)
                text = f"Step {j}: we compute carefully ({rng.randrange(10**6)}). The answer is {answer}."
                responses.append(Response(text, "stop", len(text.split()), list(range(len(text.split())))))
            results.append(GenerationResult(req.key, responses))
        return results


def run(out: Path, shard_kw: dict, announce: bool = False, stop_at: int | None = None) -> None:
    """Build mathqa's first LIMIT rows into ``out`` (resuming whatever is there) with ShardWriter(**shard_kw).

    ``announce`` and ``stop_at`` go to :class:`FakeEngine` (the child process of the kill test).
    """
    from mmpr_builder.pipeline import BuildRunner, chunked
    from mmpr_builder.recipes import load_recipe
    from mmpr_builder.sources import iter_items
    from mmpr_builder.output.writer import ShardWriter

    recipe = load_recipe("mathqa")
    items = list(iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                            answer_type=recipe.labeler.answer_type, limit=LIMIT))
    truths = {x.id: x.ground_truth for x in items if isinstance(x, QuestionItem)}
    writer = ShardWriter(out, run_fingerprint=FINGERPRINT, **shard_kw)
    runner = BuildRunner(recipe, FakeEngine(truths, announce, stop_at), writer, seed=0,
                         run_info={"recipe": "mathqa@1", "mmpr_version": "test"})
    for chunk in chunked(iter(items), 3):
        runner.run_chunk(chunk)
    writer.close()


def pair_ids(out: Path) -> list[str]:
    """Pair ids in the finished shards."""
    return sorted(i for p in sorted((out / "data").glob("*.parquet"))
                  for i in pq.read_table(p, columns=["id"])["id"].to_pylist())


def committed_ids(out: Path) -> list[str]:
    """Pair ids the manifest commits: finished shards and parts of the open shard."""
    manifest = json.loads((out / "manifest.json").read_text())
    files = [s["name"] for s in manifest["shards"]] + [c["part"] for c in manifest["commits"] if c["part"]]
    return sorted(i for f in files for i in pq.read_table(out / f, columns=["id"])["id"].to_pylist())


CHILD = "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); " \
        "from test_resume import run; run(Path(sys.argv[2]), json.loads(sys.argv[3]), announce=True, " \
        "stop_at=int(sys.argv[4]))"


@pytest.mark.parametrize("shard_kw", [{"max_shard_rows": 5, "row_group_rows": 2}, {}], ids=["5-row-shards", "500MB"])
def test_sigkill_at_random_moments_then_rerun(tmp_path, shard_kw):
    reference = tmp_path / "ref"
    run(reference, shard_kw)
    ref_ids = pair_ids(reference)
    assert len(ref_ids) >= 10

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    rng = random.Random(1234)
    for _ in range(3):  # kill the same build three times, at seeded points
        # 12 chunks of 3 items; each run commits at most stop_at - 1 <= 3 new chunks, so the
        # three runs never reach the end and every child is still running when it is killed
        stop_at = rng.randint(2, 4)
        kill_after = rng.randint(1, stop_at)  # kill_after == stop_at: killed while waiting at the stop
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(out),
                                 json.dumps(shard_kw), str(stop_at)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stdout:  # the child's progress, not a clock, decides the moment of the kill
            if line.strip() == f"call {kill_after}":
                break
        else:
            pytest.fail(f"the child ended before engine call {kill_after}: {proc.stderr.read()[-3000:]}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        proc.stdout.close()
        proc.stderr.close()
        if (out / "manifest.json").exists():
            ids = committed_ids(out)
            assert len(ids) == len(set(ids)) and set(ids) <= set(ref_ids)  # committed pairs are a clean subset
    run(out, shard_kw)  # the rerun with the same arguments finishes the build
    ids = pair_ids(out)
    assert ids == ref_ids  # none lost, none duplicated
    assert [p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))] == \
        [p.read_bytes() for p in sorted((reference / "data").glob("*.parquet"))]  # same shards, byte for byte
