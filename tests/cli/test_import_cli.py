"""`castgate import`: real photographs from "another generator" become a batch that audits, gates and reports
(castgate issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from batch_factory import astronaut, grace_hopper, resized
from castgate.batch.manifest import read_manifest, validate_manifest_data
from castgate.plates import read_exr, write_exr
from castgate.weights.checkpoints import sha256_file
from castgate_cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder as another tool leaves it: a PNG, a JPEG (matplotlib's Grace Hopper, as shipped), a
    grayscale PNG and an EXR in linear Rec.709 that says so in its header."""
    import matplotlib.cbook
    from skimage.data import camera

    folder = tmp_path_factory.mktemp("renders")
    Image.fromarray(resized(astronaut(), 256)).save(folder / "a_astronaut.png")
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as jpeg:
        (folder / "b_hopper.jpg").write_bytes(jpeg.read())
    Image.fromarray(camera()[::2, ::2]).save(folder / "c_camera.png")
    encoded = resized(astronaut(), 128).astype(np.float32) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)  # sRGB decoded
    write_exr(folder / "d_astronaut.exr", linear, {}, "Linear Rec.709 (sRGB)")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_import_a_folder_of_photographs_then_audit_gate_and_report(photos, tmp_path):
    sidecar = tmp_path / "plates.csv"
    sidecar.write_text("file,role,prompt,generator\n"
                       "a_astronaut.png,astronaut,an astronaut in a spacesuit,NASA photo\n"
                       "b_hopper.jpg,officer,a naval officer in uniform,\n"
                       "c_camera.png,photographer,a photographer with a camera,\n"
                       "d_astronaut.exr,astronaut,an astronaut in a spacesuit,NASA photo\n", encoding="utf-8")
    batch = tmp_path / "imported"
    result = run("import", str(photos), "-o", str(batch), "--sidecar", str(sidecar), "--generator", "camera",
                 "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["plates"] == 4 and summary["roles"] == {"astronaut": 2, "officer": 1, "photographer": 1}

    data = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    validate_manifest_data(data)
    assert data["imported"]["made_by_castgate"] is False and data["imported"]["folder"] == str(photos)
    assert [e["kind"] for e in data["events"]] == ["import"]
    manifest = read_manifest(batch)
    ids = [p.id for p in manifest.plates]
    assert ids == ["imported_astronaut_0000", "imported_astronaut_0001", "imported_officer_0000",
                   "imported_photographer_0000"]
    for plate in manifest.plates:
        for ref in plate.files.values():
            assert sha256_file(batch / ref.path) == ref.sha256
        assert plate.origin["sha256"] == plate.files["original"].sha256
    hopper = manifest.plate("imported_officer_0000")
    assert hopper.origin["file"] == "b_hopper.jpg" and hopper.origin["generator"] == "camera"
    assert (batch / hopper.files["original"].path).read_bytes() == (photos / "b_hopper.jpg").read_bytes()
    # colour-managed like castgate's plates: the PNG proxy is the JPEG's pixels, the EXR ACEScg
    jpeg = np.asarray(Image.open(photos / "b_hopper.jpg").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(batch / hopper.files["png"].path)), jpeg)
    rgba, meta = read_exr(batch / hopper.files["exr"].path)
    assert meta["oiio:ColorSpace"] in ("ACEScg", "lin_ap1_scene") and rgba.shape[:2] == jpeg.shape[:2]
    exr_plate = manifest.plate("imported_astronaut_0001")
    assert exr_plate.origin["read_as"] == "lin_rec709_scene (EXR), converted to ACEScg"  # the header's interop ID
    proxy = np.asarray(Image.open(batch / exr_plate.files["png"].path)).astype(int)
    expected = resized(astronaut(), 128).astype(int)
    assert np.abs(proxy - expected).max() <= 1  # linear 709 -> ACEScg -> sRGB lands on the photo again

    # audited as the Nuke panel and farm wrappers run castgate: a real process whose stderr, under --json,
    # holds JSON lines only, although native libraries print past Python (LiteRT's XNNPACK banner)
    import subprocess
    import sys

    audited = subprocess.run([str(Path(sys.executable).with_name("castgate")), "audit", str(batch), "--json"],
                             capture_output=True, text=True, timeout=600)
    assert audited.returncode == 0, audited.stderr
    assert "XNNPACK" not in audited.stderr
    assert all(json.loads(line)["event"] in ("progress", "log") for line in audited.stderr.splitlines())
    assert all(p.labels for p in read_manifest(batch).plates)
    gated = run("gate", str(batch), "--json")
    assert gated.exit_code in (1, 3), gated.output  # four photographs cannot PASS a parity quota
    assert json.loads(gated.stdout)["verdict"] in ("FAIL", "INSUFFICIENT", "UNAUDITABLE")
    report = run("report", str(batch), "-o", str(tmp_path / "report"))
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "imported_officer_0000" in html or "officer" in html


