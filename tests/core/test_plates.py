"""Plate files: EXR with castgate metadata, PNG proxy, contact sheet, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_half_float_acescg_holds_every_8bit_colour_within_one_code():
    """Saturated near-black colours lose most to half precision (up to 1.22/255 in float): still one code."""
    pipeline = ColourPipeline.open()
    levels = np.arange(256, dtype=np.float32) / 255
    g, b = np.meshgrid(levels, levels, indexing="ij")
    worst = 0.0
    for red in (0, 1, 2, 5, 20, 128, 254, 255):  # the cube's faces and a few slices through it
        srgb = np.stack([np.full_like(g, levels[red]), g, b], axis=-1)
        for image in (srgb, srgb[..., [1, 0, 2]], srgb[..., [1, 2, 0]]):
            linear = pipeline.srgb_to_scene_linear(image).astype(np.float16).astype(np.float32)
            back = to_uint8(pipeline.scene_linear_to_srgb(linear)).astype(np.int16)
            worst = max(worst, np.abs(back - to_uint8(image).astype(np.int16)).max())
    assert worst <= 1


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


# -- colour tags, no wall-clock headers (castgate issue 15; issue 14 finding 26) ----------------------------
def test_exr_and_png_carry_colour_tags_and_no_time(tmp_path):
    import OpenImageIO as oiio
    from PIL import Image

    from castgate.colour import AP1_CHROMATICITIES

    image = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    for name in ("a", "b"):
        write_exr(tmp_path / f"{name}.exr", image, {"seed": 1}, "ACEScg")
        write_png(tmp_path / f"{name}.png", image)
    assert (tmp_path / "a.exr").read_bytes() == (tmp_path / "b.exr").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    source = oiio.ImageInput.open(str(tmp_path / "a.exr"))
    attributes = {a.name: a.value for a in source.spec().extra_attribs}
    source.close()
    assert attributes["colorInteropID"] == "lin_ap1_scene"
    assert attributes["chromaticities"] == pytest.approx(AP1_CHROMATICITIES, abs=1e-6)
    assert "DateTime" not in attributes
    data = (tmp_path / "a.png").read_bytes()
    assert data.index(b"sRGB") < data.index(b"IDAT") and b"gAMA" in data and b"cHRM" in data
    assert b"tIME" not in data
    with Image.open(tmp_path / "a.png") as png:
        assert png.info.get("srgb") == 0 and png.info.get("gamma") == pytest.approx(0.45455)
