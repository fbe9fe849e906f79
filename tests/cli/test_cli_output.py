"""How every command talks (castgate issue 15): JSON lines only on stderr under --json, no third-party
banners, -q, -v after the subcommand, and - for standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_factory import labelled, make_batch
from castgate_cli.main import cli

CASTGATE = str(Path(sys.executable).with_name("castgate"))
REQUEST = """
[batch]
name = "quiet_ward"
seed = 5

[models]
demo = true

[sampling]
batch_size = 2

[[roles]]
id = "nurse"
prompt = "a nurse at a hospital"
count = 2
"""


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_generate_json_writes_only_json_lines_to_stderr(tmp_path, tmp_path_factory):
    """A real process, as a farm wrapper or the Nuke panel runs it: every stderr line is JSON, with the
    progress and the demo-model warnings as JSON; no transformers banner."""
    request = tmp_path / "request.toml"
    request.write_text(REQUEST, encoding="utf-8")
    jax_cache = tmp_path_factory.getbasetemp() / "castgate-jax-cache"  # shared with the other demo runs
    jax_cache.mkdir(exist_ok=True)
    env = {**os.environ, "CASTGATE_MODELS": str(tmp_path / "models"), "JAX_COMPILATION_CACHE_DIR": str(jax_cache)}
    env.pop("TRANSFORMERS_NO_ADVISORY_WARNINGS", None)
    done = subprocess.run([CASTGATE, "generate", str(request), "-o", str(tmp_path / "b"), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # fails on any non-JSON line
    events = {line["event"] for line in lines}
    assert events == {"progress", "log"}
    assert any("RANDOM weights" in line.get("message", "") for line in lines)  # the demo models' warning
    assert "PyTorch" not in done.stderr
    assert json.loads(done.stdout)["plates"] == 2


def test_quiet_and_verbose_after_the_subcommand(tmp_path):
    batch = make_batch(tmp_path / "b", {"nurse": labelled(30, gender="female", skin_group="darker")
                                        + labelled(30, gender="male", skin_group="lighter")})
    import logging

    loud = run("gate", str(batch), "-vv")
    assert logging.getLogger().level == logging.DEBUG  # -vv after the subcommand took effect
    assert "hash: 60/60" in loud.stderr  # stderr is not a terminal here: timestamped progress lines
    quiet = run("gate", str(batch), "-q")
    assert logging.getLogger().level == logging.ERROR
    assert loud.exit_code == quiet.exit_code
    assert quiet.stderr == ""  # no progress, no warnings
    assert run("-q", "gate", str(batch)).stderr == ""
    help_text = run("gate", "--help").output
    assert "-q, --quiet" in help_text and "-v, --verbose" in help_text


def test_dash_reads_a_label_table_from_standard_input(fixtures_dir):
    table = (fixtures_dir / "seed-study" / "labels.csv").read_text(encoding="utf-8")
    from_file = run("gate", "--labels", str(fixtures_dir / "seed-study" / "labels.csv"), "--json")
    from_stdin = run("gate", "--labels", "-", "--json", input=table)
    assert from_stdin.exit_code == from_file.exit_code
    strip = lambda result: {k: v for k, v in json.loads(result.stdout).items() if k not in ("source", "time")}  # noqa: E731
    assert strip(from_stdin) == strip(from_file)


def test_dash_reads_a_request_from_standard_input(tmp_path, monkeypatch):
    monkeypatch.setenv("CASTGATE_MODELS", str(tmp_path / "models"))
    bad = run("generate", "-", "-o", str(tmp_path / "b"), input="[batch]\nname = 'x y'\n")
    assert bad.exit_code == 2 and "<stdin>" in bad.output and not (tmp_path / "b").exists()
    refused = run("farm", "submit", "-", "-o", str(tmp_path / "b"), "--dry-run", input=REQUEST)
    assert refused.exit_code == 2 and "not -" in refused.output
