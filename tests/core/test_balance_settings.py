"""The request's [balance] table: defaults, round trip, and bad input named with its key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from castgate.errors import RequestError
from castgate.request import load_request, parse_request

BASE = """
[batch]
name = "ward"
seed = 3

[[roles]]
id = "nurse"
prompt = "a nurse at a hospital"
count = 4
"""

BALANCE = """
[balance]
budget = 6
quota = "quotas/ward.toml"
steering = true
steering_template = "{phrase} {prompt}"

[balance.phrases.gender]
female = "a woman"
male = "a man"

[balance.phrases.skin_group]
darker = "with dark skin"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "request.toml"
    path.write_text(text, encoding="utf-8")
    return load_request(path)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RequestError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_no_balance_table_leaves_the_record_as_before(tmp_path):
    request = load(tmp_path, BASE)
    assert request.balance is None and "balance" not in request.to_record()


def test_balance_table_round_trips_and_resolves_the_quota_path(tmp_path):
    request = load(tmp_path, BASE + BALANCE)
    balance = request.balance
    assert balance.budget == 6 and balance.steering is True
    assert balance.quota == str((tmp_path / "quotas" / "ward.toml").resolve())
    assert balance.phrase("gender", "female") == "a woman" and balance.phrase("skin_group", "lighter") is None
    assert balance.steered_prompt("a nurse", ["a woman", "with dark skin"]) == "a woman, with dark skin a nurse"
    assert parse_request(request.to_record()) == request


def test_steering_is_off_unless_turned_on(tmp_path):
    request = load(tmp_path, BASE + BALANCE.replace("steering = true\n", ""))
    assert request.balance.steering is False and request.balance.phrases  # phrases ready, unused


@pytest.mark.parametrize("change, expected", [
    (("budget = 6", "budget = 0"), "[balance].budget 0 must be a whole number from 1 to 64"),
    (('female = "a woman"', 'nonbinary = "a person"'),
     "[balance.phrases.gender].nonbinary: 'nonbinary' is not a category of gender; use female, male"),
    (("[balance.phrases.skin_group]", "[balance.phrases.age]"), "[balance.phrases.age]: 'age' cannot be steered"),
    (('steering_template = "{phrase} {prompt}"', 'steering_template = "{prompt}"'),
     "must contain both {prompt} and {phrase}"),
    (("steering = true", "steering = 1"), "[balance].steering 1 must be true or false"),
    (("budget = 6", "budget = 6\nbugdet = 2"), "unknown key balance.bugdet"),
    (('male = "a man"', 'male = ""'), "[balance.phrases.gender].male must be non-empty text"),
])
def test_bad_balance_input_names_the_key_and_the_fix(tmp_path, change, expected):
    problems = problems_of(tmp_path, BASE + BALANCE.replace(*change))
    assert any(expected in p for p in problems), problems


def test_steering_on_without_phrases_is_refused(tmp_path):
    problems = problems_of(tmp_path, BASE + "[balance]\nsteering = true\n")
    assert problems == ["[balance].steering = true but no phrases are given; add e.g. [balance.phrases.gender] "
                        "with female = \"a woman\", or set steering = false"]
