"""``mmpr relabel``: new labeller or pairing settings applied to a build's stored responses, with no model.

A build keeps every response it sampled (``responses/``, see
:mod:`mmpr_builder.output.responses`). A relabel runs the build's own stream
(:func:`mmpr_builder.pipeline.run_stream`, :class:`~mmpr_builder.labeling.ItemLabeler`,
:class:`~mmpr_builder.output.writer.ShardWriter`) on them with a
:class:`~mmpr_builder.replay.ReplayEngine` in place of vLLM, so its output folder
(pairs, responses relabelled, card, errors) is the one a fresh build with the new
settings writes from the same responses, and it is as crash-safe and resumable.

What may change: the recipe's ``labeler`` and ``pairing`` mappings (and its
``version``/``description``); anything else (sampling, prompt, source, methods,
DropoutNTP, model, engine) changes what the model is asked and needs
regeneration: :func:`read_changes` refuses it, naming the field. A judge with
backend ``engine`` must stay as it was (its replies are replayed).

DropoutNTP: which responses are cut depends on the labels (too-easy items when
``pairing.too_easy_to_dropout_ntp``), so new labels may call for continuations
the build never generated: ``mmpr relabel`` counts each per item as the
DropoutNTP drop ``not_generated`` and logs it; a ``mmpr build`` rerun into the
old folder relabels it in place and samples those items again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from mmpr_builder.build_config import BuildConfig, RunConfig
from mmpr_builder.config import Recipe, merge, read_yaml
from mmpr_builder.errors import ConfigError, OutputError

log = logging.getLogger(__name__)

#: top-level keys of a changes YAML (recipe fields) that a relabel may change
RELABEL_FIELDS = ("labeler", "pairing", "version", "description")
#: run fingerprint keys (dotted, :func:`~mmpr_builder.output.manifest.fingerprint_diff`) a relabel may change
_RELABEL_PREFIXES = ("recipe_settings.labeler.", "recipe_settings.pairing.")
_RELABEL_KEYS = ("recipe_version", "recipe_settings.version", "recipe_settings.description")


def read_changes(path: Path) -> dict[str, Any]:
    """Read a changes YAML (the layout of ``mmpr build --config``) that a relabel can apply.

    Raises:
        ConfigError: unreadable YAML, or a key other than :data:`RELABEL_FIELDS` (named,
            with why: it needs regeneration).
    """
    changes = read_yaml(path)
    _check_change_keys(changes, str(path))
    return changes


def _check_change_keys(changes: dict[str, Any], where: str) -> None:
    for key in changes:
        if key not in RELABEL_FIELDS:
            raise ConfigError(
                f"{where}: {key!r} cannot change in a relabel (only {', '.join(RELABEL_FIELDS)} can): it changes what "
                f"the model is asked or how it runs, so the responses must be regenerated (`mmpr build --config`)")


def relabelled_recipe(fingerprint: dict, changes: dict[str, Any], where: str = "changes") -> Recipe:
    """The stored run's recipe (``recipe_settings``) with ``changes`` applied and checked.

    Raises:
        ConfigError: an unknown key or bad value (named), or a changed judge with backend ``engine``.
    """
    from mmpr_builder.build_config import _check_recipe

    stored = merge(Recipe(), fingerprint["recipe_settings"], where="stored recipe")
    recipe = merge(stored, changes, where=where)
    _check_recipe(recipe)
    if _engine_judge_changed(stored, recipe):
        raise ConfigError(f"{where}: labeler.judge with backend 'engine' asks the build's model, which a relabel does "
                          "not load; keep the judge as it was, use backend 'openai', or regenerate with `mmpr build`")
    return recipe


def _engine_judge_changed(stored: Recipe, recipe: Recipe) -> bool:
    return recipe.labeler.judge.backend == "engine" and recipe.labeler.judge != stored.labeler.judge


def relabel(out_dir: Path, new_dir: Path, changes: dict[str, Any], *, where: str = "changes",
            overwrite: bool = False, run: RunConfig | None = None, progress: bool = False) -> dict[str, Any]:
    """Relabel and re-pair the stored responses of ``out_dir`` into the new output folder ``new_dir``.

    Args:
        out_dir: a folder written by ``mmpr build`` (read only).
        new_dir: the new folder: shards, relabelled ``responses/``, ``errors.jsonl``, card; a
            folder of an interrupted relabel with the same settings is resumed.
        changes: recipe overrides, :data:`RELABEL_FIELDS` only (:func:`read_changes`).
        where: names the changes in error messages (their file).
        overwrite: replace ``new_dir`` when it holds a run with other settings.
        run: shard sizes, commit interval and items in flight (``RunConfig`` defaults if None).
        progress: show an items bar on stderr.
    Returns:
        The run summary (:func:`mmpr_builder.output.summary.summarize`) plus ``relabelled_from``
        and ``not_generated``: responses the new labels call for that the build never
        generated (DropoutNTP continuations, judge replies of backend ``engine``).
    Raises:
        ConfigError: a change that needs regeneration, or a bad value.
        OutputError: ``out_dir`` is not a build's folder or is damaged, ``new_dir`` is
            ``out_dir`` or holds a run with other settings.
    """
    from mmpr_builder.replay import stored_run

    out_dir, new_dir = Path(out_dir), Path(new_dir)
    if new_dir.resolve() == out_dir.resolve():
        raise OutputError(f"--out {new_dir} is the folder being relabelled; choose a new folder (or rerun "
                          "`mmpr build` with the new settings into it, which relabels it in place)")
    _check_change_keys(changes, where)
    fingerprint = stored_run(out_dir)
    recipe = relabelled_recipe(fingerprint, changes, where)
    return _relabel(out_dir, new_dir, recipe, fingerprint, overwrite=overwrite, run=run or RunConfig(),
                    progress=progress)


class _CompleteItemsOnly:
    """The writer as a relabel before a build sees it: an item that needs a response the build never
    generated is left out (``left_out``), so the build that follows samples it again."""

    def __init__(self, writer):
        self._writer = writer
        self.left_out: set[str] = set()

    def __getattr__(self, name: str):
        return getattr(self._writer, name)

    def add_item(self, item_id: str, rows: list[dict], stats: dict, responses: list[dict] | None = None) -> None:
        if stats.get("dropout_drops", {}).get("not_generated"):
            self.left_out.add(item_id)
        else:
            self._writer.add_item(item_id, rows, stats, responses=responses)

    def add_error(self, item_id: str | None, cause: str, message: str) -> None:
        if cause == "not_generated" and item_id is not None:
            self.left_out.add(item_id)
        else:
            self._writer.add_error(item_id, cause, message)


def _relabel(out_dir: Path, new_dir: Path, recipe: Recipe, stored: dict, *, overwrite: bool, run: RunConfig,
             progress: bool, leave_out_incomplete: bool = False) -> dict[str, Any]:
    """Relabel ``out_dir`` (built with fingerprint ``stored``) with ``recipe`` into ``new_dir``.

    ``leave_out_incomplete``: do not commit items that need a response the build never generated
    (a build goes on after this relabel and samples them again); else they are committed and counted.
    """
    from mmpr_builder import __version__
    from mmpr_builder.build import card_run_info, run_fingerprint
    from mmpr_builder.items import DropReason
    from mmpr_builder.labeling import ItemLabeler
    from mmpr_builder.output.card import write_card
    from mmpr_builder.output.progress import RunProgress
    from mmpr_builder.output.summary import summarize
    from mmpr_builder.output.writer import ShardWriter, check_output_dir
    from mmpr_builder.pipeline import run_stream
    from mmpr_builder.replay import ReplayEngine, stored_errors, stored_items
    from mmpr_builder.schema import Provenance, git_commit

    t0 = time.perf_counter()
    provenance = Provenance(recipe=recipe.name, recipe_version=recipe.version, mmpr_version=__version__,
                            model=stored["model"], dtype=stored["dtype"], seed=stored["seed"],
                            engine=stored["engine"], git_commit=git_commit())
    fingerprint = run_fingerprint(BuildConfig(recipe), provenance)
    check_output_dir(new_dir, fingerprint, overwrite=overwrite)
    errors = stored_errors(out_dir)  # checks out_dir before anything is written
    writer = ShardWriter(new_dir, run_fingerprint=fingerprint, overwrite=overwrite,
                         max_shard_bytes=int(run.max_shard_mb * 1e6), max_shard_rows=run.max_shard_rows,
                         provenance=provenance.stamp())
    for e in errors:  # bad source rows and failed requests: carried over as they were
        writer.add_error(e["item_id"], e["cause"], e["message"])
    sink = _CompleteItemsOnly(writer) if leave_out_incomplete else writer
    left_out = sink.left_out if leave_out_incomplete else set()
    engine = ReplayEngine(provenance.model, provenance.dtype, lambda i: writer.has_item(i) or i in left_out)

    def items():
        for item, rows in stored_items(out_dir):
            item.answer_type = recipe.labeler.answer_type  # as the source reader stamps it
            if not writer.has_item(item.id):
                engine.stash(item.id, rows)
            yield item

    labeler = ItemLabeler(recipe, provenance, tokenizer=None, cutter=engine.stored_cut)
    tracker = RunProgress(new_dir, total=None, committed=writer.item_outcomes(),
                          committed_errors=sum(writer.error_counts().values()), show_bar=progress,
                          interval_s=run.commit_interval_s)
    tracker.start()
    stats = None
    try:
        stats = run_stream(items(), engine, labeler, sink, inflight_items=run.inflight_items,
                           commit_interval_s=run.commit_interval_s, progress=tracker)
    finally:
        tracker.close(stats, errors=sum(writer.error_counts().values()) if stats is not None else None)
    shards = writer.close()
    outcomes = writer.item_outcomes()
    write_card(new_dir, outcomes=outcomes, run_info=card_run_info(recipe, provenance))
    error_counts = writer.error_counts()
    summary = summarize(outcomes, shards=shards, errors=error_counts, wall_seconds=time.perf_counter() - t0,
                        out_dir=new_dir)
    summary["relabelled_from"] = str(out_dir)
    summary["left_out"] = len(left_out)
    summary["not_generated"] = (sum(o.dropout_drops[DropReason.NOT_GENERATED] for o in outcomes)
                                + error_counts.get("not_generated", 0) + engine.missing["judge"])
    if engine.missing["judge"]:
        log.warning("%d judge replies the new labels ask for were never generated (the rule verdicts are kept); "
                    "rerun `mmpr build` to ask the judge", engine.missing["judge"])
    return summary


def _relabelable(key: str) -> bool:
    return key.startswith(_RELABEL_PREFIXES) or key in _RELABEL_KEYS


def _siblings(out_dir: Path) -> tuple[Path, Path]:
    """The staging folder of an in-place relabel and the name the old folder takes while they swap."""
    return out_dir.with_name(f".{out_dir.name}.relabel"), out_dir.with_name(f".{out_dir.name}.replaced")


def _finish_swap(out_dir: Path) -> None:
    """Complete an in-place relabel that a crash interrupted between or after its two renames."""
    staging, replaced = _siblings(out_dir)
    if not out_dir.exists() and staging.is_dir() and replaced.is_dir():
        os.rename(staging, out_dir)
    if out_dir.is_dir() and replaced.is_dir():
        shutil.rmtree(replaced)


def relabel_in_place(cfg: BuildConfig, fingerprint: dict) -> bool:
    """Before a build: relabel ``cfg.out_dir`` when it differs from ``fingerprint`` in labelling/pairing only.

    The stored responses are relabelled into a hidden sibling folder (``.NAME.relabel``,
    resumable), which then replaces the folder (two renames; a crash between them is
    completed by the next call). The build then resumes the folder as usual; items whose
    new labels need a response that was never generated (a DropoutNTP continuation) are
    left out of the relabel, so the build samples them again.

    Returns:
        True when the folder was relabelled; False when there was nothing to do (no folder,
        ``overwrite``, same settings, or other differences: the build refuses those).
    Raises:
        OutputError: the folder is damaged (see :func:`mmpr_builder.replay.stored_items`).
    """
    from mmpr_builder.output.manifest import fingerprint_diff, json_roundtrip, read_manifest

    out_dir = Path(cfg.out_dir)
    _finish_swap(out_dir)
    if cfg.run.overwrite or not out_dir.is_dir():
        return False
    manifest = read_manifest(out_dir)
    if manifest is None or "recipe_settings" not in manifest.run_fingerprint:
        return False
    differing = fingerprint_diff(manifest.run_fingerprint, json_roundtrip(fingerprint, "run_fingerprint"))
    if not differing or not all(_relabelable(k) for k in differing):
        return False
    stored_recipe = merge(Recipe(), manifest.run_fingerprint["recipe_settings"], where="stored recipe")
    if _engine_judge_changed(stored_recipe, cfg.recipe):
        return False
    log.warning("%s was built with other labelling/pairing settings (%s): relabelling its stored responses",
                out_dir, ", ".join(differing))
    staging, replaced = _siblings(out_dir)
    stale = False
    if staging.exists():
        staged = read_manifest(staging) if staging.is_dir() else None
        stale = staged is None or bool(fingerprint_diff(staged.run_fingerprint, fingerprint))
    summary = _relabel(out_dir, staging, cfg.recipe, manifest.run_fingerprint, overwrite=stale,
                       run=dataclasses.replace(cfg.run, overwrite=False), progress=False, leave_out_incomplete=True)
    if summary["left_out"]:
        log.warning("%d items need responses that were never generated: the build samples them again",
                    summary["left_out"])
    os.rename(out_dir, replaced)
    os.rename(staging, out_dir)
    shutil.rmtree(replaced)
    return True


__all__ = ["RELABEL_FIELDS", "read_changes", "relabel", "relabel_in_place", "relabelled_recipe"]
