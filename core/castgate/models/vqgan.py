"""VQGAN (taming-transformers f16 layout) as Flax modules: image codes <-> pixels, NHWC.

The structure follows the published ``vqgan_imagenet_f16_16384`` checkpoint as vqgan-jax loads it:
GroupNorm (32 groups, eps 1e-6) and swish before every 3x3 convolution, residual blocks with a
1x1 shortcut when the width changes, single-head spatial attention at the resolutions named in
``attention_resolutions`` (decided from ``config.resolution``, not from the input size), nearest 2x
upsampling followed by a convolution, and a strided convolution (after padding the bottom/right
edge by one pixel) for downsampling.

``VQGan.decode_codes`` turns ``(batch, grid*grid)`` row-major codes into raw pixels (not clipped;
dalle-mini clips to [0, 1] afterwards). ``VQGan.encode`` takes pixels as they are given (the
reference feeds [0, 1] images) and returns the nearest codebook index per latent cell.

Example:
    >>> pixels = VQGan(config).apply({"params": params}, codes, method=VQGan.decode_codes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

GROUP_COUNT = 32
GROUP_NORM_EPSILON = 1e-6


@dataclass(frozen=True)
class VQGanConfig:
    """Sizes of a VQGAN checkpoint (hashable: it keys compiled functions).

    Attributes:
        channel_count: base width (config ``ch``).
        channel_multipliers: width multiplier per resolution level (``ch_mult``); its length - 1 is
            the number of 2x down/upsamplings.
        res_block_count: residual blocks per level in the encoder (``num_res_blocks``); the decoder
            has one more.
        attention_resolutions: feature-map sizes that get attention blocks (``attn_resolutions``).
        resolution: image size the model was built for (``resolution``).
        latent_channel_count: encoder output / decoder input width (``z_channels``).
        code_width: width of a codebook vector (``embed_dim``).
        code_count: codebook size (``n_embed``).
        in_channel_count, out_channel_count: image channels (``in_channels``, ``out_ch``).
    """

    channel_count: int = 128
    channel_multipliers: tuple[int, ...] = (1, 1, 2, 2, 4)
    res_block_count: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    resolution: int = 256
    latent_channel_count: int = 256
    code_width: int = 256
    code_count: int = 16384
    in_channel_count: int = 3
    out_channel_count: int = 3

    @property
    def level_count(self) -> int:
        return len(self.channel_multipliers)

    @property
    def downsample_factor(self) -> int:
        """Pixels per code along one side (16 for the f16 model)."""
        return 2 ** (self.level_count - 1)


class Encoded(NamedTuple):
    """What :meth:`VQGan.encode` returns."""

    codes: jnp.ndarray      # (batch, grid*grid) int32, row-major
    latent: jnp.ndarray     # (batch, grid, grid, code_width) before quantisation
    quantized: jnp.ndarray  # (batch, grid, grid, code_width) the chosen codebook vectors


def _conv(features: int, kernel: int, dtype: Any, name: str, stride: int = 1, padding: Any = None) -> nn.Conv:
    if padding is None:
        padding = ((kernel // 2, kernel // 2),) * 2
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=padding, dtype=dtype,
                   param_dtype=dtype, name=name)


def _group_norm(dtype: Any, name: str) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=GROUP_COUNT, epsilon=GROUP_NORM_EPSILON, dtype=dtype, param_dtype=dtype, name=name)


class ResnetBlock(nn.Module):
    """norm, swish, conv3x3, norm, swish, conv3x3, plus a (1x1-projected) residual."""

    out_count: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        hidden = _conv(self.out_count, 3, self.dtype, "conv1")(nn.swish(_group_norm(self.dtype, "norm1")(state)))
        hidden = _conv(self.out_count, 3, self.dtype, "conv2")(nn.swish(_group_norm(self.dtype, "norm2")(hidden)))
        if state.shape[-1] != self.out_count:
            state = _conv(self.out_count, 1, self.dtype, "shortcut", padding="VALID")(state)
        return state + hidden


class AttentionBlock(nn.Module):
    """Single-head self-attention over all pixels of a feature map, with a residual."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        batch, height, width, channels = state.shape
        normed = _group_norm(self.dtype, "norm")(state)

        def project(name: str) -> jnp.ndarray:
            projected = _conv(channels, 1, self.dtype, name, padding="VALID")(normed)
            return projected.reshape(batch, height * width, channels)

        queries, keys, values = project("query"), project("key"), project("value")
        scores = jnp.einsum("bqc,bkc->bqk", queries, keys, preferred_element_type=jnp.float32)
        weights = jax.nn.softmax(scores * (channels ** -0.5), axis=-1).astype(values.dtype)
        attended = jnp.einsum("bqk,bkc->bqc", weights, values).reshape(batch, height, width, channels)
        return state + _conv(channels, 1, self.dtype, "output", padding="VALID")(attended)


class Upsample(nn.Module):
    """Nearest-neighbour 2x, then a 3x3 convolution."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        state = jnp.repeat(jnp.repeat(state, 2, axis=1), 2, axis=2)
        return _conv(state.shape[-1], 3, self.dtype, "conv")(state)


class Downsample(nn.Module):
    """Pad one pixel at the bottom and right, then a stride-2 3x3 convolution."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        state = jnp.pad(state, ((0, 0), (0, 1), (0, 1), (0, 0)))
        return _conv(state.shape[-1], 3, self.dtype, "conv", stride=2, padding="VALID")(state)


