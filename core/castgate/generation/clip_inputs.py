"""Everything CLIP needs from disk and from pixels: config, weights, tokens, preprocessed images.

A CLIP folder is the published ``openai/clip-vit-base-patch32`` layout: ``config.json``,
``flax_model.msgpack``, ``vocab.json`` + ``merges.txt`` (``tokenizer.json``, ``tokenizer_config.json``
and ``special_tokens_map.json`` are used when present) and ``preprocessor_config.json``.

Image preprocessing reproduces ``CLIPImageProcessor`` exactly (to 1e-5): convert to RGB uint8, resize
the short edge with **PIL** bicubic (the long edge is ``int(short·long/short_in)``, floored), centre
crop at ``((h−ch)//2, (w−cw)//2)``, ×1/255, ``(x−mean)/std``. Float images in [0, 1] are turned into
uint8 the way the reference pipeline does (``uint8(x·255)``, truncating), so a score computed from a
float plate equals the one computed from the PNG the reference would have written.

Example:
    >>> config = read_clip_config(folder)
    >>> params = load_clip_params(folder, config)
    >>> tokenizer = load_tokenizer(folder, config.text.max_position_count)
    >>> ids, mask = tokenizer.tokenize(["a nurse"])
    >>> pixels = preprocess_images([image], read_image_settings(folder))   # (1, 224, 224, 3)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from castgate.errors import ModelFolderError, UnsupportedModelError
from castgate.generation.tokenizer import check_vocab_file
from castgate.models.clip import ClipConfig, TextConfig, VisionConfig
from castgate.weights import checkpoints

log = logging.getLogger(__name__)

REQUIRED_FILES = ["config.json", "flax_model.msgpack", "vocab.json", "merges.txt",
                  "preprocessor_config.json"]
"""Files a CLIP folder must hold."""

OPTIONAL_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
"""Tokenizer files used (and hashed into the identity) when present."""

END_OF_TEXT = "<|endoftext|>"

# transformers' CLIPImageProcessor defaults, used where preprocessor_config.json leaves a key out.
_IMAGE_DEFAULTS: dict[str, Any] = {
    "do_convert_rgb": True, "do_resize": True, "do_center_crop": True, "do_rescale": True,
    "do_normalize": True, "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": 224},
    "crop_size": {"height": 224, "width": 224},
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
}


# --------------------------------------------------------------------------------------- config

def clip_config_from_dict(raw: dict[str, Any], *, where: str = "config.json") -> ClipConfig:
    """Build a :class:`ClipConfig` from the published ``config.json`` content.

    Keys missing from ``text_config``/``vision_config`` take transformers' defaults (which are the
    ViT-B/32 sizes), as ``FlaxCLIPModel`` would.

    Args:
        raw: the parsed JSON.
        where: file name for error messages.

    Returns:
        The config.

    Raises:
        UnsupportedModelError: an activation other than ``quick_gelu`` (refused, never run wrongly).
        ModelFolderError: a size is not a positive integer, or heads do not divide the width.
    """
    text_raw = raw.get("text_config") or {}
    vision_raw = raw.get("vision_config") or {}
    for section, tower in (("text_config", text_raw), ("vision_config", vision_raw)):
        activation = tower.get("hidden_act", "quick_gelu")
        if activation != "quick_gelu":
            raise UnsupportedModelError(
                f"{section}.hidden_act is {activation!r}; castgate's CLIP implements only 'quick_gelu'",
                where=where, fix="Use the published openai/clip-vit-base-patch32 checkpoint")
    defaults_text, defaults_vision = TextConfig(), VisionConfig()
    text = TextConfig(
        vocab_size=_positive(text_raw, "vocab_size", defaults_text.vocab_size, where),
        hidden_size=_positive(text_raw, "hidden_size", defaults_text.hidden_size, where),
        intermediate_size=_positive(text_raw, "intermediate_size", defaults_text.intermediate_size, where),
        layer_count=_positive(text_raw, "num_hidden_layers", defaults_text.layer_count, where),
        head_count=_positive(text_raw, "num_attention_heads", defaults_text.head_count, where),
        max_position_count=_positive(text_raw, "max_position_embeddings",
                                     defaults_text.max_position_count, where),
        layer_norm_eps=float(text_raw.get("layer_norm_eps", defaults_text.layer_norm_eps)),
        eos_token_id=int(text_raw.get("eos_token_id", 49407)),
    )
    vision = VisionConfig(
        hidden_size=_positive(vision_raw, "hidden_size", defaults_vision.hidden_size, where),
        intermediate_size=_positive(vision_raw, "intermediate_size", defaults_vision.intermediate_size, where),
        layer_count=_positive(vision_raw, "num_hidden_layers", defaults_vision.layer_count, where),
        head_count=_positive(vision_raw, "num_attention_heads", defaults_vision.head_count, where),
        image_size=_positive(vision_raw, "image_size", defaults_vision.image_size, where),
        patch_size=_positive(vision_raw, "patch_size", defaults_vision.patch_size, where),
        channel_count=_positive(vision_raw, "num_channels", defaults_vision.channel_count, where),
        layer_norm_eps=float(vision_raw.get("layer_norm_eps", defaults_vision.layer_norm_eps)),
    )
    for section, tower in (("text_config", text), ("vision_config", vision)):
        if tower.hidden_size % tower.head_count:
            raise ModelFolderError(
                f"{section}.hidden_size {tower.hidden_size} is not divisible by "
                f"num_attention_heads {tower.head_count}", where=where,
                fix="Copy config.json again from the published checkpoint")
    return ClipConfig(text=text, vision=vision,
                      projection_dim=_positive(raw, "projection_dim", 512, where))


def _positive(section: dict[str, Any], key: str, default: int, where: str) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelFolderError(f"{key} is {value!r}; expected a positive integer", where=where,
                               fix="Copy config.json again from the published checkpoint")
    return value


def read_clip_config(folder: Path) -> ClipConfig:
    """Read ``config.json`` of a CLIP folder (see :func:`clip_config_from_dict`)."""
    return clip_config_from_dict(checkpoints.read_config(folder), where=str(Path(folder) / "config.json"))


# --------------------------------------------------------------------------------------- weights

def _module_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """Map a published parameter path to the module path of :class:`castgate.models.clip.Clip`."""
    renamed: list[str] = []
    index = 0
    while index < len(path):
        key = path[index]
        if key == "layers" and index + 1 < len(path) and path[index + 1].isdigit():
            renamed.append(f"layers_{path[index + 1]}")
            index += 2
            continue
        renamed.append("pre_layer_norm" if key == "pre_layrnorm" else key)
        index += 1
    return tuple(renamed)


def expected_param_shapes(config: ClipConfig) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Return ``{module path: shape}`` for every parameter the model with ``config`` has.

    Computed with ``jax.eval_shape`` (no memory is allocated for the weights).
    """
    import jax
    import jax.numpy as jnp

    from castgate.models.clip import Clip

    text, vision = config.text, config.vision
    ids = jnp.zeros((1, text.max_position_count), jnp.int32)
    pixels = jnp.zeros((1, vision.image_size, vision.image_size, vision.channel_count), jnp.float32)
    shapes = jax.eval_shape(lambda: Clip(config).init(jax.random.PRNGKey(0), ids, ids, pixels))
    leaves = jax.tree_util.tree_flatten_with_path(shapes["params"])[0]
    return {tuple(entry.key for entry in path): tuple(leaf.shape) for path, leaf in leaves}


