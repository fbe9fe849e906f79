"""Quota files: presets, defaults and overrides, and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from castgate.errors import QuotaFileError
from castgate.quotas import is_quota_path, load_quota, parse_quota, preset_names

GENDER = "[gender]\ntargets = { female = 0.5, male = 0.5 }\n"


def test_presets_ship_and_load():
    assert {"parity", "example-nonuniform"} <= set(preset_names())
    parity = load_quota("parity")
    assert parity.attribute_names == ("gender", "skin_group")
    gender = parity.attribute("gender")
    assert (gender.tolerance, gender.confidence, gender.max_undetermined, gender.scope) == (0.1, 0.95, 0.1, "both")
    example = load_quota("example-nonuniform")
    assert example.attribute("gender").targets == {"female": 0.6, "male": 0.4}
    fitz = example.attribute("fitzpatrick")
    assert fitz.scope == "pooled" and fitz.tolerance == 0.08 and sum(fitz.targets.values()) == pytest.approx(1)


def test_attribute_overrides_top_level_defaults():
    quota = parse_quota("tolerance = 0.2\nconfidence = 0.9\n" + GENDER + "[skin_group]\n"
                        "targets = { lighter = 0.7, darker = 0.3 }\ntolerance = 0.05\nscope = \"pooled\"\n")
    assert quota.attribute("gender").tolerance == 0.2
    assert quota.attribute("skin_group").tolerance == 0.05
    assert quota.attribute("skin_group").confidence == 0.9
    assert quota.attribute("skin_group").applies_to("pooled") and not quota.attribute("skin_group").applies_to("role")
    assert quota.attribute("gender").applies_to("role") and quota.attribute("gender").applies_to("group")


def test_tolerance_out_of_range_message_is_exact():
    with pytest.raises(QuotaFileError) as info:
        parse_quota("[gender]\ntolerance = 1.5\ntargets = { female = 0.5, male = 0.5 }\n", source="quota.toml")
    assert str(info.value) == "quota.toml: [gender].tolerance is 1.5; use 0–1."


@pytest.mark.parametrize("text,expected", [
    ("[gender]\ntargets = { female = 0.6, male = 0.6 }\n", r"\[gender\]\.targets sum to 1\.2; make the shares sum to 1"),
    ("[gender]\ntargets = { female = 50, male = 50 }\n", r"targets\.female is 50; use a share 0–1"),
    ("[gender]\ntargets = { female = 0.5, mle = 0.5 }\n", r"targets\.mle is not a category of gender; did you mean 'male'"),
    ("[gender]\ntargets = { female = 1.0 }\n", r"no share for male; list every category"),
    ("[gender]\ntargets = { female = 0.5, male = 0.5, undetermined = 0.0 }\n", r"undetermined is not a target category"),
    ("[gender]\ntargets = { female = 0.5, male = 0.5 }\ntolerence = 0.1\n", r"\[gender\]\.tolerence is not a known key; did you mean 'tolerance'"),
    ("confidance = 0.9\n" + GENDER, r"confidance is not a known key; did you mean 'confidence'"),
    ("confidence = 95\n" + GENDER, r"confidence is 95; use a value strictly between 0 and 1 \(a share: 95 % is 0\.95\)"),
    ("scope = \"roles\"\n" + GENDER, r"scope is 'roles'; use one of 'per_role', 'pooled', 'both'"),
    ("min_sample = -3\n" + GENDER, r"min_sample is -3; use a whole number"),
    ("interval = \"exactish\"\n" + GENDER, r"interval is 'exactish'"),
    ("[gender]\n", r"\[gender\]\.targets is missing"),
    ("name = \"x\"\n", r"no attribute table"),
    ("[gender\n", r"not valid TOML"),
])
def test_invalid_quota_files_say_what_and_how(text, expected):
    with pytest.raises(QuotaFileError, match=expected):
        parse_quota(text, source="q.toml")


def test_every_problem_is_listed_at_once():
    with pytest.raises(QuotaFileError) as info:
        parse_quota("tolerance = 2\nfoo = 1\n[gender]\ntargets = { female = 0.2, male = 0.2 }\n", source="q.toml")
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("q.toml: 3 problems:")


def test_load_by_path_and_unknown_preset(tmp_path: Path):
    path = tmp_path / "crowd.toml"
    path.write_text(GENDER, encoding="utf-8")
    quota = load_quota(str(path))
    assert quota.name == "crowd" and quota.source == str(path)
    with pytest.raises(QuotaFileError, match=r"no quota preset named 'parit'; did you mean 'parity'"):
        load_quota("parit")
    with pytest.raises(QuotaFileError, match="file not found"):
        load_quota(str(tmp_path / "missing.toml"))


def test_name_or_path_rule():
    assert not is_quota_path("parity")
    assert is_quota_path("quotas/crowd.toml") and is_quota_path("crowd.toml")


def test_to_dict_is_plain():
    data = load_quota("parity").to_dict()
    assert data["attributes"][0]["targets"] == {"female": 0.5, "male": 0.5}