class MidBlock(nn.Module):
    """Residual block, attention, residual block at the lowest resolution."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        channels = state.shape[-1]
        state = ResnetBlock(channels, self.dtype, name="block_1")(state)
        state = AttentionBlock(self.dtype, name="attn_1")(state)
        return ResnetBlock(channels, self.dtype, name="block_2")(state)


class Level(nn.Module):
    """One resolution level: residual blocks (each followed by attention where configured), then a resampling."""

    out_count: int
    block_count: int
    with_attention: bool
    resample: str  # "up", "down" or "none"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        for index in range(self.block_count):
            state = ResnetBlock(self.out_count, self.dtype, name=f"block_{index}")(state)
            if self.with_attention:
                state = AttentionBlock(self.dtype, name=f"attn_{index}")(state)
        if self.resample == "up":
            state = Upsample(self.dtype, name="upsample")(state)
        elif self.resample == "down":
            state = Downsample(self.dtype, name="downsample")(state)
        return state


class Encoder(nn.Module):
    """Pixels to latent cells, ``downsample_factor`` times smaller per side."""

    config: VQGanConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, pixels: jnp.ndarray) -> jnp.ndarray:
        config = self.config
        state = _conv(config.channel_count, 3, self.dtype, "conv_in")(pixels)
        size = config.resolution
        for level, multiplier in enumerate(config.channel_multipliers):
            is_last = level == config.level_count - 1
            state = Level(config.channel_count * multiplier, config.res_block_count,
                          size in config.attention_resolutions, "none" if is_last else "down", self.dtype,
                          name=f"down_{level}")(state)
            if not is_last:
                size //= 2
        state = MidBlock(self.dtype, name="mid")(state)
        state = nn.swish(_group_norm(self.dtype, "norm_out")(state))
        return _conv(config.latent_channel_count, 3, self.dtype, "conv_out")(state)


class Decoder(nn.Module):
    """Latent cells to pixels, ``downsample_factor`` times larger per side."""

    config: VQGanConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, latent: jnp.ndarray) -> jnp.ndarray:
        config = self.config
        multipliers = config.channel_multipliers
        state = _conv(config.channel_count * multipliers[-1], 3, self.dtype, "conv_in")(latent)
        state = MidBlock(self.dtype, name="mid")(state)
        size = config.resolution // config.downsample_factor
        for level in reversed(range(config.level_count)):
            state = Level(config.channel_count * multipliers[level], config.res_block_count + 1,
                          size in config.attention_resolutions, "up" if level else "none", self.dtype,
                          name=f"up_{level}")(state)
            if level:
                size *= 2
        state = nn.swish(_group_norm(self.dtype, "norm_out")(state))
        return _conv(config.out_channel_count, 3, self.dtype, "conv_out")(state)


class VQGan(nn.Module):
    """Encoder, codebook and decoder; use :meth:`decode_codes` and :meth:`encode`.

    Attributes:
        config: sizes.
        dtype: compute dtype; params must already be in it.
    """

    config: VQGanConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.encoder = Encoder(config, self.dtype)
        self.decoder = Decoder(config, self.dtype)
        self.quant_conv = nn.Conv(config.code_width, (1, 1), padding="VALID", dtype=self.dtype, param_dtype=self.dtype)
        self.post_quant_conv = nn.Conv(config.latent_channel_count, (1, 1), padding="VALID", dtype=self.dtype,
                                       param_dtype=self.dtype)
        self.codebook = self.param("codebook", nn.initializers.normal(1.0), (config.code_count, config.code_width),
                                   self.dtype)

    def decode_codes(self, codes: jnp.ndarray) -> jnp.ndarray:
        """Raw pixels ``(batch, grid*f, grid*f, out_channels)`` for row-major codes ``(batch, grid*grid)``."""
        batch, code_total = codes.shape
        grid = math.isqrt(code_total)
        if grid * grid != code_total:
            raise ValueError(f"{code_total} codes per image do not form a square grid")
        latent = jnp.take(self.codebook, codes, axis=0).reshape(batch, grid, grid, -1)
        return self.decoder(self.post_quant_conv(latent))

    def encode(self, pixels: jnp.ndarray) -> Encoded:
        """Nearest codebook entries for NHWC ``pixels`` (as given; the reference feeds [0, 1])."""
        latent = self.quant_conv(self.encoder(pixels))
        flat = latent.reshape(-1, latent.shape[-1]).astype(jnp.float32)
        codebook = self.codebook.astype(jnp.float32)
        distances = (jnp.sum(flat ** 2, axis=1, keepdims=True) + jnp.sum(codebook ** 2, axis=1)
                     - 2.0 * flat @ codebook.T)
        codes = jnp.argmin(distances, axis=1)
        quantized = jnp.take(self.codebook, codes, axis=0).reshape(latent.shape)
        return Encoded(codes.reshape(latent.shape[0], -1).astype(jnp.int32), latent, quantized)

    def __call__(self, pixels: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Round trip: ``(reconstruction, codes)``; also used to initialise every parameter."""
        encoded = self.encode(pixels)
        return self.decoder(self.post_quant_conv(encoded.quantized)), encoded.codes