def clip_params_from_state(state: dict[str, Any], config: ClipConfig, *,
                           where: str = "flax_model.msgpack") -> dict[str, Any]:
    """Rename and check a published CLIP parameter dict against ``config``.

    Args:
        state: the nested dict read from ``flax_model.msgpack`` (published key names).
        config: the model the weights must fit.
        where: file name for error messages.

    Returns:
        A nested dict of float32 numpy arrays in :class:`~castgate.models.clip.Clip`'s layout.

    Raises:
        ModelFolderError: a parameter is missing, unexpected, or has the wrong shape; the message
            names each one by its published path.
    """
    expected = expected_param_shapes(config)
    found = {_module_path(path): (path, array) for path, array in checkpoints.flatten(state).items()}
    problems = []
    for module_path, shape in expected.items():
        if module_path not in found:
            problems.append(f"missing {'/'.join(module_path)} {list(shape)}")
        elif tuple(found[module_path][1].shape) != shape:
            path, array = found[module_path]
            problems.append(f"{'/'.join(path)} has shape {list(array.shape)}, expected {list(shape)}")
    problems += [f"unexpected {'/'.join(path)}" for module_path, (path, _) in found.items()
                 if module_path not in expected]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ModelFolderError(
            f"weights do not fit config.json ({shown})", where=where,
            fix="config.json and flax_model.msgpack must come from the same published CLIP checkpoint")
    return checkpoints.unflatten({module_path: np.asarray(array, dtype=np.float32)
                                  for module_path, (_, array) in found.items()})


def load_clip_params(folder: Path, config: ClipConfig) -> dict[str, Any]:
    """Read ``flax_model.msgpack`` of a CLIP folder into checked, renamed params.

    Raises:
        ModelFolderError: missing, truncated or corrupt file, or weights that do not fit ``config``.
    """
    path = Path(folder) / "flax_model.msgpack"
    return clip_params_from_state(checkpoints.read_msgpack(path), config, where=str(path))


