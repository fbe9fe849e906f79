"""CLIP ViT-B/32 (text and image towers) as Flax linen modules, for reranking candidates.

Modules only: no weights, no files. Sizes come from a frozen :class:`ClipConfig` (hashable, so a
compiled function can be cached per config); parameters come from ``castgate.generation.clip_inputs``, which
reads the published ``flax_model.msgpack`` and renames two kinds of keys so the modules read plainly:
``encoder/layers/"0"`` → ``encoder/layers_0`` and the published spelling ``pre_layrnorm`` →
``pre_layer_norm``. Everything else keeps the published names.

Both towers are pre-LN transformers: ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))`` with
quick-GELU (``x·sigmoid(1.702x)``). The text tower is causal and pools the first end-of-text token;
the image tower cuts the image into patches, prepends a class token and pools it. Both pooled
vectors are projected, L2-normalised, and compared with ``exp(logit_scale)·cosine``.

Example:
    >>> model = Clip(config)
    >>> text_embeds = model.apply({"params": params}, input_ids, attention_mask, method=Clip.embed_text)
    >>> image_embeds = model.apply({"params": params}, pixels_nhwc, method=Clip.embed_images)
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

LEGACY_EOS_TOKEN_ID = 2
"""The published text config's ``eos_token_id``; with it the text is pooled at ``argmax(input_ids)``."""


@dataclass(frozen=True)
class TextConfig:
    """Sizes of the text tower (the published ``text_config``)."""

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    layer_count: int = 12  # num_hidden_layers
    head_count: int = 8  # num_attention_heads
    max_position_count: int = 77  # max_position_embeddings: also the token count per prompt
    layer_norm_eps: float = 1e-5
    eos_token_id: int = LEGACY_EOS_TOKEN_ID  # 2: pool at argmax(ids); otherwise at the first id == eos


