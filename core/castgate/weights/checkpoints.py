"""Read published checkpoint folders: config.json, flax_model.msgpack, file hashes.

This module (with ``manifest.py``, ``plates.py`` and ``report/``) is one of the few that touch disk.
Model modules hold no weights; loaders here return plain nested dicts of numpy arrays.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from castgate.errors import ModelFolderError, UnsupportedModelError
from castgate.weights.dtypes import convert
from castgate.weights.file_hashes import cached_sha256, sha256_file  # noqa: F401  (sha256_file is re-exported)
from castgate.weights.msgpack_weights import MsgpackWeights, WeightRef, numpy_dtype

if TYPE_CHECKING:
    from castgate.models.dalle_bart import DalleBartConfig
    from castgate.models.vqgan import VQGanConfig

def require_files(folder: Path, names: list[str], *, what: str) -> None:
    """Raise :class:`ModelFolderError` naming every expected file that is missing from ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(
            f"{what} folder not found", where=str(folder),
            fix=f"Put the published {what} checkpoint there ({', '.join(names)}), or pass --model / set $CASTGATE_MODELS",
        )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise ModelFolderError(
            f"{what} folder is incomplete: missing {', '.join(missing)}", where=str(folder),
            fix=f"A {what} folder holds {', '.join(names)}; copy the missing files from the published checkpoint",
        )


def read_config(folder: Path, name: str = "config.json") -> dict[str, Any]:
    """Read a JSON config file (``config.json`` by default) from a model folder, with a clear error."""
    path = Path(folder) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"{name} is missing", where=str(folder),
                               fix=f"Copy {name} from the published checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFolderError(f"{name} is not valid JSON ({exc})", where=str(path),
                               fix=f"Copy {name} again from the published checkpoint") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{name} holds a JSON {type(data).__name__}, not an object of settings",
                               where=str(path), fix=f"Copy {name} again from the published checkpoint")
    return data


def read_msgpack(path: Path) -> dict[str, Any]:
    """Read a Flax ``flax_model.msgpack`` into a nested dict of numpy arrays (copies, kept in memory).

    Loading goes through :func:`load_dallebart` / :func:`load_vqgan`, which never hold the whole file;
    this is for tests and tools that want the published tree as it is.

    Raises:
        ModelFolderError: the file is missing, truncated or not a Flax msgpack state dict.
    """
    with MsgpackWeights.open(Path(path)) as weights:
        return unflatten({key: np.array(ref.read()) for key, ref in weights.arrays.items()})


