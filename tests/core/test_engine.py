"""TextToImage on the tiny reference pair: exact greedy tokens, batching, devices, verify."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from castgate.errors import ModelFolderError, UnsupportedModelError
from castgate.generation.engine import SamplingSettings, TextToImage, compiled_token_sampler
from castgate.weights.verify import verify_model_folder

GREEDY = SamplingSettings(condition_scale=3.0, top_k=1)
SAMPLED = SamplingSettings(condition_scale=3.0, top_k=8, temperature=0.9)


@pytest.fixture(scope="module")
def engine(dallebart_tiny_dir: Path, vqgan_tiny_dir: Path) -> TextToImage:
    return TextToImage.load(dallebart_tiny_dir, vqgan_tiny_dir)


@pytest.fixture(scope="module")
def cases(dallebart_tiny_dir: Path) -> list[dict]:
    return json.loads((dallebart_tiny_dir / "cases.json").read_text())["cases"]


def test_identity_and_image_size(engine):
    assert engine.image_size == 8  # 4x4 codes, f=2
    assert set(engine.identity) == {"dalle", "vqgan"}
    assert len(engine.identity["dalle"]["files"]["flax_model.msgpack"]) == 64
    assert "vocab.json" in engine.identity["dalle"]["files"]


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_engine_greedy_tokens_equal_reference(engine, cases, scale):
    settings = SamplingSettings(condition_scale=scale, top_k=1)
    tokens = engine.sample_tokens([case["prompt"] for case in cases], list(range(8)), settings)
    np.testing.assert_array_equal(tokens, [case["greedy_tokens"][str(scale)] for case in cases])


def test_generate_returns_clipped_images_decoded_from_the_tokens(engine, cases):
    import jax

    from castgate.models.vqgan import VQGan

    images = engine.generate([cases[0]["prompt"]], [0], GREEDY, batch_size=8)  # the greedy test's shape
    assert images.shape == (1, 8, 8, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    tokens = np.array([cases[0]["greedy_tokens"]["3.0"]], np.int32)
    model = VQGan(engine.vqgan_config)
    raw = jax.jit(lambda p, t: model.apply({"params": p}, t, method=VQGan.decode_codes))(engine.vqgan_params, tokens)
    np.testing.assert_allclose(images, np.clip(raw, 0, 1), atol=1e-5)


def test_plates_do_not_depend_on_their_batch_and_padding_is_dropped(engine, cases):
    prompts = [case["prompt"] for case in cases[:5]]
    seeds = [101, 102, 103, 104, 105]
    progress = []
    batched = engine.generate(prompts, seeds, SAMPLED, batch_size=4, on_progress=lambda *p: progress.append(p))
    assert batched.shape == (5, 8, 8, 3)
    assert progress == [(4, 5), (5, 5)]
    # other neighbours and padding (batch-size changes: test_four_devices_give_the_same_plates)
    alone = engine.generate(prompts[3:5], seeds[3:5], SAMPLED, batch_size=4)
    np.testing.assert_array_equal(batched[3:5], alone)


def test_the_sampler_is_compiled_once_per_shape(engine, cases):
    engine.generate([cases[0]["prompt"]], [1], SAMPLED, batch_size=4)
    sampler = compiled_token_sampler(engine.dalle_config, "float32", 8, engine.token_limit, 1)
    before = sampler._cache_size()
    assert before >= 1
    engine.generate([cases[1]["prompt"]] * 3, [3, 4, 5], SAMPLED, batch_size=4)
    engine.generate([cases[2]["prompt"]] * 2, [5, 6], SamplingSettings(condition_scale=5.0, top_k=8), batch_size=4)
    assert sampler._cache_size() == before


def test_bfloat16_generation_runs(engine, cases):
    settings = dataclasses.replace(SAMPLED, dtype="bfloat16")
    images = engine.generate([cases[0]["prompt"]], [0], settings, batch_size=4)
    assert images.shape == (1, 8, 8, 3) and np.isfinite(images).all()


@pytest.mark.parametrize("settings, message", [
    (SamplingSettings(top_k=-1), "top_k"), (SamplingSettings(temperature=0), "temperature"),
    (SamplingSettings(dtype="float64"), "dtype"), (SamplingSettings(condition_scale=float("nan")), "condition_scale"),
])
def test_impossible_settings_are_refused(engine, settings, message):
    with pytest.raises(ValueError, match=message):
        engine.generate(["a nurse"], [0], settings)


def test_seeds_must_match_prompts_and_fit_32_bits(engine):
    with pytest.raises(ValueError, match="one seed per prompt"):
        engine.generate(["a", "b"], [1], GREEDY)
    with pytest.raises(ValueError, match="seed"):
        engine.generate(["a"], [2 ** 32], GREEDY)


def test_four_devices_give_the_same_plates(engine, cases, dallebart_tiny_dir, vqgan_tiny_dir, tmp_path):
    prompts = [case["prompt"] for case in cases[:6]]
    seeds = list(range(200, 206))
    expected = engine.generate(prompts, seeds, SAMPLED, batch_size=4)
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, jax
        from castgate.generation.engine import SamplingSettings, TextToImage
        assert jax.local_device_count() == 4, jax.local_devices()
        engine = TextToImage.load({str(dallebart_tiny_dir)!r}, {str(vqgan_tiny_dir)!r})
        images = engine.generate({prompts!r}, {seeds!r}, SamplingSettings(condition_scale=3.0, top_k=8,
                                 temperature=0.9), batch_size=4)
        np.save(sys.argv[1], images)
    """)
    out = tmp_path / "four-devices.npy"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out), expected)


