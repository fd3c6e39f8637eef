"""SIGKILL at any moment of a build, then rerun: no pair lost, none duplicated, same pair ids as an uninterrupted run.

The real stream (sample_data/mathqa, run_stream, ItemLabeler, pairing, ShardWriter) runs in a child
process with a deterministic stand-in for the vLLM engine (seeded answers, one request finished per
step), so the test controls where the kill lands: after a random number of finished items, read
from the child's progress lines (no sleeps, no clocks). The real-engine kill test is in
test_build_e2e.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fake_engine import FakeEngine
from mmpr_builder.items import QuestionItem

LIMIT = 36
FINGERPRINT = {"recipe": "mathqa", "seed": 0, "engine": "fake"}


def print_progress(stats) -> None:
    """The stream's progress hook: one line per finished item or bad row (the parent counts them)."""
    print("item", flush=True)


def run(out: Path, shard_kw: dict, announce: bool = False) -> None:
    """Build mathqa's first LIMIT rows into ``out`` (resuming whatever is there) with ShardWriter(**shard_kw)."""
    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.pipeline import run_stream
    from mmpr_builder.recipes import load_recipe
    from mmpr_builder.schema import Provenance
    from mmpr_builder.sources import iter_items
    from mmpr_builder.output.writer import ShardWriter

    recipe = load_recipe("mathqa")
    items = list(iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                            answer_type=recipe.labeler.answer_type, limit=LIMIT))
    truths = {x.id: x.ground_truth for x in items if isinstance(x, QuestionItem)}
    writer = ShardWriter(out, run_fingerprint=FINGERPRINT, **shard_kw)
    provenance = Provenance(recipe="mathqa", recipe_version="1", mmpr_version="test", model="fake-engine",
                            dtype="float32", seed=0)
    labeler = ItemLabeler(recipe, provenance, tokenizer=None)
    run_stream(iter(items), FakeEngine(truths), labeler, writer, inflight_items=3,
               progress=print_progress if announce else None)
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
        "from test_resume import run; run(Path(sys.argv[2]), json.loads(sys.argv[3]), announce=True)"


@pytest.mark.parametrize("shard_kw", [{"max_shard_rows": 5, "row_group_rows": 2}, {}], ids=["5-row-shards", "500MB"])
def test_sigkill_at_random_moments_then_rerun(tmp_path, shard_kw):
    reference = tmp_path / "ref"
    run(reference, shard_kw)
    ref_ids = pair_ids(reference)
    assert len(ref_ids) >= 10

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    rng = random.Random(1234)
    done_before = 0
    for _ in range(3):  # kill the same build three times, after a random number of finished items
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(out),
                                 json.dumps(shard_kw)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(rng.randint(1, 8)):
            assert proc.stdout.readline().strip() == "item"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        ids = committed_ids(out)
        assert len(ids) == len(set(ids)) and set(ids) <= set(ref_ids)  # committed pairs are a clean subset
        done = len(json.loads((out / "manifest.json").read_text())["commits"])
        assert done >= done_before  # nothing committed is lost by a later kill
        done_before = done
    run(out, shard_kw)  # the rerun with the same arguments finishes the build
    ids = pair_ids(out)
    assert ids == ref_ids  # none lost, none duplicated
    assert [p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))] == \
        [p.read_bytes() for p in sorted((reference / "data").glob("*.parquet"))]  # same shards, byte for byte
