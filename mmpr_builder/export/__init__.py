"""``mmpr export``: an output folder's pairs in the formats other trainers read.

Modules:

- :mod:`~mmpr_builder.export.pairs`: shard rows -> :class:`~mmpr_builder.export.pairs.ExportPair` (checks, skip causes).
- :mod:`~mmpr_builder.export.images`: images written once, named by their SHA-256.
- :mod:`~mmpr_builder.export.base`: the format interface and index-file helpers.
- :mod:`~mmpr_builder.export.internvl`, :mod:`~mmpr_builder.export.swift`,
  :mod:`~mmpr_builder.export.llamafactory`: one format each (their sources are cited there).
- :mod:`~mmpr_builder.export.run`: :func:`~mmpr_builder.export.run.export_pairs`, the library call
  behind the command.

:data:`FORMATS` maps ``--format`` names to formats; an unknown name fails with "did you mean".
"""

from __future__ import annotations

from ..errors import ConfigError
from ..registry import Registry
from .base import ExportFormat
from .internvl import INTERNVL
from .llamafactory import LLAMAFACTORY
from .swift import SWIFT

FORMATS: Registry[ExportFormat] = Registry("export format", [(f.name, f) for f in (INTERNVL, SWIFT, LLAMAFACTORY)],
                                           error=ConfigError)