# -- verify_model_folder ---------------------------------------------------------------------------

def test_verify_recognises_both_reference_folders(dallebart_tiny_dir, vqgan_tiny_dir):
    report = verify_model_folder(dallebart_tiny_dir)
    assert report["kind"] == "dallebart" and report["ok"] and report["problems"] == []
    assert report["config"]["d_model"] == 32 and report["config"]["weights_dtype"] == "float32"
    weights = next(row for row in report["files"] if row["name"] == "flax_model.msgpack")
    assert weights["size"] == (dallebart_tiny_dir / "flax_model.msgpack").stat().st_size
    assert len(weights["sha256"]) == 64
    assert verify_model_folder(vqgan_tiny_dir)["kind"] == "vqgan"


def test_verify_recognises_clip(reference_dir):
    assert verify_model_folder(reference_dir / "clip-tiny")["kind"] == "clip"


def test_verify_names_every_missing_file(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    (folder / "vocab.json").unlink()
    (folder / "flax_model.msgpack").unlink()
    with pytest.raises(ModelFolderError, match="missing flax_model.msgpack, vocab.json"):
        verify_model_folder(folder)


def test_verify_reports_truncated_weights(copy_model_folder, vqgan_tiny_dir):
    folder = copy_model_folder(vqgan_tiny_dir)
    weights = folder / "flax_model.msgpack"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    report = verify_model_folder(folder)
    assert not report["ok"] and "flax_model.msgpack" in report["problems"][0]
    assert "truncated" in report["problems"][0]


def test_verify_reports_an_unknown_architecture_flag(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["ln_positions"] = "deepnet"
    (folder / "config.json").write_text(json.dumps(raw))
    report = verify_model_folder(folder)
    assert "ln_positions" in report["problems"][0] and "normformer" in report["problems"][0]
    with pytest.raises(UnsupportedModelError, match="ln_positions"):
        TextToImage.load(folder, folder)


def test_verify_reports_shape_mismatch_with_parameter_and_shapes(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["decoder_ffn_dim"] = 64
    (folder / "config.json").write_text(json.dumps(raw))
    problem = verify_model_folder(folder)["problems"][0]
    assert "GLU_0/Dense_0/kernel has shape (2, 32, 85)" in problem and "(2, 32, 64)" in problem


def test_the_vqgan_loads_and_decodes_in_float32_whatever_the_sampling_dtype(engine, cases, dallebart_tiny_dir,
                                                                            vqgan_tiny_dir):
    import jax

    half = TextToImage.load(dallebart_tiny_dir, vqgan_tiny_dir, dtype="bfloat16")
    assert {leaf.dtype.name for leaf in jax.tree.leaves(half.dalle_params)} == {"bfloat16"}
    assert {leaf.dtype.name for leaf in jax.tree.leaves(half.vqgan_params)} == {"float32"}
    tokens = np.array([cases[0]["greedy_tokens"]["3.0"]], np.int32)
    np.testing.assert_array_equal(half.decode_tokens(tokens), engine.decode_tokens(tokens))


def test_verify_checks_shapes_without_reading_a_weight_and_deep_reads_them(monkeypatch, dallebart_tiny_dir):
    from castgate.weights.msgpack_weights import WeightRef

    reads = []
    real_read = WeightRef.read
    monkeypatch.setattr(WeightRef, "read", lambda ref: reads.append(ref) or real_read(ref))
    report = verify_model_folder(dallebart_tiny_dir)
    assert report["ok"] and report["deep"] is False and reads == []
    deep = verify_model_folder(dallebart_tiny_dir, deep=True)
    assert deep["ok"] and deep["deep"] is True and len(reads) == len(checkpoints_arrays(dallebart_tiny_dir))


def checkpoints_arrays(folder):
    from castgate.weights.msgpack_weights import MsgpackWeights

    with MsgpackWeights.open(folder / "flax_model.msgpack") as weights:
        return list(weights.arrays)


def test_deep_verify_names_a_parameter_with_nan(copy_model_folder, vqgan_tiny_dir):
    from flax import serialization

    from castgate.weights import checkpoints

    folder = copy_model_folder(vqgan_tiny_dir)
    flat = checkpoints.flatten(checkpoints.read_msgpack(folder / "flax_model.msgpack"))
    key = sorted(flat)[3]
    flat[key] = flat[key].copy()
    flat[key].flat[0] = np.nan
    (folder / "flax_model.msgpack").write_bytes(serialization.msgpack_serialize(checkpoints.unflatten(flat)))
    assert verify_model_folder(folder)["ok"]  # the structure is fine
    problems = verify_model_folder(folder, deep=True)["problems"]
    assert len(problems) == 1 and "/".join(key) in problems[0] and "NaN" in problems[0]
