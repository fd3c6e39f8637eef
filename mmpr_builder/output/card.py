"""The dataset card: ``README.md`` with the YAML front matter the Hub reads, and the run's statistics.

Front matter (Hub dataset card metadata, https://huggingface.co/docs/hub/datasets-cards):
``license``, ``task_categories``, ``tags``, ``size_categories``, ``pretty_name``,
``configs`` (``data_files: data/*.parquet`` for split ``train``, read by the Hub
viewer and by ``load_dataset(folder_or_repo)``) and ``dataset_info`` (features
from :func:`mmpr_builder.schema.pair_features`, rows and bytes), rendered with
``huggingface_hub.DatasetCardData`` and ``datasets.DatasetInfosDict``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError
from ..items import ItemOutcome
from .manifest import CARD_NAME, ERRORS_NAME, atomic_write_bytes, read_manifest

#: keys ``run_info`` may have (all optional)
RUN_INFO_KEYS = ("model", "recipe", "recipe_version", "sampling", "seed", "mmpr_version", "license",
                 "pretty_name", "git_commit", "source_datasets", "repo_id", "dtype", "engine")
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
TASK_CATEGORIES = ["image-text-to-text", "visual-question-answering"]
TAGS = ["preference", "dpo", "mpo", "multimodal", "synthetic", "mmpr"]


def size_category(n: int) -> str:
    """The Hub ``size_categories`` value for ``n`` rows, e.g. ``1K<n<10K``."""
    for bound, name in SIZE_CATEGORIES:
        if n < bound:
            return name
    return "n>1B"


def render_card(*, outcomes: list[ItemOutcome], run_info: dict, errors: dict[str, int] | None = None,
                num_rows: int | None = None, num_bytes: int | None = None, num_shards: int | None = None) -> str:
    """The card text (front matter + markdown); deterministic for the same arguments.

    Args:
        outcomes: the committed items, aggregated by :func:`mmpr_builder.output.summary.summarize`.
        run_info: keys from :data:`RUN_INFO_KEYS`; ``sampling`` is a dict of sampling parameters.
        errors: skipped input rows per cause.
        num_rows / num_bytes / num_shards: totals of the shards (default: pairs from ``stats``).

    Raises:
        ConfigError: ``run_info`` has a key not in :data:`RUN_INFO_KEYS`.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from ..schema import pair_features
    from .summary import summarize

    unknown = sorted(set(run_info) - set(RUN_INFO_KEYS))
    if unknown:
        raise ConfigError(f"unknown run_info keys {unknown}; expected some of {list(RUN_INFO_KEYS)}")
    summary = summarize(outcomes, errors=errors)
    rows = summary["pairs"]["total"] if num_rows is None else num_rows
    pretty = run_info.get("pretty_name") or f"MMPR-style preference pairs ({run_info.get('recipe', 'mmpr')})"
    data = DatasetCardData(
        license=run_info.get("license", "other"),
        task_categories=TASK_CATEGORIES,
        tags=TAGS,
        size_categories=[size_category(rows)],
        pretty_name=pretty,
        source_datasets=run_info.get("source_datasets"),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
    )
    info = DatasetInfo(features=pair_features(),
                       splits=SplitDict({"train": SplitInfo("train", num_bytes=num_bytes or 0, num_examples=rows)}),
                       download_size=num_bytes, dataset_size=num_bytes)
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    body = _body(pretty, summary, run_info, rows, num_shards)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def write_card(out_dir: Path, *, outcomes: list[ItemOutcome], run_info: dict) -> Path:
    """Write ``out_dir/README.md`` atomically and return its path.

    Shard totals come from the finished shards in ``out_dir/manifest.json`` (rows still
    in parts of an unfinished shard are not published) and skipped rows from
    ``out_dir/errors.jsonl`` when present. ``run_info`` must not hold secrets:
    everything in it is published.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    kw: dict[str, Any] = {}
    if manifest is not None:
        shards = manifest.shards
        kw = {"num_rows": sum(c.rows for c in shards), "num_bytes": sum(c.bytes for c in shards),
              "num_shards": len(shards)}
    errors: Counter = Counter()
    if (out_dir / ERRORS_NAME).is_file():
        lines = (out_dir / ERRORS_NAME).read_text(encoding="utf-8").splitlines()
        errors.update(json.loads(line)["cause"] for line in lines if line.strip())
    text = render_card(outcomes=outcomes, run_info=run_info, errors=dict(sorted(errors.items())), **kw)
    path = out_dir / CARD_NAME
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts(title: str, header: list[str], counts: dict) -> list[str]:
    return [title, _table(header, [[k, v] for k, v in sorted(counts.items())])] if counts else []


def _body(title: str, s: dict, run: dict, rows: int, shards: int | None) -> str:
    sampling = json.dumps(run.get("sampling") or {}, sort_keys=True)
    pairs = {k: v for k, v in s["pairs"].items() if k != "total"}
    accuracy = "n/a" if s["accuracy"] is None else f"{s['accuracy']:.1%}"
    parts = [
        f"# {title}",
        "Chosen/rejected response pairs for preference training of vision-language models, built with "
        "mmpr following MMPR / Mixed Preference Optimization (Wang et al., 2024, arXiv:2411.10442): "
        "correctness pairs (a correct vs an incorrect sampled answer) and DropoutNTP pairs "
        "(a full response vs a continuation of its truncated prefix without the image).",
        "## Usage",
        f"```python\nfrom datasets import load_dataset\n\nds = load_dataset(\"{run.get('repo_id') or 'ORG/NAME'}\", "
        "split=\"train\")\n# prompt / chosen / rejected / images are in TRL's conversational preference format\n```",
        "## Build",
        _table(["setting", "value"], [row for row in [
            ["model", f"`{run['model']}`" if run.get("model") else None],
            ["recipe", f"{run['recipe']} (version {run.get('recipe_version')})" if run.get("recipe") else None],
            ["sampling", f"`{sampling}`"],
            ["dtype", run.get("dtype")],
            ["seed", run.get("seed")],
            ["mmpr version", run.get("mmpr_version")],
            ["git commit", run.get("git_commit")],
        ] if row[1] is not None]),
        "## Statistics",
        f"{s['items']} items, {s['responses']} sampled responses (accuracy {accuracy}), {rows} pairs"
        + (f" in {shards} shards." if shards is not None else "."),
        *_counts("### Items by status", ["status", "items"], s["status"]),
        *_counts("### Pairs by method", ["method", "pairs"], pairs),
        "### Accuracy per source (correct / checked responses)",
        _table(["source", "accuracy"], [[k, v] for k, v in s["accuracy_by_source"].items()]),
        "### Lengths (tokens)",
        _table(["text", "count", "mean", "min", "p50", "p90", "max"],
               [[k] + [d.get(c) for c in ("count", "mean", "min", "p50", "p90", "max")]
                for k, d in s["tokens"].items()]),
        *_counts("### Response issues", ["issue", "responses"], s["issues"]),
        *_counts("### DropoutNTP continuations dropped or short", ["reason", "count"], s["dropout_ntp"]),
        *_counts("### Skipped input rows (see errors.jsonl)", ["cause", "rows"], s["errors"]),
    ]
    return "\n\n".join(parts) + "\n"


_USAGE_LOAD = re.compile(r'^(ds = load_dataset\(")[^"\n]*(", split="train"\))$', re.M)


def set_card_repo_id(out_dir: Path, repo_id: str) -> bool:
    """Make the card's usage snippet (``load_dataset("ORG/NAME", ...)``) name ``repo_id``; returns whether it changed.

    Used by ``mmpr push`` when the folder was built without ``--push-to-hub`` (or for another
    repo). The rest of the card is left byte for byte; the file is replaced atomically.

    Raises:
        OutputError: ``out_dir`` has no card, or its usage snippet is not the one :func:`render_card` writes.
    """
    path = Path(out_dir) / CARD_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OutputError(f"no dataset card at {path}: the build did not finish; rerun it to finish") from None
    new, n = _USAGE_LOAD.subn(lambda m: f"{m.group(1)}{repo_id}{m.group(2)}", text, count=1)
    if n == 0:
        raise OutputError(f"{path} has no mmpr usage snippet (load_dataset(...)); was it edited by hand?")
    if new == text:
        return False
    atomic_write_bytes(path, new.encode("utf-8"))
    return True
