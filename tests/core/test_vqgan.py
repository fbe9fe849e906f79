"""VQGAN modules and loader against the reference fixtures (vqgan-jax 10ef240, tiny random checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from castgate.errors import ModelFolderError, UnsupportedModelError
from castgate.weights import checkpoints

ATOL = 1e-4


@pytest.fixture(scope="module")
def loaded(vqgan_tiny_dir: Path):
    from castgate.models.vqgan import VQGan

    config, params, _ = checkpoints.load_vqgan(vqgan_tiny_dir)
    return VQGan(config), params


@pytest.fixture(scope="module")
def cases(vqgan_tiny_dir: Path) -> dict:
    return json.loads((vqgan_tiny_dir / "vq_cases.json").read_text())["cases"]


@pytest.mark.parametrize("grid", ["4x4", "8x8"])
def test_decoded_pixels_match_reference_before_clipping(loaded, cases, vqgan_tiny_dir, grid):
    from castgate.models.vqgan import VQGan

    model, params = loaded
    case = next(c for c in cases["decode"] if c["grid"] == grid)
    decode = jax.jit(lambda p, codes: model.apply({"params": p}, codes, method=VQGan.decode_codes))
    pixels = decode(params, np.array(case["indices"], np.int32))
    np.testing.assert_allclose(pixels, np.load(vqgan_tiny_dir / case["output_file"]), atol=ATOL, rtol=0)


def test_encode_indices_are_exact_and_latents_match(loaded, cases, vqgan_tiny_dir):
    from castgate.models.vqgan import VQGan

    model, params = loaded
    case = cases["encode"]
    pixels = np.load(vqgan_tiny_dir / case["input_file"])
    encoded = jax.jit(lambda p, x: model.apply({"params": p}, x, method=VQGan.encode))(params, pixels)
    np.testing.assert_array_equal(encoded.codes, np.array(case["indices"]))
    np.testing.assert_allclose(encoded.latent, np.load(vqgan_tiny_dir / case["latent_file"]), atol=ATOL, rtol=0)
    np.testing.assert_allclose(encoded.quantized, np.load(vqgan_tiny_dir / case["quantized_file"]), atol=ATOL, rtol=0)
    reconstruction, codes = jax.jit(model.apply)({"params": params}, pixels)
    np.testing.assert_allclose(reconstruction, np.load(vqgan_tiny_dir / case["reconstruction_file"]), atol=ATOL,
                               rtol=0)
    np.testing.assert_array_equal(codes, encoded.codes)


def test_real_f16_config_implies_the_published_decoder(reference_dir):
    raw = json.loads((reference_dir / "real_configs.json").read_text())["vqgan"]["config"]
    config = checkpoints.vqgan_config_from_dict(raw, "vqgan/config.json")
    assert (config.downsample_factor, config.code_count) == (16, 16384)
    shapes = checkpoints.expected_checkpoint_shapes("vqgan", config)
    assert shapes["quantize/embedding/embedding"] == (16384, 256)
    assert shapes["decoder/conv_in/kernel"] == (3, 3, 256, 512)
    # attention only at 16x16 (the lowest up block) and in the mid block; 3 res blocks per up block
    assert "decoder/up_4/attn_2/q/kernel" in shapes and "decoder/up_3/attn_0/q/kernel" not in shapes
    assert "decoder/up_0/block_2/conv1/kernel" in shapes
    assert shapes["decoder/up_1/block_0/nin_shortcut/kernel"] == (1, 1, 256, 128)


@pytest.mark.parametrize("field, value", [("double_z", True), ("resamp_with_conv", False), ("give_pre_end", True)])
def test_unimplemented_structure_flags_are_refused_by_name(vqgan_tiny_dir, field, value):
    raw = json.loads((vqgan_tiny_dir / "config.json").read_text())
    raw[field] = value
    with pytest.raises(UnsupportedModelError, match=field):
        checkpoints.vqgan_config_from_dict(raw, "config.json")


def test_weight_shape_mismatch_names_parameter(copy_model_folder, vqgan_tiny_dir):
    folder = copy_model_folder(vqgan_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["n_embed"] = 128
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFolderError, match=r"quantize/embedding/embedding has shape \(64, 32\) .* \(128, 32\)"):
        checkpoints.load_vqgan(folder)


def test_missing_weights_file_is_named(copy_model_folder, vqgan_tiny_dir):
    folder = copy_model_folder(vqgan_tiny_dir)
    (folder / "flax_model.msgpack").unlink()
    with pytest.raises(ModelFolderError, match="missing flax_model.msgpack"):
        checkpoints.load_vqgan(folder)
