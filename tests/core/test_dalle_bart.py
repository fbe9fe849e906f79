"""DalleBart modules and loader against the reference fixtures (dalle-mini 0.1.5, tiny random checkpoint)."""

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
def cases(dallebart_tiny_dir: Path) -> dict:
    return json.loads((dallebart_tiny_dir / "cases.json").read_text())


@pytest.fixture(scope="module")
def loaded(dallebart_tiny_dir: Path):
    return checkpoints.load_dallebart(dallebart_tiny_dir)


@pytest.fixture(scope="module")
def model(loaded):
    from castgate.models.dalle_bart import DalleBart

    return DalleBart(loaded[0])


_APPLY: dict = {}


def _apply(model, params, *args, method=None):
    """``model.apply`` jitted once per module and method (eager Flax is slow op by op)."""
    key = (id(model), method)
    if key not in _APPLY:
        _APPLY[key] = jax.jit(lambda p, *a: model.apply({"params": p}, *a, method=method))
    return _APPLY[key](params, *args)


def _first_step_logits(model, params, input_ids, attention_mask) -> np.ndarray:
    start = np.full((len(input_ids), 1), model.config.start_token, np.int32)
    logits = _apply(model, params, np.asarray(input_ids, np.int32), np.asarray(attention_mask, np.int32), start)
    return np.asarray(logits[:, 0])


def test_config_is_read_from_the_tiny_checkpoint(loaded):
    config = loaded[0]
    assert (config.embed_count, config.encoder_layer_count, config.decoder_head_count) == (32, 2, 4)
    assert (config.start_token, config.eos_token, config.logit_count) == (64, 65, 65)


def test_first_step_logits_match_reference_for_every_prompt(model, loaded, cases):
    expected = np.array([case["first_step_logits_cond"] for case in cases["cases"]], np.float32)
    ids = [case["input_ids"] for case in cases["cases"]]
    mask = [case["attention_mask"] for case in cases["cases"]]
    np.testing.assert_allclose(_first_step_logits(model, loaded[1], ids, mask), expected, atol=ATOL, rtol=0)


def test_first_step_logits_of_the_unconditional_row_match_reference(model, loaded, cases):
    uncond = cases["uncond"]
    logits = _first_step_logits(model, loaded[1], [uncond["input_ids"]], [uncond["attention_mask"]])
    for case in cases["cases"]:
        np.testing.assert_allclose(logits[0], case["first_step_logits_uncond"], atol=ATOL, rtol=0)