def test_one_role_for_a_folder_and_reference_mode(photos, tmp_path):
    batch = tmp_path / "ref"
    result = run("import", str(photos), "-o", str(batch), "--role", "crowd", "--prompt", "people",
                 "--reference", "--name", "crowd_b")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(batch)
    assert manifest.batch == "crowd_b" and len(manifest.plates) == 4
    assert not (batch / "originals").exists()
    assert all(Path(p.origin["path"]).parent == photos and "original" not in p.files for p in manifest.plates)
    # balance's selection works on imported candidates like on generated ones
    assert run("audit", str(batch)).exit_code == 0
    balanced = run("balance", str(batch), "--cast", "2", "--no-generate", "--json")
    assert balanced.exit_code in (0, 3), balanced.output
    selection = json.loads(balanced.stdout)
    assert selection["cast"] == {"crowd": 2}
    ids = {p.id for p in manifest.plates}
    assert set(selection["selected"]) | set(selection["not_selected"]) == ids


@pytest.mark.parametrize("args, fragment", [
    (["--role", "crowd"], "give --role and --prompt"),
    (["--role", "bad role", "--prompt", "p"], "role 'bad role' is not a safe id"),
    (["--sidecar", "MISSING"], "sidecar"),
])
def test_bad_input_exits_2_and_writes_nothing(photos, tmp_path, args, fragment):
    args = [str(tmp_path / "nope.csv") if a == "MISSING" else a for a in args]
    result = run("import", str(photos), "-o", str(tmp_path / "b"), *args)
    assert result.exit_code == 2 and fragment in result.output, result.output
    assert not (tmp_path / "b").exists()


def test_a_sidecar_that_misses_images_lists_them(photos, tmp_path):
    sidecar = tmp_path / "plates.csv"
    sidecar.write_text("file,role,prompt\na_astronaut.png,astronaut,an astronaut\nghost.png,x,y\n", encoding="utf-8")
    result = run("import", str(photos), "-o", str(tmp_path / "b"), "--sidecar", str(sidecar))
    assert result.exit_code == 2
    assert "line 3: file 'ghost.png' is not an image in the folder" in result.output
    assert "3 image(s) have no row" in result.output and not (tmp_path / "b").exists()




def test_exr_colourspace_names_what_headers_do_not_say(tmp_path):
    """OpenImageIO writes no colour attribute for a space it does not know, so such an EXR says nothing:
    --exr-colourspace names it, and a name castgate's config does not know is refused before any write."""
    folder = tmp_path / "renders"
    folder.mkdir()
    write_exr(folder / "odd.exr", np.full((8, 8, 3), 0.18, np.float32), {}, "studio_log_v7")
    refused = run("import", str(folder), "-o", str(tmp_path / "b"), "--role", "crowd", "--prompt", "people",
                  "--exr-colourspace", "studio_log_v7")
    assert refused.exit_code == 2 and "odd.exr" in refused.output and "--exr-colourspace" in refused.output
    assert not (tmp_path / "b").exists()
    named = run("import", str(folder), "-o", str(tmp_path / "b"), "--role", "crowd", "--prompt", "people",
                "--exr-colourspace", "ACES2065-1")
    assert named.exit_code == 0, named.output
    assert read_manifest(tmp_path / "b").plates[0].origin["read_as"] == "ACES2065-1 (EXR), converted to ACEScg"
