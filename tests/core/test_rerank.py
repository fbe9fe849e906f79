"""castgate.generation.rerank: CLIP scores against the reference, the person filter and the selection rules."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from castgate.errors import ModelFolderError
from castgate.generation import clip_inputs, rerank
from castgate.generation.rerank import Choice, ClipScorer, select_candidates, select_per_role

# Image i of the fixture paired with prompt PAIRS[i]; the expected score is logits_per_image[i, PAIRS[i]].
PAIRS = [0, 3, 2, 5]


@pytest.fixture(scope="module")
def scorer(clip_tiny: Path) -> ClipScorer:
    return ClipScorer.load(clip_tiny)


@pytest.fixture(scope="module")
def images(clip_tiny: Path, clip_cases: dict) -> list[np.ndarray]:
    return [np.asarray(Image.open(clip_tiny / image["file"]).convert("RGB")) for image in clip_cases["images"]]


@pytest.fixture(scope="module")
def prompts(clip_cases: dict) -> list[str]:
    return [clip_cases["prompts"][p]["text"] for p in PAIRS]


@pytest.fixture(scope="module")
def expected_scores(clip_tiny: Path) -> np.ndarray:
    return np.load(clip_tiny / "logits_per_image.npy")[np.arange(4), PAIRS]


# --------------------------------------------------------------------------------------- scoring

def test_scores_match_reference_logits(scorer, images, prompts, expected_scores):
    scores = scorer.score(images, prompts, batch_size=4)
    assert scores.shape == (4,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected_scores, atol=1e-4, rtol=1e-5)


def test_batch_size_and_input_form_do_not_change_scores(scorer, images, prompts, expected_scores):
    as_float = [image / 255.0 for image in images]
    np.testing.assert_allclose(scorer.score(as_float, prompts, batch_size=2), expected_scores,
                               atol=1e-4, rtol=1e-5)


def test_same_size_images_as_one_array(scorer, images, prompts, expected_scores):
    stack = np.stack([images[1], images[1], images[1]])  # (3, 64, 64, 3) uint8
    scores = scorer.score(stack, [prompts[1]] * 3, batch_size=4)
    np.testing.assert_allclose(scores, expected_scores[1], atol=1e-4, rtol=1e-5)


def test_encoders_compile_once_per_batch_size(scorer, images, prompts):
    """Batches of 2 (the last one padded) reuse one compiled image encoder whatever the image count."""
    embed = rerank._compiled_image_embedder(scorer.config)
    scorer.score(images + images[:1], prompts + prompts[:1], batch_size=2)
    compiled = embed._cache_size()
    scorer.score(images[:3], prompts[:3], batch_size=2)
    scorer.score(images[:1], prompts[:1], batch_size=2)
    assert embed._cache_size() == compiled


def test_progress_is_reported_per_batch(scorer, images, prompts):
    calls = []
    scorer.score(images[:3], prompts[:3], batch_size=2,
                 on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]


def test_identity_and_logit_scale(scorer, clip_tiny, clip_cases):
    assert scorer.logit_scale == pytest.approx(100.0, rel=1e-6)
    assert scorer.identity["files"]["flax_model.msgpack"] == clip_cases["files_sha256"]["flax_model.msgpack"]
    assert set(scorer.identity["files"]) == set(clip_inputs.REQUIRED_FILES + clip_inputs.OPTIONAL_FILES)


def test_score_refuses_mismatched_lengths(scorer, images):
    with pytest.raises(ValueError, match="4 images but 1 prompts"):
        scorer.score(images, ["a nurse"])
    assert scorer.score([], []).shape == (0,)


# --------------------------------------------------------------------------------------- loading

def test_missing_folder_and_files_are_named(clip_tiny, tmp_path):
    with pytest.raises(ModelFolderError, match="CLIP folder not found"):
        ClipScorer.load(tmp_path / "nowhere")
    shutil.copy(clip_tiny / "config.json", tmp_path / "config.json")
    shutil.copy(clip_tiny / "vocab.json", tmp_path / "vocab.json")
    with pytest.raises(ModelFolderError,
                       match="missing flax_model.msgpack, merges.txt, preprocessor_config.json"):
        ClipScorer.load(tmp_path)


def test_crop_size_must_fit_the_model(clip_tiny, tmp_path):
    for name in clip_inputs.REQUIRED_FILES:
        shutil.copy(clip_tiny / name, tmp_path / name)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": 224, "crop_size": 224}))
    with pytest.raises(ModelFolderError, match="crops to 224×224 but the model takes 32×32"):
        ClipScorer.load(tmp_path)


# --------------------------------------------------------------------------------------- person filter

def test_default_person_filter_finds_a_face_and_not_in_noise():
    from skimage import data

    astronaut = data.astronaut()
    assert rerank.has_face(astronaut)
    assert rerank.has_face(astronaut / 255.0)
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert not rerank.has_face(noise)
    assert not rerank.has_face(np.zeros((64, 64, 3)))


def test_rerank_scores_only_candidates_with_a_person(scorer, images, prompts, expected_scores):
    shows_person = {0: True, 1: False, 2: True, 3: True}
    ids = {id(image): index for index, image in enumerate(images)}
    choices = rerank.rerank(images, prompts, scorer, keep=2, has_person=lambda im: shows_person[ids[id(im)]],
                            batch_size=2)
    assert choices[1] == Choice(1, None, None, False, "no person detected")
    order = sorted([0, 2, 3], key=lambda i: -expected_scores[i])
    assert [c.index for c in choices if c.kept] == sorted(order[:2])
    assert choices[order[2]].rejected_reason == "ranked 3 of 3 by CLIP, below the kept 2"
    for index in order:
        assert choices[index].score == pytest.approx(float(expected_scores[index]), abs=1e-4, rel=1e-5)


# --------------------------------------------------------------------------------------- selection

def test_select_drops_no_person_ranks_the_rest_and_keeps_the_best():
    choices = select_candidates([0.2, None, 0.9, 0.5, 0.7], [True, False, True, True, True], keep=2)
    assert [c.kept for c in choices] == [False, False, True, False, True]
    assert [c.rank for c in choices] == [4, None, 1, 3, 2]
    assert choices[1].rejected_reason == "no person detected"
    assert choices[3].rejected_reason == "ranked 3 of 4 by CLIP, below the kept 2"
    assert choices[0].rejected_reason == "ranked 4 of 4 by CLIP, below the kept 2"
    assert all(c.rejected_reason is None for c in choices if c.kept)
    assert [c.index for c in choices] == list(range(5))


def test_ties_go_to_the_lower_index():
    choices = select_candidates([0.5, 0.5, 0.5], [True, True, True], keep=1)
    assert [c.rank for c in choices] == [1, 2, 3] and [c.kept for c in choices] == [True, False, False]


def test_a_scored_candidate_without_a_person_keeps_its_score_but_no_rank():
    choices = select_candidates([0.99, 0.1], [False, True], keep=1)
    assert choices[0] == Choice(0, 0.99, None, False, "no person detected")
    assert choices[1].kept and choices[1].rank == 1


def test_too_few_people_keeps_all_of_them_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="castgate.generation.rerank"):
        choices = select_candidates([0.3, None, 0.1], [True, False, True], keep=5)
    assert [c.kept for c in choices] == [True, False, True]
    assert "only 2 of 3 candidates show a person" in caplog.text


def test_keep_zero_rejects_every_candidate_with_a_reason():
    choices = select_candidates([0.3, 0.1], [True, True], keep=0)
    assert not any(c.kept for c in choices)
    assert choices[0].rejected_reason == "ranked 1 of 2 by CLIP, below the kept 0"


@pytest.mark.parametrize("scores, people, keep, message", [
    ([0.1], [True, True], 1, "1 scores but 2 person flags"),
    ([0.1], [True], -1, "keep is -1"),
    ([None], [True], 1, "candidate 0 shows a person but has no score"),
    ([float("nan")], [True], 1, "candidate 0 shows a person but has no score"),
])
def test_select_refuses_bad_input(scores, people, keep, message):
    with pytest.raises(ValueError, match=message):
        select_candidates(scores, people, keep)


def test_select_per_role_ranks_within_each_role():
    roles = ["nurse", "pilot", "nurse", "pilot", "nurse"]
    choices = select_per_role(roles, [0.1, 0.8, 0.5, 0.9, None], [True, True, True, True, False],
                              keep={"nurse": 1, "pilot": 1})
    assert [c.index for c in choices] == list(range(5))
    assert [c.kept for c in choices] == [False, False, True, True, False]
    assert choices[0].rejected_reason == "ranked 2 of 2 by CLIP, below the kept 1"
    assert choices[4].rejected_reason == "no person detected"
    with pytest.raises(ValueError, match="no keep count for role"):
        select_per_role(roles, [0.1] * 5, [True] * 5, keep={"nurse": 1})


def test_plate_fields_for_the_manifest():
    kept = Choice(3, 27.5, 1, True, None)
    assert kept.plate_fields() == {"scores": {"clip": 27.5}, "rank": 1, "kept": True, "rejected_reason": None}
    dropped = Choice(4, None, None, False, "no person detected")
    assert dropped.plate_fields()["scores"] == {}


def test_person_filter_reads_darker_and_small_faces():
    from castgate.audit.validation_set import sweep_image

    assert rerank.has_face(sweep_image("astronaut", "linear", 10, "plate"))
    assert rerank.has_face(sweep_image("grace_hopper", "multiply", 9, "face24"))