def flatten(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    """Flatten a nested parameter dict to ``{("a", "b", "kernel"): array}``."""
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = np.asarray(value)
    return flat


def unflatten(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def folder_identity(folder: Path, names: list[str], *, rehash: bool = False) -> dict[str, Any]:
    """Describe a model folder for the manifest: its name and the SHA-256 of each named file present.

    Hashes are remembered while a file is unchanged (:func:`castgate.weights.file_hashes.cached_sha256`);
    ``rehash`` computes them again.
    """
    folder = Path(folder)
    return {
        "folder": str(folder.resolve()),
        "name": folder.name,
        "files": {name: cached_sha256(folder / name, rehash=rehash) for name in names if (folder / name).is_file()},
    }


def model_kind(raw: dict[str, Any]) -> str:
    """``"dallebart"``, ``"vqgan"``, ``"clip"`` or ``"unknown"``, from a folder's config.json."""
    model_type = raw.get("model_type")
    if model_type == "dallebart" or {"d_model", "image_vocab_size"} <= raw.keys():
        return "dallebart"
    if "ch_mult" in raw:
        return "vqgan"
    if model_type == "clip" or {"text_config", "vision_config"} <= raw.keys():
        return "clip"
    return "unknown"


def model_identity(dalle_dir: Path, vqgan_dir: Path, *, rehash: bool = False) -> dict[str, Any]:
    """``{"dalle": ..., "vqgan": ...}``: the manifest's model identity, from file hashes alone.

    Nothing is loaded: a stage can compare it with a batch's recorded models, and decide what is
    left to do, before it spends time and memory on the weights.

    Raises:
        ModelFolderError: a folder or a file it needs is missing (every missing file named).
    """
    require_files(Path(dalle_dir), DALLEBART_FILES, what="DalleBart")
    require_files(Path(vqgan_dir), VQGAN_FILES, what="VQGAN")
    return {"dalle": folder_identity(dalle_dir, DALLEBART_FILES + DALLEBART_OPTIONAL_FILES, rehash=rehash),
            "vqgan": folder_identity(vqgan_dir, VQGAN_FILES, rehash=rehash)}


# --------------------------------------------------------------------------------------------------
# DalleBart and VQGAN folders (castgate issue 3): config checks, key renames, weight loading.
# The published checkpoints are read as they are; modules see readable names
# (``FlaxBartAttention_1`` -> ``cross_attention``) and the scanned layer stack split per layer.
# --------------------------------------------------------------------------------------------------



logger = logging.getLogger(__name__)

DALLEBART_FILES = ["config.json", "flax_model.msgpack", "vocab.json", "merges.txt"]
"""Files a DalleBart folder must hold (tokenizer.json, tokenizer_config.json and
special_tokens_map.json are read too when present)."""
DALLEBART_OPTIONAL_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                            "enwiki-words-frequency.txt"]
VQGAN_FILES = ["config.json", "flax_model.msgpack"]
WORD_FREQUENCY_FILE = "enwiki-words-frequency.txt"
DEMO_MARKER = "castgate_demo"
"""config.json key that marks castgate's random-weight demo checkpoints."""

_DTYPES = ("float32", "bfloat16", "float16")

# Architecture flags of DalleBart configs: the one value castgate implements (the value of the
# published mini-1 and mega-1 checkpoints) and the value dalle-mini assumes when a key is absent.
_DALLEBART_FLAGS: dict[str, tuple[Any, Any]] = {
    # field: (implemented value, dalle-mini default when absent)
    "ln_type": ("layernorm", "layernorm"),
    "ln_positions": ("normformer", "normformer"),
    "use_glu": (True, True),
    "use_bias": (False, False),
    "use_head_scale": (False, False),
    "force_ln_scale": (False, False),
    "use_final_ln_encoder": (True, True),
    "use_final_ln_decoder": (True, True),
    "use_absolute_position_embeddings": (True, True),
    "use_alibi": (False, False),
    "use_cosine_attention": (False, False),
    "use_deepnet_scaling": (False, False),
    "use_swin_position_embeddings": (False, False),
    "scale_embedding": (False, False),
    "tie_word_embeddings": (False, False),
    "sinkhorn_iters": (1, 1),
    "activation_function": ("gelu", "gelu"),
    "is_encoder_decoder": (True, True),
}
_DALLEBART_SIZES = {
    # DalleBartConfig attribute: config.json field
    "text_vocab_count": "encoder_vocab_size",
    "image_vocab_count": "image_vocab_size",
    "embed_count": "d_model",
    "encoder_layer_count": "encoder_layers",
    "decoder_layer_count": "decoder_layers",
    "encoder_head_count": "encoder_attention_heads",
    "decoder_head_count": "decoder_attention_heads",
    "encoder_glu_count": "encoder_ffn_dim",
    "decoder_glu_count": "decoder_ffn_dim",
    "text_token_count": "max_text_length",
    "image_token_count": "image_length",
    "start_token": "decoder_start_token_id",
    "eos_token": "eos_token_id",
}
_VQGAN_FLAGS: dict[str, tuple[Any, Any]] = {
    "double_z": (False, False),
    "resamp_with_conv": (True, True),
    "give_pre_end": (False, False),
}
_VQGAN_SIZES = {
    # VQGanConfig attribute: (config.json field, vqgan-jax default when absent or None if required)
    "channel_count": ("ch", 128),
    "channel_multipliers": ("ch_mult", None),
    "res_block_count": ("num_res_blocks", 2),
    "attention_resolutions": ("attn_resolutions", None),
    "resolution": ("resolution", 256),
    "latent_channel_count": ("z_channels", 256),
    "code_width": ("embed_dim", 256),
    "code_count": ("n_embed", None),
    "in_channel_count": ("in_channels", 3),
    "out_channel_count": ("out_ch", 3),
}

_FIX_UNSUPPORTED = ("castgate implements the architecture of the published DALL-E mini (mini-1) and mega "
                    "(mega-1) checkpoints and the VQGAN f16-16384; use one of those folders")


def _check_flags(raw: dict[str, Any], flags: dict[str, tuple[Any, Any]], where: str) -> None:
    for field, (implemented, default) in flags.items():
        value = raw.get(field, default)
        if value != implemented or type(value) is not type(implemented):
            raise UnsupportedModelError(
                f"{field} is {json.dumps(value)}; castgate implements only {json.dumps(implemented)}",
                where=where, fix=_FIX_UNSUPPORTED)


def _positive_int(raw: dict[str, Any], field: str, where: str, *, allow_zero: bool = False) -> int:
    if field not in raw:
        raise ModelFolderError(f"{field} is missing", where=where,
                               fix="Copy config.json again from the published checkpoint")
    value = raw[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise ModelFolderError(f"{field} is {json.dumps(value)}; expected a positive whole number", where=where,
                               fix="Copy config.json again from the published checkpoint")
    return value


def dallebart_config_from_dict(raw: dict[str, Any], where: str) -> "DalleBartConfig":
    """Check a DalleBart ``config.json`` and turn it into a :class:`DalleBartConfig`.

    Args:
        raw: the parsed config.json.
        where: path to name in errors.

    Returns:
        The sizes and token ids the modules need.

    Raises:
        UnsupportedModelError: an architecture flag has a value castgate does not implement (named).
        ModelFolderError: a size is missing or not a positive number, or this is not a DalleBart config.
    """
    from castgate.models.dalle_bart import DalleBartConfig

    model_type = raw.get("model_type", "dallebart")
    if model_type != "dallebart":
        raise ModelFolderError(f"model_type is {json.dumps(model_type)}, not \"dallebart\"", where=where,
                               fix="Point to the DALL-E mini/mega folder (its config.json has model_type dallebart)")
    if raw.get("use_scan") is False:
        raise UnsupportedModelError(
            "use_scan is false (per-layer parameter layout); castgate reads the scanned layout (use_scan true)",
            where=where, fix=_FIX_UNSUPPORTED)
    _check_flags(raw, _DALLEBART_FLAGS, where)
    sizes = {name: _positive_int(raw, field, where, allow_zero=name in ("start_token", "eos_token"))
             for name, field in _DALLEBART_SIZES.items()}
    config = DalleBartConfig(**sizes)
    for side in ("encoder", "decoder"):
        heads = getattr(config, f"{side}_head_count")
        if config.embed_count % heads:
            raise ModelFolderError(f"d_model {config.embed_count} is not divisible by {side}_attention_heads {heads}",
                                   where=where, fix="Copy config.json again from the published checkpoint")
    if config.start_token >= config.logit_count:
        raise ModelFolderError(
            f"decoder_start_token_id {config.start_token} is outside the decoder vocabulary "
            f"(image_vocab_size + 1 = {config.logit_count})", where=where,
            fix="Copy config.json again from the published checkpoint")
    return config


def vqgan_config_from_dict(raw: dict[str, Any], where: str) -> "VQGanConfig":
    """Check a VQGAN ``config.json`` and turn it into a :class:`VQGanConfig`.

    Raises:
        UnsupportedModelError: a structural flag (double_z, resamp_with_conv, give_pre_end) differs
            from the f16-16384 model's.
        ModelFolderError: a size is missing or malformed, or channel counts do not fit GroupNorm(32).
    """
    from castgate.models.vqgan import GROUP_COUNT, VQGanConfig

    _check_flags(raw, _VQGAN_FLAGS, where)
    values: dict[str, Any] = {}
    for name, (field, default) in _VQGAN_SIZES.items():
        if field not in raw and default is None:
            raise ModelFolderError(f"{field} is missing", where=where,
                                   fix="Copy config.json again from the published VQGAN checkpoint")
        value = raw.get(field, default)
        if name in ("channel_multipliers", "attention_resolutions"):
            if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                      for v in value) or (name == "channel_multipliers" and not value):
                raise ModelFolderError(f"{field} is {json.dumps(value)}; expected a list of positive whole numbers",
                                       where=where, fix="Copy config.json again from the published VQGAN checkpoint")
            values[name] = tuple(value)
        else:
            values[name] = _positive_int({field: value}, field, where)
    config = VQGanConfig(**values)
    if "num_resolutions" in raw and raw["num_resolutions"] != config.level_count:
        raise ModelFolderError(f"num_resolutions is {raw['num_resolutions']} but ch_mult has {config.level_count} "
                               "entries", where=where, fix="Copy config.json again from the published VQGAN checkpoint")
    widths = {config.channel_count * m for m in config.channel_multipliers}
    if any(width % GROUP_COUNT for width in widths):
        raise UnsupportedModelError(f"channel widths {sorted(widths)} are not all multiples of {GROUP_COUNT} "
                                    "(GroupNorm groups)", where=where, fix=_FIX_UNSUPPORTED)
    return config


# -- key renames: module path -> checkpoint path --------------------------------------------------

_DALLEBART_TOP = {"token_embedding": "embed_tokens", "position_embedding": "embed_positions",
                  "embedding_norm": "layernorm_embedding", "final_norm": "final_ln"}
_ENCODER_LAYER = {"pre_attention_norm": "LayerNorm_0", "self_attention": "FlaxBartAttention_0",
                  "post_attention_norm": "LayerNorm_1", "glu": "GLU_0"}
_DECODER_LAYER = {"pre_self_attention_norm": "LayerNorm_0", "self_attention": "FlaxBartAttention_0",
                  "post_self_attention_norm": "LayerNorm_1", "pre_cross_attention_norm": "LayerNorm_2",
                  "cross_attention": "FlaxBartAttention_1", "post_cross_attention_norm": "LayerNorm_3",
                  "glu": "GLU_0"}
_ATTENTION = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "output": "out_proj"}
_GLU = {"input_norm": "LayerNorm_0", "gate": "Dense_0", "linear": "Dense_1", "hidden_norm": "LayerNorm_1",
        "output": "Dense_2"}
