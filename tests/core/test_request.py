"""Request validation: every bad request names the key and the fix, and nothing else is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from castgate.errors import RequestError
from castgate.request import load_request, parse_request, plate_name

GOOD = """
[batch]
name = "hospital"
seed = 7

[sampling]
condition_scale = 3
top_k = 0

[[roles]]
id = "nurse"
prompt = "a nurse administering medication at a hospital"
count = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "request.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RequestError) as info:
        load_request(write(tmp_path, text))
    assert str(tmp_path / "request.toml") in str(info.value)
    return info.value.problems


def test_good_request_round_trips_through_its_record(tmp_path):
    request = load_request(write(tmp_path, GOOD))
    assert request.batch == "hospital" and request.seed == 7
    assert request.sampling.condition_scale == 3.0 and request.sampling.top_k == 0
    assert [(r.id, r.count) for r in request.roles] == [("nurse", 2)]
    assert parse_request(request.to_record()) == request


def test_missing_prompt_names_the_role(tmp_path):
    problems = problems_of(tmp_path, GOOD.replace('prompt = "a nurse administering medication at a hospital"\n', ""))
    assert problems == ["role 'nurse': prompt is missing; add e.g. prompt = \"a nurse at a hospital\""]


def test_count_zero_is_refused(tmp_path):
    problems = problems_of(tmp_path, GOOD.replace("count = 2", "count = 0"))
    assert any("count 0 must be a whole number of at least 1" in p for p in problems)


@pytest.mark.parametrize("section, line", [("[batch]", "colour = 1"), ("[sampling]", "topk = 5"),
                                           ("[[roles]]", "promt = 'x'")])
def test_unknown_keys_are_rejected_with_the_known_ones(tmp_path, section, line):
    problems = problems_of(tmp_path, GOOD.replace(section, f"{section}\n{line}", 1))
    key = line.split(" = ")[0]
    assert any(f"unknown key" in p and key in p and "known keys" in p for p in problems)


@pytest.mark.parametrize("role_id", ["../escape", "a/b", ".hidden", "nurse\\x", "", "x" * 65])
def test_role_ids_cannot_leave_the_batch_folder(tmp_path, role_id):
    problems = problems_of(tmp_path, GOOD.replace('id = "nurse"', f"id = '{role_id}'"))
    assert any("is not a safe name" in p and "must not leave the batch folder" in p for p in problems)


def test_malformed_toml_says_where(tmp_path):
    problems = problems_of(tmp_path, GOOD + "\n[[roles]\n")
    assert len(problems) == 1 and "not valid TOML" in problems[0] and "line" in problems[0]


def test_all_problems_are_reported_at_once(tmp_path):
    text = GOOD.replace("count = 2", "count = -1").replace("condition_scale = 3", "condition_scale = 0.5")
    text = text.replace('name = "hospital"', 'name = "bad name"')
    problems = problems_of(tmp_path, text)
    assert len(problems) == 3


def test_duplicate_role_ids_and_bad_template(tmp_path):
    text = GOOD.replace("[batch]", '[batch]\noutput_template = "{batch}/{role}_{index}"') + \
        '\n[[roles]]\nid = "nurse"\nprompt = "x"\ncount = 1\n'
    problems = problems_of(tmp_path, text)
    assert any("used twice" in p for p in problems)
    assert any("output_template" in p and "no '/'" in p for p in problems)


def test_wrong_types_are_named(tmp_path):
    problems = problems_of(tmp_path, GOOD.replace("top_k = 0", 'top_k = "fifty"'))
    assert problems == ["[sampling].top_k is 'fifty'; it must be a whole number"]


def test_missing_file(tmp_path):
    with pytest.raises(RequestError, match="file not found"):
        load_request(tmp_path / "nope.toml")


def test_plate_name_template():
    assert plate_name("{batch}_{role}_{index:04d}", "b", "nurse", 3) == "b_nurse_0003"
