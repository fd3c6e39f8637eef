"""Sharded runs: ``--shard I/N`` takes the items whose id hashes to ``I`` of ``N``.

N boxes (or N GPUs of one box) each run ``mmpr build --shard I/N`` on the same
source; together they process every item exactly once, with no coordination.
An item's shard is ``int(SHA-256(item id)[:8]) mod N``: stable across runs,
machines and Python versions, and independent of the source's order. Each
run writes shards named ``data/train-sIIofNN-NNNNN.parquet`` (:meth:`ShardSpec.stem`),
so the runs can push into one Hub dataset without overwriting or deleting each
other's files; ``mmpr merge`` writes one card with the totals of all runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mmpr_builder.errors import ConfigError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def item_shard(item_id: str, count: int) -> int:
    """The shard (``0 <= shard < count``) of ``item_id``: first 8 bytes of SHA-256(id), big-endian, mod count."""
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") % count


@dataclass(frozen=True)
class ShardSpec:
    """Run ``index`` of ``count`` sharded runs (0-based: ``0 <= index < count``)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"I/N"`` -> ShardSpec. Raises ConfigError unless ``0 <= I < N`` are integers."""
        m = _SPEC.match(text or "")
        if not m:
            raise ConfigError(f"run.shard (--shard): must be I/N (e.g. 0/4), got {text!r}")
        index, count = int(m.group(1)), int(m.group(2))
        if not 0 <= index < count:
            raise ConfigError(f"run.shard (--shard): needs 0 <= I < N, got {text!r}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def stem(self) -> str:
        """Shard file stem: ``train-s01of04`` for run 1 of 4 (two digits at least)."""
        return f"train-s{self.index:02d}of{self.count:02d}"

    def owns(self, item_id: str | None) -> bool:
        """Whether this run takes the item; a bad source row without an id belongs to run 0."""
        if item_id is None:
            return self.index == 0
        return item_shard(item_id, self.count) == self.index


__all__ = ["ShardSpec", "item_shard"]
