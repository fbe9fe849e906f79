"""Text to images: tokenizer -> DalleBart sampler -> VQGAN decoder, batched over all local devices.

``TextToImage.load`` reads a DalleBart folder and a VQGAN folder (the published layout) and
``generate`` turns prompts and per-plate seeds into sRGB images in [0, 1]. The heavy functions are
jit-compiled once per model config, dtype and static sampling choice (``functools.cache``'d
factories; params are arguments) and reused for every batch of the same shape.

Batches are split across ``jax.local_devices()`` along the plate axis (a ``jax.sharding.Mesh`` and
``jax.shard_map``); a plate's conditional and unconditional rows stay on one device, so no step
needs communication. A plate depends only on its prompt and seed: batch size and device count do not
change it.

Example:
    >>> engine = TextToImage.load(Path("models/dalle-mini"), Path("models/vqgan"))
    >>> images = engine.generate(["a nurse"], [7], SamplingSettings(condition_scale=10.0))
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from castgate.errors import ModelFolderError
from castgate.generation.tokenizer import TextTokenizer
from castgate.weights import checkpoints
from castgate.weights.prepared_weights import VQGAN_DTYPE  # the VQGAN loads and decodes in float32

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
PLATE_AXIS = "plates"


@dataclass(frozen=True)
class SamplingSettings:
    """How image tokens are drawn.

    Attributes:
        condition_scale: super-conditioning scale; 1 turns it off (no unconditional rows are run).
        top_k: sample among the k most likely tokens; None or 0 = all tokens; 1 = greedy.
        temperature: logits are divided by it before sampling.
        dtype: compute dtype: "float32", "bfloat16" or "float16".
    """

    condition_scale: float = 10.0
    top_k: int | None = 50
    temperature: float = 1.0
    dtype: str = "float32"

    def check(self) -> None:
        """Raise ValueError naming the first field with an impossible value."""
        if not math.isfinite(self.condition_scale):
            raise ValueError(f"condition_scale is {self.condition_scale}; use a finite number (default 10)")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 0):
            raise ValueError(f"top_k is {self.top_k!r}; use a whole number >= 1, or 0/None for all tokens")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature is {self.temperature}; use a number > 0 (default 1)")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype is {self.dtype!r}; use one of {', '.join(DTYPES)}")


def _mesh(device_count: int):
    import jax

    return jax.sharding.Mesh(np.array(jax.local_devices()[:device_count]), (PLATE_AXIS,))


def _shardings(device_count: int):
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = _mesh(device_count)
    return NamedSharding(mesh, PartitionSpec(PLATE_AXIS)), NamedSharding(mesh, PartitionSpec())


@functools.cache
def compiled_token_sampler(config, dtype: str, top_k: int | None, token_limit: int | None, device_count: int):
    """One jitted ``(params, text_tokens, text_mask, seeds, condition_scale, temperature) -> tokens``.

    Cached per hashable (config, dtype, top_k, token_limit, device_count); jit then compiles once per
    input shape. The plates are split over the first ``device_count`` devices and each device runs
    the scan on its own plates (``shard_map``: no communication between devices).
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec

    from castgate.generation.sampling import sample_image_tokens
    from castgate.models.dalle_bart import DalleBart

    plates = PartitionSpec(PLATE_AXIS)
    sampler = functools.partial(sample_image_tokens, DalleBart(config, jnp.dtype(dtype)), top_k=top_k,
                                token_limit=token_limit)
    per_device = jax.shard_map(sampler, mesh=_mesh(device_count), in_specs=(PartitionSpec(), plates, plates, plates,
                                                                            PartitionSpec(), PartitionSpec()),
                               out_specs=plates, check_vma=False)
    return jax.jit(per_device)


