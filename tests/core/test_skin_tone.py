"""Skin tone: ITA on float CIELAB, cited Fitzpatrick tables, Monk by CIEDE2000, and real photos re-toned
through the whole Monk scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batch_factory import astronaut, grace_hopper, resized, retone_skin
from castgate.audit import skin_tone as st
from castgate.audit.faces import select_face
from castgate.audit.image import audit_image, shared_models
from castgate.audit.settings import AuditSettings

SETTINGS = AuditSettings()
# Synthetic landmarks: eyes 40 px apart around (100, 100), nose base 30 px below.
LANDMARKS = ((130.0, 100.0), (110.0, 100.0), (70.0, 100.0), (90.0, 100.0), (100.0, 130.0))


@pytest.fixture(scope="module")
def photos():
    """Each photo at 256 px wide (the size of a plate) with its detected face."""
    detector = shared_models().detector
    out = {}
    for name, image in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        rgb = resized(image, 256)
        choice = select_face(detector.detect(rgb, SETTINGS), rgb, SETTINGS)
        assert choice.face is not None, f"{name}: {choice.reason}"
        out[name] = (rgb, choice.face)
    return out


def flat_face(colour: str | tuple[int, int, int], size: int = 200) -> np.ndarray:
    if isinstance(colour, str):
        colour = tuple(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return np.tile(np.array(colour, np.uint8), (size, size, 1))


def test_ita_formula():
    assert st.ita_degrees(50.0, 20.0) == pytest.approx(0.0)
    assert st.ita_degrees(100.0, 0.0) == pytest.approx(90.0)
    assert st.ita_degrees(60.0, 10.0) == pytest.approx(45.0)
    assert st.ita_degrees(40.0, 10.0) == pytest.approx(-45.0)


@pytest.mark.parametrize("table, ita, expected", [
    ("kinyanjui2019", 55.01, "I"), ("kinyanjui2019", 55.0, "II"), ("kinyanjui2019", 41.0, "III"),
    ("kinyanjui2019", 28.5, "III"), ("kinyanjui2019", 28.0, "IV"), ("kinyanjui2019", 19.0, "V"),
    ("kinyanjui2019", 10.0, "VI"), ("kinyanjui2019", -60.0, "VI"),
    ("chardon1991", 20.0, "IV"), ("chardon1991", 0.0, "V"), ("chardon1991", -31.0, "VI"),
])
def test_fitzpatrick_tables(table, ita, expected):
    assert st.fitzpatrick_type(ita, table) == expected
    assert st.skin_group(expected) == ("lighter" if expected in ("I", "II", "III") else "darker")


def test_every_table_is_cited_and_ordered():
    for table in st.FITZPATRICK_TABLES.values():
        assert len(table.citation) > 60 and table.name in st.FITZPATRICK_TABLES
        assert list(table.bounds) == sorted(table.bounds, reverse=True)


def test_fitzpatrick_probabilities_sum_to_one_and_narrow_with_sigma():
    wide = st.fitzpatrick_probabilities(30.0, 10.0)
    narrow = st.fitzpatrick_probabilities(30.0, 0.5)
    assert sum(wide.values()) == pytest.approx(1.0)
    assert narrow["III"] > 0.99 > wide["III"]
    assert st.lighter_probability(28.0, 5.0) == pytest.approx(0.5)


def test_each_monk_swatch_is_its_own_nearest_and_ita_falls_along_the_scale():
    itas = []
    for tone, code in enumerate(st.MONK_SWATCHES, start=1):
        lab = st.hex_to_lab(code)
        assert st.monk_tone(lab) == str(tone)
        itas.append(st.ita_degrees(lab[0], lab[2]))
    assert itas == sorted(itas, reverse=True)
    probabilities = st.monk_probabilities(st.hex_to_lab(st.MONK_SWATCHES[5]), 3.0)
    assert max(probabilities, key=probabilities.get) == "6" and sum(probabilities.values()) == pytest.approx(1)


def test_a_swatch_in_shade_keeps_its_monk_tone_within_one_step():
    """People discount shade: a swatch at 50-100 % of the key light (linear light) is still read as that
    tone, give or take one step; plain nearest-swatch CIEDE2000 reads a pale face at half light as Monk 4-5."""
    for tone, code in enumerate(st.MONK_SWATCHES, start=1):
        linear = st.srgb_to_linear(st.hex_to_rgb(code))
        for shading in (1.0, 0.8, 0.65, 0.5):
            lab = st.srgb_to_lab(st.linear_to_srgb(linear * shading))
            assert abs(int(st.monk_tone(lab)) - tone) <= 1, (tone, shading)
            if shading == 1.0:
                assert st.monk_tone(lab) == str(tone)
    half_lit_pale = st.srgb_to_lab(st.linear_to_srgb(st.srgb_to_linear(st.hex_to_rgb(st.MONK_SWATCHES[1])) * 0.5))
    nearest = int(np.argmin(np.linalg.norm(st.monk_lab() - half_lit_pale, axis=1))) + 1
    assert nearest >= 4 and st.monk_tone(half_lit_pale) in ("1", "2", "3")
    assert int(st.monk_tone(half_lit_pale, shade_penalty=100.0)) == nearest   # a prior that forbids shade


def test_a_side_lit_face_is_measured_where_the_light_falls_or_not_at_all():
    """Half the face in shade (the other cheek lit): the lit skin is the swatch, not the mean of lit and
    shaded skin; in deep shade the patches no longer agree and the skin is unmeasured, never misread."""
    for tone in (2, 5, 8):
        code = st.MONK_SWATCHES[tone - 1]
        for shade in (0.7, 0.45):
            linear = st.srgb_to_linear(flat_face(code))
            linear[:, :100] *= shade                                    # the image-left half in shade
            image = np.round(st.linear_to_srgb(linear) * 255).astype(np.uint8)
            try:
                measurement = st.measure_skin(image, LANDMARKS)
            except st.SkinUnmeasurable:
                assert shade < 0.7, (tone, shade)
                continue
            assert abs(int(st.monk_tone(measurement.lab)) - tone) <= 1, (tone, shade, measurement.lab)
            assert measurement.lab[0] == pytest.approx(st.hex_to_lab(code)[0], abs=1.0), (tone, shade)


def test_lab_is_float_and_matches_reference_values():
    # sRGB white and mid grey in CIELAB D65: exact reference values, not 8-bit OpenCV-scaled ones.
    lab = st.srgb_to_lab(np.array([[255, 255, 255], [119, 119, 119]], np.uint8))
    assert lab.dtype == np.float64
    assert lab[0] == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[1, 0] == pytest.approx(50.03, abs=0.05)


def test_flat_skin_is_measured_exactly():
    for code in ("#d7bd96", "#604134"):
        measurement = st.measure_skin(flat_face(code), LANDMARKS)
        assert measurement.lab == pytest.approx(tuple(st.hex_to_lab(code)), abs=0.01)
        assert measurement.pixel_count >= 100
        assert set(measurement.patches) == {"left_cheek", "right_cheek", "forehead"}


def test_hair_on_the_forehead_and_highlights_are_not_skin():
    skin = st.hex_to_lab("#a07e56")
    image = flat_face("#a07e56")
    image[40:85, 55:145] = (35, 25, 20)               # dark hair over the forehead patch
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(113, 128, 40), rng.integers(72, 128, 40)
    image[rows, cols] = (245, 240, 235)               # specular highlights on the cheeks
    measurement = st.measure_skin(image, LANDMARKS)
    assert "dropped" in measurement.patches["forehead"]
    assert math.dist(measurement.lab, skin) < 1.0


def test_transparent_pixels_are_never_measured():
    image = flat_face("#d7bd96")
    image[100:160, :] = (20, 200, 20)                 # green where the plate is transparent
    opaque = np.ones(image.shape[:2], bool)
    opaque[100:160, :] = False
    measurement = st.measure_skin(image, LANDMARKS, opaque)
    assert math.dist(measurement.lab, st.hex_to_lab("#d7bd96")) < 0.5


def test_too_few_skin_pixels_is_unmeasurable():
    tiny = ((13.0, 10.0), (11.0, 10.0), (7.0, 10.0), (9.0, 10.0), (10.0, 13.0))
    with pytest.raises(st.SkinUnmeasurable, match="too few skin pixels"):
        st.measure_skin(flat_face("#d7bd96", 20), tiny)


def test_photos_get_sensible_skin_labels(photos):
    for key in ("astronaut", "grace_hopper"):
        rgb, _ = photos[key]
        labels = audit_image(rgb, SETTINGS).labels
        assert labels["skin_group"].value == "lighter", key
        assert labels["fitzpatrick"].value in ("I", "II", "III"), key
        assert int(labels["monk"].value) <= 5, key
        details = labels["fitzpatrick"].details
        assert {"ita", "lab", "pixel_count", "ita_sigma"} <= set(details) and details["pixel_count"] >= SETTINGS.min_skin_pixels
        assert 0.0 <= labels["monk"].confidence <= 1.0


def _within_one(estimates: list[str | None]) -> int:
    return sum(1 for tone, estimate in enumerate(estimates, 1)
               if estimate not in (None, "undetermined") and abs(int(estimate) - tone) <= 1)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_retoned_photo_recovers_each_monk_tone(photos, name):
    """The estimator on the photo's own landmarks: Monk within one step for >= 8 of 10, ITA monotonic."""
    rgb, face = photos[name]
    tones, itas = [], []
    for code in st.MONK_SWATCHES:
        measurement = st.measure_skin(retone_skin(rgb, face.landmarks, code), face.landmarks)
        tones.append(st.classify_skin(measurement).monk)
        itas.append(measurement.ita)
    assert _within_one(tones) >= 8, tones
    assert all(a > b for a, b in zip(itas, itas[1:])), itas


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_retoned_plates_through_the_whole_audit(photos, name):
    """The full audit (detection included) on 256 px plates, parity across tones: the face is read at every
    Monk tone (a miss at any tone fails, so misses cannot concentrate at the darker ones), the estimate is
    within one step at 9 of 10 or more, and ITA falls from Monk 1 to 10."""
    rgb, face = photos[name]
    tones, itas, read = [], [], []
    for code in st.MONK_SWATCHES:
        result = audit_image(retone_skin(rgb, face.landmarks, code), SETTINGS)
        read.append(result.face is not None)
        tones.append(result.labels["monk"].value)
        itas.append(result.labels["fitzpatrick"].details.get("ita"))
    assert all(read), read
    assert _within_one(tones) >= 9, tones
    assert None not in itas and all(a > b for a, b in zip(itas, itas[1:])), itas
