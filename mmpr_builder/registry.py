"""Recipes by name: ``pipelines/<name>.yaml`` in the repository plus folders in ``$MMPR_PIPELINES``.

As in lm-evaluation-harness's task registry, a recipe is found by name and an
unknown name fails with a "did you mean". A name defined in two folders is an
error rather than a silent override (rename one of them).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from mmpr_builder.config import Recipe, recipe_from_yaml
from mmpr_builder.errors import ConfigError

ENV_VAR = "MMPR_PIPELINES"
_SUFFIXES = (".yaml", ".yml")


def recipe_dirs() -> list[Path]:
    """Folders searched for recipes: the repository's ``pipelines/``, then each entry of ``$MMPR_PIPELINES``.

    ``$MMPR_PIPELINES`` is ``os.pathsep``-separated; empty entries are ignored.
    Folders that do not exist are kept in the list (and simply hold no recipes).
    """
    import mmpr_builder

    dirs = [Path(mmpr_builder.__file__).resolve().parents[1] / "pipelines"]
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser().resolve())
    return dirs


def recipe_files() -> dict[str, Path]:
    """Recipe name (file stem) -> file, over :func:`recipe_dirs`.

    Raises:
        ConfigError: the same name in two folders.
    """
    found: dict[str, Path] = {}
    for folder in recipe_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file()):
            if path.stem in found and found[path.stem] != path:
                raise ConfigError(f"recipe {path.stem!r} is defined twice: {found[path.stem]} and {path}; rename one")
            found[path.stem] = path
    return found


def list_recipes() -> list[Recipe]:
    """Every recipe in :func:`recipe_dirs`, sorted by name (for ``mmpr sources``).

    Raises:
        ConfigError: a recipe file is invalid, or a name is defined twice.
    """
    return [_load_named(name, path) for name, path in sorted(recipe_files().items())]


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name (from :func:`recipe_dirs`) or by the path of a ``.yaml``/``.yml`` file.

    A recipe in a registry folder must carry its file's name (``name:`` may be
    left out; it defaults to the stem).

    Raises:
        ConfigError: unknown name (with "did you mean" and the known names),
            missing file, or invalid recipe.
    """
    if name_or_path.endswith(_SUFFIXES) or os.sep in name_or_path or "/" in name_or_path:
        return recipe_from_yaml(Path(name_or_path).expanduser())
    files = recipe_files()
    if name_or_path not in files:
        close = difflib.get_close_matches(name_or_path, list(files), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(sorted(files)) or "none"
        raise ConfigError(f"unknown recipe {name_or_path!r}{hint}; known recipes: {known}")
    return _load_named(name_or_path, files[name_or_path])


def _load_named(name: str, path: Path) -> Recipe:
    recipe = recipe_from_yaml(path)
    if recipe.name != name:
        raise ConfigError(f"{path}: name {recipe.name!r} differs from the file name {name!r}")
    return recipe