_VQGAN_SEGMENTS = {"shortcut": "nin_shortcut", "query": "q", "key": "k", "value": "v", "output": "proj_out"}
_LAYER = re.compile(r"layers_(\d+)")

Path_ = tuple[str, ...]


def _dallebart_checkpoint_path(path: Path_) -> tuple[Path_, int | None]:
    """Checkpoint key and stacked-layer index of a module parameter path."""
    if path[:2] == ("decoder", "to_logits"):
        return ("lm_head",) + path[2:], None
    side, name, rest = path[0], path[1], path[2:]
    match = _LAYER.fullmatch(name)
    if match is None:
        return ("model", side, _DALLEBART_TOP[name]) + rest, None
    table = _ENCODER_LAYER if side == "encoder" else _DECODER_LAYER
    inner = rest[1:]
    if rest[0] == "glu":
        inner = (_GLU[inner[0]],) + inner[1:]
    elif rest[0].endswith("attention"):
        inner = (_ATTENTION[inner[0]],) + inner[1:]
    stack = "FlaxBartEncoderLayers" if side == "encoder" else "FlaxBartDecoderLayers"
    return ("model", side, "layers", stack, table[rest[0]]) + inner, int(match.group(1))


def _vqgan_checkpoint_path(path: Path_) -> tuple[Path_, int | None]:
    if path == ("codebook",):
        return ("quantize", "embedding", "embedding"), None
    return tuple(_VQGAN_SEGMENTS.get(segment, segment) for segment in path), None


