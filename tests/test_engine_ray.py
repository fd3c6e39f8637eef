"""The ``ray`` engine on a real local Ray cluster (started here with 2 CPUs, shut down after).

- engine: 2 replicas of the embedded model build the caption recipe (images, n samples,
  DropoutNTP continuations with continue_final_message) through ``--ray-address``; the pair ids equal those of an in-process ``vllm`` build with the same seed.
- not engine (Ray only): a replica that fails some rows, and a dataset that dies, give
  per-item errors, never a failed build; a rerun resumes.

Ray is a test dependency (``make setup`` installs the ``ray`` extra): missing, these tests fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray

from testlib import REPO_ROOT

MMPR = [sys.executable, "-m", "mmpr_builder"]
#: short answers (so DropoutNTP has finished chosen responses to cut), 3 of the 6 photos
CAPTION = {"sampling": {"num_samples": 3, "max_tokens": 64},
           "prompt": {"template": "{question} Answer in one short sentence."}}
#: small engines: two replicas and the driver fit beside other work
ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
              "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "2"}


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster with 2 CPUs; yields its address (what ``--ray-address`` takes)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _pair_ids(out: Path) -> list[str]:
    return sorted(r["id"] for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist())


def _summary(stdout: str) -> dict:
    """The ``--json`` summary: the last JSON object on stdout (vLLM logs to stdout before it)."""
    return json.loads(stdout if stdout.startswith("{") else stdout[stdout.rindex("\n{") + 1:])


def _build(tmp: Path, name: str, args: list[str], engine_yaml: dict) -> tuple[Path, dict]:
    config = tmp / f"{name}.yaml"
    config.write_text(json.dumps({**CAPTION, "engine": engine_yaml}))
    out = tmp / name
    proc = subprocess.run(MMPR + ["build", "--source", "caption", "--limit", "3", "--seed", "7", "--dtype", "float32",
                                  "--max-model-len", "1024", "--config", str(config), "--out", str(out), "--json",
                                  *args],
                          cwd=REPO_ROOT, env={**os.environ, **ENGINE_ENV, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, _summary(proc.stdout)


@pytest.mark.engine
def test_two_ray_replicas_give_the_pairs_of_the_in_process_engine(cluster, tmp_path):
    """Same seed, same items: `--engine ray --replicas 2` (items spread over both replicas) writes the
    same pair ids as the in-process engine. Batches of one request on both sides, so the CPU kernels
    see the same shapes whatever the CPU: vLLM-CPU float32 was batch-invariant on an AVX-512 machine
    (benchmarks/probe_batch_invariance.py), which is not established for AVX2-only CPUs."""
    ref, ref_summary = _build(tmp_path, "vllm", ["--inflight-items", "1"], {})
    out, summary = _build(tmp_path, "ray", ["--engine", "ray", "--replicas", "2", "--ray-address", cluster,
                                            "--inflight-items", "4"], {"replica_inflight": 1})
    assert ref_summary["errors"] == {} and summary["errors"] == {}
    assert summary["items"] == ref_summary["items"] == 3
    ref_ids = _pair_ids(ref)
    assert ref_ids, "short answers finish, so DropoutNTP makes pairs"
    assert _pair_ids(out) == ref_ids
    stamp = json.loads(pq.read_schema(next((out / "data").glob("*.parquet"))).metadata[b"mmpr"])
    assert stamp["engine"]["backend"] == "ray" and "replicas" not in stamp["engine"]


def _math_items(tmp: Path) -> Path:
    ids = ["q1", "q2", "q3-failrow", "q4", "q5-crash", "q6", "q7"]
    data = tmp / "items.jsonl"
    data.write_text("".join(json.dumps({"id": i, "question": f"What is 6 times 7? ({i})", "answer": "42"}) + "\n"
                            for i in ids))
    return data


def _config(data: Path, out: Path, **engine):
    from mmpr_builder.build_config import BuildConfig, EngineConfig, RunConfig
    from mmpr_builder.config import merge
    from mmpr_builder.recipes import load_recipe

    recipe = merge(load_recipe("mathqa"), {"sampling": {"num_samples": 4}, "labeler": {"allow_weak": True}})
    recipe = merge(recipe, {"source": {"path": str(data)}})
    return BuildConfig(recipe, EngineConfig(**engine), RunConfig(out_dir=str(out), inflight_items=1))


def test_row_and_replica_failures_become_item_errors_and_resume(cluster, tmp_path):
    """2 replicas (doubles on the real Ray Data stream): a row the replica rejects and a block that
    kills the dataset become engine_error items; the dataset restarts and the other items get the
    pairs the in-process engine double gives them; a rerun resumes with nothing left to sample."""
    from fake_engine import FakeEngine, fake_replica, seeded_answer
    from mmpr_builder.build import run_build
    from mmpr_builder.engines.ray import RayEngine
    from mmpr_builder.models.aliases import resolve_model

    data, out = _math_items(tmp_path), tmp_path / "ray"
    cfg = _config(data, out, backend="ray", replicas=2, replica_inflight=1)
    engine = RayEngine(resolve_model(None), cfg.engine, replica=fake_replica())
    try:
        summary = run_build(cfg, engine=engine, progress=False)
        errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
        assert sorted((e["item_id"], e["cause"]) for e in errors) == [("q3-failrow", "engine_error"),
                                                                       ("q5-crash", "engine_error")]
        assert "bad image" in next(e for e in errors if e["item_id"] == "q3-failrow")["message"]
        assert "replica lost" in next(e for e in errors if e["item_id"] == "q5-crash")["message"]
        assert summary["errors"] == {"engine_error": 2}

        fake = FakeEngine({}, respond=lambda _, seed, j: seeded_answer("42", seed, j))
        fake.tokenizer = engine.tokenizer
        ref = run_build(_config(data, tmp_path / "ref"), engine=fake, progress=False)
        good = sorted(r["id"] for f in sorted((tmp_path / "ref" / "data").glob("*.parquet"))
                      for r in pq.read_table(f).to_pylist() if r["item_id"] not in ("q3-failrow", "q5-crash"))
        assert good and ref["errors"] == {}
        assert _pair_ids(out) == good

        again = run_build(cfg, engine=engine, progress=False)
        assert again["generated_tokens"] == 0 and _pair_ids(out) == good  # nothing sampled again
        assert again["errors"] == {"engine_error": 2}
        assert len((out / "errors.jsonl").read_text().splitlines()) == 2
    finally:
        engine.close()
