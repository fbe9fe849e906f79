"""The cast question: count bands, exact count distributions, the error model and the review list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_factory import labelled, make_batch

from castgate.gate import gate_batch, gate_label_table
from castgate.gate.cast import (count_band, judge_cast, lower_quantile, poisson_binomial, sizes_that_can_meet,
                                upper_quantile)
from castgate.gate.error_model import ErrorModel, ErrorTableError, error_table_from_dict, load_error_table
from castgate.gate.evidence import ABSTAINED, MEASURED, Evidence, certain
from castgate.labels_table import parse_label_table
from castgate.quotas import parse_quota

GENDER = dict(categories=("female", "male"), targets={"female": 0.5, "male": 0.5}, tolerance=0.1, confidence=0.95)


def cast_table(female: int, male: int, lighter: int, darker: int) -> str:
    """A label table of one role whose gender and skin columns are independent lists."""
    rows = ["role,gender,skin_group,count"]
    genders = ["female"] * female + ["male"] * male
    skins = ["lighter"] * lighter + ["darker"] * darker
    pairs: dict[tuple[str, str], int] = {}
    for pair in zip(genders, skins):
        pairs[pair] = pairs.get(pair, 0) + 1
    rows += [f"crowd,{g},{s},{n}" for (g, s), n in pairs.items()]
    return "\n".join(rows) + "\n"


def test_count_bands_and_sizes():
    assert count_band(0.5, 0.1, 40) == (16, 24)
    assert count_band(0.5, 0.1, 3) == (2, 1)             # no whole count in 1.2–1.8
    assert count_band(0.5, 0.1, 10) == (4, 6)            # 0.4 * 10 is 4.000000000000001 in binary
    assert 3 not in sizes_that_can_meet({"f": 0.5, "m": 0.5}, 0.1, 3)
    assert 4 in sizes_that_can_meet({"f": 0.5, "m": 0.5}, 0.1, 3)


def test_the_40_plate_cast_passes_and_14_26_fails_from_a_label_table():
    balanced = gate_label_table(parse_label_table(cast_table(20, 20, 20, 20)), "parity", question="cast")
    assert (balanced.question, balanced.verdict, balanced.exit_code) == ("cast", "PASS", 0)
    gender = balanced.scope("crowd").attribute("gender")
    assert gender.cast.count("female").band == (16, 24) and "16–24 of 40" in gender.reason
    skewed = gate_label_table(parse_label_table(cast_table(14, 26, 20, 20)), "parity", question="cast")
    assert (skewed.verdict, skewed.exit_code) == ("FAIL", 1)
    assert "female 14 below 16–24 of 40" in skewed.scope("crowd").attribute("gender").reason
    # the same tables under the generator question: neither can be decided from 40 plates
    assert gate_label_table(parse_label_table(cast_table(20, 20, 20, 20)), "parity").verdict == "INSUFFICIENT"


def test_a_cast_too_small_for_its_band_says_which_sizes_can():
    result = gate_label_table(parse_label_table(cast_table(2, 1, 2, 1)), "parity", question="cast")
    gender = result.scope("crowd").attribute("gender")
    assert gender.verdict == "FAIL" and gender.cast.cannot_meet
    assert "cannot meet" in gender.reason and "4" in gender.reason.split("sizes that can:")[1]


def test_quota_file_names_the_question_and_the_flag_overrides_it():
    quota = parse_quota('question = "cast"\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n')
    assert quota.question == "cast"
    table = parse_label_table(cast_table(20, 20, 20, 20))
    assert gate_label_table(table, quota).question == "cast"
    assert gate_label_table(table, quota, question="generator").question == "generator"
    with pytest.raises(Exception, match="question"):
        parse_quota('question = "shot"\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n')


# -- exact distributions ------------------------------------------------------------------------------------
def test_poisson_binomial_is_exact():
    pmf = poisson_binomial([0.5, 0.5, 0.2])
    assert pmf.tolist() == pytest.approx([0.2, 0.45, 0.3, 0.05])
    long = poisson_binomial([0.3] * 500 + [0.9] * 300)
    assert long.sum() == pytest.approx(1.0) and len(long) == 801
    assert (long * range(801)).sum() == pytest.approx(500 * 0.3 + 300 * 0.9)
    assert lower_quantile(pmf, 0.25) == 1 and upper_quantile(pmf, 0.1) == 2
    assert lower_quantile(pmf, 0.19) == 0 and upper_quantile(pmf, 0.04) == 3


# -- the error model ----------------------------------------------------------------------------------------
def error_table(darker_wrong: int, right: int = 200, method: str = "test gender labeller") -> dict:
    """A table in which darker plates' gender labels are wrong ``darker_wrong`` times in ``right + darker_wrong``."""
    def block(wrong: int) -> dict:
        return {"female": {"female": right, "male": wrong}, "male": {"male": right, "female": wrong}}
    return {"format": "castgate-labeller-error/1",
            "methods": {"gender": method, "skin_group": "test skin_group labeller"},
            "made_by": "tests/core/test_gate_cast.py", "set": "made up", "made": "2026-11-29T00:00:00Z",
            "attributes": {"gender": {"confusion": {"lighter": block(0), "darker": block(darker_wrong)}},
                           "skin_group": {"confusion": {"lighter": {"lighter": {"lighter": 400}},
                                                        "darker": {"darker": {"darker": 400}}}}}}