def _expected_module_shapes(model: Any, sample_args: tuple) -> dict[Path_, tuple[int, ...]]:
    import jax

    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), *sample_args))
    leaves = jax.tree_util.tree_flatten_with_path(shapes["params"])[0]
    return {tuple(key.key for key in path): tuple(leaf.shape) for path, leaf in leaves}


def _layout(module_shapes: dict[Path_, tuple[int, ...]], to_checkpoint) -> dict[Path_, tuple[Path_, int | None]]:
    return {path: to_checkpoint(path) for path in module_shapes}


def _expected_checkpoint_shapes(module_shapes, layout) -> dict[Path_, tuple[int, ...]]:
    expected: dict[Path_, tuple[int, ...]] = {}
    counts: dict[Path_, int] = {}
    for path, shape in module_shapes.items():
        checkpoint_path, layer = layout[path]
        if layer is None:
            expected[checkpoint_path] = shape
        else:
            counts[checkpoint_path] = max(counts.get(checkpoint_path, 0), layer + 1)
            expected[checkpoint_path] = shape
    for checkpoint_path, count in counts.items():
        expected[checkpoint_path] = (count,) + expected[checkpoint_path]
    return expected


def _check_weights(flat: dict[Path_, WeightRef], expected: dict[Path_, tuple[int, ...]], where: str,
                   config_hint: str) -> None:
    unknown = sorted("/".join(p) for p in flat if p not in expected)
    if unknown:
        raise UnsupportedModelError(
            f"the weights hold parameters castgate's implementation does not have: {', '.join(unknown[:5])}"
            + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""),
            where=where, fix=f"{_FIX_UNSUPPORTED}; a config.json that does not describe these weights is also "
                             "a cause")
    missing = sorted("/".join(p) for p in expected if p not in flat)
    if missing:
        raise ModelFolderError(
            f"the weights lack {len(missing)} parameter(s) that config.json implies: {', '.join(missing[:5])}"
            + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""),
            where=where, fix="Copy flax_model.msgpack and config.json again, from the same published checkpoint")
    for path, shape in expected.items():
        actual = tuple(flat[path].shape)
        if actual != shape:
            raise ModelFolderError(
                f"parameter {'/'.join(path)} has shape {actual} but config.json ({config_hint}) implies {shape}",
                where=where, fix="config.json and flax_model.msgpack come from different checkpoints; copy both "
                                 "again from the same one")
    for path, value in flat.items():
        if not np.issubdtype(value.dtype, np.floating) and value.dtype.name != "bfloat16":
            raise ModelFolderError(f"parameter {'/'.join(path)} has dtype {value.dtype}, not floating point",
                                   where=where, fix="Use the published flax_model.msgpack")


