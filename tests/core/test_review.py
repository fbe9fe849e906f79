"""Human review: labels override automatic ones, CSV import validates every cell, agreement is exact."""

from __future__ import annotations

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.manifest import manifest_path, read_manifest
from castgate.errors import LabelsFileError
from castgate.review import (ReviewError, agreement_for, compute_agreement, import_labels, normalise_value,
                             parse_assignments, parse_labels_csv, review_plate)


@pytest.fixture()
def batch(tmp_path):
    """Four plates whose automatic gender labels are female, female, male, undetermined."""
    specs = labelled(2, gender="female", skin_group="lighter", fitzpatrick="II") + \
        labelled(1, gender="male", skin_group="darker", fitzpatrick="V") + labelled(1, gender="undetermined")
    return make_batch(tmp_path / "b", {"nurse": specs})


def ids(folder):
    return [p.id for p in read_manifest(folder).plates]


@pytest.mark.parametrize("attribute, raw, expected", [
    ("gender", " Female ", "female"), ("skin_group", "DARKER", "darker"), ("fitzpatrick", "iv", "IV"),
    ("fitzpatrick", "4", "IV"), ("monk", "07", "7"), ("monk", "10", "10"), ("gender", "Undetermined", "undetermined"),
])
def test_values_are_normalised(attribute, raw, expected):
    assert normalise_value(attribute, raw) == expected


@pytest.mark.parametrize("attribute, raw", [("gender", "femal"), ("fitzpatrick", "7"), ("monk", "11"),
                                            ("skin_group", "light"), ("age", "30")])
def test_bad_values_are_refused_with_the_allowed_ones(attribute, raw):
    with pytest.raises(ValueError, match="use one of"):
        normalise_value(attribute, raw)


def test_assignments_are_parsed_and_checked():
    assert parse_assignments(["gender=female", "monk=3"]) == {"gender": "female", "monk": "3"}
    for bad in (["gender"], ["gender=female", "gender=male"], ["colour=red"], []):
        with pytest.raises(ReviewError):
            parse_assignments(bad)


def test_kappa_and_confusion_by_hand():
    from castgate.batch.manifest import AutoLabel, HumanLabel, Plate

    def plate(n, human, auto):
        return Plate(id=f"p{n}", role="r", index=n, prompt="p", seed=n,
                     labels={"gender": AutoLabel(auto, "m", "x", "1")},
                     human_labels={"gender": HumanLabel(human, "ana", "2026-01-01T00:00:00Z")})

    # human/auto: (f,f) x4, (m,m) x3, (f,m) x1, (m,f) x2 -> po = 0.7, pe = (5*6 + 5*4)/100 = 0.5, kappa = 0.4
    pairs = [("female", "female")] * 4 + [("male", "male")] * 3 + [("female", "male")] + [("male", "female")] * 2
    result = agreement_for([plate(n, h, a) for n, (h, a) in enumerate(pairs)], "gender")
    assert result["n"] == 10 and result["observed"] == pytest.approx(0.7) and result["kappa"] == pytest.approx(0.4)
    assert result["labels"] == ["female", "male", "undetermined"]
    assert result["confusion"] == [[4, 1, 0], [2, 3, 0], [0, 0, 0]]
    same = agreement_for([plate(n, "female", "female") for n in range(3)], "gender")
    assert same["observed"] == 1.0 and same["kappa"] is None      # chance agreement is 1: kappa undefined
    assert compute_agreement([plate(0, "male", "male")]).keys() == {"gender"}


def test_review_plate_overrides_and_recomputes_agreement(batch):
    first, second, third, fourth = ids(batch)
    result = review_plate(batch, first, {"gender": "male"}, reviewer="ana", note="short hair, suit")
    manifest = read_manifest(batch)
    plate = manifest.plate(first)
    assert plate.label("gender") == "male" and plate.labels["gender"].value == "female"
    assert plate.human_labels["gender"].reviewer == "ana" and plate.human_labels["gender"].note == "short hair, suit"
    assert result.agreement["gender"]["n"] == 1 and result.agreement["gender"]["observed"] == 0.0
    assert manifest.events[-1].kind == "review" and manifest.events[-1].details["reviewer"] == "ana"
    review_plate(batch, fourth, {"gender": "female"}, reviewer="ben")
    gender = read_manifest(batch).agreement["gender"]
    assert gender["n"] == 2 and gender["confusion"][0][2] == 1      # human female, automatic undetermined


