"""``castgate override``: an import-override event with the verdict, or a clean exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from castgate.batch.manifest import Manifest, Plate, read_manifest, utc_now, write_manifest
from castgate_cli.main import cli

FAIL_VERDICT = {"verdict": "FAIL", "quota": "parity", "checks": [{"attribute": "gender", "verdict": "FAIL"}]}


def make_batch(folder: Path, verdict: dict | None) -> Path:
    manifest = Manifest(
        batch="office_a", created=utc_now(),
        request={"batch": {"name": "office_a"}, "roles": [{"id": "clerk", "prompt": "an office clerk", "count": 1}],
                 "sampling": {}, "models": {}},
        models={}, sampling={}, colour={"ocio_config": "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4",
                                        "exr_colourspace": "ACEScg", "png_colourspace": "sRGB - Texture"},
        plates=(Plate(id="office_a_clerk_0000", role="clerk", index=0, prompt="an office clerk", seed=7),),
        verdict=verdict,
    )
    folder.mkdir(parents=True)
    write_manifest(folder, manifest)
    return folder


def test_override_records_event_with_verdict_and_user(tmp_path: Path) -> None:
    batch = make_batch(tmp_path / "office_a", FAIL_VERDICT)
    result = CliRunner().invoke(cli, ["override", str(batch), "--reason", "  client approved  ",
                                      "--user", "ana", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["verdict"] == "FAIL"
    assert out["event"]["kind"] == "import-override"
    event = read_manifest(batch).events[-1]
    assert (event.kind, event.user) == ("import-override", "ana")
    assert event.details["reason"] == "client approved"
    assert event.details["verdict"] == "FAIL"
    assert event.details["gate"] == FAIL_VERDICT
    assert event.details["recorded_by"]  # the login that ran it, kept beside --user


def test_override_user_defaults_to_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("castgate_cli.commands.override.current_user", lambda: "login_name")
    batch = make_batch(tmp_path / "b", None)
    result = CliRunner().invoke(cli, ["override", str(batch), "--reason", "temp plates for layout"])
    assert result.exit_code == 0, result.output
    assert "never gated" in result.output
    event = read_manifest(batch).events[-1]
    assert event.user == "login_name"
    assert event.details["verdict"] is None


@pytest.mark.parametrize("reason", ["", "   "])
def test_empty_reason_is_a_clean_input_error(tmp_path: Path, reason: str) -> None:
    batch = make_batch(tmp_path / "b", FAIL_VERDICT)
    before = (batch / "manifest.json").read_text()
    result = CliRunner().invoke(cli, ["override", str(batch), "--reason", reason, "--json"])
    assert result.exit_code == 2
    error = json.loads(result.output)
    assert error["type"] == "OverrideReasonError"
    assert "--reason" in error["error"] and "Traceback" not in result.output
    assert (batch / "manifest.json").read_text() == before


def test_missing_batch_is_exit_2_with_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["override", str(tmp_path / "nope"), "--reason", "x"])
    assert result.exit_code == 2
    assert "manifest.json" in result.output


def test_help() -> None:
    result = CliRunner().invoke(cli, ["override", "--help"])
    assert result.exit_code == 0
    assert "--reason" in result.output