Place = Callable[[np.ndarray], Any]
"""Where a converted parameter goes: it gets an array that may be a view into the mapped file (or a
fresh host array) and must return something that does not depend on the map (a host copy, or an
array on a device)."""


def host_copy(value: np.ndarray) -> np.ndarray:
    """The default :data:`Place`: a host array of its own (no copy when it already owns its memory)."""
    return value if value.flags.owndata and value.flags.c_contiguous else np.array(value, order="C")


def _file_order(weights: MsgpackWeights, layout) -> list[tuple[Path_, list[tuple[Path_, int | None]]]]:
    by_source: dict[Path_, list[tuple[Path_, int | None]]] = {}
    for path, (checkpoint_path, layer) in layout.items():
        by_source.setdefault(checkpoint_path, []).append((path, layer))
    return [(key, by_source[key]) for key in sorted(by_source, key=lambda key: weights.arrays[key].byte_range[0])]


def module_order(weights: MsgpackWeights, layout) -> list[Path_]:
    """The module parameter paths in the order :func:`iter_module_params` yields them."""
    return [path for _, targets in _file_order(weights, layout) for path, _ in targets]


def iter_module_params(weights: MsgpackWeights, layout, dtype: str) -> Iterator[tuple[Path_, np.ndarray]]:
    """Yield ``(module path, array in dtype)`` one parameter at a time, in file order.

    An array whose stored dtype is already ``dtype`` is a read-only view into the map (no copy);
    the consumer copies what it keeps before asking for the next one. Each stored array's pages
    are handed back once all its layers have been yielded, so the file is never held whole.
    """
    target = numpy_dtype(dtype)
    for checkpoint_path, targets in _file_order(weights, layout):
        ref = weights.arrays[checkpoint_path]
        stored = ref.read()
        for path, layer in targets:
            value = stored if layer is None else stored[layer]
            yield path, convert(value, target)
        del stored, value
        weights.release(*ref.byte_range)


