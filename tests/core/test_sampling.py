"""The scan sampler: greedy sequences equal the reference's, sampling is per plate."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from castgate.generation.sampling import choose_tokens, mask_end_token, plate_keys, sample_image_tokens, super_condition
from castgate.weights import checkpoints


@pytest.fixture(scope="module")
def reference(dallebart_tiny_dir: Path):
    from castgate.models.dalle_bart import DalleBart

    config, params, _ = checkpoints.load_dallebart(dallebart_tiny_dir)
    cases = json.loads((dallebart_tiny_dir / "cases.json").read_text())
    ids = np.array([case["input_ids"] for case in cases["cases"]], np.int32)
    mask = np.array([case["attention_mask"] for case in cases["cases"]], np.int32)
    uncond_ids = np.broadcast_to(np.array(cases["uncond"]["input_ids"], np.int32), ids.shape)
    uncond_mask = np.broadcast_to(np.array(cases["uncond"]["attention_mask"], np.int32), mask.shape)
    return {"model": DalleBart(config), "params": params, "cases": cases["cases"],
            "prompt_rows": (ids[:, None], mask[:, None]),
            "guided_rows": (np.stack([ids, uncond_ids], 1), np.stack([mask, uncond_mask], 1))}


_SAMPLERS: dict = {}


def _jitted(model, top_k, token_limit=None):
    key = (id(model), top_k, token_limit)
    if key not in _SAMPLERS:
        _SAMPLERS[key] = jax.jit(functools.partial(sample_image_tokens, model, top_k=top_k, token_limit=token_limit))
    return _SAMPLERS[key]


def _sample(reference, rows, top_k, scale, seeds=None, token_limit=None):
    tokens, mask = reference[rows]
    seeds = np.arange(len(tokens), dtype=np.uint32) if seeds is None else np.asarray(seeds, np.uint32)
    sampler = _jitted(reference["model"], top_k, token_limit)
    return np.asarray(sampler(reference["params"], tokens, mask, seeds, np.float32(scale), np.float32(1.0)))


def test_greedy_tokens_at_scale_1_equal_reference(reference):
    tokens = _sample(reference, "prompt_rows", top_k=1, scale=1.0)
    expected = np.array([case["greedy_tokens"]["1.0"] for case in reference["cases"]])
    np.testing.assert_array_equal(tokens, expected)


def test_greedy_tokens_at_scale_3_equal_reference(reference):
    tokens = _sample(reference, "guided_rows", top_k=1, scale=3.0)
    expected = np.array([case["greedy_tokens"]["3.0"] for case in reference["cases"]])
    np.testing.assert_array_equal(tokens, expected)


def test_a_plate_does_not_depend_on_its_batch_and_stays_below_the_token_limit(reference):
    tokens, mask = reference["guided_rows"]
    sampler = _jitted(reference["model"], 8, 40)
    seeds = np.array([11, 12, 13, 14, 15, 16, 17, 18], np.uint32)
    whole = np.asarray(sampler(reference["params"], tokens, mask, seeds, np.float32(3.0), np.float32(1.0)))
    part = np.asarray(sampler(reference["params"], tokens[5:7], mask[5:7], seeds[5:7], np.float32(3.0),
                              np.float32(1.0)))
    np.testing.assert_array_equal(whole[5:7], part)
    assert whole.max() < 40
    again = np.asarray(sampler(reference["params"], tokens, mask, seeds[::-1].copy(), np.float32(3.0),
                               np.float32(1.0)))
    assert not np.array_equal(whole, again), "different seeds should give different plates"


def test_super_condition_is_u_plus_scale_times_difference():
    cond, uncond = jnp.array([1.0, 4.0]), jnp.array([2.0, 1.0])
    np.testing.assert_allclose(super_condition(cond, uncond, 10.0), [2.0 - 10.0, 1.0 + 30.0])


def test_end_token_is_masked_only_when_in_range():
    logits = jnp.zeros((2, 5))
    assert np.isneginf(np.asarray(mask_end_token(logits, 3))[:, 3]).all()
    np.testing.assert_array_equal(mask_end_token(logits, 5), logits)


def test_greedy_ties_go_to_the_lowest_id():
    keys = plate_keys(jnp.array([0], jnp.uint32))
    assert int(choose_tokens(keys, jnp.array([[0.0, 2.0, 2.0, 1.0]]), 1, 1.0)[0]) == 1


def test_top_k_samples_only_among_the_k_largest():
    logits = jnp.tile(jnp.arange(10.0)[None], (200, 1))
    keys = plate_keys(jnp.arange(200, dtype=jnp.uint32))
    tokens = np.asarray(choose_tokens(keys, logits, 3, 1.0))
    assert set(tokens) == {7, 8, 9}


def test_plate_keys_are_prng_keys_of_each_seed():
    keys = np.asarray(plate_keys(jnp.array([0, 7], jnp.uint32)))
    np.testing.assert_array_equal(keys[1], np.asarray(jax.random.PRNGKey(7)))


def test_no_top_k_samples_from_the_whole_vocabulary():
    keys = plate_keys(jnp.arange(300, dtype=jnp.uint32))
    tokens = np.asarray(choose_tokens(keys, jnp.zeros((300, 10)), None, 1.0))
    assert set(tokens) == set(range(10))
