"""``castgate import``: plates made by any generator become a castgate batch that audit, review, gate,
balance's ``--no-generate`` selection, report and the Nuke panel use like castgate's own.

Every image of a folder (PNG, JPEG or OpenEXR) becomes one plate, colour-managed like a generated one:

* ``proxies/<id>.png``: 8-bit sRGB (what the audit reads). PNG and JPEG files are taken as sRGB unless
  they embed another ICC profile, which is converted to sRGB (Little CMS, through Pillow); an EXR is
  converted from its colour space (its ``colorInteropID`` / ``oiio:ColorSpace``, else ``exr_colourspace``,
  default ACEScg) to ACEScg and then to sRGB.
* ``plates/<id>.exr``: ACEScg, half float, as castgate writes its own plates.
* the original: copied to ``originals/<id>.<ext>`` byte for byte, or (``reference=True``) left where it
  is, its absolute path recorded. Either way its SHA-256 is recorded.

Roles and prompts come from one role for the whole folder (``role``, ``prompt``) or from a sidecar CSV
(``file,role,prompt`` plus optional ``seed``, ``generator``, ``model``) naming every image. Plate ids
follow castgate's template ``{batch}_{role}_{index:04d}``, in file-name order within each role, and
the recorded request asks for exactly the plates imported, so the gate's plan checks hold: ids and
seeds are the ones castgate's plan gives (the generator's own seed, when known, is kept in ``origin``).

The manifest records that castgate did not make the plates: ``imported`` on the batch (folder, mode,
generator, time) and ``origin`` on each plate (file, SHA-256, format, generator, model, what colour
space it was read as), plus an ``import`` event. Nothing is written until every image has been read
and checked; the batch folder is written like ``castgate generate`` writes one (temp files renamed
into place, the manifest last).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from castgate import plates as plate_files
from castgate.batch.manifest import FileRef, Manifest, Plate, utc_now, write_manifest
from castgate.batch.plan import PlannedPlate, plan
from castgate.colour import WORKING_ACESCG, ColourPipeline
from castgate.errors import CastgateError, IngestError
from castgate.request import DEFAULT_TEMPLATE, SAFE_ID, Request, Role
from castgate.weights.file_hashes import sha256_file

FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".exr": "exr"}
ORIGINALS_DIR = "originals"
MAX_PIXELS = 50_000_000  # per image; a 74-byte PNG may declare 20000 x 20000
MAX_BYTES = 512 * 1024 * 1024
SIDECAR_COLUMNS = ("file", "role", "prompt")
SIDECAR_OPTIONAL = ("seed", "generator", "model")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Source:
    """One image to import and what is known about it."""

    path: Path
    role: str
    prompt: str
    seed: int | None = None  # the generator's seed, when the sidecar gives one
    generator: str | None = None
    model: str | None = None

    @property
    def format(self) -> str:
        return FORMATS[self.path.suffix.lower()]


def find_images(folder: Path) -> list[Path]:
    """The PNG, JPEG and EXR files directly in ``folder``, by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IngestError("not a folder", where=str(folder), fix="Give the folder that holds the images")
    images = sorted(p for p in folder.iterdir()
                    if p.suffix.lower() in FORMATS and not p.name.startswith(".") and p.is_file())
    if not images:
        raise IngestError("no PNG, JPEG or EXR images in the folder", where=str(folder),
                           fix="Point at the folder the generator wrote its images to")
    return images


def sources_for_role(images: Sequence[Path], role: str, prompt: str, generator: str | None = None) -> list[Source]:
    """Every image as one role with one prompt."""
    if not SAFE_ID.fullmatch(role or ""):
        raise IngestError(f"role {role!r} is not a safe id", where="--role",
                           fix="Use letters, digits, '_' and '-' (64 at most), e.g. pedestrian")
    if not prompt.strip():
        raise IngestError("the prompt is empty", where="--prompt",
                           fix="Give the prompt the images were made from (the audit report shows it)")
    return [Source(path=p, role=role, prompt=prompt, generator=generator) for p in images]


