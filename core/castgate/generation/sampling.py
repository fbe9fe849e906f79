"""Image-token sampling for DalleBart: one ``lax.scan`` over image positions with a key/value cache.

Pure functions of (params, inputs); jit them at the call site (``castgate.generation.engine`` does, once per
shape). One step feeds the previous token of every row, reads that step's logits and picks the next
token:

* super-conditioning: each plate has a conditional row (its prompt) and an unconditional row (the
  empty text) next to each other in the batch; logits = ``u + scale * (c - u)``. With scale 1 the
  unconditional rows are left out altogether (``text_tokens`` has one row per plate) and the logits
  are the conditional ones, exactly as the reference does;
* the reference's min-length processor: the ``eos_token`` logit is set to -inf when it is in range;
* optionally ``token_limit``: only the first ``token_limit`` logits (the codes the VQGAN can decode)
  are candidates;
* temperature, then top-k (``top_k`` 1 = greedy argmax, ties to the lowest id; None or 0 = all).

Randomness is per plate: row ``i`` draws from ``fold_in(PRNGKey(seeds[i]), position)``, so a plate's
tokens depend on its own prompt and seed only, never on the batch it ran in.

Example:
    >>> tokens = sample_image_tokens(model, params, text_tokens, text_mask, seeds, 10.0, 1.0, top_k=50)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from castgate.models.dalle_bart import DalleBart, empty_caches


def super_condition(conditional: jnp.ndarray, unconditional: jnp.ndarray, condition_scale: jnp.ndarray) -> jnp.ndarray:
    """Classifier-free guidance as dalle-mini does it: ``u + scale * (c - u)``."""
    return unconditional + condition_scale * (conditional - unconditional)


def mask_end_token(logits: jnp.ndarray, eos_token: int) -> jnp.ndarray:
    """Set the end-of-sequence logit to -inf when it exists (the reference's min-length rule)."""
    if 0 <= eos_token < logits.shape[-1]:
        logits = logits.at[..., eos_token].set(-jnp.inf)
    return logits


def choose_tokens(keys: jnp.ndarray, logits: jnp.ndarray, top_k: int | None, temperature: jnp.ndarray) -> jnp.ndarray:
    """Pick one token per row.

    Args:
        keys: ``(rows, 2)`` uint32 PRNG keys, one per row.
        logits: ``(rows, vocabulary)`` float32.
        top_k: 1 for greedy (argmax, ties to the lowest id), None or 0 for the whole vocabulary,
            else sample among the ``top_k`` largest logits.
        temperature: divides the logits before sampling (ignored by greedy).

    Returns:
        ``(rows,)`` int32 token ids.
    """
    if top_k == 1:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        values, indices = jax.lax.top_k(logits, top_k)
        choice = jax.vmap(jax.random.categorical)(keys, values)
        return jnp.take_along_axis(indices, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)
    return jax.vmap(jax.random.categorical)(keys, logits).astype(jnp.int32)


def plate_keys(seeds: jnp.ndarray) -> jnp.ndarray:
    """``PRNGKey(seed)`` for each plate: ``(plates,)`` uint32 seeds to ``(plates, 2)`` keys."""
    return jax.vmap(jax.random.PRNGKey)(seeds)


def sample_image_tokens(model: DalleBart, params: Any, text_tokens: jnp.ndarray, text_mask: jnp.ndarray,
                        seeds: jnp.ndarray, condition_scale: jnp.ndarray | float, temperature: jnp.ndarray | float,
                        *, top_k: int | None, token_limit: int | None = None) -> jnp.ndarray:
    """Generate ``image_token_count`` tokens per plate.

    Args:
        model: the DalleBart module (its ``dtype`` is the compute dtype; ``params`` must match it).
        params: the parameter tree.
        text_tokens: ``(plates, rows, text_token_count)`` int32; ``rows`` is 2 for super-conditioning
            (row 0 the prompt, row 1 the unconditional text) or 1 for the prompt alone.
        text_mask: same shape, 1 for real tokens and 0 for padding.
        seeds: ``(plates,)`` uint32, one seed per plate.
        condition_scale: guidance scale (used only when ``rows`` is 2).
        temperature: logits are divided by it before sampling.
        top_k: see :func:`choose_tokens` (static).
        token_limit: if set, only ids below it can be drawn (static).

    Returns:
        ``(plates, image_token_count)`` int32 tokens, the start token not included.
    """
    config = model.config
    plate_count, row_count, text_length = text_tokens.shape
    variables = {"params": params}
    flat_tokens = text_tokens.reshape(plate_count * row_count, text_length)
    flat_mask = text_mask.reshape(plate_count * row_count, text_length)
    encoder_state = model.apply(variables, flat_tokens, flat_mask, method=DalleBart.encode)
    text = model.apply(variables, encoder_state, method=DalleBart.cross_keys_values)
    caches = empty_caches(config, plate_count * row_count, model.dtype)
    keys = plate_keys(seeds)

    def step(carry, position):
        previous, caches = carry
        inputs = jnp.repeat(previous, row_count)[:, None]
        logits, caches = model.apply(variables, inputs, position, caches, text, flat_mask, method=DalleBart.decode)
        logits = logits[:, 0].astype(jnp.float32).reshape(plate_count, row_count, -1)
        if row_count == 2:
            logits = super_condition(logits[:, 0], logits[:, 1], condition_scale)
        else:
            logits = logits[:, 0]
        logits = mask_end_token(logits, config.eos_token)
        if token_limit is not None:
            logits = logits[:, :token_limit]
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, position)
        token = choose_tokens(step_keys, logits, top_k, temperature)
        return (token, caches), token

    start = jnp.full((plate_count,), config.start_token, jnp.int32)
    positions = jnp.arange(config.image_token_count, dtype=jnp.int32)
    _, tokens = jax.lax.scan(step, (start, caches), positions)
    return tokens.T