def test_encoder_hidden_states_match_trace(model, loaded, dallebart_tiny_dir):
    from castgate.models.dalle_bart import DalleBart

    trace = np.load(dallebart_tiny_dir / "trace.npz")
    state = _apply(model, loaded[1], trace["input_ids"], trace["attention_mask"], method=DalleBart.encode)
    np.testing.assert_allclose(state, trace["encoder_last_hidden_state_cond"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("scale", [1, 3])
def test_teacher_forced_step_logits_match_trace(model, loaded, dallebart_tiny_dir, scale):
    """Every greedy step's processed logits (cached decoding equals a full causal pass)."""
    from castgate.generation.sampling import mask_end_token, super_condition

    trace = np.load(dallebart_tiny_dir / "trace.npz")
    tokens = trace[f"greedy_tokens_scale{scale}"]
    decoder_input = np.concatenate([np.full((len(tokens), 1), 64), tokens[:, :-1]], axis=1).astype(np.int32)
    cond = np.asarray(_apply(model, loaded[1], trace["input_ids"], trace["attention_mask"], decoder_input))
    if scale != 1:
        uncond_ids = np.broadcast_to(trace["input_ids_uncond"], trace["input_ids"].shape)
        uncond_mask = np.broadcast_to(trace["attention_mask_uncond"], trace["attention_mask"].shape)
        uncond = np.asarray(_apply(model, loaded[1], uncond_ids, uncond_mask, decoder_input))
        cond = np.asarray(super_condition(cond, uncond, float(scale)))
    processed = np.asarray(mask_end_token(cond, 65))
    np.testing.assert_allclose(processed, trace[f"greedy_step_logits_scale{scale}"], atol=ATOL, rtol=0)


def test_loader_renames_keys_and_round_trips_to_the_published_layout(loaded, dallebart_tiny_dir):
    params = loaded[1]
    layer = params["decoder"]["layers_1"]
    assert set(layer) >= {"self_attention", "cross_attention", "glu", "pre_self_attention_norm"}
    assert "scale" not in layer["pre_self_attention_norm"] and "scale" in layer["post_self_attention_norm"]
    original = checkpoints.flatten(checkpoints.read_msgpack(dallebart_tiny_dir / "flax_model.msgpack"))
    round_trip = checkpoints.flatten(checkpoints.to_checkpoint_layout(params, "dallebart"))
    assert round_trip.keys() == original.keys()
    for path, value in original.items():
        np.testing.assert_array_equal(round_trip[path], value)


@pytest.mark.parametrize("name, logits", [("mini", 16385), ("mega", 16416)])
def test_real_configs_parse_and_imply_the_published_shapes(reference_dir, name, logits):
    raw = json.loads((reference_dir / "real_configs.json").read_text())["dallebart"][name]["config"]
    config = checkpoints.dallebart_config_from_dict(raw, f"{name}/config.json")
    assert config.logit_count == logits
    if name == "mini":  # the parameter tree published for mini-1
        shapes = checkpoints.expected_checkpoint_shapes("dallebart", config)
        assert shapes["lm_head/kernel"] == (1024, 16385)
        assert shapes["model/decoder/embed_tokens/embedding"] == (16385, 1024)
        assert shapes["model/encoder/embed_tokens/embedding"] == (50264, 1024)
        assert shapes["model/encoder/embed_positions/embedding"] == (64, 1024)
        assert shapes["model/decoder/embed_positions/embedding"] == (256, 1024)
        assert shapes["model/decoder/layers/FlaxBartDecoderLayers/GLU_0/Dense_0/kernel"] == (12, 1024, 2730)
        assert "model/decoder/layers/FlaxBartDecoderLayers/LayerNorm_0/scale" not in shapes
        assert "model/decoder/layers/FlaxBartDecoderLayers/LayerNorm_3/scale" in shapes


@pytest.mark.parametrize("field, value", [
    ("ln_positions", "swinv2"), ("ln_type", "rmsnorm"), ("use_glu", False), ("use_bias", True),
    ("use_head_scale", True), ("use_cosine_attention", True), ("use_alibi", True), ("scale_embedding", True),
    ("force_ln_scale", True), ("use_final_ln_decoder", False), ("sinkhorn_iters", 3), ("use_scan", False),
    ("activation_function", "relu"), ("tie_word_embeddings", True),
])
def test_unimplemented_architecture_flags_are_refused_by_name(dallebart_tiny_dir, field, value):
    raw = json.loads((dallebart_tiny_dir / "config.json").read_text())
    raw[field] = value
    with pytest.raises(UnsupportedModelError, match=field):
        checkpoints.dallebart_config_from_dict(raw, "config.json")


def test_missing_size_field_is_named(dallebart_tiny_dir):
    raw = json.loads((dallebart_tiny_dir / "config.json").read_text())
    del raw["d_model"]
    with pytest.raises(ModelFolderError, match="d_model is missing"):
        checkpoints.dallebart_config_from_dict(raw, "config.json")


def test_missing_file_is_named(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    (folder / "merges.txt").unlink()
    with pytest.raises(ModelFolderError, match="missing merges.txt"):
        checkpoints.load_dallebart(folder)


def test_truncated_weights_are_reported(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    weights = folder / "flax_model.msgpack"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelFolderError, match="flax_model.msgpack.*truncated"):
        checkpoints.load_dallebart(folder)


def test_weight_shape_that_disagrees_with_config_names_parameter_and_both_shapes(copy_model_folder,
                                                                                 dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["image_vocab_size"] = 80
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFolderError, match=r"parameter \S+ has shape \(.*\) but config.json .* implies \(.*\)"):
        checkpoints.load_dallebart(folder)


def test_float16_weights_load_and_compute_in_float32(copy_model_folder, dallebart_tiny_dir, model, loaded, cases):
    from flax import serialization

    folder = copy_model_folder(dallebart_tiny_dir)
    tree = checkpoints.read_msgpack(folder / "flax_model.msgpack")
    half = checkpoints.unflatten({k: v.astype(np.float16) for k, v in checkpoints.flatten(tree).items()})
    (folder / "flax_model.msgpack").write_bytes(serialization.msgpack_serialize(half))
    _, params, _ = checkpoints.load_dallebart(folder, "float32")
    assert params["decoder"]["to_logits"]["kernel"].dtype == np.float32
    case = cases["cases"][0]
    logits = _first_step_logits(model, params, [case["input_ids"]], [case["attention_mask"]])
    np.testing.assert_allclose(logits[0], case["first_step_logits_cond"], atol=2e-2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_compute_stays_close(loaded, cases, dtype):
    import jax.numpy as jnp

    from castgate.generation.engine import _cast
    from castgate.models.dalle_bart import DalleBart

    ids = [case["input_ids"] for case in cases["cases"]]
    mask = [case["attention_mask"] for case in cases["cases"]]
    logits = _first_step_logits(DalleBart(loaded[0], jnp.dtype(dtype)), _cast(loaded[1], dtype), ids, mask)
    expected = np.array([case["first_step_logits_cond"] for case in cases["cases"]])
    np.testing.assert_allclose(logits.astype(np.float32), expected, atol=0.15 if dtype == "bfloat16" else 0.02)
