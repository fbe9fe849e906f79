"""OCIO colour: sRGB -> ACEScg through the pinned built-in config, and back."""

from __future__ import annotations

import numpy as np
import pytest

from castgate.colour import DEFAULT_CONFIG, ColourPipeline
from castgate.errors import ColourError


def test_default_is_pinned_studio_config(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    pipeline = ColourPipeline.open()
    assert pipeline.uri == DEFAULT_CONFIG and "latest" not in pipeline.uri
    assert pipeline.scene_linear_name == "ACEScg"
    assert pipeline.srgb_name == "sRGB Encoded Rec.709 (sRGB)"


def test_known_values_and_round_trip():
    pipeline = ColourPipeline.open(DEFAULT_CONFIG)
    grey = np.full((1, 2, 3), [1.0, 0.5, 0.0][0], np.float32)
    grey[0, 1] = 0.5
    linear = pipeline.srgb_to_scene_linear(grey)
    assert linear[0, 0] == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)
    assert linear[0, 1] == pytest.approx([0.2140] * 3, abs=1e-3)  # sRGB 0.5 is 0.214 linear
    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 3), dtype=np.float32)
    back = pipeline.scene_linear_to_srgb(pipeline.srgb_to_scene_linear(image))
    assert np.abs(back - image).max() < 1e-4


def test_ocio_env_is_used_and_bad_config_is_clear(monkeypatch):
    monkeypatch.setenv("OCIO", "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4")
    assert ColourPipeline.open().uri == "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"
    with pytest.raises(ColourError, match="cannot load the OCIO config.*unset them"):
        ColourPipeline.open("/nonexistent/config.ocio")
