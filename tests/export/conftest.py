"""Output folders for the export tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from export_cases import mixed_folder, vqa_build


@pytest.fixture(scope="session")
def mixed_out(tmp_path_factory) -> Path:
    return mixed_folder(tmp_path_factory.mktemp("mixed") / "mixed")


@pytest.fixture(scope="session")
def vqa_out(tmp_path_factory) -> Path:
    return vqa_build(tmp_path_factory.mktemp("vqa") / "vqa")
