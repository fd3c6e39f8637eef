"""``mmpr merge``: one summary and one card for the output folders of N sharded runs.

Sharded runs (``mmpr build --shard I/N``, see :mod:`mmpr_builder.sharding`) each
write their own folder (and may push their own shards into one Hub dataset).
:func:`merge_outputs` checks that the folders belong together (same run
fingerprint but for ``shard``, same N, each I once, all N present unless
``allow_missing``), adds up their committed items
(:func:`mmpr_builder.output.inspect.committed_outcomes`), and optionally writes a merged
folder (every run's shards under ``data/``, hard-linked when possible, the
concatenated ``errors.jsonl`` and one ``README.md`` card with the totals of all
shards, :func:`mmpr_builder.output.card.render_card`) and uploads that card.

The merged folder is an output folder like a build's: its ``manifest.json`` lists
every run's finished shards and their ``responses/`` files (renumbered in run
order, shard ``0/N`` first) and every run's commits (records renumbered), under
the common fingerprint plus :data:`MERGED_KEY`. So ``mmpr relabel``,
``mmpr view`` and ``mmpr inspect`` read it as they read one run's folder, and
``mmpr build`` refuses to write into it (its fingerprint differs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError
from ..items import ItemOutcome
from .manifest import (
    CARD_NAME,
    DATA_DIR,
    MANIFEST_NAME,
    RESPONSES_DIR,
    Manifest,
    atomic_write_bytes,
    read_manifest,
    write_commit_record,
    write_errors_file,
    write_manifest,
)
from .responses import response_shard_name
from .state import OutputState, read_state, stray_files

#: run fingerprint key of a merged folder: the shards (``"I/N"``) it holds, in order
MERGED_KEY = "merged_shards"


def _runs(out_dirs: list[Path], allow_missing: bool) -> tuple[list[tuple[Path, OutputState]], dict, int]:
    """Read each folder; check they are shards of one run. Returns (folders, common fingerprint, N)."""
    from mmpr_builder.sharding import ShardSpec

    if not out_dirs:
        raise ConfigError("mmpr merge needs at least one output folder")
    runs, seen, common, count = [], {}, None, None
    for d in out_dirs:
        state = read_state(Path(d), verify_checksums=False)
        fp = dict(state.manifest.run_fingerprint)
        spec_text = fp.pop("shard", None)
        if spec_text is None:
            raise OutputError(f"{d} is not a sharded run (built without --shard I/N); nothing to merge")
        spec = ShardSpec.parse(spec_text)
        if common is None:
            common, count = fp, spec.count
        elif fp != common:
            differing = sorted(k for k in set(fp) | set(common) if fp.get(k) != common.get(k))
            raise OutputError(f"{d} was built with other settings than {out_dirs[0]} (differing: "
                              f"{', '.join(differing)}); only shards of one run can be merged")
        elif spec.count != count:
            raise OutputError(f"{d} is shard {spec} but {out_dirs[0]} is one of {count}")
        if spec.index in seen:
            raise OutputError(f"{d} and {seen[spec.index]} are both shard {spec}")
        seen[spec.index] = d
        runs.append((Path(d), state))
    missing = sorted(set(range(count)) - set(seen))
    if missing and not allow_missing:
        raise OutputError(f"shards {', '.join(f'{i}/{count}' for i in missing)} are missing; give their "
                          "folders, or pass --allow-missing to merge what there is")
    return runs, common, count


def _run_info(fp: dict, runs: list[tuple[Path, OutputState]], repo_id: str | None) -> dict[str, Any]:
    """The card's ``run_info`` from the common fingerprint and the first shard's ``mmpr`` stamp."""
    import pyarrow.parquet as pq

    s = (fp.get("recipe_settings") or {}).get("sampling") or {}
    info = {"model": fp.get("model"), "recipe": fp.get("recipe"), "recipe_version": fp.get("recipe_version"),
            "seed": fp.get("seed"), "dtype": fp.get("dtype"), "license": "other", "repo_id": repo_id,
            "sampling": {"n": s.get("num_samples"), "temperature": s.get("temperature"), "top_p": s.get("top_p"),
                         "top_k": s.get("top_k"), "max_tokens": s.get("max_tokens")}}
    for d, state in runs:
        if state.manifest.shards:
            meta = pq.read_schema(d / state.manifest.shards[0].name).metadata or {}
            stamp = json.loads(meta.get(b"mmpr", b"{}"))
            info.update(mmpr_version=stamp.get("mmpr_version"), git_commit=stamp.get("git_commit"))
            break
    return {k: v for k, v in info.items() if v is not None}


def merge_outputs(out_dirs: list[Path], *, out_dir: Path | None = None, allow_missing: bool = False,
                  push_to_hub: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
    """Merge the output folders of sharded runs of one build.

    Args:
        out_dirs: the runs' output folders (each built with ``--shard I/N``, same N and settings).
        out_dir: when given, write the merged folder there: ``data/`` with every run's finished
            shards and ``responses/`` with their responses (hard links, else copies), the commit
            records, ``manifest.json`` (see the module doc), ``errors.jsonl`` (all runs', in
            shard order) and ``README.md`` (one card with the totals of all shards). Must not be
            one of ``out_dirs`` nor a build's folder; an earlier merge's folder is replaced.
        allow_missing: merge even when some of the N shards' folders are not given.
        push_to_hub: upload the merged card to this Hub dataset (needs ``out_dir``); the runs
            push their own shards.
        endpoint: Hub URL (tests).
    Returns:
        The :func:`~mmpr_builder.output.summary.summarize` dict of all committed items, plus
        ``shards`` (``count``, ``rows``, ``bytes``, ``open_rows``: totals), ``runs`` (per folder:
        ``out_dir``, ``shard``, ``items``, ``pairs``), ``run_fingerprint`` (without ``shard``)
        and ``problems`` (each prefixed with its folder).
    Raises:
        OutputError: a folder is not a sharded run's, the folders are not shards of one run,
            a shard is given twice or missing, or ``out_dir`` is unusable; with ``out_dir``
            also a damaged run folder or one with rows in an open shard (an interrupted run:
            resume it first).
        ConfigError: no folders, or ``push_to_hub`` without ``out_dir``.
    """
    from .card import render_card
    from .inspect import committed_outcomes
    from .summary import summarize

    if push_to_hub and out_dir is None:
        raise ConfigError("merge --push-to-hub needs --out DIR (the merged card is written there first)")
    runs, fp, count = _runs([Path(d) for d in out_dirs], allow_missing)
    outcomes: list[ItemOutcome] = []
    errors: Counter = Counter()
    per_run, problems, shards = [], [], []
    for d, state in runs:
        o, e = committed_outcomes(state)
        outcomes += o
        errors += e
        shards += [(d, s) for s in state.manifest.shards]
        problems += [f"{d}: {p}" for p in state.problems]
        per_run.append({"out_dir": str(d), "shard": state.manifest.run_fingerprint["shard"], "items": len(o),
                        "pairs": sum(sum(x.pairs.values()) for x in o),
                        "open_rows": state.open_rows()})
    ids = Counter(o.item_id for o in outcomes)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        raise OutputError(f"items in more than one shard's folder (e.g. {twice[:3]}); were the runs built with "
                          "the same --shard N?")
    summary = summarize(outcomes, errors=dict(sorted(errors.items())), out_dir=out_dir)
    for key in ("generated_tokens", "tokens_per_second", "wall_seconds"):
        summary.pop(key, None)
    summary["shards"] = {"count": len(shards), "rows": sum(s.rows for _, s in shards),
                         "bytes": sum(s.bytes for _, s in shards), "open_rows": sum(r["open_rows"] for r in per_run)}
    summary["out_dir"] = str(out_dir) if out_dir is not None else " + ".join(str(d) for d, _ in runs)
    summary["runs"] = per_run
    summary["run_fingerprint"] = fp
    summary["problems"] = problems
    if out_dir is not None:
        _write(Path(out_dir), runs, fp, render_card(
            outcomes=outcomes, run_info=_run_info(fp, runs, push_to_hub), errors=dict(sorted(errors.items())),
            num_rows=summary["shards"]["rows"], num_bytes=summary["shards"]["bytes"], num_shards=len(shards)))
        if push_to_hub:
            from .hub import HubPusher

            HubPusher(push_to_hub, endpoint=endpoint).push_card(Path(out_dir))
    return summary


def _link(src: Path, dst: Path) -> None:
    """``dst`` becomes ``src``'s bytes: a hard link, else a copy (a stale ``dst`` is replaced)."""
    if dst.exists() and os.path.samefile(src, dst):
        return
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _check_mergeable(d: Path, state: OutputState) -> None:
    """A run folder whose shards can be carried as they are: no damage, nothing in an open shard."""
    if state.problems:
        raise OutputError(f"{d} is damaged ({'; '.join(state.problems)}); rerun its `mmpr build` to repair it, "
                          "then merge")
    open_commits = [c for c in state.manifest.commits if c.part is not None or c.responses_part is not None]
    if open_commits:
        raise OutputError(f"{d} has {state.open_rows()} pair rows in an open shard (the run was interrupted); "
                          "rerun its `mmpr build` so it finishes, then merge (or merge without --out)")


