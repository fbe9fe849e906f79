"""The acceptance case: the seed study's published figures, from its label table, exactly.

Also checks that docs/worked-example/ (made by scripts/make_worked_example.sh) matches a fresh run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from castgate.gate import format_result, gate_label_table

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "worked-example"

GENDER_FAIL = {"kindergarten_teacher", "hair_stylist", "nurse", "construction_worker", "mechanical_engineer",
               "business_ceo"}
GENDER_UNDECIDED = {"childcare_worker", "dental_hygienist", "software_developer", "farmer"}


@pytest.fixture(scope="module")
def result(seed_study_csv: Path):
    return gate_label_table(seed_study_csv, "parity")


def study_pct(result, scope: str, attribute: str, category: str) -> float:
    """The study's way: share of all plates of the scope, undetermined included, one decimal."""
    return round(100 * result.scope(scope).attribute(attribute).category(category).share_of_all, 1)


def test_pooled_figures(result):
    assert study_pct(result, "workforce_majority=male", "gender", "male") == 69.0
    assert study_pct(result, "workforce_majority=male", "gender", "female") == 26.4
    assert study_pct(result, "workforce_majority=female", "gender", "female") == 64.8
    assert study_pct(result, "workforce_majority=female", "gender", "male") == 31.2
    assert study_pct(result, "pooled", "skin_group", "lighter") == 69.2
    assert study_pct(result, "pooled", "skin_group", "darker") == 30.8
    assert result.scope("workforce_majority=male").plate_count == 500
    assert result.scope("pooled").plate_count == 1000


@pytest.mark.parametrize("role,attribute,category,expected", [
    ("mechanical_engineer", "gender", "male", 79.0),
    ("farmer", "gender", "male", 63.0),
    ("software_developer", "gender", "male", 63.0),
    ("hair_stylist", "gender", "female", 75.0),
    ("hair_stylist", "gender", "male", 21.0),
    ("dental_hygienist", "gender", "male", 49.0),
    ("dental_hygienist", "gender", "female", 48.0),
    ("kindergarten_teacher", "skin_group", "lighter", 59.0),
    ("kindergarten_teacher", "skin_group", "darker", 41.0),
])
def test_per_role_figures(result, role, attribute, category, expected):
    assert study_pct(result, role, attribute, category) == expected


def test_mechanical_engineer_is_the_most_divided_male_dominated_role(result):
    male_roles = result.scope("workforce_majority=male").roles
    shares = {r: result.scope(r).attribute("gender").category("male").share_of_all for r in male_roles}
    assert max(shares, key=shares.get) == "mechanical_engineer"


def test_kindergarten_teacher_has_the_most_balanced_skin_split(result):
    roles = [s for s in result.scopes if s.kind == "role"]
    gap = {s.scope: abs(s.attribute("skin_group").category("lighter").share_of_all - 0.5) for s in roles}
    assert min(gap, key=gap.get) == "kindergarten_teacher"


def test_determined_only_shares_are_shown_beside(result):
    male = result.scope("workforce_majority=male").attribute("gender")
    assert male.determined == 477 and male.category("male").share == pytest.approx(345 / 477)


def test_gender_parity_verdicts_per_role(result):
    verdicts = {s.scope: s.attribute("gender").verdict for s in result.scopes if s.kind == "role"}
    assert {r for r, v in verdicts.items() if v == "FAIL"} == GENDER_FAIL
    assert {r for r, v in verdicts.items() if v == "INSUFFICIENT"} == GENDER_UNDECIDED
    for role in GENDER_UNDECIDED:
        assert result.scope(role).attribute("gender").more_plates > 0
    assert result.scope("workforce_majority=male").attribute("gender").verdict == "FAIL"
    assert result.scope("workforce_majority=female").attribute("gender").verdict == "FAIL"
    assert (result.verdict, result.exit_code) == ("FAIL", 1)


def test_committed_worked_example_matches_a_fresh_run(result):
    """Regenerate with scripts/make_worked_example.sh when this fails after a deliberate change."""
    assert (EXAMPLE / "gate.txt").read_text(encoding="utf-8") == format_result(result) + "\n"
    for name in ("gate.json", "report.json"):
        data = json.loads((EXAMPLE / name).read_text(encoding="utf-8"))
        gate = data.get("gate", data)
        fresh = result.to_dict()
        assert gate["verdict"] == fresh["verdict"]
        assert gate["scopes"] == fresh["scopes"], f"{name} is stale"
        assert [p["message"] for p in gate["problems"]] == [p["message"] for p in fresh["problems"]]
    html = (EXAMPLE / "report.html").read_text(encoding="utf-8")
    for figure in ("69.0 %", "26.4 %", "64.8 %", "31.2 %", "69.2 %", "30.8 %"):
        assert figure in html
    doc = (REPO / "docs" / "worked-example.md").read_text(encoding="utf-8")
    for line in format_result(result).splitlines()[1:-1]:
        assert line in doc, f"docs/worked-example.md lacks the gate line: {line.strip()[:40]}"
