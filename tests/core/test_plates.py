"""Plate files: EXR with castgate metadata, PNG proxy, contact sheet, atomic writes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from castgate.colour import ColourPipeline
from castgate.plates import read_exr, to_uint8, write_contact_sheet, write_exr, write_png


def test_exr_carries_metadata_and_goes_back_to_the_png(tmp_path):
    rng = np.random.default_rng(1)
    srgb = rng.random((16, 24, 3), dtype=np.float32)
    pipeline = ColourPipeline.open()
    write_png(tmp_path / "p.png", srgb)
    write_exr(tmp_path / "p.exr", pipeline.srgb_to_scene_linear(srgb),
              {"batch": "b", "prompt": "a nurse, \"quoted\"", "seed": 1234}, pipeline.scene_linear_name)
    rgba, metadata = read_exr(tmp_path / "p.exr")
    assert rgba.shape == (16, 24, 4) and np.all(rgba[..., 3] == 1.0)
    assert metadata["batch"] == "b" and metadata["prompt"] == "a nurse, \"quoted\"" and metadata["seed"] == 1234
    assert metadata["oiio:ColorSpace"] in ("ACEScg", "lin_ap1_scene")
    png = np.asarray(Image.open(tmp_path / "p.png"), dtype=np.float32) / 255.0
    back = pipeline.scene_linear_to_srgb(rgba[..., :3])
    assert np.abs(back - png).max() <= 1.0 / 255.0
    assert not list(tmp_path.glob(".*tmp*"))


def test_quantisation_rounds():
    assert to_uint8(np.array([0.0, 0.5 / 255, 1.0, 1.2, -0.1])).tolist() == [0, 1, 255, 255, 0]


def test_contact_sheet(tmp_path):
    paths = []
    for n in range(3):
        path = tmp_path / f"{n}.png"
        Image.new("RGB", (32, 32), (80 * n, 10, 10)).save(path)
        paths.append(path)
    write_contact_sheet(tmp_path / "sheet.png", paths, ["a", "b", "c"], thumb=32, columns=2)
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size == (64, 2 * (32 + 14))
    assert sheet.getpixel((40, 5)) == (80, 10, 10)
