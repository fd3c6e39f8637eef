"""Fixtures for the source tests: real sample files and small images made on the fly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _png_bytes(width: int = 8, height: int = 8, *, noise: bool = False, seed: int = 0) -> bytes:
    import numpy as np
    from PIL import Image

    if noise:
        pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    else:
        pixels = np.full((height, width, 3), (200, 30, 30), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def make_png():
    """``make_png(width=8, height=8, noise=False, seed=0) -> bytes``: a PNG, flat or random noise (incompressible)."""
    return _png_bytes


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def sample_data() -> Path:
    return REPO_ROOT / "sample_data"


@pytest.fixture
def tabmwp_dir() -> Path:
    """The TabMWP sample in shared/data/tabmwp beside the repository; the test fails (not skips) when absent."""
    from testlib import require_tabmwp

    return require_tabmwp()
