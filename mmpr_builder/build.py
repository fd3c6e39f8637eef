"""``mmpr build`` as a library call: validate, then stream the source through the engine into shards.

Order of work (nothing touches the disk, the network or the engine before
the settings are valid):

1. :meth:`BuildConfig.validate` and the output folder's state
   (:func:`~mmpr_builder.output.writer.check_output_dir`), read-only;
2. the :class:`~mmpr_builder.schema.Provenance` of the run (dtype resolved for
   this machine), which is the resume fingerprint, the shards' metadata, the
   rows' provenance columns and the card's "Build" table;
3. the Hub repository (``--push-to-hub``), the writer, the engine;
4. :func:`mmpr_builder.pipeline.run_stream`; then the card and the summary.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from mmpr_builder.build_config import BuildConfig
from mmpr_builder.schema import Provenance, git_commit

log = logging.getLogger(__name__)


#: engine fields recorded per backend (the others do not apply to it, or do not change the output)
_PROVENANCE_FIELDS = {
    "vllm": ("backend", "tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "dtype",
             "limit_mm_per_prompt", "trust_remote_code", "enforce_eager", "stop_tokens", "extra_args"),
    "openai": ("backend", "base_url", "served_model"),
}
# the layout (cluster address, replicas, batch size) does not change the pairs: not recorded, so a
# run may resume on another cluster or with more replicas
_PROVENANCE_FIELDS["ray"] = _PROVENANCE_FIELDS["vllm"]


def make_provenance(cfg: BuildConfig, *, model_name: str, family: str | None = None) -> Provenance:
    """The run's :class:`Provenance`: recipe, versions, model, resolved dtype, engine arguments, seed.

    The engine arguments are those of ``cfg.engine.backend`` (:data:`_PROVENANCE_FIELDS`):
    for ``openai`` the backend, base URL and served model name, never the API key or
    the variable holding it. A server's dtype is unknown here: recorded as ``server``.
    ``engine`` also records the model's family (``family``, or found from
    ``cfg.run.model``: :func:`~mmpr_builder.models.aliases.family_name_of`),
    whose stop tokens and tiling knobs shape the responses.
    """
    from mmpr_builder import __version__
    from mmpr_builder.engines.vllm import is_cpu_build
    from mmpr_builder.hardware import resolve_dtype
    from mmpr_builder.models.aliases import family_name_of

    backend = cfg.engine.backend
    engine = {k: v for k, v in dataclasses.asdict(cfg.engine).items() if k in _PROVENANCE_FIELDS[backend]}
    local = backend in ("vllm", "ray")  # vLLM from this install (in-process or on the Ray workers)
    dtype = resolve_dtype(cfg.engine.dtype, cpu_build=is_cpu_build()) if local else "server"
    if local:
        engine["dtype"] = dtype
    engine["family"] = family or family_name_of(cfg.run.model)
    return Provenance(recipe=cfg.recipe.name, recipe_version=cfg.recipe.version, mmpr_version=__version__,
                      model=model_name, dtype=dtype, seed=cfg.run.seed, engine=engine, git_commit=git_commit())


def run_fingerprint(cfg: BuildConfig, provenance: Provenance) -> dict[str, Any]:
    """What decides a build's output: the provenance's fingerprint plus every recipe setting (and ``shard`` I/N)."""
    fingerprint = {**provenance.fingerprint(), "recipe_settings": cfg.recipe.to_dict()}
    if cfg.run.shard_spec is not None:
        fingerprint["shard"] = str(cfg.run.shard_spec)
    return fingerprint


def card_run_info(recipe, provenance: Provenance, *, repo_id: str | None = None) -> dict[str, Any]:
    """The card's ``run_info`` (:func:`mmpr_builder.output.card.render_card`) for a run of ``recipe``."""
    s = recipe.sampling
    return {"model": provenance.model, "recipe": recipe.name, "recipe_version": recipe.version,
            "seed": provenance.seed, "mmpr_version": provenance.mmpr_version,
            "git_commit": provenance.git_commit, "dtype": provenance.dtype, "license": "other",
            "repo_id": repo_id,
            "sampling": {"n": s.num_samples, "temperature": s.temperature, "top_p": s.top_p,
                         "top_k": s.top_k, "max_tokens": s.max_tokens}}


