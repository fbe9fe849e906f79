"""Labelled images to validate the auditor on: the default re-tone sweep, or a studio's folder and CSV.

**The default set** is built from the real photographs that ship inside castgate's installed dependencies
(:data:`PHOTOS`), each re-toned (:mod:`castgate.audit.retone`) to every one of the ten Monk swatches by
each of the three re-tone methods, and framed four ways (:data:`FRAMINGS`):

* ``plate`` - the photo scaled to 256 px wide, as a plate proxy is;
* ``mirror`` - the same, mirrored left to right;
* ``face32`` / ``face24`` - the photo scaled so the face is about 32 / 24 px wide (face width taken as
  2.1 x the distance between the eye centres, which is the width of dlib's face box on these photos) and
  placed with the face at the centre of a 256 x 256 frame filled with the photo's mean border colour:
  small background characters.

The truth of every case is known by construction: the photo's perceived gender presentation (as the
published caption describes the person), the Monk tone of the swatch, and its skin group (Monk 1-5
lighter, 6-10 darker). Each photo's face landmarks (eye corners and nose base, in dlib's 5-point order)
are annotated once below, in the photo's own pixels, so the re-tone never depends on the detector under
test. Both photos show women: the default set measures female-to-male flips only, which is why a studio
should also validate on its own labelled plates (the only other portrait among the installed packages,
scikit-image's greyscale ``camera()``, hides most of the face behind the camera).

**A studio's set** is a folder of images plus a CSV in the review-import format (``plate_id`` and any of
``gender``, ``skin_group``, ``fitzpatrick``, ``monk``; ``plate_id`` is the image's file name without its
extension); see docs/audit.md.

Example:
    >>> cases = default_cases()
    >>> len(cases), cases[0].id
    (240, 'astronaut-linear-m01-plate')
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from castgate.errors import LabelsFileError

FRAMINGS = ("plate", "mirror", "face32", "face24")
PLATE_SIZE = 256
FACE_WIDTH_PER_EYE_DISTANCE = 2.1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Photo:
    """A real photograph installed with a dependency, and what is true about it."""

    name: str
    load: Callable[[], np.ndarray]        # [H, W, 3] uint8
    gender: str                           # perceived gender presentation, as published
    landmarks: tuple[tuple[float, float], ...]  # annotated, dlib 5-point order, in the photo's pixels
    source: str                           # where it comes from and its licence, in words


@dataclass(frozen=True)
class Case:
    """One labelled image: an array (made on demand) or a file, and its true labels."""

    id: str
    truth: Mapping[str, str]              # attribute -> true value (any of gender, skin_group, fitzpatrick, monk)
    make: Callable[[], Any] = field(compare=False, repr=False)  # -> image (array or path) for audit_image
    photo: str | None = None              # default set: which photo, method and framing made it
    method: str | None = None
    framing: str | None = None

    @property
    def monk(self) -> int | None:
        value = self.truth.get("monk")
        return int(value) if value and value.isdigit() else None

    @property
    def skin_group(self) -> str | None:
        group = self.truth.get("skin_group")
        if group in ("lighter", "darker"):
            return group
        if self.monk is not None:
            return "lighter" if self.monk <= 5 else "darker"
        return None


def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut())


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.ascontiguousarray(np.asarray(Image.open(handle).convert("RGB")))


PHOTOS: dict[str, Photo] = {photo.name: photo for photo in (
    Photo("astronaut", _astronaut, "female",
          ((255.0, 104.0), (238.0, 105.0), (195.0, 101.0), (212.0, 103.0), (224.0, 135.0)),
          "scikit-image skimage.data.astronaut(): NASA portrait of astronaut Eileen Collins, 512x512, "
          "public domain (scikit-image's data README)"),
    Photo("grace_hopper", _grace_hopper, "female",
          ((322.0, 187.0), (291.0, 190.0), (206.0, 197.0), (238.0, 194.0), (272.0, 252.0)),
          "matplotlib sample_data/grace_hopper.jpg: US Navy portrait of Rear Admiral Grace Hopper, 512x600, "
          "public domain"),
)}


@functools.lru_cache(maxsize=8)
def _photo_pixels(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its skin mask (cached: a sweep re-tones each photo 30 times)."""
    from castgate.audit.retone import skin_mask

    photo = PHOTOS[name]
    rgb = photo.load()
    return rgb, skin_mask(rgb, photo.landmarks)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    width, height = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def frame(rgb: np.ndarray, landmarks: Sequence[Sequence[float]], framing: str) -> np.ndarray:
    """The (re-toned) photo framed as a validation plate (see the module doc)."""
    if framing in ("plate", "mirror"):
        plate = _resize(rgb, PLATE_SIZE / rgb.shape[1])
        return np.ascontiguousarray(plate[:, ::-1]) if framing == "mirror" else plate
    if not framing.startswith("face") or not framing[4:].isdigit():
        raise ValueError(f"unknown framing {framing!r}; use one of {', '.join(FRAMINGS)} or faceN")
    points = np.asarray(landmarks, dtype=np.float64)
    eyes = (points[0:2].mean(axis=0), points[2:4].mean(axis=0))
    eye_distance = float(np.hypot(*(eyes[0] - eyes[1])))
    scale = int(framing[4:]) / (FACE_WIDTH_PER_EYE_DISTANCE * eye_distance)
    small = _resize(rgb, scale)
    centre = (points[:4].mean(axis=0) * 0.5 + points[4] * 0.5) * scale   # between the eyes and the nose
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).mean(axis=0)
    out = np.empty((PLATE_SIZE, PLATE_SIZE, 3), np.uint8)
    out[:] = np.round(border).astype(np.uint8)
    left, top = round(PLATE_SIZE / 2 - centre[0]), round(PLATE_SIZE / 2 - centre[1])
    src_x0, src_y0 = max(0, -left), max(0, -top)
    dst_x0, dst_y0 = max(0, left), max(0, top)
    width = min(small.shape[1] - src_x0, PLATE_SIZE - dst_x0)
    height = min(small.shape[0] - src_y0, PLATE_SIZE - dst_y0)
    out[dst_y0:dst_y0 + height, dst_x0:dst_x0 + width] = small[src_y0:src_y0 + height, src_x0:src_x0 + width]
    return out


