"""`mmpr train` under `accelerate launch` with 2 CPU processes (DDP over gloo) against one process.

The real CLI (``python -m mmpr_builder train``) trains a tiny random Idefics3
on real image pairs for 2 optimizer steps: once in one process with 2 pairs
per batch, once with 2 processes of 1 pair each (the same global batch; each
rank sees other pairs). The two must agree on every logged loss term, on
BCO's ``delta`` (all-reduced over ranks: with it removed, rank 0's delta at
step 2 is the mean of its own rewards, 0.256 instead of 0.285 here), on the
cached reference log-probs (computed through the DDP-wrapped model when
training starts) and on the trained weights. A launch with an FSDP config
on CPU must fail clearly: accelerate turns FSDP on only on accelerators and
would otherwise train plain DDP. So the sharded reference pass is checked
apart: ``fsdp_reference_worker.py`` shards the policy FULL_SHARD with FSDP2
on 2 CPU processes and runs the trainer's deferred pass through it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from pair_shards import REPO, vqa_rows, write_shard

TERMS = ("loss", "loss/sigmoid", "loss/bco_pair", "loss/sft", "rewards/chosen", "rewards/rejected",
         "logps/chosen", "logps/rejected", "bco/delta_used", "bco/delta")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accelerate_config(path: Path, kind: str) -> Path:
    """An accelerate config for 2 local processes: ``ddp`` (MULTI_GPU launcher, CPU via ``use_cpu`` in the
    training config) or ``fsdp`` (FULL_SHARD)."""
    lines = ["compute_environment: LOCAL_MACHINE", "num_machines: 1", "num_processes: 2", "machine_rank: 0",
             "main_process_ip: 127.0.0.1", f"main_process_port: {_free_port()}", "mixed_precision: 'no'",
             "use_cpu: true"]
    if kind == "ddp":
        lines.append("distributed_type: MULTI_GPU")
    else:
        lines += ["distributed_type: FSDP", "fsdp_config:", "  fsdp_version: 1", "  fsdp_sharding_strategy: FULL_SHARD",
                  "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP", "  fsdp_state_dict_type: FULL_STATE_DICT",
                  "  fsdp_use_orig_params: true", "  fsdp_sync_module_states: false",
                  "  fsdp_cpu_ram_efficient_loading: false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(root: Path, name: str, data: Path, model: str, batch_size: int,
           launch: Path | None = None) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run ``mmpr train`` for 2 steps (one process, or under ``accelerate launch --config_file launch``)."""
    out, ref = root / name, root / f"ref-{name}"
    cfg = root / f"mpo-{name}.yaml"
    cfg.write_text(f"warmup_steps: 0\nlr_scheduler_type: constant\nsave_strategy: 'no'\ndisable_tqdm: true\n"
                   f"use_cpu: true\ntrain_sampling_strategy: sequential\ndataloader_num_workers: 0\nseed: 0\n"
                   f"ref_cache_dir: {ref}\n")
    cli = ["-m", "mmpr_builder", "train", "--data", str(data), "--output", str(out), "--model", model,
           "--max-steps", "2", "--batch-size", str(batch_size), "--learning-rate", "1e-2", "--config", str(cfg)]
    launcher = [] if launch is None else ["-m", "accelerate.commands.launch", "--config_file", str(launch)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, *launcher, *cli], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    return proc, out, ref


def _steps(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]


def _reference(ref: Path) -> tuple[str, list[float], list[float]]:
    (path,) = ref.glob("*.parquet")
    table = pq.read_table(path)
    return path.name, table.column("ref_chosen_logps").to_pylist(), table.column("ref_rejected_logps").to_pylist()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_vlm_dir):
    root = tmp_path_factory.mktemp("distributed")
    data = root / "build"
    write_shard(vqa_rows(4), data / "data" / "shard-00000.parquet")
    single = _train(root, "one", data, tiny_vlm_dir, batch_size=2)
    ddp = _train(root, "ddp", data, tiny_vlm_dir, batch_size=1, launch=_accelerate_config(root / "accelerate-ddp.yaml", "ddp"))
    for proc, _, _ in (single, ddp):
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return {"one": single, "ddp": ddp, "root": root, "data": data, "model": tiny_vlm_dir}


