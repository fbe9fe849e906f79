"""The random-weight demo checkpoints: published layout, atomic and deterministic, loud about noise."""

from __future__ import annotations

import json
import logging

import numpy as np

from castgate.generation.engine import SamplingSettings, TextToImage
from castgate.weights.demo_models import DALLE_FOLDER, VQGAN_FOLDER, ensure_demo_models
from castgate.weights.verify import verify_model_folder


def test_demo_folders_have_the_published_layout_and_say_they_are_noise(demo_model_dirs):
    dalle_dir, vqgan_dir = demo_model_dirs
    assert (dalle_dir.name, vqgan_dir.name) == (DALLE_FOLDER, VQGAN_FOLDER)
    for name in ("config.json", "flax_model.msgpack", "vocab.json", "merges.txt", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json", "enwiki-words-frequency.txt", "README.txt"):
        assert (dalle_dir / name).is_file(), name
    assert "RANDOM WEIGHTS" in (dalle_dir / "README.txt").read_text()
    assert "RANDOM WEIGHTS" in (vqgan_dir / "README.txt").read_text()
    config = json.loads((dalle_dir / "config.json").read_text())
    assert config["castgate_demo"] is True and config["image_length"] == 256
    assert verify_model_folder(dalle_dir)["ok"] and verify_model_folder(vqgan_dir)["ok"]
    assert not [p for p in dalle_dir.parent.iterdir() if p.name.startswith(".")], "no temp folder is left"


def test_second_call_reuses_the_folders(demo_model_dirs):
    dalle_dir, _ = demo_model_dirs
    before = (dalle_dir / "flax_model.msgpack").stat().st_mtime_ns
    assert ensure_demo_models(dalle_dir.parent) == demo_model_dirs
    assert (dalle_dir / "flax_model.msgpack").stat().st_mtime_ns == before


def test_demo_weights_are_deterministic(demo_model_dirs, tmp_path):
    dalle_dir, vqgan_dir = ensure_demo_models(tmp_path)
    for ours, theirs in zip((dalle_dir, vqgan_dir), demo_model_dirs):
        for path in theirs.iterdir():
            assert (ours / path.name).read_bytes() == path.read_bytes(), path.name


def test_demo_loads_like_a_real_checkpoint_warns_and_makes_256_pixel_plates(demo_model_dirs, caplog):
    with caplog.at_level(logging.WARNING, logger="castgate.generation.engine"):
        engine = TextToImage.load(*demo_model_dirs)
    assert engine.is_demo and any("RANDOM weights" in r.getMessage() for r in caplog.records)
    assert engine.image_size == 256
    images = engine.generate(["a #nightshift nurse"], [3], SamplingSettings(), batch_size=1)
    assert images.shape == (1, 256, 256, 3) and 0.0 <= images.min() and images.max() <= 1.0
    assert images.std() > 0.05  # noise, as the README says
    np.testing.assert_array_equal(engine.generate(["a #nightshift nurse"], [3], SamplingSettings(), batch_size=1),
                                  images)
