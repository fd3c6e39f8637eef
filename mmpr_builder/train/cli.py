"""``mmpr train``: a thin typer wrapper over :func:`mmpr_builder.train.run.run_mpo`.

Registered by the top-level app as ``app.command("train")(train_command)``.
Settings are layered as in TRL's parser: MPOConfig defaults, then ``--config
FILE`` (a YAML mapping of MPOConfig fields; an unknown key is an error), then
the flags given on the command line. Importing this module is cheap (no torch).

This is the CLI layer of training: it resolves the model alias
(:func:`~mmpr_builder.models.aliases.resolve_model`), converts a model whose
family has ``convert_to`` (remote-code InternVL2/2.5) once into
``$MMPR_CACHE/models/converted/`` (:func:`~mmpr_builder.models.convert.ensure_converted`),
resolves the default reference cache folder (``$MMPR_CACHE/ref_logps``) and hands them to the library
(:mod:`mmpr_builder.train` imports only the schema, the errors, the registry
and its own modules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def train_command(
    data: Annotated[Path, typer.Option(help="pair shards: the output folder of `mmpr build`, a folder of .parquet files, or one file")],
    output: Annotated[Path, typer.Option(help="output folder: model, checkpoints, metrics.jsonl, train_summary.json")],
    model: Annotated[Optional[str], typer.Option(help="model alias, Hub id or folder; default: the embedded model")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="stop after N optimizer steps (overrides epochs)")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="train LoRA adapters (peft) instead of all weights")] = False,
    config: Annotated[Optional[Path], typer.Option(help="YAML of MPOConfig fields (TrainingArguments + MPO); unknown keys are an error")] = None,
    ref_online: Annotated[bool, typer.Option("--ref-online", help="run the reference model every step instead of caching its log-probs in a first pass")] = False,
    learning_rate: Annotated[Optional[float], typer.Option(help="peak learning rate (default 5e-6)")] = None,
    beta: Annotated[Optional[float], typer.Option(help="KL strength beta (default 0.1)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="pairs per device per micro-batch (default 2)")] = None,
    grad_accum: Annotated[Optional[int], typer.Option(help="micro-batches per optimizer step (default 1)")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="epochs over the pairs (default 1)")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="most tokens per pair (image tokens included); longer pairs are skipped (default 4096)")] = None,
    bco_delta: Annotated[Optional[str], typer.Option(help="BCO reward shift: step, lagged or none (default step)")] = None,
    save_steps: Annotated[Optional[int], typer.Option(help="save a checkpoint every N steps (default 500)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="random seed (default 42)")] = None,
    resume: Annotated[Optional[str], typer.Option(help="resume from a checkpoint folder, or 'last' for the newest in --output")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
):
    """Train a model on preference pairs with MPO (0.8 DPO + 0.2 BCO + 1.0 SFT)."""
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.models.embedded import cache_dir
    from mmpr_builder.train.mpo_config import MPOConfig
    from mmpr_builder.train.run import run_mpo

    flags = {
        "output_dir": str(output), "max_steps": max_steps, "learning_rate": learning_rate, "beta": beta,
        "per_device_train_batch_size": batch_size, "gradient_accumulation_steps": grad_accum,
        "num_train_epochs": epochs, "max_length": max_length, "bco_delta": bco_delta, "save_steps": save_steps,
        "seed": seed, "use_lora": True if lora else None, "ref_online": True if ref_online else None,
    }
    cfg = MPOConfig.from_yaml(config, **flags)
    if cfg.ref_cache_dir is None:
        cfg.ref_cache_dir = str(cache_dir() / "ref_logps")
    spec = resolve_model(model)
    path, trust = spec.path, spec.trust_remote_code
    if spec.model_family.convert_to:  # remote-code InternVL2/2.5: train the transformers-native copy
        from mmpr_builder.models.convert import ensure_converted

        path, trust = str(ensure_converted(spec.path, spec.name, trust_remote_code=trust)), False
    summary = run_mpo(data, cfg, path, model_name=spec.name, trust_remote_code=trust,
                      resume_from_checkpoint=True if resume == "last" else resume)
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    pairs = summary["pairs"]
    skipped = ", ".join(f"{n} {cause}" for cause, n in pairs["skipped"].items()) or "none"
    typer.echo(f"trained {summary['model']} for {summary['global_step']} steps on {pairs['kept']} of "
               f"{pairs['total']} pairs (skipped: {skipped})")
    typer.echo(f"train loss {summary['train_loss']:.4f}, {summary['pairs_per_second'] or 0:.2f} pairs/s, "
               f"BCO delta {summary['bco_delta']:.4f}")
    typer.echo(f"model, metrics.jsonl and train_summary.json in {output}")
