"""``castgate review``: the syntax the Nuke panel calls, CSV import, and clean exit-2 errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from batch_factory import labelled, make_batch
from castgate.batch.manifest import manifest_path, read_manifest
from castgate_cli.main import cli


@pytest.fixture()
def batch(tmp_path):
    folder = make_batch(tmp_path / "b", {"nurse": labelled(2, gender="female", skin_group="lighter")
                                         + labelled(1, gender="male", skin_group="darker")})
    return folder, [p.id for p in read_manifest(folder).plates]


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_panel_syntax_sets_labels(batch):
    folder, ids = batch
    result = run("review", str(folder), "--plate", ids[2], "--set", "gender=female", "--set", "skin_group=darker",
                 "--reviewer", "ana", "--note", "checked on the contact sheet", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["plates"] == [ids[2]] and out["labels_set"] == 2
    assert out["agreement"]["gender"] == {"n": 1, "observed": 0.0, "kappa": 0.0,
                                          "labels": ["female", "male", "undetermined"],
                                          "confusion": [[0, 1, 0], [0, 0, 0], [0, 0, 0]]}
    human = read_manifest(folder).plate(ids[2]).human_labels
    assert human["gender"].value == "female" and human["gender"].note == "checked on the contact sheet"
    text = run("review", str(folder), "--plate", ids[0], "--set", "fitzpatrick=II", "--reviewer", "ben")
    assert text.exit_code == 0 and "derived from Fitzpatrick" in text.stdout and "agreement gender" in text.stdout


def test_csv_import(batch, tmp_path):
    folder, ids = batch
    table = tmp_path / "labels.csv"
    table.write_text(f"plate_id,gender\n{ids[0]},female\n{ids[1]},male\n", encoding="utf-8")
    result = run("review", str(folder), "--import", str(table), "--reviewer", "ana", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["plates_changed"] == 2 and out["agreement"]["gender"]["observed"] == 0.5


@pytest.mark.parametrize("args, error_type, text", [
    (["--set", "gender=femme"], "ReviewError", "not a gender label"),
    (["--set", "height=tall"], "ReviewError", "unknown attribute"),
])
def test_bad_values_exit_2_with_json_and_write_nothing(batch, args, error_type, text):
    folder, ids = batch
    before = manifest_path(folder).read_bytes()
    result = run("review", str(folder), "--plate", ids[0], *args, "--reviewer", "ana", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["type"] == error_type and text in error["error"]
    assert manifest_path(folder).read_bytes() == before


def test_unknown_plate_and_bad_csv_exit_2(batch, tmp_path):
    folder, ids = batch
    result = run("review", str(folder), "--plate", "ghost", "--set", "gender=male", "--reviewer", "ana", "--json")
    assert result.exit_code == 2 and "no plate 'ghost'" in json.loads(result.stdout)["error"]
    table = tmp_path / "bad.csv"
    table.write_text(f"plate_id,gender\n{ids[0]},?\nghost,male\n", encoding="utf-8")
    result = run("review", str(folder), "--import", str(table), "--reviewer", "ana", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["type"] == "LabelsFileError" and "row 2, column gender" in error["error"] and "row 3" in error["error"]


@pytest.mark.parametrize("args", [
    [],                                                     # neither --plate nor --import
    ["--plate", "x", "--import", "labels.csv"],             # both
    ["--plate", "x"],                                       # nothing to set
])
def test_usage_errors(batch, args):
    folder, _ = batch
    result = run("review", str(folder), *args, "--reviewer", "ana")
    assert result.exit_code == 2


def test_reviewer_is_required(batch):
    folder, ids = batch
    assert run("review", str(folder), "--plate", ids[0], "--set", "gender=male").exit_code == 2