def mixed(n_each: int) -> list[dict]:
    return (labelled(n_each, gender="female", skin_group="lighter") + labelled(n_each, gender="female", skin_group="darker")
            + labelled(n_each, gender="male", skin_group="lighter") + labelled(n_each, gender="male", skin_group="darker"))


QUOTA = "tolerance = 0.1\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n"


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_an_error_table_that_says_darker_gender_labels_are_often_wrong_widens_the_verdict(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"crowd": mixed(10)})
    quota = write(tmp_path, "q.toml", QUOTA)
    good = gate_batch(batch, quota, record=False, error_table=write(tmp_path, "good.json", error_table(0)))
    assert good.verdict == "PASS", good.scopes[0].reason
    assert good.error_model["reviewed_plates"] == {"gender": 0, "skin_group": 0}
    bad = gate_batch(batch, quota, record=False, error_table=write(tmp_path, "bad.json", error_table(100)))
    assert bad.verdict == "UNDECIDED"
    darker = {f"b_crowd_{i:04d}" for i in list(range(10, 20)) + list(range(30, 40))}
    assert set(bad.review[:20]) == darker                # the darker plates are the ones worth reviewing
    assert 0 < bad.scope("crowd").attribute("gender").cast.settled_by <= 20
    # reviewing every darker plate (agreeing with the labeller) settles it
    from castgate.review import review_plate
    for plate_id in sorted(darker):
        value = "female" if int(plate_id[-4:]) < 20 else "male"
        review_plate(batch, plate_id, {"gender": value}, reviewer="sup")
    settled = gate_batch(batch, quota, record=False, error_table=tmp_path / "bad.json")
    assert settled.verdict == "PASS"
    assert settled.error_model["reviewed_plates"]["gender"] == 20


def test_exact_counts_from_a_near_perfect_labeller_are_not_called_human(tmp_path: Path):
    """A well measured labeller can leave no count to move; the explanation must not claim the labels are
    a person's, and says so once every plate is reviewed."""
    batch = make_batch(tmp_path / "b", {"crowd": mixed(2)})
    table = write(tmp_path, "good.json", error_table(0, right=5000))
    quota = write(tmp_path, "q.toml", "tolerance = 0.25\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n")
    explanation = gate_batch(batch, quota, record=False, error_table=table).scope("crowd").attribute(
        "gender").explanation
    assert "human" not in explanation and "too small to move any count" in explanation
    from castgate.review import review_plate
    for index in range(8):
        review_plate(batch, f"b_crowd_{index:04d}", {"gender": "female" if index < 4 else "male"}, reviewer="sup")
    explanation = gate_batch(batch, quota, record=False, error_table=table).scope("crowd").attribute(
        "gender").explanation
    assert "Every label is a human one" in explanation


def test_a_label_made_by_another_method_is_unmeasured(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"crowd": mixed(10)})
    other = write(tmp_path, "other.json", error_table(0, method="another labeller"))
    result = gate_batch(batch, write(tmp_path, "q.toml", QUOTA), record=False, error_table=other)
    assert result.verdict == "UNDECIDED" and len(result.review) == 40
    assert "does not measure its method" in result.scope("crowd").attribute("gender").cast.review[0].why


def test_bad_error_tables_are_clean_errors(tmp_path: Path):
    with pytest.raises(ErrorTableError, match="format"):
        error_table_from_dict({"format": "x"})
    broken = error_table(0)
    broken["attributes"]["gender"]["confusion"]["darker"]["female"]["other"] = 3
    with pytest.raises(ErrorTableError, match="not a category"):
        error_table_from_dict(broken)
    with pytest.raises(ErrorTableError, match="file not found"):
        load_error_table(tmp_path / "none.json")


def test_posterior_is_laplace_over_table_counts():
    model = ErrorModel.from_table(error_table_from_dict(error_table(10, right=88)))
    p = model.probabilities("gender", "test gender labeller", "female", "darker")
    assert p["female"] == pytest.approx(89 / 100)
    unknown = model.probabilities("gender", "test gender labeller", "female", None)
    assert unknown == p                                   # unknown skin group: the worse group
    assert model.probabilities("gender", "other", "female", "darker") is None


# -- review list ---------------------------------------------------------------------------------------------
def test_review_list_puts_decisive_plates_first_and_says_what_each_answer_does():
    evidence = ([certain(f"f{i}", "female") for i in range(3)] + [certain("m0", "male")]
                + [Evidence("a", MEASURED, "male", {"male": 0.99, "female": 0.01}, "automatic male"),
                   Evidence("u", ABSTAINED, "undetermined", None, "no face found")])
    judgement = judge_cast(evidence[:4] + evidence[5:] + evidence[4:5], **GENDER)  # 6 plates: band 3–3
    assert judgement.verdict == "UNDECIDED"
    first, second = judgement.review
    assert first.plate_id == "u" and first.outcomes == {"female": "FAIL", "male": "PASS"} and first.decisive == 1.0
    assert second.plate_id == "a" and second.outcomes == {"female": "FAIL", "male": "UNDECIDED"}
    assert second.decisive == pytest.approx(0.01)
