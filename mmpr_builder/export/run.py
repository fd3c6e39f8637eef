"""The library call behind ``mmpr export``: read the shards, write one format, report what was done."""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ConfigError, ItemError, OutputError
from .base import ExportTarget, add_index_entry, read_index
from .images import ImageStore
from .pairs import pair_shards, read_pairs

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: skipped pairs named in the report (the counts cover all of them)
MAX_EXAMPLES = 5


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes:
        format, dir, name: the format, the export folder and the dataset name.
        annotation: the JSONL file, relative to ``dir``; index: the index file written
            (``meta.json``, ``dataset_info.json``) or None.
        pairs: rows written (one per exported pair).
        images_written: image files written; images_reused: image references served by a
            file already written (same SHA-256), in this export or an earlier one.
        skipped: cause -> pairs skipped (causes: :data:`mmpr_builder.export.pairs.SKIP_CAUSES`);
        skipped_examples: the first skips, ``"item ...: cause: message"``.
        usage: how to train on it with the target trainer.
    """

    format: str
    dir: str
    name: str
    annotation: str
    index: str | None = None
    pairs: int = 0
    images_written: int = 0
    images_reused: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)
    usage: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_pairs(out_dir: Path, fmt: str, to: Path, *, name: str | None = None,
                 root_prefix: str | None = None) -> ExportReport:
    """Write the pairs of an output folder's finished shards in format ``fmt`` into ``to``.

    Images go to ``to/images/<sha256>.<ext>`` once each; rows reference them by paths
    relative to ``to`` (InternVL: to its ``root``, ``to/images``). Pairs a format cannot
    hold are skipped and counted; the JSONL file is written under a temporary name and
    renamed when complete, then the format's index entry is added (other entries stay).

    Args:
        out_dir: an ``mmpr build`` output folder (or a folder with ``data/*.parquet`` pair shards).
        fmt: a name of :data:`mmpr_builder.export.FORMATS`.
        to: the export folder (created if missing); not inside ``out_dir``.
        name: the dataset name (file stem, index key); default: ``out_dir``'s folder name.
        root_prefix: InternVL: the folder ``meta.json``'s paths start with; default: ``to``'s name.
    Raises:
        ConfigError: unknown format (with "did you mean"), a bad name, ``to`` inside
            ``out_dir`` or a file, or an index entry of that name for another file.
        OutputError: no or damaged shards, or a file cannot be written.
    """
    from . import FORMATS

    form = FORMATS.get(fmt)
    out_dir, to = Path(out_dir), Path(to)
    name = name if name is not None else out_dir.resolve().name
    if not NAME_RE.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '_', '.' and '-' (it names files)")
    if to.exists() and not to.is_dir():
        raise ConfigError(f"--to {to}: exists and is not a folder")
    if to.resolve() == out_dir.resolve() or out_dir.resolve() in to.resolve().parents:
        raise ConfigError(f"--to {to}: write the export outside the build folder {out_dir} "
                          "(a resumed build refuses files it did not write)")
    shards = pair_shards(out_dir)
    target = ExportTarget(dir=to, name=name, root_prefix=to.resolve().name if root_prefix is None else root_prefix)
    annotation = form.annotation(target)
    report = ExportReport(format=form.name, dir=str(to), name=name, annotation=annotation, index=form.index_name)
    if form.index_name is not None:  # a clash with another dataset fails before anything is written
        read_index(to / form.index_name, name, form.index_entry(target, annotation, 0), form.index_key)
    store = ImageStore(to)
    skipped: Counter = Counter()
    path = to / annotation
    with _staged(path) as f:
        for pair in read_pairs(shards):
            try:
                if isinstance(pair, ItemError):
                    raise pair
                if form.check is not None:
                    form.check(pair)
                row = form.row(pair, store.names(pair.images, pair.item_id, pair.id), target)
            except ItemError as e:
                skipped[e.cause] += 1
                if len(report.skipped_examples) < MAX_EXAMPLES:
                    report.skipped_examples.append(str(e))
                logger.info("skipped: %s", e)
                continue
            f.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
            report.pairs += 1
    if form.index_name is not None:
        add_index_entry(to / form.index_name, name, form.index_entry(target, annotation, report.pairs), form.index_key)
    report.images_written, report.images_reused = store.written, store.reused
    report.skipped = dict(sorted(skipped.items()))
    report.usage = form.usage(target, annotation)
    return report


@contextmanager
def _staged(path: Path) -> Iterator[BinaryIO]:
    """A file written under a temporary name beside ``path``, renamed to ``path`` when the block ends
    without error (removed otherwise).

    Raises:
        OutputError: the file cannot be written.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(tmp, "wb")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e}") from e
    try:
        with f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


def format_report(r: ExportReport) -> str:
    """Human-readable text of an :class:`ExportReport`."""
    index = f" + {r.index}" if r.index else ""
    lines = [f"{r.format}: {r.pairs} pairs -> {Path(r.dir) / r.annotation}{index}",
             f"  images: {r.images_written} written, {r.images_reused} references to an image already written"]
    if r.skipped:
        lines.append("  skipped: " + ", ".join(f"{k} {v}" for k, v in r.skipped.items()))
        lines += [f"    {e}" for e in r.skipped_examples]
    lines.append(f"  train: {r.usage}")
    return "\n".join(lines)