def test_ddp_matches_one_process_step_by_step(runs):
    one, ddp = _steps(runs["one"][1]), _steps(runs["ddp"][1])
    assert [s["step"] for s in one] == [s["step"] for s in ddp] == [1, 2]
    assert one[0]["loss/sigmoid"] == pytest.approx(0.6931, abs=1e-4)  # step 1: policy = reference
    assert one[1]["bco/delta"] > 1e-2  # step 2: rewards moved, so delta tells the ranks' means apart
    for a, b in zip(one, ddp):
        for term in TERMS:
            assert b[term] == pytest.approx(a[term], rel=1e-4, abs=1e-5), (a["step"], term)


def test_ddp_bco_delta_is_the_mean_over_all_ranks(runs):
    one = json.loads((runs["one"][1] / "train_summary.json").read_text())
    ddp = json.loads((runs["ddp"][1] / "train_summary.json").read_text())
    assert ddp["global_step"] == one["global_step"] == 2
    assert ddp["pairs"]["kept"] == one["pairs"]["kept"] == 4
    assert ddp["bco_delta"] == pytest.approx(one["bco_delta"], abs=1e-5)
    assert ddp["bco_delta"] == pytest.approx(_steps(runs["ddp"][1])[-1]["bco/delta"], abs=1e-12)


def test_ddp_reference_pass_runs_through_the_wrapped_model_and_caches_the_same_logps(runs):
    one = json.loads((runs["one"][1] / "train_summary.json").read_text())
    ddp = json.loads((runs["ddp"][1] / "train_summary.json").read_text())
    assert one["reference_pass_model"] == "Idefics3ForConditionalGeneration"
    assert ddp["reference_pass_model"] == "DistributedDataParallel"
    name_one, chosen_one, rejected_one = _reference(runs["one"][2])
    name_ddp, chosen_ddp, rejected_ddp = _reference(runs["ddp"][2])
    assert name_ddp == name_one  # same cache key: same weights, data and settings
    assert len(chosen_ddp) == len(rejected_ddp) == 4
    assert chosen_ddp == pytest.approx(chosen_one, abs=1e-3)
    assert rejected_ddp == pytest.approx(rejected_one, abs=1e-3)
    assert ddp["ref_cache_file"].endswith(name_one)


def test_ddp_saves_the_same_trained_weights(runs):
    from safetensors.torch import load_file

    one = load_file(str(runs["one"][1] / "model.safetensors"))
    ddp = load_file(str(runs["ddp"][1] / "model.safetensors"))
    start = load_file(str(Path(runs["model"]) / "model.safetensors"))
    assert one.keys() == ddp.keys()
    moved = [k for k in one if not torch.equal(one[k], start[k])]
    assert len(moved) > len(one) // 2
    for key in one:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5)


def test_fsdp_launch_on_cpu_fails_naming_the_cause(runs):
    root = runs["root"]
    proc, out, _ = _train(root, "fsdp", runs["data"], runs["model"], batch_size=1,
                          launch=_accelerate_config(root / "accelerate-fsdp.yaml", "fsdp"))
    assert proc.returncode != 0
    assert "accelerate was launched with FSDP but runs without it" in proc.stdout + proc.stderr
    assert not (out / "metrics.jsonl").exists()


def test_reference_pass_through_an_fsdp_sharded_model_gives_the_one_process_logps(runs):
    """The trainer's deferred pass (``run_deferred_reference``) through a FULL_SHARD FSDP2 model on 2 CPU
    processes (sharded by the worker: accelerate does not enable FSDP on CPU)."""
    out = runs["root"] / "fsdp-reference"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests' / 'train'}", OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                           str(REPO / "tests" / "train" / "fsdp_reference_worker.py"), runs["model"],
                           str(runs["data"]), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    name_one, chosen_one, rejected_one = _reference(runs["one"][2])
    ranks = [json.loads((out / f"rank{i}.json").read_text()) for i in range(2)]
    for rank in ranks:
        assert rank["deferred"] is True
        assert rank["reference_pass_model"] == "FSDPIdefics3ForConditionalGeneration"
        assert rank["local_shape"][0] * 2 == rank["full_shape"][0]  # each rank holds half of the weights
        assert rank["chosen"] == pytest.approx(chosen_one, abs=1e-3)
        assert rank["rejected"] == pytest.approx(rejected_one, abs=1e-3)
        assert Path(rank["cache_file"]).name == name_one
    name_fsdp, chosen_fsdp, rejected_fsdp = _reference(out / "ref")
    assert name_fsdp == name_one
    assert chosen_fsdp == pytest.approx(chosen_one, abs=1e-3)
    assert rejected_fsdp == pytest.approx(rejected_one, abs=1e-3)
