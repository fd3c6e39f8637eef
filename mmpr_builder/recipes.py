"""Recipes by name: the bundled ``pipelines/<name>.yaml`` plus folders in ``$MMPR_PIPELINES``.

As in lm-evaluation-harness's task registry, a recipe is found by name and an
unknown name fails with a "did you mean" (a :class:`~mmpr_builder.registry.Registry`).
A name defined in two folders is an error rather than a silent override
(rename one of them).

The bundled recipes are the repository's top-level ``pipelines/`` folder; a
wheel ships them as package data in ``mmpr_builder/pipelines/`` (see
``pyproject.toml``), so they are found in a source checkout, an editable
install and an installed wheel alike (:func:`bundled_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mmpr_builder.config import Recipe, recipe_from_yaml
from mmpr_builder.errors import ConfigError
from mmpr_builder.registry import Registry

ENV_VAR = "MMPR_PIPELINES"
_SUFFIXES = (".yaml", ".yml")


def bundled_dir() -> Path:
    """The folder of the bundled recipes.

    ``mmpr_builder/pipelines/`` inside the installed package (a wheel), else the
    ``pipelines/`` folder beside the package (a source checkout or editable install).
    """
    package = Path(__file__).resolve().parent
    installed = package / "pipelines"
    return installed if installed.is_dir() else package.parent / "pipelines"


def recipe_dirs() -> list[Path]:
    """Folders searched for recipes: :func:`bundled_dir`, then each entry of ``$MMPR_PIPELINES``.

    ``$MMPR_PIPELINES`` is ``os.pathsep``-separated; empty entries are ignored.
    Folders that do not exist are kept in the list (and simply hold no recipes).
    """
    dirs = [bundled_dir()]
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser().resolve())
    return dirs


def recipe_files() -> Registry[Path]:
    """Recipe name (file stem) -> file, over :func:`recipe_dirs` (read afresh on each call).

    Raises:
        ConfigError: the same name in two folders.
    """
    found: Registry[Path] = Registry("recipe", error=ConfigError)
    for folder in recipe_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file()):
            if path.stem in found:
                if found.get(path.stem) == path:
                    continue
                raise ConfigError(f"recipe {path.stem!r} is defined twice: {found.get(path.stem)} and {path}; "
                                  "rename one")
            found.register(path.stem, path)
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
    return _load_named(name_or_path, recipe_files().get(name_or_path))


def _load_named(name: str, path: Path) -> Recipe:
    recipe = recipe_from_yaml(path)
    if recipe.name != name:
        raise ConfigError(f"{path}: name {recipe.name!r} differs from the file name {name!r}")
    return recipe
