"""Build small test batches on disk: PNG plates (Pillow) plus a manifest with labels.

Until the generate stage lands, tests make batches with this. A role's plates are given as a list of
label dicts; ``labelled(n, gender=..., skin_group=...)`` repeats one combination::

    batch = make_batch(tmp_path / "b", {
        "nurse": labelled(30, gender="female", skin_group="lighter") + labelled(30, gender="male"),
    })

A label value of ``None`` (or a missing key) leaves that attribute unlabelled; ``"undetermined"``
gets a reason. ``human=`` adds human labels by plate position; ``rejected=`` adds candidates that
CLIP selection rejected (``kept=False``).
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

from PIL import Image, ImageDraw

from castgate.batch.manifest import (AuditRecord, AutoLabel, FileRef, HumanLabel, Manifest, Plate, utc_now,
                                     write_manifest)
from castgate.batch.plan import plate_seed
from castgate.weights.checkpoints import sha256_file

TIME = "2026-01-02T03:04:05Z"
SKIN = {"lighter": (226, 189, 160), "darker": (120, 80, 56), "undetermined": (150, 150, 150), None: (200, 200, 200)}
BACKGROUND = {"female": (70, 110, 170), "male": (170, 120, 60), "undetermined": (90, 90, 90), None: (60, 60, 60)}


def labelled(count: int, **labels: str | None) -> list[dict[str, str | None]]:
    """``count`` plates with the same labels, e.g. ``labelled(3, gender="female", skin_group="darker")``."""
    return [dict(labels) for _ in range(count)]


def draw_plate(path: Path, labels: Mapping[str, str | None], index: int, size: int = 64, salt: int = 7) -> None:
    """A small recognisable PNG: background by gender, a 'face' by skin group, a unique corner pixel."""
    image = Image.new("RGB", (size, size), BACKGROUND.get(labels.get("gender"), (60, 60, 60)))
    draw = ImageDraw.Draw(image)
    skin = SKIN.get(labels.get("skin_group"), (200, 200, 200))
    draw.ellipse((size * 0.3, size * 0.15, size * 0.7, size * 0.6), fill=skin)
    draw.rectangle((size * 0.2, size * 0.62, size * 0.8, size), fill=tuple(c // 2 for c in skin))
    image.putpixel((0, 0), (index % 256, (index // 256) % 256, salt % 256))  # unique content -> unique hash
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def auto_label(value: str, attribute: str, confidence: float = 0.9) -> AutoLabel:
    undetermined = value == "undetermined"
    return AutoLabel(value=value, method=f"test {attribute} labeller", model="test", version="0",
                     confidence=None if undetermined else confidence,
                     reason="no face found" if undetermined else None)


def make_plates(batch: str, role: str, specs: Sequence[Mapping[str, str | None]], folder: Path, *,
                kept: bool = True, start: int = 0, size: int = 64, write_files: bool = True) -> list[Plate]:
    plates = []
    for offset, labels in enumerate(specs):
        index = start + offset
        plate_id = f"{batch}_{role}_{index:04d}"
        rel = f"proxies/{plate_id}.png"
        if write_files:
            draw_plate(folder / rel, labels, index + (0 if kept else 5000), size, salt=zlib.crc32(role.encode()))
            sha = sha256_file(folder / rel)
        else:
            sha = f"{index:064x}"[-64:]
        auto = {a: auto_label(v, a) for a, v in labels.items() if v is not None}
        plates.append(Plate(
            id=plate_id, role=role, index=index, prompt=f"a {role.replace('_', ' ')}", seed=plate_seed(1, role, index),
            files={"png": FileRef(rel, sha)}, scores={"clip": 25.0 - offset * 0.01},
            rank=offset + 1 if kept else None, kept=kept,
            rejected_reason=None if kept else "lower CLIP score than the kept candidate",
            labels=auto, audit=AuditRecord(sha, TIME, "test-audit") if auto else None))
    return plates


def make_manifest(batch: str, roles: Mapping[str, int], plates: Sequence[Plate], *, quota: str | None = None,
                  sampling: Mapping[str, Any] | None = None, agreement: Mapping[str, Any] | None = None) -> Manifest:
    sampling = dict(sampling or {"condition_scale": 10.0, "top_k": 50, "temperature": 1.0,
                                 "candidates_per_plate": 1, "batch_size": 4, "dtype": "float32"})
    request = {"batch": {"name": batch, "seed": 1, "output_template": "{batch}_{role}_{index:04d}", "quota": quota},
               "models": {"dalle": "dalle-mini", "demo": True}, "sampling": sampling,
               "roles": [{"id": r, "prompt": f"a {r.replace('_', ' ')}", "count": max(1, n)} for r, n in roles.items()]}
    return Manifest(batch=batch, created=TIME, request=request,
                    models={"dalle": {"name": "dalle-mini", "folder": "models/dalle-mini",
                                      "files": {"flax_model.msgpack": "a" * 64}}},
                    sampling=sampling,
                    colour={"ocio_config": "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6",
                            "exr_colourspace": "ACEScg", "png_colourspace": "sRGB Encoded Rec.709 (sRGB)"},
                    plates=tuple(plates), agreement=dict(agreement or {}))


def make_batch(folder: Path, roles: Mapping[str, Sequence[Mapping[str, str | None]]], *, batch: str = "b",
               rejected: Mapping[str, Sequence[Mapping[str, str | None]]] | None = None,
               human: Mapping[int, Mapping[str, str]] | None = None, quota: str | None = None,
               agreement: Mapping[str, Any] | None = None, size: int = 64,
               sampling: Mapping[str, Any] | None = None) -> Path:
    """Write a batch folder with PNG plates and ``manifest.json``; return the folder.

    Args:
        folder: where to write (created).
        roles: role id -> one label dict per kept plate.
        rejected: role id -> label dicts of candidates rejected by CLIP selection.
        human: position of a kept plate in the whole batch (0-based) -> human labels ``{attr: value}``.
        quota: the request's ``[batch].quota``.
        agreement: ``Manifest.agreement``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plates: list[Plate] = []
    for role, specs in roles.items():
        plates += make_plates(batch, role, specs, folder, size=size)
    for role, specs in (rejected or {}).items():
        plates += make_plates(batch, role, specs, folder, kept=False, start=len(roles.get(role, ())), size=size)
    for position, labels in (human or {}).items():
        kept = [p for p in plates if p.kept]
        plate = kept[position]
        human_labels = dict(plate.human_labels)
        human_labels.update({a: HumanLabel(v, "reviewer", TIME, note="checked") for a, v in labels.items()})
        plates[plates.index(plate)] = dataclasses.replace(plate, human_labels=human_labels)
    # The request plans every plate made here: kept and rejected (one candidate per plate, so the plan
    # is kept + rejected plates per role and the gate finds each planned plate accounted for).
    counts = {r: len(s) + len((rejected or {}).get(r, ())) for r, s in roles.items()}
    manifest = make_manifest(batch, counts, plates, quota=quota, agreement=agreement, sampling=sampling)
    write_manifest(folder, manifest)
    return folder


