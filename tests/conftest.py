"""Shared fixtures. Tests that read ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ACEREASON_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to the real public data files; skips the test when they are not on this machine."""
    if not (SHARED_DATA / "SOURCES.md").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny-model ops gain nothing from a second thread, and intra-op threads stall badly when the shared
    cores are busy; one thread keeps a module's runtime steady."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