def _to_module_params(weights: MsgpackWeights, layout, dtype: str, place: Place | None) -> dict[str, Any]:
    """Convert and place the checkpoint arrays one at a time (peak: the params plus one stored array)."""
    place = place or host_copy
    return unflatten({path: place(value) for path, value in iter_module_params(weights, layout, dtype)})


def to_checkpoint_layout(params: dict[str, Any], kind: str) -> dict[str, Any]:
    """Module-layout params back to the published checkpoint layout (layers stacked, original keys).

    Args:
        params: a parameter tree as :func:`load_dallebart` / :func:`load_vqgan` return it.
        kind: ``"dallebart"`` or ``"vqgan"``.

    Returns:
        A nested dict ready for ``flax.serialization.msgpack_serialize`` (the demo models use it).
    """
    to_checkpoint = _dallebart_checkpoint_path if kind == "dallebart" else _vqgan_checkpoint_path
    stacks: dict[Path_, dict[int, np.ndarray]] = {}
    flat_out: dict[Path_, np.ndarray] = {}
    for path, value in flatten(params).items():
        checkpoint_path, layer = to_checkpoint(path)
        if layer is None:
            flat_out[checkpoint_path] = np.asarray(value)
        else:
            stacks.setdefault(checkpoint_path, {})[layer] = np.asarray(value)
    for checkpoint_path, layers in stacks.items():
        flat_out[checkpoint_path] = np.stack([layers[i] for i in range(len(layers))])
    return unflatten(flat_out)


def dallebart_module_shapes(config: "DalleBartConfig") -> dict[Path_, tuple[int, ...]]:
    """Every DalleBart parameter's module path and shape for ``config`` (no weights are made)."""
    return dict(_dallebart_module_shapes(config))


def vqgan_module_shapes(config: "VQGanConfig") -> dict[Path_, tuple[int, ...]]:
    """Every VQGAN parameter's module path and shape for ``config`` (no weights are made)."""
    return dict(_vqgan_module_shapes(config))


@functools.cache
def _dallebart_module_shapes(config: "DalleBartConfig") -> tuple[tuple[Path_, tuple[int, ...]], ...]:
    import jax.numpy as jnp

    from castgate.models.dalle_bart import DalleBart

    text = jnp.zeros((1, config.text_token_count), jnp.int32)
    return tuple(_expected_module_shapes(DalleBart(config), (text, text, jnp.zeros((1, 1), jnp.int32))).items())


@functools.cache
def _vqgan_module_shapes(config: "VQGanConfig") -> tuple[tuple[Path_, tuple[int, ...]], ...]:
    import jax.numpy as jnp

    from castgate.models.vqgan import VQGan

    pixels = jnp.zeros((1, config.resolution, config.resolution, config.in_channel_count), jnp.float32)
    return tuple(_expected_module_shapes(VQGan(config), (pixels,)).items())


