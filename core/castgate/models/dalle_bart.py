"""DalleBart (DALL·E mini / mega) as Flax modules: text tokens in, image-token logits out.

The network is a BART-style encoder-decoder with the NormFormer layout that the published mini-1 and
mega-1 checkpoints use (the only layout castgate implements; ``checkpoints.read_dallebart_config``
refuses any other by name):

* every attention block has a LayerNorm before it (no scale) and after it (with scale);
* the feed-forward block is a GLU (``gelu(x W) * (x V)``) with a LayerNorm on its input and on its
  hidden activations (no scale), and no biases anywhere;
* learned absolute position embeddings, a LayerNorm on the embeddings (with scale) and a final
  LayerNorm (no scale) at the end of the encoder and of the decoder.

Modules hold no weights: ``checkpoints.load_dallebart`` returns the parameter tree, already renamed
from the checkpoint's keys (``FlaxBartAttention_1`` -> ``cross_attention``) and with the scanned layer
stack split into ``layers_0 .. layers_{n-1}``.

The decoder runs on a fixed-size key/value cache, one entry per image position, so the same code
serves a full teacher-forced pass (``DalleBart.__call__``, used by tests) and the one-token steps of
the sampler (``DalleBart.decode``, see ``castgate.generation.sampling``).

Example:
    >>> model = DalleBart(config)
    >>> logits = model.apply({"params": params}, text_tokens, text_mask, image_tokens)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LAYER_NORM_EPSILON = 1e-5


@dataclass(frozen=True)
class DalleBartConfig:
    """Sizes and token ids of a DalleBart checkpoint (hashable: it keys compiled functions).

    Attributes:
        text_vocab_count: rows of the encoder's token embedding (config ``encoder_vocab_size``).
        image_vocab_count: image codes the model was trained on (``image_vocab_size``); the decoder's
            vocabulary and its logits are one wider, for the start token.
        embed_count: width of every hidden state (``d_model``).
        encoder_layer_count, decoder_layer_count: transformer layers (``encoder_layers``, ...).
        encoder_head_count, decoder_head_count: attention heads (``encoder_attention_heads``, ...).
        encoder_glu_count, decoder_glu_count: hidden width of the GLU (``encoder_ffn_dim``, ...).
        text_token_count: text positions (``max_text_length``).
        image_token_count: image positions = tokens generated per image (``image_length``).
        start_token: token fed to the decoder first (``decoder_start_token_id``).
        eos_token: the reference's min-length processor masks this logit when it is in range
            (``eos_token_id``).
    """

    text_vocab_count: int
    image_vocab_count: int
    embed_count: int
    encoder_layer_count: int
    decoder_layer_count: int
    encoder_head_count: int
    decoder_head_count: int
    encoder_glu_count: int
    decoder_glu_count: int
    text_token_count: int
    image_token_count: int
    start_token: int
    eos_token: int

    @property
    def logit_count(self) -> int:
        """Width of the logits (and rows of the decoder's token embedding): image_vocab_count + 1."""
        return self.image_vocab_count + 1


class KeyValues(NamedTuple):
    """Projected keys and values of one attention layer, each ``(batch, positions, embed_count)``."""

    keys: jnp.ndarray
    values: jnp.ndarray


class LayerNorm(nn.Module):
    """LayerNorm over the last axis, statistics in float32, optional scale, always a bias."""

    use_scale: bool
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        width = state.shape[-1]
        wide = state.astype(jnp.float32)
        mean = wide.mean(axis=-1, keepdims=True)
        variance = jnp.square(wide - mean).mean(axis=-1, keepdims=True)
        normed = (wide - mean) * jax.lax.rsqrt(variance + LAYER_NORM_EPSILON)
        if self.use_scale:
            normed = normed * self.param("scale", nn.initializers.ones, (width,), self.dtype).astype(jnp.float32)
        normed = normed + self.param("bias", nn.initializers.zeros, (width,), self.dtype).astype(jnp.float32)
        return normed.astype(self.dtype)


def attend(queries: jnp.ndarray, keys: jnp.ndarray, values: jnp.ndarray, mask: jnp.ndarray,
           head_count: int) -> jnp.ndarray:
    """Multi-head scaled dot-product attention; scores and softmax in float32.

    Args:
        queries: ``(batch, query_count, embed_count)``.
        keys, values: ``(batch, key_count, embed_count)``.
        mask: boolean, broadcastable to ``(batch, query_count, key_count)``; False hides a key.
        head_count: heads; ``embed_count`` must divide evenly.

    Returns:
        ``(batch, query_count, embed_count)`` in the dtype of ``values``.
    """
    batch, query_count, embed_count = queries.shape
    key_count = keys.shape[1]
    head_width = embed_count // head_count
    queries = queries.reshape(batch, query_count, head_count, head_width)
    queries = queries / jnp.sqrt(head_width).astype(queries.dtype)
    keys = keys.reshape(batch, key_count, head_count, head_width)
    values = values.reshape(batch, key_count, head_count, head_width)
    if query_count == 1:
        # One query (a sampling step): multiply-and-reduce reads the cache in its stored layout;
        # a batched matmul would first transpose every layer's whole cache.
        scores = jnp.sum(queries.astype(jnp.float32) * keys.astype(jnp.float32), axis=-1)  # (b, k, h)
        scores = jnp.where(jnp.moveaxis(mask, 1, 2), scores, -jnp.inf)
        weights = jax.nn.softmax(scores, axis=1)
        context = jnp.sum(weights[..., None] * values.astype(jnp.float32), axis=1)  # (b, h, d)
        return context.reshape(batch, 1, embed_count).astype(values.dtype)
    scores = jnp.einsum("bqhd,bkhd->bhqk", queries, keys, preferred_element_type=jnp.float32)
    scores = jnp.where(mask[:, None, :, :], scores, -jnp.inf)
    weights = jax.nn.softmax(scores, axis=-1).astype(values.dtype)
    context = jnp.einsum("bhqk,bkhd->bqhd", weights, values)
    return context.reshape(batch, query_count, embed_count)


class Attention(nn.Module):
    """Query/key/value/output projections (no biases) around :func:`attend`."""

    embed_count: int
    head_count: int
    dtype: Any = jnp.float32

    def setup(self) -> None:
        def dense() -> nn.Dense:
            return nn.Dense(self.embed_count, use_bias=False, dtype=self.dtype, param_dtype=self.dtype)

        self.query = dense()
        self.key = dense()
        self.value = dense()
        self.output = dense()

    def keys_values(self, states: jnp.ndarray) -> KeyValues:
        """Project the attended-to states once; the decoder caches the result."""
        return KeyValues(self.key(states), self.value(states))

    def __call__(self, states: jnp.ndarray, memory: KeyValues, mask: jnp.ndarray) -> jnp.ndarray:
        """Attend from ``states`` to already projected ``memory`` and project the result."""
        context = attend(self.query(states), memory.keys, memory.values, mask, self.head_count)
        return self.output(context)


class GLU(nn.Module):
    """NormFormer GLU feed-forward block: norm, ``gelu(x W) * (x V)``, norm, projection back."""

    hidden_count: int
    embed_count: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        def dense(features: int, name: str) -> nn.Dense:
            return nn.Dense(features, use_bias=False, dtype=self.dtype, param_dtype=self.dtype, name=name)

        state = LayerNorm(use_scale=False, dtype=self.dtype, name="input_norm")(state)
        gate = nn.gelu(dense(self.hidden_count, "gate")(state), approximate=False)
        hidden = gate * dense(self.hidden_count, "linear")(state)
        hidden = LayerNorm(use_scale=False, dtype=self.dtype, name="hidden_norm")(hidden)
        return dense(self.embed_count, "output")(hidden)


class EncoderLayer(nn.Module):
    """Self-attention then GLU, each wrapped in NormFormer norms and a residual."""

    config: DalleBartConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.pre_attention_norm = LayerNorm(use_scale=False, dtype=self.dtype)
        self.self_attention = Attention(config.embed_count, config.encoder_head_count, self.dtype)
        self.post_attention_norm = LayerNorm(use_scale=True, dtype=self.dtype)
        self.glu = GLU(config.encoder_glu_count, config.embed_count, self.dtype)

    def __call__(self, state: jnp.ndarray, text_mask: jnp.ndarray) -> jnp.ndarray:
        normed = self.pre_attention_norm(state)
        attended = self.self_attention(normed, self.self_attention.keys_values(normed), text_mask)
        state = state + self.post_attention_norm(attended)
        return state + self.glu(state)


class DecoderLayer(nn.Module):
    """Causal self-attention over the cache, cross-attention to the text, then GLU."""

    config: DalleBartConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.pre_self_attention_norm = LayerNorm(use_scale=False, dtype=self.dtype)
        self.self_attention = Attention(config.embed_count, config.decoder_head_count, self.dtype)
        self.post_self_attention_norm = LayerNorm(use_scale=True, dtype=self.dtype)
        self.pre_cross_attention_norm = LayerNorm(use_scale=False, dtype=self.dtype)
        self.cross_attention = Attention(config.embed_count, config.decoder_head_count, self.dtype)
        self.post_cross_attention_norm = LayerNorm(use_scale=True, dtype=self.dtype)
        self.glu = GLU(config.decoder_glu_count, config.embed_count, self.dtype)

    def cross_keys_values(self, encoder_state: jnp.ndarray) -> KeyValues:
        """This layer's projection of the encoder output (computed once per prompt)."""
        return self.cross_attention.keys_values(encoder_state)

    def __call__(self, state: jnp.ndarray, start: jnp.ndarray, cache: KeyValues, text: KeyValues,
                 self_mask: jnp.ndarray, text_mask: jnp.ndarray) -> tuple[jnp.ndarray, KeyValues]:
        """Run positions ``start .. start+len-1``; write their keys/values into ``cache``."""
        normed = self.pre_self_attention_norm(state)
        fresh = self.self_attention.keys_values(normed)
        cache = KeyValues(
            jax.lax.dynamic_update_slice(cache.keys, fresh.keys.astype(cache.keys.dtype), (0, start, 0)),
            jax.lax.dynamic_update_slice(cache.values, fresh.values.astype(cache.values.dtype), (0, start, 0)),
        )
        state = state + self.post_self_attention_norm(self.self_attention(normed, cache, self_mask))
        normed = self.pre_cross_attention_norm(state)
        state = state + self.post_cross_attention_norm(self.cross_attention(normed, text, text_mask))
        return state + self.glu(state), cache


class TextEncoder(nn.Module):
    """Token + position embeddings, embedding norm, encoder layers, final norm."""

    config: DalleBartConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.token_embedding = nn.Embed(config.text_vocab_count, config.embed_count, dtype=self.dtype,
                                        param_dtype=self.dtype)
        self.position_embedding = nn.Embed(config.text_token_count, config.embed_count, dtype=self.dtype,
                                           param_dtype=self.dtype)
        self.embedding_norm = LayerNorm(use_scale=True, dtype=self.dtype)
        self.layers = [EncoderLayer(config, self.dtype) for _ in range(config.encoder_layer_count)]
        self.final_norm = LayerNorm(use_scale=False, dtype=self.dtype)

    def __call__(self, text_tokens: jnp.ndarray, text_mask: jnp.ndarray) -> jnp.ndarray:
        positions = jnp.arange(text_tokens.shape[1])
        state = self.token_embedding(text_tokens) + self.position_embedding(positions)[None]
        state = self.embedding_norm(state)
        key_mask = text_mask.astype(bool)[:, None, :]
        for layer in self.layers:
            state = layer(state, key_mask)
        return self.final_norm(state)


class ImageDecoder(nn.Module):
    """Image-token embeddings, decoder layers over a key/value cache, final norm, logits."""

    config: DalleBartConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.token_embedding = nn.Embed(config.logit_count, config.embed_count, dtype=self.dtype,
                                        param_dtype=self.dtype)
        self.position_embedding = nn.Embed(config.image_token_count, config.embed_count, dtype=self.dtype,
                                           param_dtype=self.dtype)
        self.embedding_norm = LayerNorm(use_scale=True, dtype=self.dtype)
        self.layers = [DecoderLayer(config, self.dtype) for _ in range(config.decoder_layer_count)]
        self.final_norm = LayerNorm(use_scale=False, dtype=self.dtype)
        self.to_logits = nn.Dense(config.logit_count, use_bias=False, dtype=self.dtype, param_dtype=self.dtype)

    def cross_keys_values(self, encoder_state: jnp.ndarray) -> tuple[KeyValues, ...]:
        """Every layer's cross-attention keys/values for an encoded prompt batch."""
        return tuple(layer.cross_keys_values(encoder_state) for layer in self.layers)

    def __call__(self, image_tokens: jnp.ndarray, start: jnp.ndarray, caches: Sequence[KeyValues],
                 text: Sequence[KeyValues], text_mask: jnp.ndarray) -> tuple[jnp.ndarray, tuple[KeyValues, ...]]:
        positions = start + jnp.arange(image_tokens.shape[1])
        state = self.token_embedding(image_tokens) + self.position_embedding(positions)[None]
        state = self.embedding_norm(state)
        cache_positions = jnp.arange(self.config.image_token_count)
        self_mask = (cache_positions[None, :] <= positions[:, None])[None]
        text_key_mask = text_mask.astype(bool)[:, None, :]
        new_caches = []
        for layer, cache, memory in zip(self.layers, caches, text):
            state, cache = layer(state, start, cache, memory, self_mask, text_key_mask)
            new_caches.append(cache)
        logits = self.to_logits(self.final_norm(state))
        return logits, tuple(new_caches)


class DalleBart(nn.Module):
    """The whole text-to-image-token model; its methods are the sampler's stages.

    Attributes:
        config: sizes and token ids.
        dtype: compute dtype (float32, bfloat16 or float16); params must already be in it.
    """

    config: DalleBartConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.encoder = TextEncoder(self.config, self.dtype)
        self.decoder = ImageDecoder(self.config, self.dtype)

    def encode(self, text_tokens: jnp.ndarray, text_mask: jnp.ndarray) -> jnp.ndarray:
        """Encode padded text tokens ``(batch, text_token_count)`` to ``(batch, text, embed_count)``."""
        return self.encoder(text_tokens, text_mask)

    def cross_keys_values(self, encoder_state: jnp.ndarray) -> tuple[KeyValues, ...]:
        """Project the encoder output for every decoder layer's cross-attention."""
        return self.decoder.cross_keys_values(encoder_state)

    def decode(self, image_tokens: jnp.ndarray, start: jnp.ndarray, caches: Sequence[KeyValues],
               text: Sequence[KeyValues], text_mask: jnp.ndarray) -> tuple[jnp.ndarray, tuple[KeyValues, ...]]:
        """Logits for image positions ``start ..`` given the tokens there; updates the caches.

        Args:
            image_tokens: ``(batch, count)`` decoder inputs at positions ``start .. start+count-1``
                (position 0 holds the start token).
            start: first position, a scalar (may be traced).
            caches: per layer, the self-attention keys/values of earlier positions
                (see :func:`empty_caches`).
            text: per layer, the cross-attention keys/values from :meth:`cross_keys_values`.
            text_mask: ``(batch, text_token_count)``, 1 for real text tokens, 0 for padding.

        Returns:
            ``(logits (batch, count, logit_count), updated caches)``.
        """
        return self.decoder(image_tokens, start, caches, text, text_mask)

    def __call__(self, text_tokens: jnp.ndarray, text_mask: jnp.ndarray,
                 image_tokens: jnp.ndarray) -> jnp.ndarray:
        """Teacher-forced pass: logits for every position of ``image_tokens`` (start token first)."""
        encoder_state = self.encode(text_tokens, text_mask)
        text = self.cross_keys_values(encoder_state)
        caches = empty_caches(self.config, image_tokens.shape[0], self.dtype)
        logits, _ = self.decode(image_tokens, jnp.asarray(0, jnp.int32), caches, text, text_mask)
        return logits


def empty_caches(config: DalleBartConfig, batch: int, dtype: Any) -> tuple[KeyValues, ...]:
    """Zeroed self-attention caches: per decoder layer, ``(batch, image_token_count, embed_count)``."""
    shape = (batch, config.image_token_count, config.embed_count)
    return tuple(KeyValues(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))
                 for _ in range(config.decoder_layer_count))