@functools.cache
def compiled_image_decoder(config, device_count: int):
    """One jitted ``(params, codes) -> images`` clipped to [0, 1] (float32), split along plates.

    Each device decodes its plates one after another inside the compiled call (``lax.map``), so an
    image's pixels do not depend on how many plates share the batch, and activations stay small.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec

    from castgate.models.vqgan import VQGan

    model = VQGan(config)

    def decode_one(params, codes):
        pixels = model.apply({"params": params}, codes[None], method=VQGan.decode_codes)[0]
        return jnp.clip(pixels.astype(jnp.float32), 0.0, 1.0)

    def decode(params, codes):
        return jax.lax.map(functools.partial(decode_one, params), codes)

    plates = PartitionSpec(PLATE_AXIS)
    per_device = jax.shard_map(decode, mesh=_mesh(device_count), in_specs=(PartitionSpec(), plates),
                               out_specs=plates, check_vma=False)
    return jax.jit(per_device)


def _placer() -> Callable[[np.ndarray], Any]:
    """Put each loaded parameter on all local devices (replicated) as soon as it is converted.

    The host array (or the view into the mapped checkpoint) is dropped right after its copy is
    made, so a load never holds the host params and the device params at once.
    """
    import jax

    replicated = _shardings(jax.local_device_count())[1]

    def place(value: np.ndarray) -> Any:
        return jax.device_put(value, replicated).block_until_ready()

    return place


def _cast(params: Any, dtype: str) -> Any:
    """Host params cast to ``dtype`` (numpy arrays; bfloat16 through ml_dtypes)."""
    import jax
    import jax.numpy as jnp

    target = jnp.dtype(dtype)
    return jax.tree.map(lambda value: np.asarray(value).astype(target), params)


def _check_seeds(seeds: Sequence[int]) -> np.ndarray:
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 32:
            raise ValueError(f"seed {seed!r} is not a whole number in 0 .. 2**32-1")
    return np.asarray([int(seed) for seed in seeds], dtype=np.uint32)


class TextToImage:
    """A loaded DalleBart + VQGAN pair that turns prompts into images.

    Attributes:
        identity: ``{"dalle": ..., "vqgan": ...}`` folder names and file SHA-256s, for the manifest.
        image_size: pixels per side of generated images.
        dalle_config, vqgan_config: the checked model configs.
        tokenizer: the text path (normalisation, BPE, padding).
        is_demo: True for castgate's random-weight demo checkpoints.
        dalle_params, vqgan_params: the weights (module names), on the local devices.
        token_limit: ids at or above it are never drawn (the VQGAN cannot decode them), or None.
    """

    def __init__(self, dalle_config, dalle_params, vqgan_config, vqgan_params, tokenizer: TextTokenizer,
                 identity: dict, dtype: str = "float32", is_demo: bool = False):
        import jax

        grid = math.isqrt(dalle_config.image_token_count)
        self.dalle_config = dalle_config
        self.vqgan_config = vqgan_config
        self.tokenizer = tokenizer
        self.identity = identity
        self.image_size = grid * vqgan_config.downsample_factor
        self.is_demo = is_demo
        self.load_dtype = dtype
        self._load_dtypes = {"dalle": dtype, "vqgan": VQGAN_DTYPE}
        # Weights live on the devices from here on (replicated); the host copies are dropped.
        replicated = _shardings(jax.local_device_count())[1]
        self.dalle_params = jax.device_put(dalle_params, replicated)
        self.vqgan_params = jax.device_put(vqgan_params, replicated)
        self._placed: dict[tuple[str, str, int], Any] = {}
        code_count = vqgan_config.code_count
        self.token_limit = code_count if code_count < dalle_config.logit_count else None

    @classmethod
    def load(cls, dalle_dir: Path, vqgan_dir: Path, dtype: str = "float32", *,
             rehash: bool = False) -> "TextToImage":
        """Load both folders and check that they fit together.

        Args:
            dalle_dir: DalleBart folder (config.json, flax_model.msgpack, vocab.json, merges.txt, ...).
            vqgan_dir: VQGAN folder (config.json, flax_model.msgpack).
            dtype: dtype the DalleBart weights are kept in ("float32", "bfloat16" or "float16"); the
                VQGAN is always float32.
            rehash: hash the checkpoint files again instead of trusting remembered hashes.

        Returns:
            The engine.

        Raises:
            ModelFolderError: a missing or broken file, or weights that disagree with their config
                (the file, field or parameter is named, with the fix).
            UnsupportedModelError: an architecture flag castgate does not implement.
        """
        if dtype not in DTYPES:
            raise ValueError(f"dtype is {dtype!r}; use one of {', '.join(DTYPES)}")
        dalle_dir, vqgan_dir = Path(dalle_dir), Path(vqgan_dir)
        place = _placer()
        dalle_config, dalle_params, dalle_raw = checkpoints.load_dallebart(dalle_dir, dtype, place=place)
        grid = math.isqrt(dalle_config.image_token_count)
        if grid * grid != dalle_config.image_token_count:
            raise ModelFolderError(f"image_length is {dalle_config.image_token_count}, not a square grid of codes",
                                   where=str(dalle_dir / "config.json"),
                                   fix="Use the published DALL-E mini/mega config.json (image_length 256)")
        tokenizer = TextTokenizer.load(dalle_dir, dalle_config.text_token_count,
                                       bool(dalle_raw.get("normalize_text", False)), dalle_config.text_vocab_count)
        vqgan_config, vqgan_params, vqgan_raw = checkpoints.load_vqgan(vqgan_dir, VQGAN_DTYPE, place=place)
        if vqgan_config.code_count < dalle_config.image_vocab_count:
            logger.info("%s draws only the %d codes the VQGAN has (of %d image tokens)", dalle_dir.name,
                        vqgan_config.code_count, dalle_config.image_vocab_count)
        is_demo = bool(dalle_raw.get(checkpoints.DEMO_MARKER) or vqgan_raw.get(checkpoints.DEMO_MARKER))
        if is_demo:
            logger.warning("%s / %s are castgate's demo checkpoints with RANDOM weights: they draw noise, not "
                           "people. Point to the published DALL-E mini/mega and VQGAN folders for real plates.",
                           dalle_dir, vqgan_dir)
        identity = checkpoints.model_identity(dalle_dir, vqgan_dir, rehash=rehash)
        return cls(dalle_config, dalle_params, vqgan_config, vqgan_params, tokenizer, identity, dtype, is_demo)

    # -- params on devices -------------------------------------------------------------------------

    def _params_on_devices(self, which: str, dtype: str, device_count: int) -> Any:
        """The weights in ``dtype`` replicated over ``device_count`` devices (one extra copy is cached)."""
        import jax

        params = self.dalle_params if which == "dalle" else self.vqgan_params
        if dtype == self._load_dtypes[which] and device_count == jax.local_device_count():
            return params
        slot = (which, dtype, device_count)
        if slot not in self._placed:
            for key in [k for k in self._placed if k[0] == which]:  # at most one extra copy per model
                del self._placed[key]
            if dtype != self._load_dtypes[which]:
                params = jax.tree.map(lambda value: value.astype(dtype), params)
            self._placed[slot] = jax.device_put(params, _shardings(device_count)[1])
        return self._placed[slot]

    # -- the three stages --------------------------------------------------------------------------

    def text_rows(self, prompts: Sequence[str], with_unconditional: bool) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and mask ``(plates, rows, text_token_count)``: rows = (prompt[, empty text])."""
        tokens, mask = self.tokenizer.tokenize(prompts)
        if not with_unconditional:
            return tokens[:, None], mask[:, None]
        empty_tokens, empty_mask = self.tokenizer.tokenize_unconditional()
        return (np.stack([tokens, np.broadcast_to(empty_tokens, tokens.shape)], axis=1),
                np.stack([mask, np.broadcast_to(empty_mask, mask.shape)], axis=1))

    def sample_tokens(self, prompts: Sequence[str], seeds: Sequence[int], settings: SamplingSettings,
                      device_count: int | None = None) -> np.ndarray:
        """Image tokens ``(len(prompts), image_token_count)`` for one batch (its size is the shape compiled).

        ``len(prompts)`` must be a multiple of the device count used.
        """
        import jax

        settings.check()
        device_count = device_count or jax.local_device_count()
        seed_array = _check_seeds(seeds)
        with_unconditional = settings.condition_scale != 1.0
        tokens, mask = self.text_rows(prompts, with_unconditional)
        top_k = settings.top_k or None
        sampler = compiled_token_sampler(self.dalle_config, settings.dtype, top_k, self.token_limit, device_count)
        params = self._params_on_devices("dalle", settings.dtype, device_count)
        result = sampler(params, tokens, mask, seed_array, np.float32(settings.condition_scale),
                         np.float32(settings.temperature))
        return np.asarray(result)

    def decode_tokens(self, tokens: np.ndarray, device_count: int | None = None) -> np.ndarray:
        """Images ``(plates, image_size, image_size, 3)`` float32 in [0, 1] for image tokens."""
        import jax

        device_count = device_count or jax.local_device_count()
        decoder = compiled_image_decoder(self.vqgan_config, device_count)
        params = self._params_on_devices("vqgan", "float32", device_count)
        return np.asarray(decoder(params, np.asarray(tokens, np.int32)))

    def generate(self, prompts: Sequence[str], seeds: Sequence[int], settings: SamplingSettings,
                 batch_size: int = 4, on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Generate one image per (prompt, seed).

        Args:
            prompts: one prompt per plate.
            seeds: one seed per plate (0 .. 2**32-1); the same prompt and seed give the same image
                whatever the batch size or device count.
            settings: sampling settings.
            batch_size: plates per compiled batch (rounded up to a multiple of the device count; the
                last batch is padded and the padding dropped).
            on_progress: called with (plates done, plates total) after each batch.

        Returns:
            ``(len(prompts), image_size, image_size, 3)`` float32 sRGB in [0, 1], clipped as
            dalle-mini does.

        Raises:
            ValueError: prompts and seeds differ in number, or a setting or seed is out of range.
            CastgateError: a prompt needs a file the model folder lacks (hashtag splitting).
        """
        import jax

        settings.check()
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds; give one seed per prompt")
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}; use 1 or more")
        _check_seeds(seeds)
        total = len(prompts)
        size = self.image_size
        if total == 0:
            return np.zeros((0, size, size, 3), np.float32)
        device_count = jax.local_device_count()
        plates_per_batch = -(-batch_size // device_count) * device_count
        images = []
        for first in range(0, total, plates_per_batch):
            started = time.perf_counter()
            batch_prompts = list(prompts[first:first + plates_per_batch])
            batch_seeds = list(seeds[first:first + plates_per_batch])
            real = len(batch_prompts)
            padding = plates_per_batch - real  # empty prompts, dropped below
            batch_prompts += [""] * padding
            batch_seeds += [0] * padding
            tokens = self.sample_tokens(batch_prompts, batch_seeds, settings, device_count)
            images.append(self.decode_tokens(tokens, device_count)[:real])
            logger.debug("plates %d-%d of %d in %.2f s", first + 1, first + real, total,
                         time.perf_counter() - started)
            if on_progress is not None:
                on_progress(first + real, total)
        return np.concatenate(images, axis=0)