def run_build(cfg: BuildConfig, *, engine=None, progress: bool = True) -> dict[str, Any]:
    """Build preference pairs into ``cfg.out_dir``; resumes a previous run with the same settings.

    Bad source rows, requests the engine rejects (``engine_error``) and items
    whose labelling fails (``labeling_error``) go to ``errors.jsonl`` with their
    id and cause; such items count as done on rerun.

    Args:
        cfg: recipe, engine arguments and run options.
        engine: an already loaded engine to reuse (its model and dtype win over ``cfg``).
        progress: show the run-level progress bar on stderr (when it is a terminal); the
            progress log ``progress.jsonl`` is written either way (:mod:`mmpr_builder.output.progress`).
    Returns:
        The run summary (see :func:`mmpr_builder.output.summary.summarize`).
    A rerun into a folder built with other labeller or pairing settings only (nothing that
    changes what is sampled) first relabels the stored responses there
    (:func:`mmpr_builder.relabel.relabel_in_place`), then goes on as a resume.

    Raises:
        ConfigError, ModelError: a bad setting or model, before any work.
        OutputError: ``out_dir`` holds a run with other settings (use ``overwrite``).
    """
    from mmpr_builder.output.card import write_card
    from mmpr_builder.engines import make_engine
    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.models.aliases import resolve_model
    from mmpr_builder.output.progress import RunProgress
    from mmpr_builder.pipeline import run_stream
    from mmpr_builder.sources import iter_items
    from mmpr_builder.output.summary import summarize
    from mmpr_builder.errors import ItemError
    from mmpr_builder.output.manifest import SHARD_STEM
    from mmpr_builder.output.writer import ShardWriter, check_output_dir

    t0 = time.perf_counter()
    cfg.validate()
    recipe, run, out_dir = cfg.recipe, cfg.run, cfg.out_dir
    model_name = engine.model_name if engine is not None else (run.model or "embedded")
    provenance = make_provenance(cfg, model_name=model_name, family=getattr(engine, "family", None))
    if engine is not None:
        provenance = dataclasses.replace(provenance, dtype=engine.dtype,
                                         engine={**provenance.engine, "dtype": engine.dtype})
    fingerprint = run_fingerprint(cfg, provenance)
    from mmpr_builder.relabel import relabel_in_place

    relabel_in_place(cfg, fingerprint)  # changes only to labelling/pairing: reuse the stored responses
    check_output_dir(out_dir, fingerprint, overwrite=run.overwrite)
    stream = iter_items(recipe.source, base_dir=recipe.base_dir, source_name=recipe.name,
                        answer_type=recipe.labeler.answer_type, limit=run.limit)
    shard = run.shard_spec
    stem = SHARD_STEM
    if shard is not None:  # this run's share of the items (see mmpr_builder.sharding)
        stem = shard.stem
        stream = (x for x in stream if shard.owns(x.item_id if isinstance(x, ItemError) else x.id))

    pusher = None
    if run.push_to_hub:
        from mmpr_builder.output.hub import HubPusher

        pusher = HubPusher(run.push_to_hub, private=run.private, shard_stem=stem)
    writer = ShardWriter(out_dir, run_fingerprint=fingerprint, overwrite=run.overwrite,
                         max_shard_bytes=int(run.max_shard_mb * 1e6), max_shard_rows=run.max_shard_rows,
                         provenance=provenance.stamp(), shard_stem=stem,
                         on_shard_closed=(lambda shard: pusher.push_shard(out_dir, shard)) if pusher else None)
    if pusher:  # shards committed locally by an earlier run but never uploaded
        pusher.push_pending(out_dir, writer.shards)
    own_engine = engine is None
    engine = engine or make_engine(resolve_model(run.model), cfg.engine, seed=run.seed)
    labeler = ItemLabeler(recipe, provenance, engine.tokenizer)
    tracker = RunProgress(out_dir, total=run.limit, committed=writer.item_outcomes(),
                          committed_errors=sum(writer.error_counts().values()), show_bar=progress,
                          interval_s=run.commit_interval_s)
    tracker.start()
    stats = None
    try:
        stats = run_stream(stream, engine, labeler, writer, inflight_items=run.inflight_items,
                           commit_interval_s=run.commit_interval_s, progress=tracker)
        shards = writer.close()
    finally:
        tracker.close(stats, errors=sum(writer.error_counts().values()) if stats is not None else None)
        if own_engine:
            engine.close()
    outcomes = writer.item_outcomes()
    write_card(out_dir, outcomes=outcomes, run_info=card_run_info(recipe, provenance, repo_id=run.push_to_hub))
    if pusher:
        pusher.push_pending(out_dir, shards, delete_stale=True)
        if shard is None:
            pusher.push_card(out_dir)
        else:  # each box's card holds its share only: `mmpr merge` writes the card of all shards
            log.warning("sharded run %s: card not pushed; run `mmpr merge` on all shards' folders "
                        "with --push-to-hub %s", shard, run.push_to_hub)
    return summarize(outcomes, shards=shards, errors=writer.error_counts(),
                     generated_tokens=stats.generated_tokens, generation_seconds=stats.seconds,
                     wall_seconds=time.perf_counter() - t0, out_dir=Path(out_dir))
