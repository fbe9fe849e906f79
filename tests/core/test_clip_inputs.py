"""castgate.generation.clip_inputs: tokens, preprocessed pixels, config and weight loading, bad folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from castgate.errors import ModelFolderError, UnsupportedModelError
from castgate.generation import clip_inputs


@pytest.fixture(scope="module")
def tokenizer(clip_tiny: Path) -> clip_inputs.ClipTokenizer:
    return clip_inputs.load_tokenizer(clip_tiny, 16)


@pytest.fixture(scope="module")
def settings(clip_tiny: Path) -> clip_inputs.ImageSettings:
    return clip_inputs.read_image_settings(clip_tiny)


@pytest.fixture
def folder_copy(clip_tiny: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny CLIP folder (inputs and weights only)."""
    target = tmp_path / "clip"
    target.mkdir()
    for name in clip_inputs.REQUIRED_FILES + clip_inputs.OPTIONAL_FILES:
        shutil.copy(clip_tiny / name, target / name)
    return target


# --------------------------------------------------------------------------------------- tokens

def test_token_ids_and_mask_are_exact(tokenizer, clip_tiny, clip_cases):
    ids, mask = tokenizer.tokenize([prompt["text"] for prompt in clip_cases["prompts"]])
    assert ids.dtype == np.int32 and mask.dtype == np.int32
    np.testing.assert_array_equal(ids, np.load(clip_tiny / "input_ids.npy"))
    np.testing.assert_array_equal(mask, np.load(clip_tiny / "attention_mask.npy"))


def test_truncation_keeps_end_of_text_and_padding_is_end_of_text(tokenizer, clip_cases):
    end = clip_cases["special_tokens"]["eos"]["id"]
    long_prompt = next(p for p in clip_cases["prompts"] if p["truncated"])
    short_prompt = min(clip_cases["prompts"], key=lambda p: p["untruncated_length"])
    ids, mask = tokenizer.tokenize([long_prompt["text"], short_prompt["text"]])
    assert ids[0, 0] == clip_cases["special_tokens"]["bos"]["id"] and ids[0, -1] == end and mask[0].all()
    length = short_prompt["untruncated_length"]
    assert (ids[1, length - 1:] == end).all() and mask[1].sum() == length


def test_tokenizer_loads_from_vocab_and_merges_alone(clip_tiny, tmp_path, tokenizer, clip_cases):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(clip_tiny / name, tmp_path / name)
    prompts = [prompt["text"] for prompt in clip_cases["prompts"]]
    bare_ids, _ = clip_inputs.load_tokenizer(tmp_path, 16).tokenize(prompts)
    np.testing.assert_array_equal(bare_ids, tokenizer.tokenize(prompts)[0])


def test_tokenizer_without_files_names_them(tmp_path):
    with pytest.raises(ModelFolderError, match="missing vocab.json, merges.txt"):
        clip_inputs.load_tokenizer(tmp_path, 16)


# --------------------------------------------------------------------------------------- images

def _reference_images(clip_tiny: Path, clip_cases: dict) -> list[Image.Image]:
    return [Image.open(clip_tiny / image["file"]) for image in clip_cases["images"]]


def test_pixel_values_match_reference(clip_tiny, clip_cases, settings):
    pixels = clip_inputs.preprocess_images(_reference_images(clip_tiny, clip_cases), settings)
    expected = np.load(clip_tiny / "pixel_values.npy")
    assert pixels.dtype == np.float32
    np.testing.assert_allclose(pixels.transpose(0, 3, 1, 2), expected, atol=1e-5, rtol=0)


def test_arrays_uint8_and_float_give_the_same_pixels_as_pil(clip_tiny, clip_cases, settings):
    images = _reference_images(clip_tiny, clip_cases)
    from_pil = clip_inputs.preprocess_images(images, settings)
    as_uint8 = [np.asarray(image.convert("RGB")) for image in images]
    np.testing.assert_array_equal(clip_inputs.preprocess_images(as_uint8, settings), from_pil)
    as_float = [array.astype(np.float32) / 255 for array in as_uint8]
    np.testing.assert_array_equal(clip_inputs.preprocess_images(as_float, settings), from_pil)


@pytest.mark.parametrize("index", range(4))
def test_resize_geometry_matches_reference(clip_cases, index):
    image = clip_cases["images"][index]
    assert clip_inputs._resized_size(image["width"], image["height"], 32) == (
        image["resized_width"], image["resized_height"])


def test_float_is_truncated_like_the_reference_pipeline():
    values = np.array([[[0.0, 0.999, 1.5]], [[-0.2, 0.5, 1.0]]])
    np.testing.assert_array_equal(clip_inputs.to_uint8(values), [[[0, 254, 255]], [[0, 127, 255]]])


def test_rgba_and_grey_are_converted_to_rgb(settings):
    rgba = np.full((40, 48, 4), 100, np.uint8)
    grey = np.full((40, 48), 100, np.uint8)
    rgb = np.full((40, 48, 3), 100, np.uint8)
    expected = clip_inputs.preprocess_image(rgb, settings)
    np.testing.assert_array_equal(clip_inputs.preprocess_image(rgba, settings), expected)
    np.testing.assert_array_equal(clip_inputs.preprocess_image(grey, settings), expected)


def test_malformed_images_are_refused(settings):
    with pytest.raises(ValueError, match=r"\(H, W"):
        clip_inputs.preprocess_image(np.zeros((4, 4, 2), np.uint8), settings)
    with pytest.raises(ValueError, match="0–255"):
        clip_inputs.preprocess_image(np.full((4, 4, 3), 300, np.int32), settings)


