"""One exception tree for mmpr. Per-item errors carry the ``item_id`` they concern."""

from __future__ import annotations


class MmprError(Exception):
    """Root of every error mmpr raises on purpose."""


class ConfigError(MmprError, ValueError):
    """A recipe, flag or config file is invalid (raised at start, before any work)."""


class ModelError(MmprError):
    """A model cannot be resolved, built or loaded."""


class ItemError(MmprError):
    """One input item is bad. The run records it (id and cause) and goes on.

    Attributes:
        item_id: id of the item, or ``None`` when the row had no usable id.
        cause: short machine-readable cause, e.g. ``missing_image``.
    """

    def __init__(self, item_id: str | None, cause: str, message: str):
        self.item_id = item_id
        self.cause = cause
        super().__init__(f"item {item_id!r}: {cause}: {message}")


class EngineError(MmprError):
    """The generation engine failed for a batch or an item."""


class OutputError(MmprError):
    """The output folder is inconsistent (different arguments, corrupt manifest)."""