def _check_dtype(dtype: str) -> None:
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")


def open_checked(folder: Path, module_shapes, to_checkpoint, hint: str) -> tuple[MsgpackWeights, dict]:
    """Map a folder's weights and check names, shapes and dtypes from the file's structure alone.

    Returns:
        ``(weights, layout)``: the open map (close it, or use it as a context manager) and each
        module path's checkpoint path and layer index.
    """
    weights = MsgpackWeights.open(Path(folder) / "flax_model.msgpack")
    try:
        layout = _layout(module_shapes, to_checkpoint)
        _check_weights(weights.arrays, _expected_checkpoint_shapes(module_shapes, layout), str(weights.path), hint)
    except BaseException:
        weights.close()
        raise
    return weights, layout


def _dallebart_hint(config: "DalleBartConfig") -> str:
    return (f"d_model={config.embed_count}, encoder_layers={config.encoder_layer_count}, "
            f"decoder_layers={config.decoder_layer_count}, image_vocab_size={config.image_vocab_count}, "
            f"encoder_vocab_size={config.text_vocab_count}")


def _vqgan_hint(config: "VQGanConfig") -> str:
    return (f"ch={config.channel_count}, ch_mult={list(config.channel_multipliers)}, "
            f"z_channels={config.latent_channel_count}, n_embed={config.code_count}, embed_dim={config.code_width}")


def check_dallebart_weights(folder: Path, config: "DalleBartConfig") -> None:
    """Check that a DalleBart folder's weights are complete and fit ``config``, without reading them.

    Names, shapes and dtypes come from the msgpack structure; no array is read.

    Raises:
        ModelFolderError / UnsupportedModelError: as :func:`load_dallebart`.
    """
    open_checked(folder, dallebart_module_shapes(config), _dallebart_checkpoint_path,
                  _dallebart_hint(config))[0].close()


def check_vqgan_weights(folder: Path, config: "VQGanConfig") -> None:
    """Check that a VQGAN folder's weights are complete and fit ``config``, without reading them."""
    open_checked(folder, vqgan_module_shapes(config), _vqgan_checkpoint_path, _vqgan_hint(config))[0].close()


def check_weights_finite(path: Path) -> None:
    """Read every array of a weights file (one at a time, through the map) and check it is finite.

    Raises:
        ModelFolderError: a parameter holds NaN or infinite values (named), or the file is unreadable.
    """
    with MsgpackWeights.open(Path(path)) as weights:
        for key, ref in sorted(weights.arrays.items(), key=lambda item: item[1].byte_range[0]):
            value = ref.read()
            finite = bool(np.isfinite(value).all()) if value.dtype.kind == "f" or value.dtype.name == "bfloat16" \
                else True
            del value
            weights.release(*ref.byte_range)
            if not finite:
                raise ModelFolderError(f"parameter {'/'.join(key)} holds NaN or infinite values", where=str(path),
                                       fix="The weights are damaged; copy flax_model.msgpack again from the source")


def read_checked_config(folder: Path, kind: str) -> tuple[Any, dict[str, Any]]:
    """``(config, raw config.json)`` of a ``"dallebart"`` or ``"vqgan"`` folder, its files checked first."""
    folder = Path(folder)
    if kind == "dallebart":
        require_files(folder, DALLEBART_FILES, what="DalleBart")
        raw = read_config(folder)
        return dallebart_config_from_dict(raw, str(folder / "config.json")), raw
    require_files(folder, VQGAN_FILES, what="VQGAN")
    raw = read_config(folder)
    return vqgan_config_from_dict(raw, str(folder / "config.json")), raw


def kind_layout(kind: str, config: Any) -> tuple[dict[Path_, tuple[int, ...]], Callable, str]:
    """``(module shapes, module path -> checkpoint path, config hint for errors)`` of a model kind."""
    if kind == "dallebart":
        return dallebart_module_shapes(config), _dallebart_checkpoint_path, _dallebart_hint(config)
    return vqgan_module_shapes(config), _vqgan_checkpoint_path, _vqgan_hint(config)


