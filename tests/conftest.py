"""Shared pytest fixtures: where the reference fixtures live, and a headless Qt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from shared_fixtures import fixtures_root

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports cv2 or Qt (STACK.md)



@pytest.fixture(scope="session", autouse=True)
def castgate_cache(tmp_path_factory) -> Path:
    """A private $CASTGATE_CACHE for the session (remembered hashes, prepared weights)."""
    folder = tmp_path_factory.mktemp("castgate-cache")
    previous = os.environ.get("CASTGATE_CACHE")
    os.environ["CASTGATE_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CASTGATE_CACHE", None)
    else:
        os.environ["CASTGATE_CACHE"] = previous


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared fixtures folder (:func:`shared_fixtures.fixtures_root`)."""
    folder = fixtures_root()
    if not folder.is_dir():
        pytest.fail(f"reference fixtures not found at {folder}; set CASTGATE_FIXTURES")
    return folder


@pytest.fixture(scope="session")
def reference_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "reference"


@pytest.fixture(scope="session")
def seed_study_csv(fixtures_dir: Path) -> Path:
    return fixtures_dir / "seed-study" / "labels.csv"


# -- model folders (DalleBart / VQGAN, castgate issue 3) ----------------------------------------------

@pytest.fixture(scope="session")
def dallebart_tiny_dir(reference_dir: Path) -> Path:
    """The tiny reference DalleBart checkpoint (read-only)."""
    return reference_dir / "dallebart-tiny"


@pytest.fixture(scope="session")
def vqgan_tiny_dir(reference_dir: Path) -> Path:
    """The tiny reference VQGAN checkpoint (read-only)."""
    return reference_dir / "vqgan-tiny"


@pytest.fixture
def copy_model_folder(tmp_path: Path):
    """Copy a model folder into tmp_path with writable files, for tests that break it on purpose."""
    import shutil
    import stat

    def copy(source: Path, name: str | None = None) -> Path:
        target = tmp_path / (name or Path(source).name)
        shutil.copytree(source, target)
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        return target

    return copy


@pytest.fixture(scope="session")
def demo_model_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """castgate's random-weight demo checkpoints, written once per test session."""
    from castgate.weights.demo_models import ensure_demo_models

    return ensure_demo_models(tmp_path_factory.mktemp("demo-models"))


@pytest.fixture(scope="session")
def clip_tiny(reference_dir: Path) -> Path:
    """The tiny CLIP checkpoint in the published layout, with the reference outputs beside it."""
    return reference_dir / "clip-tiny"


@pytest.fixture(scope="session")
def clip_cases(clip_tiny: Path) -> dict:
    return json.loads((clip_tiny / "cases.json").read_text())


# -- OpenCue job specs (castgate issue 15) --------------------------------------------------------------

@pytest.fixture
def validated_specs(monkeypatch):
    """Validate every job spec castgate serialises in this test against the DTD it declares.

    Wraps the real serialiser (nothing is replaced); yields the list of specs seen.
    """
    import castgate.farm.opencue as opencue
    from opencue_spec import assert_valid

    seen: list[str] = []
    real = opencue.serialize

    def checked(*args, **kwargs):
        xml = real(*args, **kwargs)
        assert_valid(xml)
        seen.append(xml)
        return xml

    monkeypatch.setattr(opencue, "serialize", checked)
    yield seen