def test_fitzpatrick_implies_the_skin_group_and_contradictions_are_refused(batch):
    first, *_ = ids(batch)
    result = review_plate(batch, first, {"fitzpatrick": "5"}, reviewer="ana")
    plate = read_manifest(batch).plate(first)
    assert result.derived == 1 and plate.human_labels["fitzpatrick"].value == "V"
    assert plate.human_labels["skin_group"].value == "darker"
    assert "derived from fitzpatrick V" in plate.human_labels["skin_group"].note
    before = manifest_path(batch).read_bytes()
    with pytest.raises(ReviewError, match="means skin_group darker"):
        review_plate(batch, first, {"fitzpatrick": "VI", "skin_group": "lighter"}, reviewer="ana")
    with pytest.raises(ReviewError, match="contradicts the human fitzpatrick label V"):
        review_plate(batch, first, {"skin_group": "lighter"}, reviewer="ana")
    assert manifest_path(batch).read_bytes() == before


def test_review_errors_write_nothing(batch):
    before = manifest_path(batch).read_bytes()
    with pytest.raises(ReviewError, match="no plate 'nope'"):
        review_plate(batch, "nope", {"gender": "male"}, reviewer="ana")
    with pytest.raises(ReviewError, match="no reviewer"):
        review_plate(batch, ids(batch)[0], {"gender": "male"}, reviewer="  ")
    with pytest.raises(ReviewError, match="not a gender label"):
        review_plate(batch, ids(batch)[0], {"gender": "mal"}, reviewer="ana")
    assert manifest_path(batch).read_bytes() == before


def test_csv_import(batch, tmp_path):
    first, second, third, fourth = ids(batch)
    table = tmp_path / "labels.csv"
    table.write_text("\ufeffplate_id,gender,fitzpatrick,note\n"
                     f"{first},Female,II,\n{second},,,\n{third},female,4,looks darker\n\n", encoding="utf-8")
    result = import_labels(batch, table, reviewer="ana")
    assert result.plates == (first, third) and result.rows_without_labels == 1
    manifest = read_manifest(batch)
    assert manifest.plate(third).human_labels["skin_group"].value == "darker"
    assert manifest.plate(third).human_labels["gender"].note == "looks darker"
    gender = manifest.agreement["gender"]
    assert gender["n"] == 2 and gender["observed"] == 0.5          # plate 3 was automatically male
    assert manifest.agreement["fitzpatrick"]["n"] == 2
    assert manifest.events[-1].details["source"] == "csv:labels.csv"


def test_csv_errors_name_every_row_and_column(batch):
    first, second, *_ = ids(batch)
    text = ("plate_id,gender,monk\n"
            f"{first},femal,3\n"          # row 2: bad gender
            "ghost,male,2\n"               # row 3: unknown plate
            f"{second},male,12\n"          # row 4: bad monk
            f"{first},male,3\n"            # row 5: duplicate plate
            f"{second},male\n")            # row 6: too few cells
    with pytest.raises(LabelsFileError) as caught:
        parse_labels_csv(text, ids(batch), source="labels.csv")
    message = str(caught.value)
    for expected in ("row 2, column gender: 'femal'", "row 3: plate 'ghost'", "row 4, column monk: '12'",
                     "row 5: plate", "already labelled in row 2", "row 6: 2 cells"):
        assert expected in message, message
    assert message.startswith("labels.csv: 5 problems")


def test_csv_header_problems(batch):
    for text, expected in (("", "the file is empty"), ("gender\nfemale\n", "no 'plate_id' column"),
                           ("plate_id,gender,age\nx,female,3\n", "unknown column(s) 'age'"),
                           ("plate_id,note\nx,hello\n", "no label column")):
        with pytest.raises(LabelsFileError) as caught:
            parse_labels_csv(text, ids(batch))
        assert expected in str(caught.value)


def test_csv_import_is_all_or_nothing(batch, tmp_path):
    first, second, *_ = ids(batch)
    table = tmp_path / "labels.csv"
    table.write_text(f"plate_id,gender\n{first},male\n{second},maybe\n", encoding="utf-8")
    before = manifest_path(batch).read_bytes()
    with pytest.raises(LabelsFileError, match="row 3, column gender"):
        import_labels(batch, table, reviewer="ana")
    with pytest.raises(LabelsFileError, match="file not found"):
        import_labels(batch, tmp_path / "none.csv", reviewer="ana")
    assert manifest_path(batch).read_bytes() == before
