"""Every input error exits 2 with file, field and fix; a bug exits 70 with a log path (issue 14, findings
13-19, 30): the farm never reads a crash as "blocked" or "input error"."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from batch_factory import labelled, make_batch
from click.testing import CliRunner

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
    from castgate.checkpoints import read_config

    path = tmp_path / "config.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(CastgateError, match="config.json"):
        read_config(tmp_path)
