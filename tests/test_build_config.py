"""BuildConfig: layering (defaults < recipe < --config < flags) and validation before any work.

A bad setting exits with status 2 and one message naming the field, and the output folder is left
byte for byte as it was, even with --overwrite (nothing is written, created or deleted).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from fake_rows import make_rows, stats_for
from testlib import REPO_ROOT
from mmpr_builder.build import make_provenance, run_build, run_fingerprint
from mmpr_builder.build_config import BuildConfig, RunConfig, assemble
from mmpr_builder.errors import ConfigError, ModelError, OutputError
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL
from mmpr_builder.output.writer import ShardWriter


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` (folders included by name)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def existing_output(tmp_path) -> Path:
    """A finished output folder of the mathqa recipe with the default settings."""
    out = tmp_path / "out"
    cfg = assemble("mathqa", run_flags={"out_dir": str(out)})
    w = ShardWriter(out, run_fingerprint=run_fingerprint(cfg, make_provenance(cfg, model_name="embedded")))
    w.add_item("item-001", make_rows("item-001", 2), stats_for("item-001", 2))
    w.close()
    return out


def test_layers_defaults_recipe_config_flags(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("sampling: {num_samples: 3, max_tokens: 99}\nengine: {dtype: float32}\nrun: {seed: 7, limit: 5}\n")
    cfg = assemble("mathqa", config_file=over, recipe_flags={"sampling": {"max_tokens": 50, "temperature": None}},
                   run_flags={"limit": 2, "seed": None})
    assert cfg.recipe.name == "mathqa" and cfg.recipe.labeler.answer_type == "number"  # recipe
    assert cfg.recipe.sampling.num_samples == 3 and cfg.engine.dtype == "float32"  # --config
    assert cfg.recipe.sampling.max_tokens == 50 and cfg.run.limit == 2  # flags win
    assert cfg.run.seed == 7 and cfg.recipe.sampling.temperature == 0.7  # a flag not given leaves the layer below
    assert cfg.out_dir == Path("out/mathqa")


def test_build_and_check_answer_share_the_tolerance_default():
    import inspect

    from mmpr_builder.labelers.answers import check_answer

    assert assemble("mathqa").recipe.labeler.rel_tol == DEFAULT_REL_TOL
    assert inspect.signature(check_answer).parameters["rel_tol"].default == DEFAULT_REL_TOL


@pytest.mark.parametrize("overrides, field", [
    ({"labeler": {"answer_type": "numbr"}}, "labeler.answer_type"),
    ({"pairing": {"max_pairs_per_item": 0}}, "pairing.max_pairs_per_item"),
    ({"pairing": {"format_negative_share": 1.5}}, "pairing.format_negative_share"),
    ({"dropout_ntp": {"ratio": 1.0}}, "dropout_ntp.ratio"),
    ({"sampling": {"top_p": 0}}, "sampling.top_p"),
    ({"prompt": {"template": "{question} {answer}"}}, "prompt.template"),
    ({"source": {"path": "no/such/file.jsonl"}}, "source not found"),
])
def test_bad_recipe_values_name_their_field(overrides, field):
    from mmpr_builder.config import merge

    cfg = assemble("mathqa")
    cfg = BuildConfig(merge(cfg.recipe, overrides), cfg.engine, cfg.run)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        cfg.validate()


@pytest.mark.parametrize("flags, error", [
    ({"engine_flags": {"dtype": "fp8"}}, "engine.dtype"),
    ({"engine_flags": {"tensor_parallel_size": 0}}, "engine.tensor_parallel_size"),
    ({"run_flags": {"limit": 0}}, "run.limit"),
    ({"run_flags": {"push_to_hub": "not a repo"}}, "run.push_to_hub"),
    ({"run_flags": {"model": "intrenvl2-8b"}}, "did you mean 'internvl2-8b'"),
    ({"engine_flags": {"backend": "ray2"}}, r"engine.backend \(--engine\): must be one of vllm, ray, openai"),
    ({"engine_flags": {"backend": "ray", "replicas": 0}}, r"engine.replicas \(--replicas\): must be >= 1"),
    ({"engine_flags": {"backend": "ray", "replica_inflight": 0}}, r"engine.replica_inflight: must be >= 1"),
    ({"engine_flags": {"backend": "openai"}}, r"engine.base_url \(--base-url\)"),
    ({"engine_flags": {"backend": "openai", "base_url": "localhost:8000"}}, r"engine.base_url"),
    ({"engine_flags": {"backend": "openai", "base_url": "http://h/v1", "max_concurrency": 0}},
     "engine.max_concurrency"),
    ({"engine_flags": {"api_key_env": "sk-abc123-not-a-name"}}, r"engine.api_key_env .*'<not shown>'"),
    ({"run_flags": {"shard": "2/2"}}, r"run.shard \(--shard\): needs 0 <= I < N"),
    ({"run_flags": {"shard": "1of2"}}, r"run.shard \(--shard\): must be I/N"),
])
def test_bad_engine_and_run_values(flags, error):
    cfg = assemble("mathqa", **flags)
    with pytest.raises((ConfigError, ModelError), match=error):
        cfg.validate()


def test_unknown_config_key_suggests(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("labeler: {answer_typ: number}\n")
    with pytest.raises(ConfigError, match="did you mean 'answer_type'"):
        assemble("mathqa", config_file=over)
    over.write_text("engine: {max_model_len: 'long'}\n")
    with pytest.raises(ConfigError, match="engine.max_model_len"):
        assemble("mathqa", config_file=over)


def test_other_settings_are_refused_before_any_work(existing_output):
    before = tree_digest(existing_output)
    cfg = assemble("mathqa", run_flags={"out_dir": str(existing_output), "seed": 1})
    with pytest.raises(OutputError, match="differing: seed"):
        run_build(cfg)  # no engine is loaded: the check comes first
    assert tree_digest(existing_output) == before


@pytest.mark.parametrize("args", [
    ["--config", "{bad}"],
    ["--dtype", "fp8"],
    ["--num-samples", "0"],
    ["--source", "mathq"],
    ["--data", "missing.jsonl"],
    ["--model", "no-such-model"],
], ids=["config-file", "dtype", "num-samples", "recipe", "source-path", "model"])
def test_cli_bad_setting_exits_2_and_leaves_the_folder_untouched(existing_output, tmp_path, args):
    if args[0] == "--config":
        bad = tmp_path / "bad.yaml"
        bad.write_text("pairing: {format_negative_share: 2}\n")
        args = ["--config", str(bad)]
    before = tree_digest(existing_output)
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "build", "--out", str(existing_output),
                           "--overwrite", *args], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert tree_digest(existing_output) == before


def test_run_config_output_dir_default():
    assert RunConfig().output_dir("vqa") == Path("out/vqa")
    assert RunConfig(out_dir="x").output_dir("vqa") == Path("x")
