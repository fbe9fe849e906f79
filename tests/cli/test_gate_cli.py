"""``castgate gate``: one exit code per verdict, --json, label tables, and clean input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_factory import labelled, make_batch
from castgate.batch.manifest import read_manifest
from castgate_cli.main import cli

WIDE = ('question = "generator"\nmin_sample = 10\ntolerance = 0.2\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n'
        "[skin_group]\ntargets = { lighter = 0.5, darker = 0.5 }\n")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture()
def quota(tmp_path: Path) -> str:
    path = tmp_path / "wide.toml"
    path.write_text(WIDE, encoding="utf-8")
    return str(path)


def mixed(female: int, male: int) -> list[dict]:
    return (labelled(female // 2, gender="female", skin_group="lighter")
            + labelled(female - female // 2, gender="female", skin_group="darker")
            + labelled(male // 2, gender="male", skin_group="darker") + labelled(male - male // 2, gender="male", skin_group="lighter"))


def test_pass_exits_0_and_records(tmp_path: Path, quota: str):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(20, 20)})
    result = run("gate", str(batch), "--quota", quota)
    assert result.exit_code == 0, result.output
    assert "nurse" in result.output and "Verdict: PASS (exit 0)" in result.output
    assert read_manifest(batch).verdict["verdict"] == "PASS"


def test_fail_exits_1_with_json(tmp_path: Path, quota: str):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(40, 0)})
    result = run("gate", str(batch), "--quota", quota, "--json", "--no-record")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "FAIL" and data["exit_code"] == 1
    assert data["scopes"][0]["attributes"][0]["categories"][0]["category"] == "female"
    assert any(p["verdict"] == "FAIL" and p["fix"] for p in data["problems"])
    assert read_manifest(batch).verdict is None  # --no-record


def test_insufficient_exits_3(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(20, 20)})
    result = run("gate", str(batch), "--no-record", "--question", "generator")  # 40 plates cannot decide ± 10 points
    assert result.exit_code == 3
    assert "INSUFFICIENT" in result.output and "more plates to decide" in result.output


def test_tampered_exits_1(tmp_path: Path, quota: str):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(20, 20)})
    (batch / read_manifest(batch).plates[0].files["png"].path).write_bytes(b"x")
    result = run("gate", str(batch), "--quota", quota, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["verdict"] == "TAMPERED"


def test_label_tables(seed_study_csv: Path):
    result = run("gate", "--labels", str(seed_study_csv), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["source"]["kind"] == "labels"
    assert "workforce_majority=male" in [s["scope"] for s in data["scopes"]]
    text = run("gate", "--labels", str(seed_study_csv), "--group-by", "workforce_majority").output
    assert "workforce_majority=female" in text


@pytest.mark.parametrize("args,expected", [
    ((), "exactly one"),
    (("somewhere", "--labels", "x.csv"), "exactly one"),
])
def test_usage_errors_exit_2(args, expected):
    result = run("gate", *args)
    assert result.exit_code == 2 and expected in result.output


def test_input_errors_exit_2_cleanly(tmp_path: Path):
    bad = tmp_path / "labels.csv"
    bad.write_text("role,gender,count\nnurse,female,lots\n", encoding="utf-8")
    result = run("gate", "--labels", str(bad), "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["type"] == "LabelsFileError" and "row 1 (line 2)" in error["error"]
    result = run("gate", str(tmp_path / "nobatch"))
    assert result.exit_code == 2 and "not a castgate batch folder" in result.output


def test_bad_quota_is_exit_2_with_the_message(tmp_path: Path, seed_study_csv: Path):
    quota = tmp_path / "q.toml"
    quota.write_text("[gender]\ntolerance = 1.5\ntargets = { female = 0.5, male = 0.5 }\n", encoding="utf-8")
    result = run("gate", "--labels", str(seed_study_csv), "--quota", str(quota))
    assert result.exit_code == 2
    assert f"{quota}: [gender].tolerance is 1.5; use 0–1." in result.output


def test_group_by_with_a_batch_is_a_usage_error(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(2, 2)})
    assert run("gate", str(batch), "--group-by", "team").exit_code == 2


def test_help():
    result = run("gate", "--help")
    assert result.exit_code == 0 and "INSUFFICIENT" in result.output and "--labels" in result.output


def cast_table(tmp_path: Path, female: int, male: int) -> str:
    rows = ["role,gender,skin_group,count", f"crowd,female,lighter,{female // 2}",
            f"crowd,female,darker,{female - female // 2}", f"crowd,male,lighter,{male - male // 2}",
            f"crowd,male,darker,{male // 2}"]
    path = tmp_path / f"cast_{female}_{male}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_label_tables_under_the_cast_question(tmp_path: Path):
    balanced = run("gate", "--labels", cast_table(tmp_path, 20, 20), "--question", "cast")
    assert balanced.exit_code == 0, balanced.output
    assert "Question: cast" in balanced.output and "female 20 in 16–24 of 40" in balanced.output
    skewed = run("gate", "--labels", cast_table(tmp_path, 14, 26), "--question", "cast", "--json")
    assert skewed.exit_code == 1 and json.loads(skewed.stdout)["question"] == "cast"
    assert run("gate", "--labels", cast_table(tmp_path, 20, 20)).exit_code == 3   # generator: INSUFFICIENT
    refused = run("gate", "--labels", cast_table(tmp_path, 20, 20), "--error-table", "x.json")
    assert refused.exit_code == 2 and "--error-table" in refused.output


def test_a_bad_error_table_is_a_clean_input_error(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": mixed(20, 20)})
    (tmp_path / "t.json").write_text('{"format": "something else"}', encoding="utf-8")
    result = run("gate", str(batch), "--error-table", str(tmp_path / "t.json"), "--no-record")
    assert result.exit_code == 2 and "castgate-labeller-error/1" in result.output
    assert "Traceback" not in result.output
