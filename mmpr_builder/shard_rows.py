"""Pair rows -> one checked Arrow table per item, images embedded.

Used by :class:`mmpr_builder.writer.ShardWriter`; pure apart from reading image
files that are given by path.
"""

from __future__ import annotations

import os

from .errors import OutputError
from .schema import METHODS, pair_features

#: columns that may not be null in a pair row
REQUIRED = ("id", "item_id", "prompt", "chosen", "rejected", "method")


def encode_rows(item_id: str, rows: list[dict], schema):
    """Check and encode the pair rows of one item into a ``pyarrow.Table`` with ``schema``.

    Each row must have exactly the columns of :func:`mmpr_builder.schema.pair_features`,
    non-null :data:`REQUIRED` columns, ``item_id == item_id``, a known ``method`` and an
    ``id`` unique within the item. Images may be ``{"bytes", "path"}`` dicts, ``ImageData``,
    PIL images, bytes or file paths; their bytes are always embedded and local paths are
    reduced to the file name (as ``datasets``' ``embed_storage`` does).

    Args:
        schema: ``pair_features().arrow_schema``, possibly with extra metadata.

    Raises:
        OutputError: naming the item and row, for any of the above or a value of the wrong type.
    """
    import pyarrow as pa

    from .items import ImageData

    features = pair_features()
    image_feature = features["images"].feature
    columns = set(features)
    seen: set[str] = set()
    encoded = []
    for i, row in enumerate(rows):
        missing, unknown = columns - row.keys(), row.keys() - columns
        if missing or unknown:
            raise OutputError(f"item {item_id!r}: pair row {i}: missing columns {sorted(missing)}, "
                              f"unknown columns {sorted(unknown)}")
        for key in REQUIRED:
            if row[key] is None:
                raise OutputError(f"item {item_id!r}: pair row {i}: column {key!r} is null")
        if row["item_id"] != item_id:
            raise OutputError(f"item {item_id!r}: pair row {i} has item_id {row['item_id']!r}")
        if row["method"] not in METHODS:
            raise OutputError(f"item {item_id!r}: pair row {i}: unknown method {row['method']!r} "
                              f"(expected one of {METHODS})")
        if row["id"] in seen:
            raise OutputError(f"item {item_id!r}: duplicate pair id {row['id']!r}")
        seen.add(row["id"])
        try:
            # each image on its own: datasets encodes a list by looking at its first element only
            images = [_embed(image_feature.encode_example(
                {"bytes": im.bytes, "path": im.path} if isinstance(im, ImageData) else im), item_id)
                for im in row["images"] or []]
            encoded.append(features.encode_example({**row, "images": images}))
        except (TypeError, ValueError, AttributeError) as e:
            raise OutputError(f"item {item_id!r}: pair row {i} does not match the pair schema: {e}") from e
    try:
        table = pa.Table.from_pylist(encoded, schema=schema)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        raise OutputError(f"item {item_id!r}: rows do not match the pair schema: {e}") from e
    if not table.schema.equals(schema, check_metadata=True):
        raise OutputError(f"item {item_id!r}: rows do not match the pair schema")
    return table


def _embed(image: dict, item_id: str) -> dict:
    """Make sure an encoded image carries its bytes (read from ``path`` if needed; local paths -> file name)."""
    data, path = image.get("bytes"), image.get("path")
    if data is None:
        if not path or not os.path.isfile(path):
            raise OutputError(f"item {item_id!r}: image {path!r} has no bytes and cannot be read")
        with open(path, "rb") as f:
            data = f.read()
        path = os.path.basename(path)
    elif path and os.path.isabs(path):
        path = os.path.basename(path)
    return {"bytes": data, "path": path}
