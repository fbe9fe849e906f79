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


# -- plates are ACEScg whatever $OCIO says (castgate issue 15) -------------------------------------------
from ocio_configs import linear_709_config  # noqa: E402


def test_a_linear_709_config_still_gets_acescg_plates_named_for_it(tmp_path, monkeypatch):
    config = linear_709_config(tmp_path / "lin709.ocio")
    monkeypatch.setenv("OCIO", str(config))
    pipeline = ColourPipeline.open()
    assert (pipeline.uri, pipeline.scene_linear_name, pipeline.srgb_name) == (
        str(config), "CG linear AP1", "sRGB - Texture")  # found by its primaries, not by name
    image = np.random.default_rng(3).random((6, 6, 3), dtype=np.float32)
    reference = ColourPipeline.open(DEFAULT_CONFIG)
    assert np.array_equal(pipeline.srgb_to_scene_linear(image), reference.srgb_to_scene_linear(image))
    record = pipeline.record()
    assert record["exr_colourspace"] == "CG linear AP1" and record["working_config"] == DEFAULT_CONFIG


def test_a_config_without_acescg_is_refused_naming_it(tmp_path):
    config = linear_709_config(tmp_path / "no_ap1.ocio", ap1_name=None)
    with pytest.raises(ColourError) as info:
        ColourPipeline.open(str(config))
    message = str(info.value)
    assert str(config) in message and "no ACEScg colour space" in message
    assert "'Linear Rec.709 (sRGB)'" in message and "$OCIO" in message


def test_a_space_named_acescg_that_is_not_is_refused(tmp_path):
    config = linear_709_config(tmp_path / "liar.ocio", ap1_name=None, fake_acescg=True)
    with pytest.raises(ColourError, match="named like ACEScg but does not hold ACEScg"):
        ColourPipeline.open(str(config))


def test_older_aces_configs_name_acescg():
    assert ColourPipeline.open("ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4").scene_linear_name == "ACEScg"
