"""`castgate run`: the whole flow on the demo request, as the README's main command runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from castgate.batch.manifest import read_manifest
from castgate_cli.main import cli

REPO = Path(__file__).resolve().parents[2]


def test_demo_request_runs_every_stage(tmp_path):
    request = tmp_path / "request.toml"
    shutil.copy(REPO / "examples" / "demo" / "request.toml", request)
    result = CliRunner().invoke(cli, ["run", str(request), "-o", str(tmp_path / "batch"),
                                      "--model", str(tmp_path / "models"), "--json"])
    # random-weight demo plates show no faces: every label is undetermined, so the gate fails closed
    # (no readable label at all), and the cast question lists every plate for review
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["verdict"] == "UNAUDITABLE" and out["plates"] == 8 and out["audited"] == 8
    assert out["gate"]["question"] == "cast" and len(out["gate"]["review"]) == 8
    batch = tmp_path / "batch"
    manifest = read_manifest(batch)
    assert all(p.labels["gender"].is_undetermined and p.labels["gender"].reason for p in manifest.plates)
    assert manifest.verdict["verdict"] == "UNAUDITABLE" and manifest.verdict["question"] == "cast"
    assert [e.kind for e in manifest.events][:3] == ["generate", "audit", "gate"]
    html = Path(out["report"]["html"]).read_text(encoding="utf-8")
    assert "UNAUDITABLE" in html and "demo_hospital" in html
    stages = {json.loads(line).get("stage") for line in result.stderr.splitlines() if line.startswith("{")}
    assert {"generate", "audit", "gate"} <= stages

    # a supervisor labels each role 2 female / 2 male and 2 lighter / 2 darker: the cast passes exactly
    runner = CliRunner()
    for plate in manifest.kept_plates:
        index = [p.id for p in manifest.kept_plates if p.role == plate.role].index(plate.id)
        labels = ["gender=" + ("female" if index < 2 else "male"),
                  "skin_group=" + ("lighter" if index % 2 == 0 else "darker")]
        args = ["review", str(batch), "--plate", plate.id, "--reviewer", "sup"]
        reviewed = runner.invoke(cli, args + [x for label in labels for x in ("--set", label)])
        assert reviewed.exit_code == 0, reviewed.output
    gated = runner.invoke(cli, ["gate", str(batch)])
    assert gated.exit_code == 0, gated.output
    assert "Question: cast" in gated.output and "2 of 4" in gated.output

    # one plate's gender set back to undetermined: undecided, and --json names that plate
    first = manifest.kept_plates[0].id
    assert runner.invoke(cli, ["review", str(batch), "--plate", first, "--set", "gender=undetermined",
                               "--reviewer", "sup"]).exit_code == 0
    gated = runner.invoke(cli, ["gate", str(batch), "--json"])
    assert gated.exit_code == 3, gated.output
    data = json.loads(gated.stdout)
    assert data["verdict"] == "UNDECIDED" and data["review"] == [first]
