"""Tiny DalleBart + VQGAN checkpoints with RANDOM weights, for trying castgate without the real models.

``ensure_demo_models(root)`` writes, once, two folders in the exact published layout:

* ``castgate-demo-dalle``: config.json (the mini-1 flag set, tiny sizes), flax_model.msgpack,
  a byte-level BPE tokenizer built in code (vocab.json, merges.txt, tokenizer.json,
  tokenizer_config.json, special_tokens_map.json) and a small enwiki-words-frequency.txt;
* ``castgate-demo-vqgan``: an f16 VQGAN (five levels, 32/64 channels) with 1024 codes.

They load through ``TextToImage.load`` like the real ones and make 256x256 images, fast on a CPU,
but the images are noise: each folder holds a README.txt saying so, config.json carries
``"castgate_demo": true`` and loading logs a warning. Everything is deterministic (fixed seeds,
sorted parameters) and written atomically: built in a temporary folder beside the target, then
renamed into place.

Example:
    >>> dalle_dir, vqgan_dir = ensure_demo_models(Path("~/.cache/castgate").expanduser())
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from castgate.errors import ModelFolderError
from castgate.weights import checkpoints

logger = logging.getLogger(__name__)

DALLE_FOLDER = "castgate-demo-dalle"
VQGAN_FOLDER = "castgate-demo-vqgan"
SEED = 20240607

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in the real tokenizer
LETTER_PAIRS = ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "or", "es", "st", "ar", "te"]
WORDS = ("the of and in a to was is for on as by with he at from his an were are which this that be or "
         "also it has had one first new their after who not they two her she been its people other time "
         "work city world years school most year over state into later made used man woman night day "
         "person worker nurse doctor teacher engineer pilot chef firefighter office street crowd police "
         "officer builder farmer artist student driver waiter cook scientist lawyer dentist barista "
         "cashier clerk mechanic plumber electrician pharmacist surgeon soldier sailor shift portrait "
         "photo old young friendly tired busy happy smiling standing walking working uniform coat hat "
         "background city hospital kitchen classroom factory market station morning evening life").split()

README = """castgate demo checkpoint: RANDOM WEIGHTS
==========================================

This folder was written by castgate (castgate.weights.demo_models.ensure_demo_models). It has the exact layout
of a published {what} checkpoint, so it loads through the same code path, but every weight was drawn
at random: the images it makes are noise, not people. It exists to try the pipeline, the audit and
the gate on a machine without the real models, and for tests.

For real plates, point castgate at the published DALL-E mini or mega folder (config.json,
flax_model.msgpack, vocab.json, merges.txt, tokenizer files) and the VQGAN f16-16384 folder.
"""


def _byte_symbols() -> list[str]:
    """The byte-level BPE alphabet: printable bytes stand for themselves, the rest are shifted past 255."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    symbols, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + shifted)
            shifted += 1
    return [symbols[byte] for byte in range(256)]


def build_tokenizer_files() -> dict[str, str]:
    """vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json for a small byte-level BPE."""
    space = _byte_symbols()[ord(" ")]
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in _byte_symbols():
        vocab[symbol] = len(vocab)
    merges = [(space, letter) for letter in "abcdefghijklmnopqrstuvwxyz"] + [tuple(pair) for pair in LETTER_PAIRS]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
               "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    tokenizer_config = {"add_prefix_space": False, "errors": "replace", "model_max_length": 1024,
                        "tokenizer_class": "BartTokenizer", "trim_offsets": True, **special}
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges),
        "tokenizer_config.json": json.dumps(tokenizer_config, indent=2, sort_keys=True),
        "special_tokens_map.json": json.dumps(special, indent=2, sort_keys=True),
        "enwiki-words-frequency.txt": "".join(f"{word} {10_000_000 // (rank + 1)}\n"
                                              for rank, word in enumerate(dict.fromkeys(WORDS))),
    }


def dalle_config(text_vocab_count: int) -> dict[str, Any]:
    """config.json of the demo DalleBart: the published mini-1 flags, tiny sizes, 256 image tokens."""
    return {
        "activation_dropout": 0.0, "activation_function": "gelu", "architectures": ["eBart"],
        "attention_dropout": 0.0, "bos_token_id": 1025, "castgate_demo": True, "d_model": 64,
        "decoder_attention_heads": 4, "decoder_ffn_dim": 160, "decoder_layers": 2,
        "decoder_start_token_id": 1024, "do_sample": True, "dropout": 0.0, "encoder_attention_heads": 4,
        "encoder_ffn_dim": 160, "encoder_layers": 2, "encoder_vocab_size": text_vocab_count, "eos_token_id": 1025,
        "force_ln_scale": False, "gradient_checkpointing": True, "image_length": 256, "image_vocab_size": 1024,
        "init_std": 0.02, "is_encoder_decoder": True, "ln_positions": "normformer", "ln_type": "layernorm",
        "max_length": 257, "max_text_length": 64, "min_length": 257, "model_type": "dallebart",
        "normalize_text": True, "pad_token_id": 1025, "scale_embedding": False, "sinkhorn_iters": 1,
        "tau_init": 0.05, "tie_word_embeddings": False, "use_absolute_position_embeddings": True,
        "use_alibi": False, "use_bias": False, "use_cache": True, "use_cosine_attention": False,
        "use_deepnet_scaling": False, "use_final_ln_decoder": True, "use_final_ln_encoder": True,
        "use_glu": True, "use_head_scale": False, "use_scan": True, "use_swin_position_embeddings": False,
    }