def sweep_image(photo: str, method: str, tone: int, framing: str) -> np.ndarray:
    """One image of the default sweep."""
    from castgate.audit.retone import retone
    from castgate.audit.skin_tone import MONK_SWATCHES

    rgb, mask = _photo_pixels(photo)
    landmarks = PHOTOS[photo].landmarks
    return frame(retone(rgb, landmarks, MONK_SWATCHES[tone - 1], method, mask), landmarks, framing)


def default_cases(photos: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                  framings: Sequence[str] | None = None, tones: Sequence[int] | None = None) -> list[Case]:
    """The default sweep (or a subset of it): photo x re-tone method x Monk tone x framing.

    Raises:
        ValueError: an unknown photo, method, framing or tone.
    """
    from castgate.audit.retone import METHODS

    photos = list(photos or PHOTOS)
    methods = list(methods or METHODS)
    framings = list(framings or FRAMINGS)
    tones = list(tones or range(1, 11))
    for name, chosen, allowed in (("photo", photos, tuple(PHOTOS)), ("method", methods, METHODS),
                                  ("framing", framings, FRAMINGS), ("tone", tones, tuple(range(1, 11)))):
        unknown = [v for v in chosen if v not in allowed]
        if unknown:
            raise ValueError(f"unknown {name}(s) {', '.join(map(str, unknown))}; use "
                             f"{', '.join(map(str, allowed))}")
    cases = []
    for photo in photos:
        for method in methods:
            for tone in tones:
                for framing in framings:
                    truth = {"gender": PHOTOS[photo].gender, "monk": str(tone),
                             "skin_group": "lighter" if tone <= 5 else "darker"}
                    cases.append(Case(id=f"{photo}-{method}-m{tone:02d}-{framing}", truth=truth,
                                      make=functools.partial(sweep_image, photo, method, tone, framing),
                                      photo=photo, method=method, framing=framing))
    return cases


def describe_default(cases: Sequence[Case]) -> str:
    """The set in words, for the error table's ``set``."""
    photos = sorted({c.photo for c in cases if c.photo})
    methods = sorted({c.method for c in cases if c.method})
    framings = [f for f in FRAMINGS if any(c.framing == f for c in cases)]
    tones = sorted({c.monk for c in cases if c.monk})
    return (f"castgate re-tone sweep: {len(cases)} images = {len(photos)} real photographs "
            f"({', '.join(photos)}) x {len(methods)} re-tone methods ({', '.join(methods)}) x {len(tones)} Monk "
            f"tones x {len(framings)} framings ({', '.join(framings)}); see docs/audit.md")


# -- a studio's own labelled plates ----------------------------------------------------------------
def studio_cases(folder: Path, labels_csv: Path) -> list[Case]:
    """The images of ``folder`` labelled by ``labels_csv`` (review-import format; ``plate_id`` = file stem).

    Raises:
        LabelsFileError: the folder or CSV is missing, the CSV is malformed or names an image that is not
            in the folder (every problem is listed), or two images share a name.
    """
    from castgate.labels_table import read_csv_text
    from castgate.review import implied_values, parse_labels_csv

    folder, labels_csv = Path(folder), Path(labels_csv)
    if not folder.is_dir():
        raise LabelsFileError("the folder of images does not exist", where=str(folder),
                              fix="Give the folder that holds the labelled images")
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in images:
                raise LabelsFileError(f"two images are named {path.stem!r} ({images[path.stem].name}, "
                                      f"{path.name})", where=str(folder),
                                      fix="Give each image a unique name (plate_id = file name without "
                                          "extension)")
            images[path.stem] = path
    if not images:
        raise LabelsFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder", where=str(folder),
                              fix="Put the labelled images in the folder")
    parsed = parse_labels_csv(read_csv_text(labels_csv), images, source=str(labels_csv))
    cases = []
    for plate_id, values in parsed.labels.items():
        truth, _, _ = implied_values(values)
        truth = {a: v for a, v in truth.items() if v != "undetermined"}
        cases.append(Case(id=plate_id, truth=truth, make=functools.partial(str, images[plate_id])))
    return cases


def iter_images(cases: Sequence[Case]) -> Iterator[tuple[Case, Any]]:
    """Each case with its image, made one at a time."""
    for case in cases:
        yield case, case.make()
