"""`castgate farm submit`: dry-run specs, options over farm.toml, clean errors, no hang without Cuebot, and
a generate frame of the spec run the way a stock OpenCue render host (RQD) runs it.

Every spec made here is validated against the DTD it declares (``validated_specs``, tests/opencue_spec.py).
Tests may run as root, where ``artist`` has no passwd entry: the farm config names its uid (:data:`UID`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from opencue_spec import assert_valid

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


UID = 4242
# What a stock RQD gives a Linux frame before adding the job's <env> (rqd/rqmachine.py, rqcore.py).
RQD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
pytestmark = pytest.mark.usefixtures("validated_specs")


@pytest.fixture(autouse=True)
def submitter(monkeypatch, tmp_path):
    for name in ("SHOW", "SHOT", "OL_OS", "OL_TAG_OVERRIDE", "RENDER_TO", "FACILITY", "CUEBOT_HOSTS",
                 "CASTGATE_FARM_CONFIG", "OCIO", "CASTGATE_MODELS", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "artist")
    monkeypatch.setenv("LOGNAME", "artist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    farm_toml = tmp_path / "submitter-farm.toml"
    farm_toml.write_text(f"[farm]\nuid = {UID}\n", encoding="utf-8")
    monkeypatch.setenv("CASTGATE_FARM_CONFIG", str(farm_toml))


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
    settings = (FarmSettings(shards=2, models="/studio/models", uid=UID)
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
    farm_toml.write_text(f'[farm]\nuid = {UID}\nshards = 2\nshow = "extras"\npriority = 40\n'
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


def rqd_environment(spec_env: dict[str, str], frame: int, layer: str, job: str) -> dict[str, str]:
    """A frame's environment as a stock RQD builds it: nothing from the host, then the job's <env>
    (a PATH there is appended to RQD's), then what Cuebot books (CUE_THREADS, CUE_GPUS, ...)."""
    env = {"PATH": RQD_PATH, "TERM": "unknown", "TZ": "PST8PDT", "USER": "artist", "LOGNAME": "artist", "mcp": "1",
           "show": "testing", "shot": "default", "jobid": job, "frame": f"{frame:04d}-{layer}",
           "zframe": f"{frame:04d}-{layer}", "maxframetime": "0", "minspace": "200", "CUE3": "True",
           "SP_NOMYCSHRC": "1"}
    for key, value in spec_env.items():
        env[key] = env[key] + os.pathsep + value if key == "PATH" else value
    env.update({"CUE_THREADS": "1", "CUE_MEMORY": str(12 * 1024 * 1024), "CUE_GPUS": "0", "CUE_GPU_MEMORY": "0",
                "CUE_IFRAME": str(frame), "CUE_LAYER": layer, "CUE_JOB": job, "CUE_FRAME": f"{frame:04d}-{layer}",
                "CUE_SHOW": "testing", "CUE_SHOT": "default", "CUE_USER": "artist", "CUE_CHUNK": "1"})
    return env


def test_a_generate_frame_runs_under_rqds_environment(request_file, tmp_path, monkeypatch, tmp_path_factory):
    """The dry-run spec validates against its DTD, and one generate frame of it, run as RQD runs it
    (`env -i` with RQD's PATH plus the spec's <env>, the command line through /bin/sh in a scratch
    folder), exits 0 and writes its shard. Its log has timestamped progress lines (stderr is a pipe)."""
    monkeypatch.setenv("CASTGATE_MODELS", str(tmp_path / "models"))  # the submitter's models (demo ones)
    # a studio's farm.toml: uid, and a JAX compilation cache shared by frames (and by this test session)
    jax_cache = tmp_path_factory.getbasetemp() / "castgate-jax-cache"
    jax_cache.mkdir(exist_ok=True)
    farm_toml = Path(os.environ["CASTGATE_FARM_CONFIG"])
    farm_toml.write_text(farm_toml.read_text() + f'[farm.env]\nJAX_COMPILATION_CACHE_DIR = "{jax_cache}"\n')
    batch = tmp_path / "batch"
    result = run("farm", "submit", str(request_file), "-o", str(batch), "--dry-run", "--shards", "3")
    assert result.exit_code == 0, result.output
    assert_valid(result.output)
    root = ElementTree.fromstring(result.output)
    job = root.find("job")
    spec_env = {key.get("name"): key.text for key in job.find("env")}
    assert spec_env["CASTGATE_MODELS"] == str(tmp_path / "models")
    assert spec_env["JAX_COMPILATION_CACHE_DIR"] == str(jax_cache)
    command = layers_of(result.output)["generate"].findtext("cmd").replace("#IFRAME#", "2")  # what Cuebot does
    assert os.path.isabs(shlex.split(command)[0])

    scratch = tmp_path / "rqd-tmp"
    scratch.mkdir()
    command_file = scratch / "rqd-cmd-frame-2"
    command_file.write_text(command, encoding="utf-8")
    command_file.chmod(0o755)
    env = rqd_environment(spec_env, 2, "generate", job.get("name"))
    frame = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/sh", str(command_file)],
                           cwd=scratch, capture_output=True, text=True, timeout=600)
    assert frame.returncode == 0, frame.stdout + frame.stderr
    assert (batch / "parts" / "shard-0002-of-0003.json").is_file(), sorted(p.name for p in batch.rglob("*"))
    assert len(list(batch.rglob("*.exr"))) == 1  # 3 plates over 3 shards: one each
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ generate: 1/1 \(100%\), .* elapsed, done$", frame.stderr, re.M), \
        frame.stderr
    assert "PyTorch" not in frame.stderr and "Traceback" not in frame.stderr