__all__ = ["labelled", "make_batch", "make_manifest", "make_plates", "draw_plate", "auto_label", "utc_now"]


# -- batches of given images, and real photos (audit tests) ----------------------------------------
def png_bytes(image: "np.ndarray | Image.Image", **save_args: Any) -> bytes:
    """PNG-encode an array or Pillow image."""
    import io

    import numpy as np

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save_args)
    return buffer.getvalue()


def make_image_batch(folder: Path, images: Mapping[str, "bytes | np.ndarray | Image.Image | None"], *,
                     batch: str = "b", role: str = "extra") -> Path:
    """A batch whose plates are the given images, unaudited: plate id -> PNG bytes, an array or Pillow
    image (saved as PNG), or None (the manifest names a PNG that does not exist).

    Plate ids are ``{batch}_{role}_{index:04d}`` in the given order; ``images`` keys are only labels for
    the caller and are returned in the same order by :func:`plate_ids`.
    """
    import hashlib

    folder = Path(folder)
    (folder / "proxies").mkdir(parents=True, exist_ok=True)
    plates = []
    for index, content in enumerate(images.values()):
        plate_id = f"{batch}_{role}_{index:04d}"
        rel = f"proxies/{plate_id}.png"
        if content is None:
            sha = hashlib.sha256(b"missing").hexdigest()
        else:
            data = content if isinstance(content, bytes) else png_bytes(content)
            (folder / rel).write_bytes(data)
            sha = sha256_file(folder / rel)
        plates.append(Plate(id=plate_id, role=role, index=index, prompt=f"a {role}", seed=plate_seed(1, role, index),
                            files={"png": FileRef(rel, sha)}))
    write_manifest(folder, make_manifest(batch, {role: len(plates)}, plates))
    return folder


def plate_ids(images: Mapping[str, Any], *, batch: str = "b", role: str = "extra") -> dict[str, str]:
    """Name given to :func:`make_image_batch` -> the plate id it got."""
    return {name: f"{batch}_{role}_{index:04d}" for index, name in enumerate(images)}


def astronaut() -> "np.ndarray":
    """scikit-image's astronaut photo (Eileen Collins), 512x512 RGB."""
    from skimage.data import astronaut as load

    return load()


def grace_hopper() -> "np.ndarray":
    """matplotlib's sample portrait of Grace Hopper, 512x600 RGB."""
    import matplotlib.cbook
    import numpy as np

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def resized(image: "np.ndarray", width: int) -> "np.ndarray":
    """The image scaled to ``width`` pixels wide (Lanczos), aspect kept."""
    import numpy as np

    height = round(image.shape[0] * width / image.shape[1])
    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def retone_skin(rgb: "np.ndarray", landmarks: Sequence[Sequence[float]], swatch: str,
                method: str = "linear") -> "np.ndarray":
    """Re-tone a photo's facial skin to a swatch colour, keeping its shading (:func:`castgate.audit.retone.retone`)."""
    from castgate.audit.retone import retone

    return retone(rgb, landmarks, swatch, method)


def erring_error_table(folder: Path, error_rate_cases: int = 3) -> Path:
    """The shipped error table, but with a labeller that gets ``error_rate_cases`` of 103 skin groups wrong in
    each group: balance and gate tests that need the labeller's error to matter must not depend on how good
    the shipped auditor happens to be."""
    import json

    shipped = Path(__file__).resolve().parents[1] / "core" / "castgate" / "data" / "labeller-error.json"
    table = json.loads(shipped.read_text())
    skin = table["attributes"]["skin_group"]
    skin["confusion"] = {"lighter": {"lighter": {"lighter": 100}, "darker": {"lighter": error_rate_cases}},
                         "darker": {"darker": {"darker": 100}, "lighter": {"darker": error_rate_cases}}}
    skin["cases"] = {"lighter": 100 + error_rate_cases, "darker": 100 + error_rate_cases}
    skin["abstained"] = {"lighter": 0, "darker": 0}
    path = Path(folder) / "labeller-error.json"
    path.write_text(json.dumps(table))
    return path


__all__ += ["erring_error_table", "png_bytes", "make_image_batch", "plate_ids", "astronaut", "grace_hopper", "resized", "retone_skin"]