def _write(out_dir: Path, runs, fp: dict, card: str) -> None:
    """The merged folder: shards and responses (hard links or copies), commit records, manifest,
    errors.jsonl, README.md; see the module doc."""
    resolved = {d.resolve() for d, _ in runs}
    old = read_manifest(out_dir) if (out_dir / MANIFEST_NAME).is_file() else None
    if out_dir.resolve() in resolved or (old is not None and MERGED_KEY not in old.run_fingerprint):
        raise OutputError(f"{out_dir} is a build's output folder; merge into a new folder")
    for d, state in runs:
        _check_mergeable(d, state)
    runs = sorted(runs, key=lambda r: _spec(r[1]).index)
    manifest = Manifest(run_fingerprint={**fp, MERGED_KEY: [str(_spec(s)) for _, s in runs]})
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # an earlier merge's: written again last
    (out_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / RESPONSES_DIR).mkdir(exist_ok=True)
    errors = []
    for d, state in runs:
        finished = sorted(state.manifest.shards, key=lambda s: s.index)
        base = len(manifest.shards)
        number = {s.index: base + k for k, s in enumerate(finished)}
        number[state.manifest.open_shard()] = base + len(finished)  # commits without rows after the last shard
        for s in finished:
            _link(d / s.name, out_dir / s.name)
            rname = None
            if s.responses_name is not None:
                rname = response_shard_name(number[s.index])
                _link(d / s.responses_name, out_dir / rname)
            manifest.shards.append(dataclasses.replace(s, index=number[s.index], responses_name=rname))
        for c in state.manifest.commits:
            record = state.records[c.index]
            index = len(manifest.commits)
            name, sha = write_commit_record(out_dir, index, record["items"], record["errors"])
            manifest.commits.append(dataclasses.replace(c, index=index, shard=number[c.shard], record=name,
                                                        record_sha256=sha))
            errors += record["errors"]
    write_errors_file(out_dir, errors)
    atomic_write_bytes(out_dir / CARD_NAME, card.encode("utf-8"))
    write_manifest(out_dir, manifest)
    for path in stray_files(out_dir, manifest):  # an earlier merge's files this one does not list
        path.unlink()


def _spec(state: OutputState):
    from mmpr_builder.sharding import ShardSpec

    return ShardSpec.parse(state.manifest.run_fingerprint["shard"])


__all__ = ["MERGED_KEY", "merge_outputs"]