@dataclass(frozen=True)
class VisionConfig:
    """Sizes of the image tower (the published ``vision_config``)."""

    hidden_size: int = 768
    intermediate_size: int = 3072
    layer_count: int = 12
    head_count: int = 12
    image_size: int = 224
    patch_size: int = 32
    channel_count: int = 3
    layer_norm_eps: float = 1e-5

    @property
    def position_count(self) -> int:
        """Patches plus the class token (50 for ViT-B/32 at 224²)."""
        return (self.image_size // self.patch_size) ** 2 + 1


@dataclass(frozen=True)
class ClipConfig:
    """A whole CLIP: both towers and the shared embedding width."""

    text: TextConfig = TextConfig()
    vision: VisionConfig = VisionConfig()
    projection_dim: int = 512


def quick_gelu(x: jax.Array) -> jax.Array:
    """CLIP's GELU approximation, ``x·sigmoid(1.702x)``."""
    return x * jax.nn.sigmoid(1.702 * x)


class SelfAttention(nn.Module):
    """Multi-head self-attention; ``mask`` is boolean ``(batch, 1, query, key)``, True where allowed."""

    hidden_size: int
    head_count: int

    def setup(self):
        self.q_proj = nn.Dense(self.hidden_size)
        self.k_proj = nn.Dense(self.hidden_size)
        self.v_proj = nn.Dense(self.hidden_size)
        self.out_proj = nn.Dense(self.hidden_size)

    def __call__(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        batch, length, _ = x.shape
        head_size = self.hidden_size // self.head_count

        def heads(y: jax.Array) -> jax.Array:
            return y.reshape(batch, length, self.head_count, head_size)

        query = heads(self.q_proj(x)) * (head_size ** -0.5)
        key, value = heads(self.k_proj(x)), heads(self.v_proj(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", query, key)
        if mask is not None:
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        mixed = jnp.einsum("bhqk,bkhd->bqhd", weights, value).reshape(batch, length, self.hidden_size)
        return self.out_proj(mixed)


class Mlp(nn.Module):
    """The feed-forward block: ``fc2(quick_gelu(fc1(x)))``."""

    hidden_size: int
    intermediate_size: int

    def setup(self):
        self.fc1 = nn.Dense(self.intermediate_size)
        self.fc2 = nn.Dense(self.hidden_size)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(quick_gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    """One pre-LN transformer layer."""

    hidden_size: int
    intermediate_size: int
    head_count: int
    layer_norm_eps: float

    def setup(self):
        self.layer_norm1 = nn.LayerNorm(epsilon=self.layer_norm_eps)
        self.self_attn = SelfAttention(self.hidden_size, self.head_count)
        self.layer_norm2 = nn.LayerNorm(epsilon=self.layer_norm_eps)
        self.mlp = Mlp(self.hidden_size, self.intermediate_size)

    def __call__(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    """A stack of :class:`EncoderLayer` (parameters ``layers_0`` … ``layers_{n-1}``)."""

    layer_count: int
    hidden_size: int
    intermediate_size: int
    head_count: int
    layer_norm_eps: float

    def setup(self):
        self.layers = [
            EncoderLayer(self.hidden_size, self.intermediate_size, self.head_count, self.layer_norm_eps)
            for _ in range(self.layer_count)
        ]

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        for layer in self.layers:
            x = layer(x, mask)
        return x


def _encoder(size: TextConfig | VisionConfig) -> Encoder:
    return Encoder(size.layer_count, size.hidden_size, size.intermediate_size, size.head_count,
                   size.layer_norm_eps)


class TextEmbeddings(nn.Module):
    """Token plus learned position embeddings."""

    config: TextConfig

    def setup(self):
        self.token_embedding = nn.Embed(self.config.vocab_size, self.config.hidden_size)
        self.position_embedding = nn.Embed(self.config.max_position_count, self.config.hidden_size)

    def __call__(self, input_ids: jax.Array) -> jax.Array:
        positions = jnp.arange(input_ids.shape[-1])[None, :]
        return self.token_embedding(input_ids) + self.position_embedding(positions)


class TextTransformer(nn.Module):
    """The text tower up to the pooled vector (before ``text_projection``)."""

    config: TextConfig

    def setup(self):
        self.embeddings = TextEmbeddings(self.config)
        self.encoder = _encoder(self.config)
        self.final_layer_norm = nn.LayerNorm(epsilon=self.config.layer_norm_eps)

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array) -> tuple[jax.Array, dict]:
        """Encode token ids.

        Args:
            input_ids: int ``(batch, length)``, wrapped in start/end-of-text and padded.
            attention_mask: int ``(batch, length)``, 1 for real tokens.

        Returns:
            ``(pooled, out)``: pooled ``(batch, hidden)`` at the first end-of-text token, and ``out``
            with ``last_hidden_state`` (after ``final_layer_norm``).
        """
        length = input_ids.shape[-1]
        causal = jnp.tril(jnp.ones((length, length), dtype=bool))
        mask = causal[None, None, :, :] & (attention_mask[:, None, None, :] > 0)
        hidden = self.encoder(self.embeddings(input_ids), mask)
        hidden = self.final_layer_norm(hidden)
        if self.config.eos_token_id == LEGACY_EOS_TOKEN_ID:
            eos_position = jnp.argmax(input_ids, axis=-1)  # <|endoftext|> has the largest id
        else:
            eos_position = jnp.argmax(input_ids == self.config.eos_token_id, axis=-1)
        pooled = hidden[jnp.arange(hidden.shape[0]), eos_position]
        return pooled, {"last_hidden_state": hidden, "pooled": pooled}


class VisionEmbeddings(nn.Module):
    """Patch embedding (a strided convolution without bias), class token and positions."""

    config: VisionConfig

    def setup(self):
        size = self.config
        self.patch_embedding = nn.Conv(size.hidden_size, (size.patch_size, size.patch_size),
                                       strides=(size.patch_size, size.patch_size), padding="VALID",
                                       use_bias=False)
        self.class_embedding = self.param("class_embedding", nn.initializers.normal(0.02),
                                          (size.hidden_size,))
        self.position_embedding = nn.Embed(size.position_count, size.hidden_size)

    def __call__(self, pixels: jax.Array) -> jax.Array:
        patches = self.patch_embedding(pixels)
        batch = patches.shape[0]
        patches = patches.reshape(batch, -1, self.config.hidden_size)
        class_token = jnp.broadcast_to(self.class_embedding, (batch, 1, self.config.hidden_size))
        tokens = jnp.concatenate([class_token.astype(patches.dtype), patches], axis=1)
        return tokens + self.position_embedding(jnp.arange(tokens.shape[1])[None, :])


class VisionTransformer(nn.Module):
    """The image tower up to the pooled class token (before ``visual_projection``)."""

    config: VisionConfig

    def setup(self):
        self.embeddings = VisionEmbeddings(self.config)
        self.pre_layer_norm = nn.LayerNorm(epsilon=self.config.layer_norm_eps)
        self.encoder = _encoder(self.config)
        self.post_layernorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps)

    def __call__(self, pixels: jax.Array) -> tuple[jax.Array, dict]:
        """Encode normalised pixels.

        Args:
            pixels: float ``(batch, image_size, image_size, 3)``, channels last, already normalised.

        Returns:
            ``(pooled, out)``: pooled ``(batch, hidden)`` (class token after ``post_layernorm``), and
            ``out`` with ``last_hidden_state`` (encoder output, before ``post_layernorm``).
        """
        hidden = self.encoder(self.pre_layer_norm(self.embeddings(pixels)))
        pooled = self.post_layernorm(hidden[:, 0, :])
        return pooled, {"last_hidden_state": hidden, "pooled": pooled}


def l2_normalise(x: jax.Array) -> jax.Array:
    """Divide each row by its Euclidean norm."""
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


class Clip(nn.Module):
    """Both towers, their projections and the learned ``logit_scale``."""

    config: ClipConfig

    def setup(self):
        self.text_model = TextTransformer(self.config.text)
        self.vision_model = VisionTransformer(self.config.vision)
        self.text_projection = nn.Dense(self.config.projection_dim, use_bias=False)
        self.visual_projection = nn.Dense(self.config.projection_dim, use_bias=False)
        self.logit_scale = self.param("logit_scale", nn.initializers.constant(2.6592), ())

    def embed_text(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
        """Return L2-normalised text embeddings ``(batch, projection_dim)``."""
        return self.encode_text(input_ids, attention_mask)[0]

    def embed_images(self, pixels: jax.Array) -> jax.Array:
        """Return L2-normalised image embeddings ``(batch, projection_dim)``."""
        return self.encode_images(pixels)[0]

    def encode_text(self, input_ids: jax.Array, attention_mask: jax.Array) -> tuple[jax.Array, dict]:
        """Like :meth:`embed_text`, plus intermediates (``features``: projected, not normalised)."""
        pooled, out = self.text_model(input_ids, attention_mask)
        features = self.text_projection(pooled)
        return l2_normalise(features), {**out, "features": features}

    def encode_images(self, pixels: jax.Array) -> tuple[jax.Array, dict]:
        """Like :meth:`embed_images`, plus intermediates (``features``: projected, not normalised)."""
        pooled, out = self.vision_model(pixels)
        features = self.visual_projection(pooled)
        return l2_normalise(features), {**out, "features": features}

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
                 pixels: jax.Array) -> tuple[jax.Array, dict]:
        """Compare every image with every text.

        Returns:
            ``(logits_per_image, out)``: ``(images, texts)`` = ``exp(logit_scale)·cosine``; ``out``
            holds ``text_embeds``, ``image_embeds`` and ``logits_per_text``.
        """
        text_embeds, _ = self.encode_text(input_ids, attention_mask)
        image_embeds, _ = self.encode_images(pixels)
        logits_per_text = (text_embeds @ image_embeds.T) * jnp.exp(self.logit_scale)
        return logits_per_text.T, {"text_embeds": text_embeds, "image_embeds": image_embeds,
                                   "logits_per_text": logits_per_text}
