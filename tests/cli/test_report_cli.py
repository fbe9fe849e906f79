"""``castgate report``: writes report.html and report.json, exits 0 whatever the verdict, 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from batch_factory import labelled, make_batch
from click.testing import CliRunner

from castgate_cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_batch_report(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": labelled(4, gender="female", skin_group="lighter")})
    result = run("report", str(batch), "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "UNDECIDED"  # the cast question; automatic labels with no error table
    assert Path(data["html"]).is_file() and Path(data["json"]).is_file()
    assert json.loads(Path(data["json"]).read_text())["kind"] == "batch"


def test_label_table_report(tmp_path: Path, seed_study_csv: Path):
    result = run("report", "--labels", str(seed_study_csv), "-o", str(tmp_path / "out"), "--quota", "parity")
    assert result.exit_code == 0
    assert "FAIL" in result.output and (tmp_path / "out" / "report.html").is_file()


def test_errors(tmp_path: Path):
    assert run("report", str(tmp_path / "none"), "-o", str(tmp_path / "out")).exit_code == 2
    assert run("report", "-o", str(tmp_path / "out")).exit_code == 2
    assert not (tmp_path / "out").exists()  # nothing half-written
    result = run("report", "--labels", "x.csv")
    assert result.exit_code == 2 and "-o" in result.output


def test_help():
    result = run("report", "--help")
    assert result.exit_code == 0 and "report.html" in result.output
