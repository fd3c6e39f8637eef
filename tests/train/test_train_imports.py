"""train/ stands alone: its library modules import only the schema, the errors, the registry and train/ itself.

The CLI layer (``train/cli.py``) resolves model aliases and the cache folder and hands them in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmpr_builder.train

TRAIN = Path(mmpr_builder.train.__file__).parent
ALLOWED = {"mmpr_builder.errors", "mmpr_builder.schema", "mmpr_builder.registry"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against mmpr_builder.train
                base = ["mmpr_builder", "train"][: 3 - node.level] if node.level <= 2 else []
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
    return {n for n in names if n == "mmpr_builder" or n.startswith("mmpr_builder.")}


def test_train_library_imports_only_schema_errors_registry_and_itself():
    bad = {}
    for path in sorted(TRAIN.glob("*.py")):
        if path.name == "cli.py":
            continue
        outside = {n for n in _imports(path) if n not in ALLOWED and not n.startswith("mmpr_builder.train")}
        if outside:
            bad[path.name] = sorted(outside)
    assert not bad, f"train/ modules import outside schema/errors/registry: {bad}"
