"""The wheel: every module of the package and the bundled recipes, which ``mmpr sources`` lists once installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from testlib import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of this checkout (no network: the installed setuptools, no build isolation)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    for name in ("mmpr_builder", "pipelines"):
        shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, f"building the wheel failed (setuptools>=68 must be installed):\n{proc.stderr}"
    (built,) = out.glob("mmpr_builder-*.whl")
    return built


def test_wheel_holds_every_module_and_the_recipes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "mmpr_builder").rglob("*.py")}
    assert modules - names == set(), "subpackages missing from [tool.setuptools] packages in pyproject.toml"
    recipes = {f"mmpr_builder/pipelines/{p.name}" for p in (REPO_ROOT / "pipelines").glob("*.y*ml")}
    assert recipes and recipes <= names
    # package data beside the modules (the `mmpr view` page: template.html, viewer.js, viewer.css)
    assets = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "mmpr_builder").rglob("*")
              if p.is_file() and p.suffix in (".html", ".js", ".css")}
    assert "mmpr_builder/output/view/template.html" in assets
    assert assets - names == set(), "missing from [tool.setuptools.package-data] in pyproject.toml"


def test_installed_wheel_lists_the_recipes(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what `pip install` puts in site-packages
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import mmpr_builder.recipes as r; print(r.bundled_dir())"
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == site / "mmpr_builder" / "pipelines"
    proc = subprocess.run([sys.executable, "-m", "mmpr_builder", "sources"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert listed == {p.stem for p in (REPO_ROOT / "pipelines").glob("*.y*ml")}


def _subpackages() -> set[str]:
    return {".".join(p.parent.relative_to(REPO_ROOT).parts) for p in (REPO_ROOT / "mmpr_builder").rglob("__init__.py")}


def test_pyproject_lists_every_subpackage():
    """Fast twin of the wheel test: pyproject's explicit package list is the package tree plus the recipes."""
    import re

    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib is 3.11+; the project allows 3.10
    block = re.search(r"^\[tool\.setuptools\]\npackages = \[(.*?)\]", text, re.S | re.M)
    assert block, "pyproject.toml: no `packages = [...]` under [tool.setuptools]"
    listed = set(re.findall(r'"([\w.]+)"', block.group(1)))
    assert listed == _subpackages() | {"mmpr_builder.pipelines"}


def test_readme_layout_names_every_subpackage():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    missing = [name for name in sorted(_subpackages() - {"mmpr_builder"}) if f"{name.split('.')[-1]}/" not in layout]
    assert not missing, f"README's Layout section does not name {missing}"
