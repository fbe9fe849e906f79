"""`castgate generate`: plates, manifest, resume after a kill, and bad input that leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from castgate.batch.manifest import read_manifest, validate_manifest_data
from castgate.colour import ColourPipeline
from castgate.plates import read_exr, to_uint8
from castgate.weights.checkpoints import sha256_file
from castgate_cli.main import cli

REQUEST = """
[batch]
name = "ward"
seed = 11

[models]
demo = true

[sampling]
batch_size = 2

[[roles]]
id = "nurse"
prompt = "a nurse administering medication at a hospital"
count = {nurse}

[[roles]]
id = "porter"
prompt = "a hospital porter pushing a wheelchair"
count = 1
"""


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def request_file(tmp_path: Path, nurse: int = 2, text: str = REQUEST) -> Path:
    path = tmp_path / "request.toml"
    path.write_text(text.replace("{nurse}", str(nurse)), encoding="utf-8")
    return path


def run(*args: str) -> "CliRunner.Result":
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, models_root) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    result = run("generate", str(request_file(folder)), "-o", str(folder / "batch"), "--model", str(models_root))
    assert result.exit_code == 0, result.output
    return folder / "batch"


def test_plates_manifest_and_colour(batch):
    manifest = read_manifest(batch)
    validate_manifest_data(json.loads((batch / "manifest.json").read_text()))
    assert [p.id for p in manifest.plates] == ["ward_nurse_0000", "ward_nurse_0001", "ward_porter_0000"]
    assert manifest.models["dalle"]["files"]["flax_model.msgpack"]  # checkpoint hash recorded
    assert manifest.colour["ocio_config"].startswith("ocio://studio-config-v")
    pipeline = ColourPipeline.open(manifest.colour["ocio_config"])
    for plate in manifest.plates:
        for ref in plate.files.values():
            assert sha256_file(batch / ref.path) == ref.sha256
        rgba, meta = read_exr(batch / plate.files["exr"].path)
        assert meta["plate_id"] == plate.id and meta["seed"] == plate.seed and meta["prompt"] == plate.prompt
        assert meta["batch"] == "ward" and meta["role"] == plate.role
        assert meta["model_sha256"] == manifest.models["dalle"]["files"]["flax_model.msgpack"]
        png = np.asarray(Image.open(batch / plate.files["png"].path), np.int16)
        assert png.shape == (256, 256, 3) and png.std() > 2  # noise from random weights, not a blank
        back = to_uint8(pipeline.scene_linear_to_srgb(rgba[..., :3])).astype(np.int16)
        assert np.abs(back - png).max() <= 1  # within 1/255
    assert (batch / "contact" / "nurse.png").is_file() and (batch / "contact" / "porter.png").is_file()


def test_rerun_skips_finished_plates(batch, models_root):
    before = {p: p.stat().st_mtime_ns for p in (batch / "plates").iterdir()}
    result = run("generate", str(batch.parent / "request.toml"), "-o", str(batch), "--model", str(models_root), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["plates"] == 3
    progress = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert progress[-1] == {"event": "progress", "stage": "generate", "done": 3, "total": 3, "eta_s": 0.0}
    assert {p: p.stat().st_mtime_ns for p in (batch / "plates").iterdir()} == before
    assert read_manifest(batch).events[-1].details["generated"] == 0


def test_a_finished_batch_is_decided_without_loading_or_hashing_the_weights(batch, models_root, monkeypatch):
    from castgate.generation.engine import TextToImage
    from castgate.weights import file_hashes

    def refuse(*_args, **_kwargs):
        raise AssertionError("a finished batch must not load the models")

    monkeypatch.setattr(TextToImage, "load", classmethod(refuse))
    hashed = []
    real_hash = file_hashes.sha256_file
    monkeypatch.setattr(file_hashes, "sha256_file", lambda path: hashed.append(Path(path).name) or real_hash(path))
    result = run("generate", str(batch.parent / "request.toml"), "-o", str(batch), "--model", str(models_root), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["plates"] == 3
    assert "flax_model.msgpack" not in hashed  # remembered from the first run
    result = run("generate", str(batch.parent / "request.toml"), "-o", str(batch), "--model", str(models_root),
                 "--rehash", "--json")
    assert result.exit_code == 0 and hashed.count("flax_model.msgpack") == 2  # DalleBart and VQGAN, again
    assert read_manifest(batch).events[-1].details["generated"] == 0


def test_changed_plate_is_regenerated_identically(batch, models_root):
    manifest = read_manifest(batch)
    victim = batch / manifest.plates[1].files["png"].path
    victim.write_bytes(b"damaged")
    result = run("generate", str(batch.parent / "request.toml"), "-o", str(batch), "--model", str(models_root))
    assert result.exit_code == 0
    assert read_manifest(batch).events[-1].details["generated"] == 1
    assert sha256_file(victim) == manifest.plates[1].files["png"].sha256  # same seed, same plate


def test_killed_run_resumes_with_every_plate_exactly_once(tmp_path, models_root, batch):
    request = request_file(tmp_path, nurse=8)
    out = tmp_path / "batch"
    env = dict(os.environ, CASTGATE_MODELS=str(models_root))
    command = [sys.executable, "-m", "castgate_cli", "generate", str(request), "-o", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if len(read_manifest(out).plates) >= 2:
                break
        except Exception:
            pass
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = len(read_manifest(out).plates)
    assert 2 <= interrupted < 9, "the run finished before it could be killed; raise the count"
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = read_manifest(out)
    ids = [p.id for p in manifest.plates]
    assert len(ids) == len(set(ids)) == 9
    assert sorted(f.name for f in (out / "plates").iterdir()) == sorted(f"{i}.exr" for i in ids)
    assert not [f for f in out.rglob("*") if ".tmp" in f.name]
    for plate in manifest.plates:
        assert all(sha256_file(out / ref.path) == ref.sha256 for ref in plate.files.values())
    # the plates an uninterrupted run made are identical (same seeds, same pixels)
    first = {p.id: p.files["png"].sha256 for p in read_manifest(batch).plates}
    assert {i: h for i, h in ((p.id, p.files["png"].sha256) for p in manifest.plates) if i in first} == first


BAD = {
    "missing prompt": (REQUEST.replace('prompt = "a hospital porter pushing a wheelchair"\n', ""), "prompt is missing"),
    "count 0": (REQUEST.replace("count = 1", "count = 0"), "count 0 must be"),
    "unknown key": (REQUEST.replace("[sampling]", "[sampling]\nsteps = 3"), "unknown key sampling.steps"),
    "escaping role id": (REQUEST.replace('id = "porter"', 'id = "../porter"'), "not a safe name"),
    "malformed TOML": (REQUEST.replace("[[roles]]", "[[roles]", 1), "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_requests_leave_no_batch(tmp_path, models_root, case):
    text, message = BAD[case]
    result = CliRunner().invoke(cli, ["generate", str(request_file(tmp_path, text=text)), "-o",
                                      str(tmp_path / "batch"), "--model", str(models_root)])
    assert result.exit_code == 2
    assert message in result.output and "request.toml" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "batch").exists()


def test_unwritable_output_folder(tmp_path, models_root):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["generate", str(request_file(tmp_path)), "-o", str(blocker / "batch"),
                                      "--model", str(models_root)])
    assert result.exit_code == 2
    assert "cannot write to the output folder" in result.output and str(blocker / "batch") in result.output


def test_missing_model_names_expected_files(tmp_path):
    text = REQUEST.replace("demo = true", 'dalle = "dalle-mini"')
    result = CliRunner().invoke(cli, ["generate", str(request_file(tmp_path, text=text)), "-o",
                                      str(tmp_path / "batch"), "--model", str(tmp_path / "models"), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["type"] == "ModelFolderError"
    assert str(tmp_path / "models" / "dalle-mini") in error["error"] and "flax_model.msgpack" in error["error"]
    assert not (tmp_path / "batch").exists()


# -- plates stay ACEScg whatever $OCIO says (castgate issue 15) ---------------------------------------------
def test_a_linear_709_ocio_config_changes_names_not_plates(tmp_path, models_root, batch, monkeypatch):
    """$OCIO pointing at a config whose scene_linear is linear Rec.709: the plates are still ACEScg (the same
    bytes as without it), and the manifest names the config's ACEScg-equivalent space for the Read node."""
    from ocio_configs import linear_709_config

    config = linear_709_config(tmp_path / "lin709.ocio")
    monkeypatch.setenv("OCIO", str(config))
    out = tmp_path / "lin709"
    result = run("generate", str(request_file(tmp_path)), "-o", str(out), "--model", str(models_root))
    assert result.exit_code == 0, result.output
    manifest, reference = read_manifest(out), read_manifest(batch)
    assert manifest.colour["ocio_config"] == str(config) and manifest.colour["exr_colourspace"] == "CG linear AP1"
    assert reference.colour["exr_colourspace"] == "ACEScg"
    for plate, same in zip(manifest.plates, reference.plates):
        assert {k: f.sha256 for k, f in plate.files.items()} == {k: f.sha256 for k, f in same.files.items()}

    bare = linear_709_config(tmp_path / "bare.ocio", ap1_name=None)
    monkeypatch.setenv("OCIO", str(bare))
    refused = run("generate", str(request_file(tmp_path)), "-o", str(tmp_path / "refused"), "--model", str(models_root))
    assert refused.exit_code == 2 and str(bare) in refused.output and "no ACEScg colour space" in refused.output
    assert not (tmp_path / "refused").exists()