VQGAN_CONFIG = {
    "architectures": ["del"], "attn_resolutions": [16], "castgate_demo": True, "ch": 32, "ch_mult": [1, 1, 1, 2, 2],
    "double_z": False, "dropout": 0.0, "embed_dim": 32, "give_pre_end": False, "in_channels": 3, "n_embed": 1024,
    "num_res_blocks": 1, "num_resolutions": 5, "out_ch": 3, "resamp_with_conv": True, "resolution": 256,
    "z_channels": 32,
}


def _random_params(shapes: dict[tuple[str, ...], tuple[int, ...]], seed: int) -> dict[str, Any]:
    """Deterministic random weights: scaled normal kernels, noisy unit norms, zero conv biases."""
    rng = np.random.default_rng(seed)
    flat = {}
    for path in sorted(shapes):
        shape, leaf = shapes[path], path[-1]
        if leaf == "kernel":
            value = rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
        elif leaf == "scale":
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif leaf == "bias":
            value = 0.1 * rng.standard_normal(shape) if "norm" in path[-2] else np.zeros(shape)
        else:  # embeddings and the codebook
            value = rng.standard_normal(shape)
        flat[path] = value.astype(np.float32)
    if ("decoder", "conv_out", "bias") in flat:  # centre the noise in [0, 1]
        flat[("decoder", "conv_out", "bias")] = np.full(shapes[("decoder", "conv_out", "bias")], 0.5, np.float32)
    return checkpoints.unflatten(flat)


def _write_weights(folder: Path, params: dict[str, Any], kind: str) -> None:
    from flax import serialization

    data = serialization.msgpack_serialize(checkpoints.to_checkpoint_layout(params, kind))
    (folder / "flax_model.msgpack").write_bytes(data)


def _build_dalle(folder: Path) -> None:
    files = build_tokenizer_files()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    from castgate.thirdparty import transformers_module

    tokenizer = transformers_module().BartTokenizerFast.from_pretrained(str(folder))
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    raw = dalle_config(len(tokenizer))
    (folder / "config.json").write_text(json.dumps(raw, indent=2, sort_keys=True), encoding="utf-8")
    config = checkpoints.dallebart_config_from_dict(raw, str(folder / "config.json"))
    _write_weights(folder, _random_params(checkpoints.dallebart_module_shapes(config), SEED), "dallebart")
    (folder / "README.txt").write_text(README.format(what="DALL-E mini"), encoding="utf-8")


def _build_vqgan(folder: Path) -> None:
    (folder / "config.json").write_text(json.dumps(VQGAN_CONFIG, indent=2, sort_keys=True), encoding="utf-8")
    config = checkpoints.vqgan_config_from_dict(VQGAN_CONFIG, str(folder / "config.json"))
    _write_weights(folder, _random_params(checkpoints.vqgan_module_shapes(config), SEED + 1), "vqgan")
    (folder / "README.txt").write_text(README.format(what="VQGAN f16"), encoding="utf-8")


def _ensure(target: Path, build: Callable[[Path], None]) -> Path:
    if target.is_dir():
        if (target / "README.txt").is_file() and (target / "flax_model.msgpack").is_file():
            return target
        raise ModelFolderError("an incomplete demo model folder is in the way", where=str(target),
                               fix="Delete that folder; castgate writes it again on the next run")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    os.chmod(building, 0o755)  # mkdtemp makes it private; the demo is as shareable as a real checkpoint
    try:
        build(building)
        try:
            os.rename(building, target)
        except OSError:
            if not (target / "flax_model.msgpack").is_file():  # lost a race only if the winner finished
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    logger.warning("wrote %s: a demo checkpoint with RANDOM weights (it draws noise)", target)
    return target


def ensure_demo_models(root: Path) -> tuple[Path, Path]:
    """Create the demo DalleBart and VQGAN folders under ``root`` if they are not there yet.

    Args:
        root: parent folder; ``root/castgate-demo-dalle`` and ``root/castgate-demo-vqgan`` are used.

    Returns:
        ``(dalle_dir, vqgan_dir)``.

    Raises:
        ModelFolderError: a half-written folder of that name is in the way.
    """
    root = Path(root)
    return _ensure(root / DALLE_FOLDER, _build_dalle), _ensure(root / VQGAN_FOLDER, _build_vqgan)
