"""Shared test helpers. `../shared/data` (the real data beside the project) is optional: tests
that need it are marked `shared` and skipped, with the reason, when it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs {SHARED_DATA} (absent)")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The path of ../shared/data; skips the test when it is absent (mark such tests `shared` too)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs {SHARED_DATA} (absent)")
    return SHARED_DATA