# --------------------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class ClipTokenizer:
    """CLIP's byte-level BPE, padded and truncated to the text tower's length.

    Attributes:
        backend: a loaded ``transformers.CLIPTokenizerFast``.
        token_count: ids per prompt (``max_position_embeddings``: 77 for ViT-B/32).
    """

    backend: Any
    token_count: int

    def tokenize(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(input_ids, attention_mask)``, int32 ``(len(prompts), token_count)``.

        Ids are wrapped in ``<|startoftext|>`` … ``<|endoftext|>``, truncated to ``token_count`` (the
        end token kept) and padded with ``<|endoftext|>``; the mask is 1 up to the first end token.
        """
        encoded = self.backend(list(prompts), padding="max_length", truncation=True,
                               max_length=self.token_count, return_tensors="np")
        return (np.asarray(encoded["input_ids"], dtype=np.int32),
                np.asarray(encoded["attention_mask"], dtype=np.int32))


def load_tokenizer(folder: Path, token_count: int) -> ClipTokenizer:
    """Load the folder's tokenizer offline with ``CLIPTokenizerFast.from_pretrained``.

    Args:
        folder: CLIP folder holding at least ``vocab.json`` and ``merges.txt``.
        token_count: ids per prompt.

    Raises:
        ModelFolderError: the tokenizer files are missing or cannot be parsed.
    """
    folder = Path(folder)
    checkpoints.require_files(folder, ["vocab.json", "merges.txt"], what="CLIP tokenizer")
    try:
        from castgate.thirdparty import transformers_module

        backend = transformers_module().CLIPTokenizerFast.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # tokenizers raises a variety of types for malformed files
        raise ModelFolderError(f"tokenizer files cannot be read ({type(exc).__name__}: {exc})",
                               where=str(folder),
                               fix="Copy vocab.json, merges.txt and tokenizer.json again from the checkpoint") from None
    check_vocab_file(folder, backend.get_vocab())
    if END_OF_TEXT not in backend.get_vocab():
        raise ModelFolderError(f"the vocabulary has no {END_OF_TEXT} token", where=str(folder / "vocab.json"),
                               fix="Use the published CLIP vocab.json")
    if backend.pad_token is None:
        log.info("%s: no pad token configured; padding with %s", folder, END_OF_TEXT)
        backend.pad_token = END_OF_TEXT
    return ClipTokenizer(backend=backend, token_count=token_count)


# --------------------------------------------------------------------------------------- images

@dataclass(frozen=True)
class ImageSettings:
    """What ``preprocessor_config.json`` asks for (either its dict form or the legacy integer form)."""

    shortest_edge: int = 224
    crop_height: int = 224
    crop_width: int = 224
    resample: int = 3  # PIL.Image.Resampling: 3 = BICUBIC
    rescale_factor: float = 1 / 255
    mean: tuple[float, ...] = tuple(_IMAGE_DEFAULTS["image_mean"])  # per channel, RGB
    std: tuple[float, ...] = tuple(_IMAGE_DEFAULTS["image_std"])
    do_convert_rgb: bool = True
    do_resize: bool = True
    do_center_crop: bool = True
    do_rescale: bool = True
    do_normalize: bool = True


def image_settings_from_dict(raw: dict[str, Any], *, where: str = "preprocessor_config.json") -> ImageSettings:
    """Read a ``CLIPImageProcessor`` config, accepting ``size: 224`` and ``size: {"shortest_edge": 224}``.

    Integer ``size`` means ``{"shortest_edge": size}``, integer ``crop_size`` means a square crop;
    missing keys take ``CLIPImageProcessor``'s defaults.

    Raises:
        ModelFolderError: a size in a form CLIP does not use (e.g. ``{"height", "width"}`` resize), a
            non-positive size, or mean/std without three values.
    """
    merged = {**_IMAGE_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    size, crop = merged["size"], merged["crop_size"]
    if isinstance(size, int) and not isinstance(size, bool):
        shortest_edge = size
    elif isinstance(size, dict) and set(size) == {"shortest_edge"}:
        shortest_edge = size["shortest_edge"]
    else:
        raise ModelFolderError(f"size is {size!r}; CLIP resizes by shortest edge (an integer or "
                               "{\"shortest_edge\": n})", where=where,
                               fix="Use the published preprocessor_config.json")
    if isinstance(crop, int) and not isinstance(crop, bool):
        crop_height = crop_width = crop
    elif isinstance(crop, dict) and {"height", "width"} <= set(crop):
        crop_height, crop_width = crop["height"], crop["width"]
    else:
        raise ModelFolderError(f"crop_size is {crop!r}; expected an integer or {{\"height\", \"width\"}}",
                               where=where, fix="Use the published preprocessor_config.json")
    for name, value in (("size", shortest_edge), ("crop height", crop_height), ("crop width", crop_width)):
        if not isinstance(value, int) or value <= 0:
            raise ModelFolderError(f"{name} is {value!r}; expected a positive integer", where=where,
                                   fix="Use the published preprocessor_config.json")
    mean, std = merged["image_mean"], merged["image_std"]
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ModelFolderError(f"image_mean/image_std must hold three values (std > 0), got {mean}/{std}",
                               where=where, fix="Use the published preprocessor_config.json")
    return ImageSettings(
        shortest_edge=shortest_edge, crop_height=crop_height, crop_width=crop_width,
        resample=int(merged["resample"]), rescale_factor=float(merged["rescale_factor"]),
        mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
        do_convert_rgb=bool(merged["do_convert_rgb"]), do_resize=bool(merged["do_resize"]),
        do_center_crop=bool(merged["do_center_crop"]), do_rescale=bool(merged["do_rescale"]),
        do_normalize=bool(merged["do_normalize"]),
    )


def read_image_settings(folder: Path) -> ImageSettings:
    """Read ``preprocessor_config.json`` of a CLIP folder (see :func:`image_settings_from_dict`)."""
    raw = checkpoints.read_config(folder, "preprocessor_config.json")
    return image_settings_from_dict(raw, where=str(Path(folder) / "preprocessor_config.json"))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return an image as uint8; floats are read as [0, 1], clipped, and scaled as ``uint8(x·255)``.

    The truncation (not rounding) is what both ``transformers``' ``to_pil_image`` and the DALL·E mini
    inference pipeline do before CLIP sees an image.

    Raises:
        ValueError: an integer image outside 0–255, or a dtype that is neither integer nor float.
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return (np.clip(array.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"integer image values must lie in 0–255, got {array.min()}–{array.max()}")
        return array.astype(np.uint8)
    raise ValueError(f"image dtype {array.dtype} is neither integer nor float")


def _resized_size(width: int, height: int, shortest_edge: int) -> tuple[int, int]:
    """``(width, height)`` with the short edge at ``shortest_edge`` and the long edge floored."""
    if width <= height:
        return shortest_edge, int(shortest_edge * height / width)
    return int(shortest_edge * width / height), shortest_edge


def preprocess_image(image: Any, settings: ImageSettings) -> np.ndarray:
    """Turn one image into normalised CLIP pixels, float32 ``(crop_height, crop_width, 3)``.

    Args:
        image: a PIL image, or an array ``(H, W)``, ``(H, W, 1|3|4)``, uint8 or float in [0, 1].
        settings: from :func:`read_image_settings`.

    Returns:
        Channels-last pixels (the model's layout; transpose to compare with NCHW references).

    Raises:
        ValueError: an image that is not 2-D/3-D, has an unsupported channel count or is empty.
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = to_uint8(image)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or not array.size:
            raise ValueError(f"an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {array.shape}")
        image = Image.fromarray(np.ascontiguousarray(array))
    if settings.do_convert_rgb and image.mode != "RGB":
        image = image.convert("RGB")
    if settings.do_resize:
        width, height = image.size
        image = image.resize(_resized_size(width, height, settings.shortest_edge),
                             resample=Image.Resampling(settings.resample))
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if settings.do_center_crop:
        pixels = _centre_crop(pixels, settings.crop_height, settings.crop_width)
    pixels = pixels.astype(np.float32)
    if settings.do_rescale:
        pixels = pixels * np.float32(settings.rescale_factor)
    if settings.do_normalize:
        pixels = (pixels - np.asarray(settings.mean, np.float32)) / np.asarray(settings.std, np.float32)
    return pixels


def _centre_crop(pixels: np.ndarray, crop_height: int, crop_width: int) -> np.ndarray:
    """Crop the centre (top/left floored); zero-pad first where the image is smaller than the crop."""
    height, width = pixels.shape[:2]
    pad_h, pad_w = max(crop_height - height, 0), max(crop_width - width, 0)
    if pad_h or pad_w:
        pixels = np.pad(pixels, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
        height, width = pixels.shape[:2]
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return pixels[top:top + crop_height, left:left + crop_width]


def preprocess_images(images: Sequence[Any] | np.ndarray, settings: ImageSettings) -> np.ndarray:
    """Preprocess a batch with :func:`preprocess_image`; returns float32 ``(N, ch, cw, 3)``."""
    processed = [preprocess_image(image, settings) for image in images]
    if not processed:
        return np.zeros((0, settings.crop_height, settings.crop_width, 3), np.float32)
    return np.stack(processed)