def test_legacy_integer_preprocessor_config_reads_like_the_dict_form(clip_tiny):
    info = json.loads((clip_tiny / "real_checkpoint_info.json").read_text())
    legacy = clip_inputs.image_settings_from_dict(info["published_preprocessor_config"])
    modern = clip_inputs.image_settings_from_dict(
        {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}, "resample": 3})
    assert legacy == modern
    assert (legacy.shortest_edge, legacy.crop_height, legacy.crop_width) == (224, 224, 224)
    assert legacy.do_rescale and legacy.do_convert_rgb and legacy.rescale_factor == pytest.approx(1 / 255)


def test_legacy_form_in_a_folder_gives_identical_pixels(folder_copy, clip_tiny, clip_cases, settings):
    raw = json.loads((folder_copy / "preprocessor_config.json").read_text())
    raw.update(size=32, crop_size=32)
    for key in ("do_convert_rgb", "do_rescale", "rescale_factor"):
        raw.pop(key)  # the published legacy file leaves these to the defaults
    (folder_copy / "preprocessor_config.json").write_text(json.dumps(raw))
    legacy = clip_inputs.read_image_settings(folder_copy)
    assert legacy == settings
    images = _reference_images(clip_tiny, clip_cases)
    np.testing.assert_array_equal(clip_inputs.preprocess_images(images, legacy),
                                  clip_inputs.preprocess_images(images, settings))


@pytest.mark.parametrize("change, message", [
    ({"size": {"height": 32, "width": 32}}, "shortest edge"),
    ({"crop_size": "32"}, "crop_size"),
    ({"size": 0}, "positive integer"),
    ({"image_std": [0.2, 0.2]}, "three values"),
])
def test_bad_preprocessor_config_is_refused(change, message, settings):
    with pytest.raises(ModelFolderError, match=message):
        clip_inputs.image_settings_from_dict(change)


def test_unreadable_preprocessor_config(folder_copy):
    (folder_copy / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        clip_inputs.read_image_settings(folder_copy)


# --------------------------------------------------------------------------------------- config and weights

def test_missing_config_keys_take_vit_b32_defaults():
    config = clip_inputs.clip_config_from_dict({})
    assert (config.vision.image_size, config.vision.patch_size, config.vision.hidden_size) == (224, 32, 768)
    assert (config.text.max_position_count, config.text.vocab_size, config.projection_dim) == (77, 49408, 512)


def test_unsupported_activation_is_refused():
    with pytest.raises(UnsupportedModelError, match="vision_config.hidden_act is 'gelu'"):
        clip_inputs.clip_config_from_dict({"vision_config": {"hidden_act": "gelu"}})


def test_bad_sizes_are_refused():
    with pytest.raises(ModelFolderError, match="num_attention_heads"):
        clip_inputs.clip_config_from_dict({"text_config": {"hidden_size": 30, "num_attention_heads": 4}})
    with pytest.raises(ModelFolderError, match="patch_size is -8"):
        clip_inputs.clip_config_from_dict({"vision_config": {"patch_size": -8}})


def test_truncated_msgpack_is_reported(folder_copy):
    weights = folder_copy / "flax_model.msgpack"
    weights.write_bytes(weights.read_bytes()[:1000])
    config = clip_inputs.read_clip_config(folder_copy)
    with pytest.raises(ModelFolderError, match="truncated or corrupt"):
        clip_inputs.load_clip_params(folder_copy, config)


def _rewrite_weights(folder: Path, edit) -> None:
    from flax import serialization

    path = folder / "flax_model.msgpack"
    state = serialization.msgpack_restore(path.read_bytes())
    edit(state)
    path.write_bytes(serialization.msgpack_serialize(state))


def test_shape_mismatch_names_the_parameter(folder_copy):
    def shrink(state):
        state["text_model"]["final_layer_norm"]["scale"] = np.ones(31, np.float32)
        state["vision_model"]["encoder"]["layers"]["1"]["mlp"]["fc1"]["kernel"] = np.ones((32, 65), np.float32)

    _rewrite_weights(folder_copy, shrink)
    config = clip_inputs.read_clip_config(folder_copy)
    with pytest.raises(ModelFolderError) as caught:
        clip_inputs.load_clip_params(folder_copy, config)
    message = str(caught.value)
    assert "text_model/final_layer_norm/scale has shape [31], expected [32]" in message
    assert "vision_model/encoder/layers/1/mlp/fc1/kernel has shape [32, 65], expected [32, 64]" in message


def test_missing_and_unexpected_parameters_are_named(folder_copy):
    def edit(state):
        del state["visual_projection"]
        state["text_model"]["extra_head"] = {"kernel": np.ones((2, 2), np.float32)}

    _rewrite_weights(folder_copy, edit)
    config = clip_inputs.read_clip_config(folder_copy)
    with pytest.raises(ModelFolderError, match="missing visual_projection/kernel.*unexpected text_model/extra_head"):
        clip_inputs.load_clip_params(folder_copy, config)


def test_config_for_another_size_is_a_mismatch(folder_copy):
    raw = json.loads((folder_copy / "config.json").read_text())
    raw["text_config"]["num_hidden_layers"] = 3
    (folder_copy / "config.json").write_text(json.dumps(raw))
    config = clip_inputs.read_clip_config(folder_copy)
    with pytest.raises(ModelFolderError, match="missing text_model/encoder/layers_2/"):
        clip_inputs.load_clip_params(folder_copy, config)
