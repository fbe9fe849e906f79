"""The castgate command line as the panel speaks it: exact argument syntaxes and output parsing."""

from __future__ import annotations

import json

from castgate_nuke import command
from castgate_nuke.command import (Progress, clean_environment, last_json_object, log_text, parse_outcome,
                                   parse_progress_line)


def test_argument_lists_follow_the_documented_syntaxes() -> None:
    assert command.run_args("r.toml", "/b") == ["run", "r.toml", "-o", "/b", "--json"]
    assert command.generate_args("r.toml", "/b") == ["generate", "r.toml", "-o", "/b", "--json"]
    assert command.gate_args("/b") == ["gate", "/b", "--json"]
    assert command.report_args("/b") == ["report", "/b", "-o", "/b/report", "--json"]
    assert command.review_args("/b", "p_0001", {"skin_group": "darker", "gender": "female"}, "ana") == [
        "review", "/b", "--plate", "p_0001", "--set", "gender=female", "--set", "skin_group=darker",
        "--reviewer", "ana", "--json"]
    assert command.farm_submit_args("r.toml", "/b") == ["farm", "submit", "r.toml", "-o", "/b", "--json"]
    assert command.override_args("/b", "client asked", "ana") == [
        "override", "/b", "--reason", "client asked", "--user", "ana", "--json"]
    assert command.override_args("/b", "why") == ["override", "/b", "--reason", "why", "--json"]


def test_progress_lines_are_recognised_and_described() -> None:
    line = json.dumps({"event": "progress", "stage": "generate", "done": 12, "total": 40, "eta_s": 65.4})
    progress = parse_progress_line(line)
    assert progress == Progress("generate", 12, 40, 65.4)
    assert progress.fraction == 0.3
    assert progress.describe() == "generate 12/40, about 1 min 05 s left"
    assert parse_progress_line('{"event": "progress", "stage": "audit", "done": 0, "total": 5, "eta_s": null}') \
        .describe() == "audit 0/5"
    for other in ("castgate: INFO: loading models", '{"event": "warning"}', "{not json", ""):
        assert parse_progress_line(other) is None


def test_last_json_object_finds_the_result_printed_last() -> None:
    pretty = json.dumps({"verdict": "FAIL", "checks": [{"n": 1}]}, indent=2)
    assert last_json_object(pretty) == {"verdict": "FAIL", "checks": [{"n": 1}]}
    assert last_json_object("some chatter\n" + pretty + "\n") == {"verdict": "FAIL", "checks": [{"n": 1}]}
    assert last_json_object("no json here") is None
    assert last_json_object("[1, 2]") is None


def test_outcomes_for_every_exit_code() -> None:
    stderr = '{"event": "progress", "stage": "gate", "done": 1, "total": 1, "eta_s": 0}\ncastgate: WARNING: x'
    for code in (0, 1, 3):
        outcome = parse_outcome(code, '{"verdict": "FAIL"}', stderr, ["gate", "/b"])
        assert outcome.ok and outcome.result == {"verdict": "FAIL"} and outcome.exit_code == code
        assert outcome.log == "castgate: WARNING: x"  # progress lines are not log
    error = parse_outcome(2, '{"error": "b: no manifest.json here.", "type": "ManifestError"}', "", ["gate"])
    assert not error.ok and error.error == "b: no manifest.json here." and error.error_type == "ManifestError"
    crash = parse_outcome(1, "", "Traceback (most recent call last):\n  boom", ["run", "r.toml"])
    assert not crash.ok and "printed no JSON result" in crash.error and "boom" in crash.error
    killed = parse_outcome(137, "", "", ["run", "r.toml"])
    assert killed.error == "castgate run r.toml failed with exit code 137."


def test_nukes_python_variables_are_not_passed_to_castgate() -> None:
    nuke_env = {"PYTHONPATH": "/usr/local/Nuke14.0v5/plugins", "PYTHONHOME": "/usr/local/Nuke14.0v5",
                "LD_LIBRARY_PATH": "/usr/local/Nuke14.0v5", "QT_PLUGIN_PATH": "/x", "OCIO": "/show/config.ocio",
                "PATH": "/usr/bin", "HOME": "/home/ana"}
    assert clean_environment(nuke_env) == {"OCIO": "/show/config.ocio", "PATH": "/usr/bin", "HOME": "/home/ana"}


def test_json_log_records_read_as_text() -> None:
    """Under --json castgate's stderr is JSON lines only; the panel's log shows log records as text."""
    line = '{"event": "log", "level": "warning", "logger": "castgate", "message": "wrote a demo checkpoint"}'
    assert log_text(line) == "castgate: WARNING: wrote a demo checkpoint"
    assert log_text("plain text") == "plain text" and log_text("{not json") == "{not json"
    assert parse_progress_line(line) is None
