"""`castgate farm submit`: dry-run specs, options over farm.toml, clean errors, no hang without Cuebot."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from castgate.farm.opencue import job_spec
from castgate.farm.settings import FarmSettings
from castgate.request import load_request
from castgate_cli.main import cli

REQUEST = """
[batch]
name = "ward_extras"
seed = 3

[models]
demo = true

[[roles]]
id = "nurse"
prompt = "a nurse at a hospital"
count = 3
"""


@pytest.fixture(autouse=True)
def submitter(monkeypatch, tmp_path):
    for name in ("SHOW", "SHOT", "OL_OS", "OL_TAG_OVERRIDE", "RENDER_TO", "FACILITY", "CUEBOT_HOSTS",
                 "CASTGATE_FARM_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "artist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def request_file(tmp_path) -> Path:
    path = tmp_path / "request.toml"
    path.write_text(REQUEST, encoding="utf-8")
    return path


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


def layers_of(xml: str) -> dict[str, ElementTree.Element]:
    return {layer.get("name"): layer for layer in ElementTree.fromstring(xml).iter("layer")}


def test_help():
    for args in (["farm", "--help"], ["farm", "submit", "--help"]):
        result = run(*args)
        assert result.exit_code == 0
    assert "--dry-run" in result.output and "--publish-cmd" in result.output


def test_dry_run_prints_the_job_spec(request_file, tmp_path):
    batch = tmp_path / "batch"
    result = run("farm", "submit", str(request_file), "-o", str(batch), "--dry-run", "--shards", "2",
                 "--gpu-tags", "gpu,cuda12", "--memory", "16g", "--models", "/studio/models", "--cpu-tags", "general")
    assert result.exit_code == 0, result.output
    settings = (FarmSettings(shards=2, models="/studio/models")
                .with_layer("generate", tags=("gpu", "cuda12"), memory="16g"))
    for name in ("merge", "audit", "gate", "publish"):
        settings = settings.with_layer(name, tags=("general",))
    assert result.output == job_spec(load_request(request_file), batch, settings)
    layers = layers_of(result.output)
    assert layers["generate"].findtext("tags") == "gpu | cuda12" and layers["gate"].findtext("tags") == "general"
    assert not batch.exists()  # a dry run writes nothing


def test_dry_run_json_and_spec_file(request_file, tmp_path):
    spec_file = tmp_path / "out" / "job.xml"
    result = run("farm", "submit", str(request_file), "-o", str(tmp_path / "b"), "--dry-run", "--json",
                 "--spec-out", str(spec_file), "--publish-cmd", "publish {batch}")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dry_run"] is True and data["job"] == "ward_extras" and data["shards"] == 3
    assert [layer["name"] for layer in data["layers"]] == ["generate", "merge", "audit", "gate", "publish"]
    assert data["layers"][0]["command"].endswith("--shard '#IFRAME#/3'")
    assert spec_file.read_text(encoding="utf-8") == data["spec"]
    result = run("farm", "submit", str(request_file), "-o", str(tmp_path / "b"), "--dry-run",
                 "--spec-out", str(spec_file))
    assert result.exit_code == 0 and "wrote the job spec" in result.output


def test_options_win_over_farm_toml(request_file, tmp_path):
    farm_toml = tmp_path / "farm.toml"
    farm_toml.write_text('[farm]\nshards = 2\nshow = "extras"\npriority = 40\n'
                         '[farm.layers.generate]\ntags = ["gpu"]\nmemory = "8g"\n', encoding="utf-8")
    result = run("farm", "submit", str(request_file), "-o", str(tmp_path / "b"), "--dry-run",
                 "--priority", "90", "--memory", "32g", env={"CASTGATE_FARM_CONFIG": str(farm_toml)})
    assert result.exit_code == 0, result.output
    root = ElementTree.fromstring(result.output)
    generate = layers_of(result.output)["generate"]
    assert (root.findtext("show"), root.find("job").findtext("priority")) == ("extras", "90")
    assert (generate.findtext("range"), generate.findtext("tags"), generate.findtext("memory")) == ("1-2", "gpu", "32g")


def test_bad_values_exit_2_naming_each(request_file, tmp_path):
    result = run("farm", "submit", str(request_file), "-o", str(tmp_path / "b"), "--dry-run",
                 "--gpu-tags", "g", "--gpu-memory", "lots")
    assert result.exit_code == 2
    assert "'g' is not a tag" in result.output and "'lots' is not a size" in result.output
    assert "Traceback" not in result.output
    farm_toml = tmp_path / "farm.toml"
    farm_toml.write_text("[farm]\nshardz = 4\n", encoding="utf-8")
    result = run("farm", "submit", str(request_file), "-o", str(tmp_path / "b"), "--dry-run", "--json",
                 "--farm-config", str(farm_toml))
    assert result.exit_code == 2
    error = json.loads(result.output)
    assert error["type"] == "FarmError" and "unknown key [farm].shardz" in error["error"]


def test_missing_request_exits_2(tmp_path):
    result = run("farm", "submit", str(tmp_path / "nope.toml"), "-o", str(tmp_path / "b"), "--dry-run")
    assert result.exit_code == 2 and "file not found" in result.output


def test_submit_without_cuebot_fails_fast_with_exit_2(request_file, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    result = subprocess.run([str(Path(sys.executable).with_name("castgate")), "farm", "submit", str(request_file),
                             "-o", str(tmp_path / "b"), "--cuebot", f"127.0.0.1:{port}", "--timeout", "2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "no Cuebot reachable" in result.stderr and "--dry-run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists()
