"""castgate.models.clip against the clip-tiny reference (outputs of transformers' FlaxCLIPModel)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from castgate.generation import clip_inputs
from castgate.models.clip import Clip, ClipConfig, TextConfig, VisionConfig, quick_gelu

TINY = ClipConfig(
    text=TextConfig(vocab_size=50, hidden_size=16, intermediate_size=32, layer_count=1, head_count=2,
                    max_position_count=8),
    vision=VisionConfig(hidden_size=16, intermediate_size=32, layer_count=1, head_count=2, image_size=16,
                        patch_size=8),
    projection_dim=8,
)


@pytest.fixture(scope="module")
def model_and_params(clip_tiny: Path):
    config = clip_inputs.read_clip_config(clip_tiny)
    return Clip(config), clip_inputs.load_clip_params(clip_tiny, config)


@pytest.fixture(scope="module")
def encode_text(model_and_params):
    """The text tower, jitted once (eager Flax compiles every primitive separately: slow)."""
    model, _ = model_and_params
    return jax.jit(lambda params, ids, mask: model.apply({"params": params}, ids, mask,
                                                         method=Clip.encode_text))


@pytest.fixture(scope="module")
def outputs(clip_tiny: Path, model_and_params, encode_text) -> dict[str, np.ndarray]:
    """Run both towers on the reference inputs (ids and pixel values as the reference stored them)."""
    model, params = model_and_params
    ids = np.load(clip_tiny / "input_ids.npy")
    mask = np.load(clip_tiny / "attention_mask.npy")
    pixels = np.load(clip_tiny / "pixel_values.npy").transpose(0, 2, 3, 1)  # NCHW → NHWC

    @jax.jit
    def run(params, ids, mask, pixels):
        logits_per_image, out = model.apply({"params": params}, ids, mask, pixels)
        image_embeds, image = model.apply({"params": params}, pixels, method=Clip.encode_images)
        return logits_per_image, out, image_embeds, image

    logits_per_image, out, image_embeds, image = run(params, ids, mask, pixels)
    text_embeds, text = encode_text(params, ids, mask)
    return {
        "logits_per_image": logits_per_image, "logits_per_text": out["logits_per_text"],
        "text_embeds": text_embeds, "image_embeds": image_embeds,
        "text_features": text["features"], "image_features": image["features"],
        "text_pooled": text["pooled"], "image_pooled": image["pooled"],
        "text_last_hidden_state": text["last_hidden_state"],
        "vision_last_hidden_state": image["last_hidden_state"],
    }


def test_init_and_apply_give_documented_shapes():
    """Shapes only (jax.eval_shape): no compilation, no weights."""
    model = Clip(TINY)
    ids = jax.ShapeDtypeStruct((3, 8), jnp.int32)
    pixels = jax.ShapeDtypeStruct((2, 16, 16, 3), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), ids, ids, pixels)["params"]
    logits, out = jax.eval_shape(lambda p, i, x: model.apply({"params": p}, i, i, x), params, ids, pixels)
    assert logits.shape == (2, 3)
    assert out["text_embeds"].shape == (3, 8) and out["image_embeds"].shape == (2, 8)
    assert "layers_0" in params["text_model"]["encoder"]
    assert "pre_layer_norm" in params["vision_model"]


@pytest.mark.parametrize("name", [
    "text_last_hidden_state", "vision_last_hidden_state", "text_pooled", "image_pooled",
    "text_features", "image_features", "text_embeds", "image_embeds", "logits_per_image", "logits_per_text",
])
def test_matches_reference_within_tolerance(name, outputs, clip_tiny, clip_cases):
    expected = np.load(clip_tiny / clip_cases["arrays"][name]["file"])
    tolerance = clip_cases["tolerances"][name]
    actual = np.asarray(outputs[name])
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=tolerance["atol"], rtol=tolerance.get("rtol", 0.0))


def test_logit_scale_comes_from_weights_not_config(model_and_params, clip_cases):
    _, params = model_and_params
    assert float(params["logit_scale"]) == pytest.approx(clip_cases["logit_scale"])
    assert float(np.exp(params["logit_scale"])) == pytest.approx(100.0, rel=1e-6)


def test_text_pool_rule_for_non_legacy_eos_gives_the_same_position(model_and_params, outputs, clip_tiny):
    """eos_token_id 2 pools at argmax(ids); a real eos id pools at its first occurrence: same here."""
    model, params = model_and_params
    ids = np.load(clip_tiny / "input_ids.npy")
    mask = np.load(clip_tiny / "attention_mask.npy")
    modern = Clip(replace(model.config, text=replace(model.config.text, eos_token_id=713)))
    legacy_embeds = outputs["text_embeds"]
    modern_embeds = jax.jit(lambda p, i, m: modern.apply({"params": p}, i, m, method=Clip.embed_text))(
        params, ids, mask)
    np.testing.assert_array_equal(np.asarray(legacy_embeds), np.asarray(modern_embeds))


def test_text_is_causal_so_padding_does_not_change_the_embedding(model_and_params, encode_text, outputs,
                                                                 clip_tiny):
    _, params = model_and_params
    ids = np.load(clip_tiny / "input_ids.npy").copy()
    mask = np.load(clip_tiny / "attention_mask.npy")
    ids[0, -1] = 5  # a token after the end-of-text (not the largest id, so pooling stays put)
    after, _ = encode_text(params, ids, mask)
    np.testing.assert_allclose(np.asarray(after), np.asarray(outputs["text_embeds"]), atol=1e-6)


def test_quick_gelu():
    x = np.array([-2.0, 0.0, 1.0], np.float32)
    np.testing.assert_allclose(np.asarray(quick_gelu(x)), x / (1 + np.exp(-1.702 * x)), rtol=1e-6)


def test_real_config_has_the_published_parameter_layout(clip_tiny):
    """The module tree for real_config.json, renamed back, is the published checkpoint's exact layout."""
    info = json.loads((clip_tiny / "real_checkpoint_info.json").read_text())
    published = {tuple(entry["path"].split("/")): tuple(entry["shape"])
                 for entry in info["flax_params_layout"]["params"]}
    config = clip_inputs.clip_config_from_dict(json.loads((clip_tiny / "real_config.json").read_text()))
    assert config.vision.position_count == 50 and config.text.max_position_count == 77
    expected = clip_inputs.expected_param_shapes(config)
    renamed = {clip_inputs._module_path(path): shape for path, shape in published.items()}
    assert renamed == expected
    assert sum(int(np.prod(shape)) for shape in expected.values()) == info["flax_params_layout"]["num_params"]
