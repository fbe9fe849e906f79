"""Plate files: the EXR plate (ACEScg, half float), its PNG proxy, and per-role contact sheets.

Every file is written to a temp name beside its target and renamed into place, so a crash leaves
either no file or a whole one; the manifest records a plate only after its files are in place.

Batch folder layout::

    BATCH/manifest.json
    BATCH/plates/<plate id>.exr      scene-linear ACEScg, RGBA half, ZIP-compressed, castgate/* metadata
    BATCH/proxies/<plate id>.png     sRGB 8-bit proxy (what the audit reads and people look at)
    BATCH/contact/<role>.png         contact sheet of a role's kept plates

Colour tags: each EXR carries ``colorInteropID`` ``lin_ap1_scene`` (OpenEXR 3.4's colour attribute) and
``chromaticities`` (AP1 primaries, ACES white), which readers older than OpenEXR 3.4 understand; each
PNG carries an ``sRGB`` chunk with the ``gAMA`` and ``cHRM`` values the PNG specification pairs with it.
No file carries the time it was written: identical plates are identical files, whatever run or shard
made them.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

from castgate.batch.fileio import atomic_write_bytes, commit_temp, temp_path_beside
from castgate.colour import AP1_CHROMATICITIES
from castgate.errors import PlateError

PLATES_DIR = "plates"
PROXIES_DIR = "proxies"
CONTACT_DIR = "contact"
METADATA_PREFIX = "castgate/"


def plate_paths(plate_id: str) -> dict[str, str]:
    """Relative paths of a plate's files inside the batch folder."""
    return {"exr": f"{PLATES_DIR}/{plate_id}.exr", "png": f"{PROXIES_DIR}/{plate_id}.png"}


def to_uint8(srgb: np.ndarray) -> np.ndarray:
    """Quantise an sRGB float image in [0, 1] to 8 bits (round half up, clipped)."""
    return np.clip(np.floor(np.asarray(srgb, dtype=np.float32) * 255.0 + 0.5), 0, 255).astype(np.uint8)


def srgb_png_info() -> PngImagePlugin.PngInfo:
    """PNG chunks that tag an image as sRGB: ``sRGB`` (perceptual intent), ``gAMA`` and ``cHRM``."""
    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", bytes([0]))
    info.add(b"gAMA", struct.pack(">I", 45455))
    # white, red, green, blue (CIE xy) x 100000: the sRGB / Rec.709 primaries and D65
    info.add(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    return info


def png_bytes(image: Image.Image) -> bytes:
    """An 8-bit RGB image as PNG bytes tagged sRGB, with no time or software chunks."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, pnginfo=srgb_png_info())
    return buffer.getvalue()


def write_png(path: Path, srgb: np.ndarray) -> None:
    """Write an (H, W, 3) sRGB float image as an 8-bit PNG tagged sRGB, atomically."""
    atomic_write_bytes(path, png_bytes(Image.fromarray(to_uint8(srgb), mode="RGB")))


def write_exr(path: Path, linear_rgb: np.ndarray, metadata: Mapping[str, str | int], colourspace: str) -> None:
    """Write an (H, W, 3) scene-linear image as an RGBA half-float, ZIP-compressed EXR, atomically.

    Args:
        path: target file.
        linear_rgb: scene-linear pixels (alpha is written as 1: plates are full-frame).
        metadata: stored as ``castgate/<key>`` header attributes (str or int).
        colourspace: the OCIO colour space name of the pixels, stored as ``oiio:ColorSpace`` (which
            OpenImageIO writes as the ``colorInteropID`` attribute); castgate passes ``ACEScg``.

    Raises:
        PlateError: OpenImageIO could not write the file.
    """
    import OpenImageIO as oiio

    height, width, _ = linear_rgb.shape
    rgba = np.concatenate([linear_rgb, np.ones((height, width, 1), np.float32)], axis=-1).astype(np.float16)
    spec = oiio.ImageSpec(width, height, 4, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A")
    spec.alpha_channel = 3
    spec.attribute("compression", "zip")
    spec.attribute("oiio:ColorSpace", colourspace)
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP1_CHROMATICITIES)
    spec.attribute("DateTime", "")  # an empty value keeps OpenImageIO from stamping the time of writing
    for key, value in metadata.items():
        spec.attribute(METADATA_PREFIX + key, value if isinstance(value, (int, str)) else str(value))
    tmp = temp_path_beside(path)
    try:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise PlateError(f"cannot write EXR ({oiio.geterror()})", where=str(path),
                             fix="Check that the batch folder is writable and has free space")
        ok = out.write_image(rgba)
        out.close()
        if not ok:
            raise PlateError(f"cannot write EXR pixels ({out.geterror()})", where=str(path),
                             fix="Check free space in the batch folder")
        commit_temp(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_exr(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an EXR plate: (H, W, 4) float32 RGBA and its ``castgate/*`` metadata."""
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise PlateError(f"cannot read EXR ({oiio.geterror()})", where=str(path),
                         fix="The file is missing or damaged; rerun `castgate generate` to rewrite it")
    try:
        pixels = image.read_image(oiio.FLOAT)
        spec = image.spec()
        metadata = {a.name[len(METADATA_PREFIX):]: a.value for a in spec.extra_attribs
                    if a.name.startswith(METADATA_PREFIX)}
        metadata["oiio:ColorSpace"] = spec.getattribute("oiio:ColorSpace")
    finally:
        image.close()
    return np.asarray(pixels, dtype=np.float32), metadata


def write_contact_sheet(path: Path, images: Sequence[Path], captions: Sequence[str],
                        thumb: int = 128, columns: int = 8) -> None:
    """Write a grid of thumbnails with captions, atomically. Used per role after generation."""
    count = max(len(images), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    caption_height = 14
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + caption_height)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, (image_path, caption) in enumerate(zip(images, captions)):
        x, y = (n % columns) * thumb, (n // columns) * (thumb + caption_height)
        with Image.open(image_path) as image:
            sheet.paste(image.convert("RGB").resize((thumb, thumb), Image.Resampling.LANCZOS), (x, y))
        draw.text((x + 3, y + thumb + 1), caption[:22], fill=(220, 220, 220))
    atomic_write_bytes(path, png_bytes(sheet))
