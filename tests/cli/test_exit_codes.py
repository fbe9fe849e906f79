"""Every input error exits 2 with file, field and fix; a bug exits 70 with a log path (issue 14, findings
13-19, 30): the farm never reads a crash as "blocked" or "input error"."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_factory import labelled, make_batch
from castgate_cli.main import cli
from castgate_cli.output import EXIT_INPUT_ERROR, EXIT_INTERNAL_ERROR


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return make_batch(tmp_path / "b", {"nurse": labelled(2, gender="female", skin_group="lighter")})


def test_a_bug_exits_70_with_a_log_and_no_traceback(batch: Path, tmp_path: Path, monkeypatch):
    import castgate.review

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(castgate.review, "review_plate", broken)
    monkeypatch.setenv("CASTGATE_LOG_DIR", str(tmp_path / "logs"))
    result = run("review", str(batch), "--plate", "b_nurse_0000", "--set", "gender=male", "--reviewer", "ana",
                 "--json")
    assert result.exit_code == EXIT_INTERNAL_ERROR
    error = json.loads(result.stdout)
    assert error["type"] == "InternalError" and "Traceback" not in result.output
    log = Path(error["log"])
    assert log.parent == tmp_path / "logs" and "RuntimeError: a bug" in log.read_text()


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "Free space"), (errno.EFBIG, "another folder"),
                                         (errno.EROFS, "read-only")])
def test_findings_18_19_disk_full_and_read_only_are_input_errors(batch: Path, monkeypatch, code, words):
    import castgate.review

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(batch / "journal.jsonl"))
    monkeypatch.setattr(castgate.review, "review_plate", fails)
    result = run("review", str(batch), "--plate", "b_nurse_0000", "--set", "gender=male", "--reviewer", "ana",
                 "--json")
    assert result.exit_code == EXIT_INPUT_ERROR
    error = json.loads(result.stdout)
    assert "journal.jsonl" in error["error"] and words in error["error"]


def test_finding_30_review_of_a_folder_that_is_not_a_batch_creates_nothing(tmp_path: Path):
    folder = tmp_path / "NOT_A_BATCH"
    folder.mkdir()
    result = run("review", str(folder), "--plate", "p", "--set", "gender=male", "--reviewer", "ana", "--json")
    assert result.exit_code == EXIT_INPUT_ERROR and "not a castgate batch" in json.loads(result.stdout)["error"]
    assert os.listdir(folder) == []


def test_finding_16_a_config_json_that_is_a_list_is_an_input_error(tmp_path: Path):
    from castgate.errors import CastgateError
    from castgate.weights.checkpoints import read_config

    path = tmp_path / "config.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(CastgateError, match="config.json"):
        read_config(tmp_path)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_finding_19_a_gate_on_read_only_or_full_storage_still_gives_its_verdict(batch: Path, monkeypatch, code):
    """The verdict is judged from the files; only its record fails. The gate prints it, says it was not
    recorded and why, and exits with the verdict's own code (a farm pre-check on published storage)."""
    import castgate.gate.sources

    judged = run("gate", str(batch), "--no-record", "--json")
    expected = json.loads(judged.stdout)

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(batch / "journal.jsonl"))
    monkeypatch.setattr(castgate.gate.sources, "update_manifest", fails)
    result = run("gate", str(batch), "--json")
    assert result.exit_code == judged.exit_code == expected["exit_code"]
    answer = json.loads(result.stdout)
    assert answer["verdict"] == expected["verdict"] and answer["recorded"] is False and expected["recorded"] is False
    assert os.strerror(code) in answer["unrecorded"] and "--no-record" in answer["unrecorded"]
    text = run("gate", str(batch))
    assert text.exit_code == expected["exit_code"] and "Not recorded: the verdict was not written" in text.output
    monkeypatch.undo()
    assert json.loads(run("gate", str(batch), "--json").stdout)["recorded"] is True
