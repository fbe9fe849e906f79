"""`castgate run`: the whole flow on the demo request, as the README's main command runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from castgate.manifest import read_manifest
from castgate_cli.main import cli

REPO = Path(__file__).resolve().parents[2]


def test_demo_request_runs_every_stage(tmp_path):
    request = tmp_path / "request.toml"
    shutil.copy(REPO / "examples" / "demo" / "request.toml", request)
    result = CliRunner().invoke(cli, ["run", str(request), "-o", str(tmp_path / "batch"),
                                      "--model", str(tmp_path / "models"), "--json"])
    # random-weight demo plates show no faces: every label is undetermined, so the gate fails closed
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["verdict"] == "UNAUDITABLE" and out["plates"] == 8 and out["audited"] == 8
    manifest = read_manifest(tmp_path / "batch")
    assert all(p.labels["gender"].is_undetermined and p.labels["gender"].reason for p in manifest.plates)
    assert manifest.verdict["verdict"] == "UNAUDITABLE"
    assert [e.kind for e in manifest.events][:3] == ["generate", "audit", "gate"]
    html = Path(out["report"]["html"]).read_text(encoding="utf-8")
    assert "UNAUDITABLE" in html and "demo_hospital" in html
    stages = {json.loads(line)["stage"] for line in result.stderr.splitlines() if line.startswith("{")}
    assert {"generate", "audit", "gate"} <= stages
