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
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError
from ..items import ItemOutcome
from .manifest import CARD_NAME, DATA_DIR, ERRORS_NAME, MANIFEST_NAME, atomic_write_bytes
from .state import OutputState, read_state


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
            shards (hard links, else copies), ``errors.jsonl`` (all runs', in folder order) and
            ``README.md`` (one card with the totals of all shards). Must not be one of ``out_dirs``
            nor an mmpr build folder.
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
            a shard is given twice or missing, or ``out_dir`` is unusable.
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
        _write(Path(out_dir), runs, shards, render_card(
            outcomes=outcomes, run_info=_run_info(fp, runs, push_to_hub), errors=dict(sorted(errors.items())),
            num_rows=summary["shards"]["rows"], num_bytes=summary["shards"]["bytes"], num_shards=len(shards)))
        if push_to_hub:
            from .hub import HubPusher

            HubPusher(push_to_hub, endpoint=endpoint).push_card(Path(out_dir))
    return summary


def _write(out_dir: Path, runs, shards, card: str) -> None:
    """The merged folder: shards (hard links or copies), errors.jsonl, README.md."""
    resolved = {d.resolve() for d, _ in runs}
    if out_dir.resolve() in resolved or (out_dir / MANIFEST_NAME).exists():
        raise OutputError(f"{out_dir} is a build's output folder; merge into a new folder")
    (out_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
    for d, s in shards:
        dst = out_dir / s.name
        if dst.exists() and dst.stat().st_size == s.bytes:
            continue
        dst.unlink(missing_ok=True)
        try:
            os.link(d / s.name, dst)
        except OSError:
            shutil.copy2(d / s.name, dst)
    lines = []
    for d, _ in runs:
        if (d / ERRORS_NAME).is_file():
            lines += [ln for ln in (d / ERRORS_NAME).read_text(encoding="utf-8").splitlines() if ln.strip()]
    atomic_write_bytes(out_dir / ERRORS_NAME, "".join(ln + "\n" for ln in lines).encode("utf-8"))
    atomic_write_bytes(out_dir / CARD_NAME, card.encode("utf-8"))


__all__ = ["merge_outputs"]
