"""``castgate audit``: JSON summary, idempotent reruns, remembered settings, single images, clean errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from batch_factory import astronaut, make_image_batch, plate_ids, png_bytes, resized
from castgate.batch.manifest import manifest_path, read_manifest
from castgate_cli.main import cli


@pytest.fixture()
def batch(tmp_path):
    images = {"face": resized(astronaut(), 256), "blank": np.full((64, 64, 3), 90, np.uint8)}
    return make_image_batch(tmp_path / "b", images), plate_ids(images)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_audit_batch_json_then_nothing_to_do(batch):
    folder, ids = batch
    result = run("audit", str(folder), "--workers", "1", "--gender-threshold", "0.7", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["audited"] == 2 and out["skipped"] == 0 and out["errors"] == {}
    assert out["undetermined"]["gender"] == 1          # the blank plate: no face
    progress = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert progress and progress[-1]["done"] == 2 and progress[-1]["stage"] == "audit"
    assert read_manifest(folder).plate(ids["face"]).labels["gender"].value == "female"
    again = run("audit", str(folder), "--workers", "1", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["audited"] == 0


def test_options_are_remembered_for_the_next_run(batch):
    folder, ids = batch
    result = run("audit", str(folder), "--workers", "1", "--gender-threshold", "0.999")
    assert result.exit_code == 0, result.output
    assert "audited 2 plate(s)" in result.stdout
    assert read_manifest(folder).plate(ids["face"]).labels["gender"].value == "undetermined"
    assert read_manifest(folder).audit_settings["gender_threshold"] == 0.999
    rerun = run("audit", str(folder), "--workers", "1", "--json")
    assert json.loads(rerun.stdout)["audited"] == 0
    forced = run("audit", str(folder), "--workers", "1", "--force", "--gender-threshold", "0.7", "--json")
    assert json.loads(forced.stdout)["audited"] == 2
    assert read_manifest(folder).plate(ids["face"]).labels["gender"].value == "female"


def test_not_a_batch_is_a_clean_input_error(tmp_path):
    result = run("audit", str(tmp_path), "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["type"] == "ManifestError" and "not a castgate batch folder" in error["error"]


def test_bad_stored_settings_are_a_clean_input_error(batch):
    folder, _ = batch
    data = json.loads(manifest_path(folder).read_text())
    data["audit_settings"] = {"gender_treshold": 0.5}
    manifest_path(folder).write_text(json.dumps(data))
    result = run("audit", str(folder), "--json")
    assert result.exit_code == 2
    assert "unknown setting(s) gender_treshold" in json.loads(result.stdout)["error"]


def test_single_image_is_audited_and_nothing_written(tmp_path):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(resized(astronaut(), 256)))
    result = run("audit", str(image), "--gender-threshold", "0.7", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["labels"]["gender"]["value"] == "female" and out["error"] is None
    assert out["labels"]["fitzpatrick"]["details"]["ita"] > 28
    text = run("audit", str(image), "--gender-threshold", "0.7")
    assert "gender       female" in text.stdout and "ITA" in text.stdout
    default = json.loads(run("audit", str(image), "--json").stdout)   # castgate abstains on gender by default
    assert default["labels"]["gender"]["value"] == "undetermined"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    out = json.loads(run("audit", str(broken), "--json").stdout)
    assert "empty" in out["error"] and out["labels"]["monk"]["value"] == "undetermined"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png", "face.png"]


def test_help():
    result = run("audit", "--help")
    assert result.exit_code == 0 and "--force" in result.output and "--workers" in result.output


def test_validate_subset_prints_bands_and_writes_the_table(tmp_path):
    table = tmp_path / "error.json"
    result = run("audit", "validate", "--photo", "astronaut", "--method", "linear", "--framing", "plate",
                 "--tone", "2", "--tone", "9", "--write-table", str(table), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["cases"] == 2 and set(out["bands"]) == {"1-3", "4-5", "6-7", "8-10"}
    written = json.loads(table.read_text())
    assert written["format"] == "castgate-labeller-error/1"
    assert written["made_by"] == ("castgate audit validate --photo astronaut --method linear --framing plate "
                                  f"--tone 2 --tone 9 --write-table {table}")
    text = run("audit", "validate", "--photo", "astronaut", "--method", "linear", "--framing", "plate",
               "--tone", "9")
    assert text.exit_code == 0 and "8-10" in text.stdout and "faces read" in text.stdout


def test_validate_needs_images_and_labels_together(tmp_path):
    result = run("audit", "validate", "--images", str(tmp_path), "--json")
    assert result.exit_code == 2 and "--images and --labels go together" in json.loads(result.stdout)["error"]


def test_a_bad_gender_calibration_file_is_a_clean_input_error(batch, tmp_path):
    folder, _ = batch
    bad = tmp_path / "calibration.json"
    bad.write_text("{}")
    result = run("audit", str(folder), "--workers", "1", "--gender-calibration", str(bad), "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)
    assert error["type"] == "AuditSettingsError" and "castgate-gender-calibration/1" in error["error"]