def sources_from_sidecar(images: Sequence[Path], sidecar: Path, generator: str | None = None) -> list[Source]:
    """Roles, prompts (and optional seeds, generators, models) per image from a CSV sidecar.

    Raises:
        IngestError: a column is missing, a row is invalid, or an image and the sidecar disagree
            (every problem listed with its line).
    """
    try:
        text = Path(sidecar).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot read the sidecar ({exc})", where=str(sidecar),
                           fix="Save it as UTF-8 CSV with columns file,role,prompt") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in SIDECAR_COLUMNS if c not in header]
    if missing:
        raise IngestError(f"the sidecar has no column(s) {', '.join(missing)} (it has {', '.join(header) or 'none'})",
                           where=str(sidecar), fix="Add a header line: file,role,prompt[,seed,generator,model]")
    by_name = {p.name: p for p in images}
    problems: list[str] = []
    rows: dict[str, Source] = {}
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name, role, prompt = row.get("file", ""), row.get("role", ""), row.get("prompt", "")
        where = f"line {line}"
        if name not in by_name:
            problems.append(f"{where}: file {name!r} is not an image in the folder")
            continue
        if name in rows:
            problems.append(f"{where}: file {name!r} is listed twice")
        if not SAFE_ID.fullmatch(role):
            problems.append(f"{where}: role {role!r} is not a safe id (letters, digits, '_' and '-')")
        if not prompt:
            problems.append(f"{where}: the prompt is empty")
        seed_text = row.get("seed", "")
        if seed_text and not seed_text.isdigit():
            problems.append(f"{where}: seed {seed_text!r} is not a whole number of 0 or more")
        rows[name] = Source(path=by_name[name], role=role, prompt=prompt,
                            seed=int(seed_text) if seed_text.isdigit() else None,
                            generator=row.get("generator") or generator, model=row.get("model") or None)
    unlisted = [p.name for p in images if p.name not in rows]
    if unlisted:
        problems.append(f"{len(unlisted)} image(s) have no row: {', '.join(unlisted[:5])}"
                        + (" ..." if len(unlisted) > 5 else ""))
    if problems:
        raise IngestError(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems[:20]),
                           where=str(sidecar), fix="Give every image of the folder one row with its role and prompt")
    return [rows[p.name] for p in images]


def import_folder(folder: Path, batch_dir: Path, sources: Sequence[Source], *, batch_name: str | None = None,
                  reference: bool = False, ocio_config: str | None = None, exr_colourspace: str | None = None,
                  quota: str | None = None, sidecar: Path | None = None,
                  on_progress: Progress | None = None) -> Manifest:
    """Import ``sources`` (from :func:`sources_for_role` or :func:`sources_from_sidecar`) as a batch.

    Args:
        folder: the folder the images are in (recorded).
        batch_dir: the batch folder to write; must not exist or be empty.
        batch_name: the batch's name; default the batch folder's name (made a safe id).
        reference: leave the originals where they are (record their absolute paths) instead of copying.
        ocio_config: the compositor's OCIO config (names recorded, as for ``castgate generate``).
        exr_colourspace: the colour space of EXR inputs that do not say (default ACEScg).
        quota: the quota the batch is gated against by default.

    Raises:
        IngestError: bad input (nothing is written).
    """
    folder, batch_dir = Path(folder).absolute(), Path(batch_dir).absolute()
    if batch_dir.exists() and (not batch_dir.is_dir() or any(batch_dir.iterdir())):
        raise IngestError("the batch folder exists and is not empty", where=str(batch_dir),
                           fix="Import into a new folder")
    name = batch_name or _safe_name(batch_dir.name)
    if not SAFE_ID.fullmatch(name):
        raise IngestError(f"batch name {name!r} is not a safe id", where="--name",
                           fix="Use letters, digits, '_' and '-' (64 at most)")
    colour = ColourPipeline.open(ocio_config)
    pixels = [_read_srgb(source, colour, exr_colourspace) for source in sources]  # every image read first

    roles: dict[str, list[tuple[Source, tuple[np.ndarray, str]]]] = {}
    for source, image in zip(sources, pixels):
        roles.setdefault(source.role, []).append((source, image))
    request = Request(batch=name, seed=0, quota=quota, output_template=DEFAULT_TEMPLATE,
                      roles=tuple(Role(id=role, prompt=items[0][0].prompt, count=len(items))
                                  for role, items in roles.items()))
    # ids and seeds as castgate's plan gives them (the gate checks both); the generator's own seed is
    # kept in each plate's origin
    planned = iter(plan(request))
    batch_dir.mkdir(parents=True, exist_ok=True)
    plates: list[Plate] = []
    total, done = len(sources), 0
    for role, items in roles.items():
        for source, (srgb, read_as) in items:
            slot = next(planned)
            plates.append(_write_plate(batch_dir, slot, source, srgb, read_as, colour, reference))
            done += 1
            if on_progress:
                on_progress(done, total)
    imported = {"made_by_castgate": False, "folder": str(folder), "mode": "reference" if reference else "copy",
                "generators": sorted({s.generator for s in sources if s.generator}),
                "sidecar": str(Path(sidecar).absolute()) if sidecar else None, "images": total}
    manifest = Manifest(batch=name, created=utc_now(), request=request.to_record(), models={}, sampling={},
                        colour=colour.record(), plates=tuple(plates), imported=imported)
    manifest = manifest.with_event("import", folder=str(folder), images=total, mode=imported["mode"],
                                   generators=imported["generators"])
    write_manifest(batch_dir, manifest)
    return manifest


