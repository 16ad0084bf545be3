"""Shared fixtures. ``shared_dir`` points at ../shared beside the repository.

Tests that need it fail (they do not skip) when it is missing, so CI cannot pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["conftest_service"]  # service fixtures: databases (SQLite + PostgreSQL), ...

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """The shared data folder: $SPOOFSCOPE_SHARED, else ``../shared`` beside the repo."""
    return Path(os.environ.get("SPOOFSCOPE_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "reference" / "README.md").is_file():
        pytest.fail(f"shared data folder not found at {path} (set SPOOFSCOPE_SHARED)")
    return path


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference"
