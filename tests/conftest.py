"""Shared pytest fixtures: where the reference fixtures live, and a headless Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports cv2 or Qt (STACK.md)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared fixtures folder: $CASTGATE_FIXTURES, else ../shared/fixtures beside the repository."""
    folder = Path(os.environ.get("CASTGATE_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not folder.is_dir():
        pytest.fail(f"reference fixtures not found at {folder}; set CASTGATE_FIXTURES")
    return folder


@pytest.fixture(scope="session")
def reference_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "reference"


@pytest.fixture(scope="session")
def seed_study_csv(fixtures_dir: Path) -> Path:
    return fixtures_dir / "seed-study" / "labels.csv"