def _load(kind: str, folder: Path, dtype: str, place: Place | None, prepared: bool) -> tuple[Any, dict, dict]:
    _check_dtype(dtype)
    folder = Path(folder)
    config, raw = read_checked_config(folder, kind)
    module_shapes, to_checkpoint, hint = kind_layout(kind, config)
    params = None
    if prepared:
        from castgate.weights.prepared_weights import load_prepared  # it builds on this module

        params = load_prepared(kind, folder, raw, module_shapes, dtype, place)
    if params is None:
        weights, layout = open_checked(folder, module_shapes, to_checkpoint, hint)
        with weights:
            params = _to_module_params(weights, layout, dtype, place)
    return config, params, raw


def load_dallebart(folder: Path, dtype: str = "float32", *, place: Place | None = None,
                   prepared: bool = True) -> tuple["DalleBartConfig", dict[str, Any], dict[str, Any]]:
    """Load a DalleBart folder: checked config, renamed params in ``dtype``, and the raw config.json.

    The weights are read through a memory map and converted one array at a time
    (:func:`iter_module_params`); prepared weights for this checkpoint, config and dtype
    (``castgate models prepare``) are mapped instead when the cache holds a valid entry.

    Args:
        folder: a folder in the published layout (config.json, flax_model.msgpack, tokenizer files).
        dtype: "float32", "bfloat16" or "float16" for the returned params (weights may be stored in
            float16 or float32).
        place: where each converted parameter goes (default :func:`host_copy`; the engine puts them
            straight on its devices, so no second full copy is ever held).
        prepared: use the prepared-weights cache when it holds this checkpoint (False: always the msgpack).

    Returns:
        ``(config, params, raw_config)``; params use module names (see ``castgate.models.dalle_bart``).

    Raises:
        ModelFolderError: missing file, malformed config, truncated weights, or a weight whose shape
            disagrees with config.json (the parameter and both shapes are named).
        UnsupportedModelError: an architecture flag or parameter castgate does not implement.
    """
    config, params, raw = _load("dallebart", folder, dtype, place, prepared)
    logger.info("loaded DalleBart from %s (%d + %d layers, d_model %d)", folder,
                config.encoder_layer_count, config.decoder_layer_count, config.embed_count)
    return config, params, raw


def load_vqgan(folder: Path, dtype: str = "float32", *, place: Place | None = None,
               prepared: bool = True) -> tuple["VQGanConfig", dict[str, Any], dict[str, Any]]:
    """Load a VQGAN folder (config.json + flax_model.msgpack): ``(config, params, raw_config)``.

    ``dtype``, ``place`` and ``prepared`` as for :func:`load_dallebart` (the engine always decodes in
    float32).

    Raises:
        ModelFolderError / UnsupportedModelError: as :func:`load_dallebart`.
    """
    config, params, raw = _load("vqgan", folder, dtype, place, prepared)
    logger.info("loaded VQGAN from %s (%d codes, f%d)", folder, config.code_count, config.downsample_factor)
    return config, params, raw


def expected_checkpoint_shapes(kind: str, config: Any) -> dict[str, tuple[int, ...]]:
    """``{"model/decoder/...": shape}`` that a published checkpoint with ``config`` holds.

    Args:
        kind: ``"dallebart"`` or ``"vqgan"``.
        config: a :class:`DalleBartConfig` or :class:`VQGanConfig`.
    """
    if kind == "dallebart":
        module_shapes, to_checkpoint = dallebart_module_shapes(config), _dallebart_checkpoint_path
    else:
        module_shapes, to_checkpoint = vqgan_module_shapes(config), _vqgan_checkpoint_path
    expected = _expected_checkpoint_shapes(module_shapes, _layout(module_shapes, to_checkpoint))
    return {"/".join(path): shape for path, shape in expected.items()}