def _write_plate(batch_dir: Path, slot: PlannedPlate, source: Source, srgb: np.ndarray, read_as: str,
                 colour: ColourPipeline, reference: bool) -> Plate:
    plate_id, role, index = slot.plate_id, slot.role.id, slot.index
    paths = plate_files.plate_paths(plate_id)
    plate_files.write_png(batch_dir / paths["png"], srgb)
    metadata: dict[str, str | int] = {"batch": batch_dir.name, "role": role, "prompt": source.prompt,
                                      "plate_id": plate_id, "index": index, "imported_from": source.path.name}
    plate_files.write_exr(batch_dir / paths["exr"], colour.srgb_to_scene_linear(srgb), metadata, WORKING_ACESCG)
    files = {kind: FileRef(path, sha256_file(batch_dir / path)) for kind, path in paths.items()}
    original_sha = sha256_file(source.path)
    origin: dict[str, object] = {"file": source.path.name, "sha256": original_sha, "format": source.format,
                                 "read_as": read_as, "generator": source.generator, "model": source.model,
                                 "seed": source.seed}
    if reference:
        origin["path"] = str(source.path.absolute())
    else:
        copied = f"{ORIGINALS_DIR}/{plate_id}{source.path.suffix.lower()}"
        target = batch_dir / copied
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.castgate-tmp")
        shutil.copyfile(source.path, tmp)
        os.replace(tmp, target)
        files["original"] = FileRef(copied, original_sha)
    return Plate(id=plate_id, role=role, index=index, prompt=source.prompt, seed=slot.seed, files=files,
                 origin=origin)


# -- reading images ----------------------------------------------------------------------------------
def _read_srgb(source: Source, colour: ColourPipeline, exr_colourspace: str | None) -> tuple[np.ndarray, str]:
    """The image as (H, W, 3) sRGB floats in [0, 1], and what it was read as."""
    path = source.path
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read the image ({exc})", where=str(path), fix="Check the file") from None
    if not path.is_file() or size > MAX_BYTES:
        raise IngestError(f"not a regular image file of at most {MAX_BYTES >> 20} MB", where=str(path),
                           fix="Import plates, not huge or special files")
    if source.format == "exr":
        return _read_exr(path, colour, exr_colourspace)
    return _read_8bit(path)


def _read_8bit(path: Path) -> tuple[np.ndarray, str]:
    from PIL import Image, ImageCms, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise IngestError(f"{image.width} x {image.height} pixels is more than castgate reads",
                                   where=str(path), fix=f"Scale it below {MAX_PIXELS // 1_000_000} megapixels")
            image.load()
            profile = image.info.get("icc_profile")
            read_as = "sRGB (assumed: no ICC profile)"
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16", "I", "CMYK"):
                raise IngestError(f"image mode {image.mode} is not supported", where=str(path),
                                   fix="Save the image as 8-bit RGB")
            rgb = image.convert("RGB") if image.mode != "CMYK" else image
            if profile:
                source_profile = ImageCms.ImageCmsProfile(io.BytesIO(profile))
                description = ImageCms.getProfileDescription(source_profile).strip()
                if "srgb" not in description.lower() or image.mode == "CMYK":
                    rgb = ImageCms.profileToProfile(rgb, source_profile, ImageCms.createProfile("sRGB"),
                                                    outputMode="RGB")
                    read_as = f"{description} (ICC), converted to sRGB"
                else:
                    read_as = f"{description} (ICC)"
            array = np.asarray(rgb.convert("RGB"), dtype=np.float32) / 255.0
    except IngestError:
        raise
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ImageCms.PyCMSError) as exc:
        raise IngestError(f"cannot read the image ({exc})", where=str(path),
                           fix="Check that it is a valid PNG or JPEG") from None
    return array, read_as


def _read_exr(path: Path, colour: ColourPipeline, exr_colourspace: str | None) -> tuple[np.ndarray, str]:
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise IngestError(f"cannot read the EXR ({oiio.geterror()})", where=str(path), fix="Check the file")
    try:
        spec = image.spec()
        if spec.width * spec.height > MAX_PIXELS:
            raise IngestError(f"{spec.width} x {spec.height} pixels is more than castgate reads", where=str(path),
                               fix=f"Scale it below {MAX_PIXELS // 1_000_000} megapixels")
        pixels = image.read_image(oiio.FLOAT)
        declared = spec.getattribute("oiio:ColorSpace") or spec.getattribute("colorInteropID")
    finally:
        image.close()
    if pixels is None:
        raise IngestError("cannot read the EXR pixels", where=str(path), fix="Check the file")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    rgb = np.repeat(pixels[:, :, :1], 3, axis=2) if pixels.shape[2] < 3 else pixels[:, :, :3]
    space = declared or exr_colourspace or WORKING_ACESCG  # the file's own word first
    try:
        acescg = colour.to_acescg(rgb, str(space))
    except CastgateError as exc:
        raise IngestError(f"{exc}", where=str(path), fix="Name the EXR's colour space with --exr-colourspace") from None
    srgb = np.clip(colour.scene_linear_to_srgb(acescg), 0.0, 1.0)
    return srgb, f"{space} (EXR), converted to ACEScg"


def _safe_name(text: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:64]
    return cleaned or "imported"
