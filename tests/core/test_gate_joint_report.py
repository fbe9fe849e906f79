"""Joint (intersectional) quotas under both questions, and the report of a cast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_factory import labelled, make_batch

from castgate.errors import QuotaFileError
from castgate.gate import format_result, gate_batch, gate_label_table
from castgate.labels_table import parse_label_table
from castgate.quotas import parse_quota
from castgate.report import report_batch

JOINT = """
tolerance = 0.1
[gender]
targets = { female = 0.5, male = 0.5 }
[[joint]]
attributes = ["gender", "skin_group"]
tolerance = 0.08
targets = { female = { lighter = 0.25, darker = 0.25 }, male = { lighter = 0.25, darker = 0.25 } }
"""


def table(fl: int, fd: int, ml: int, md: int) -> str:
    return ("role,gender,skin_group,count\n"
            f"crowd,female,lighter,{fl}\ncrowd,female,darker,{fd}\ncrowd,male,lighter,{ml}\ncrowd,male,darker,{md}\n")


def test_joint_quota_parses_with_its_own_tolerance_and_lists_problems():
    quota = parse_quota(JOINT)
    joint = quota.attribute("gender×skin_group")
    assert joint.parts == ("gender", "skin_group") and joint.tolerance == 0.08
    assert joint.categories == ("female·lighter", "female·darker", "male·lighter", "male·darker")
    assert quota.label_attributes == ("gender", "skin_group")
    with pytest.raises(QuotaFileError, match="sum to"):
        parse_quota('[[joint]]\nattributes = ["gender", "skin_group"]\n'
                    'targets = { female = { lighter = 0.5, darker = 0.5 }, male = { lighter = 0.5, darker = 0.5 } }\n')
    with pytest.raises(QuotaFileError, match="attributes"):
        parse_quota('[[joint]]\nattributes = ["gender"]\ntargets = {}\n')


def test_joint_cells_are_judged_under_both_questions():
    # gender 50/50 overall, but every woman lighter and every man darker: the cells fail as a cast
    skewed = parse_label_table(table(20, 0, 0, 20))
    cast = gate_label_table(skewed, parse_quota(JOINT), question="cast")
    assert cast.scope("crowd").attribute("gender").verdict == "PASS"
    joint = cast.scope("crowd").attribute("gender×skin_group")
    assert joint.verdict == "FAIL" and joint.cast.count("female·darker").band == (7, 13)
    balanced = gate_label_table(parse_label_table(table(10, 10, 10, 10)), parse_quota(JOINT), question="cast")
    assert balanced.verdict == "PASS"
    generator = gate_label_table(skewed, parse_quota(JOINT), question="generator")
    assert generator.scope("crowd").attribute("gender×skin_group").verdict == "FAIL"
    assert "female·darker" in format_result(cast)


def test_the_report_of_an_undecided_cast_lists_plates_to_review(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"crowd": labelled(4, gender="female", skin_group="lighter")
                                        + labelled(3, gender="male", skin_group="darker")
                                        + labelled(1, gender="undetermined", skin_group="darker")},
                       human={i: {"gender": "female" if i < 4 else "male"} for i in range(7)})
    quota = tmp_path / "q.toml"
    quota.write_text(JOINT.replace("tolerance = 0.08", "tolerance = 0.25"), encoding="utf-8")
    result, paths = report_batch(batch, tmp_path / "out", quota)
    assert result.question == "cast" and result.verdict == "UNDECIDED"
    assert result.review[0] == "b_crowd_0007"
    html = paths["html"].read_text(encoding="utf-8")
    assert "cast question: is this set of plates" in html and "Counts against their bands" in html
    assert "Review these plates" in html and "castgate review" in html and "--plate b_crowd_0007" in html
    assert "4 of 8" in html and "4–5" in html     # female: band 4 of 8, plausible 4–5 (one plate unread)
    assert "Joint quotas (cross-tables)" in html and "The labeller" in html
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["gate"]["review"][0] == "b_crowd_0007" and data["gate"]["question"] == "cast"
