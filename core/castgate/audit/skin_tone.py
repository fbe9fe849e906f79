"""Skin tone from the pixels of one face: ITA on float CIELAB, Fitzpatrick I-VI and Monk 1-10.

Pure functions, no I/O. The steps (each is documented in docs/audit.md):

1. **Patches.** Three patches placed from the 5 facial landmarks in a face frame whose unit is the
   distance between the eye centres: both cheeks (below the eyes, beside the nose, above the mouth)
   and the forehead (above the brows). Eyes, brows, lips and most hair lie outside them by
   construction.
2. **Skin pixels.** Transparent, clipped (any channel >= 250) and crushed (all channels <= 3) pixels
   are dropped; pixels are converted from sRGB to CIELAB (D65) in float (scikit-image, not 8-bit
   OpenCV Lab); a patch whose median disagrees with the others by more than
   :data:`PATCH_DISAGREEMENT_DE` (30 ΔE) is dropped as hair, a hand or a hat; of the rest, pixels more
   than 2.5 robust standard deviations (MAD) from the median in any channel are dropped, and more than
   2 above it in L* (specular highlights).
3. **The lit skin**: the mean of the brightest :data:`LIT_SHARE` of the remaining pixels by L*, widened
   to at least :data:`LIT_MIN_PIXELS` pixels (at most the brighter half) on small faces; **ITA** =
   atan2(L* - 50, b*) * 180 / pi.
4. **Fitzpatrick** I-VI from a cited ITA table (:data:`FITZPATRICK_TABLES`), grouped lighter (I-III) /
   darker (IV-VI); **Monk** 1-10 by the official swatch that best explains the lit skin in CIEDE2000,
   allowing the face to be in shade (:func:`monk_distances`).
5. **Confidence.** The measurement's uncertainty (a floor for camera and lighting, plus the spread
   between patches and the pixels' standard error) is propagated to ITA; a class's confidence is
   the probability mass of that class under that uncertainty.

Lighting, white balance and the image generator's colour all move ITA: this is the tone *as shown
in the plate*, not anyone's skin type. A face lit in a strong colour will be measured in that colour.

Example:
    >>> measurement = measure_skin(rgb, face.landmarks)
    >>> round(measurement.ita), fitzpatrick_type(measurement.ita), monk_tone(measurement.lab)
    (48, 'II', '3')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")
LIGHTER_TYPES = ("I", "II", "III")

# The official Monk Skin Tone scale swatches (Google / Ellis Monk, 2023), tones 1..10, sRGB.
MONK_SWATCHES = ("#f6ede4", "#f3e7db", "#f7ead0", "#eadaba", "#d7bd96",
                 "#a07e56", "#825c43", "#604134", "#3a312a", "#292420")


@dataclass(frozen=True)
class FitzpatrickTable:
    """An ITA -> Fitzpatrick table: type I above ``bounds[0]``, II in (bounds[1], bounds[0]], ...,
    VI at or below ``bounds[4]``. ``bounds[2]`` separates lighter (I-III) from darker (IV-VI)."""

    name: str
    bounds: tuple[float, float, float, float, float]
    citation: str

    @property
    def group_bound(self) -> float:
        return self.bounds[2]


FITZPATRICK_TABLES: dict[str, FitzpatrickTable] = {
    "kinyanjui2019": FitzpatrickTable(
        "kinyanjui2019", (55.0, 41.0, 28.0, 19.0, 10.0),
        "N. M. Kinyanjui et al., 'Estimating skin tone and effects on classification performance in "
        "dermatology datasets', NeurIPS 2019 Fair ML for Health workshop, arXiv:1910.13268 (ITA bands "
        "very light > 55, light 41-55, intermediate 28-41, tanned 19-28 and 10-19, dark <= 10), mapped to "
        "Fitzpatrick I-VI as in M. Groh et al., 'Evaluating Deep Neural Networks Trained on Clinical "
        "Images in Dermatology with the Fitzpatrick 17k Dataset', CVPR Workshops 2021"),
    "chardon1991": FitzpatrickTable(
        "chardon1991", (55.0, 41.0, 28.0, 10.0, -30.0),
        "A. Chardon, I. Cretois, C. Hourseau, 'Skin colour typology and suntanning pathways', Int. J. "
        "Cosmet. Sci. 13 (1991) 191-208: ITA categories very light > 55, light 41-55, intermediate 28-41, "
        "tan 10-28, brown -30-10, dark <= -30, taken in order as Fitzpatrick I-VI"),
}

# Patches in the face frame: origin between the eye centres, x towards the image-right eye, y down
# the face, unit = distance between the eye centres. (x0, x1, y0, y1).
PATCHES: dict[str, tuple[float, float, float, float]] = {
    "left_cheek": (-0.74, -0.32, 0.32, 0.72),
    "right_cheek": (0.32, 0.74, 0.32, 0.72),
    "forehead": (-0.36, 0.36, -0.92, -0.52),
}

# Uncertainty floor per L*, a*, b*: what camera, compression and lighting leave even on a clean patch.
SIGMA_FLOOR = (2.0, 1.0, 1.0)
SINGLE_PATCH_SPREAD = (3.0, 1.5, 1.5)   # stand-in for between-patch spread when one patch is left
# A patch this far (ΔE76) from the patches' median is dropped as hair, a hand or a hat. Lit forehead and
# shaded cheeks of one face differ by 12-20 ΔE on real photos, so the earlier, tighter test (12 ΔE) dropped
# skin, more so on small faces, and made the estimate jump between neighbouring tones.
PATCH_DISAGREEMENT_DE = 30.0
PIXEL_CORRELATION = 9.0                 # neighbouring pixels are not independent: n_eff = n / 9
CLIP_HIGH = 250
CLIP_LOW = 3
LIT_SHARE = 0.15          # the lit skin: this brightest share of the skin pixels by L* ...
LIT_MIN_PIXELS = 40       # ... but at least this many pixels (at most the brighter half), for small faces
# A face in shade shows its swatch darker: Monk compares the lit skin with each swatch seen at any light
# level in this range (linear light x a), with no penalty for shade. LIT_SHARE, PATCH_DISAGREEMENT_DE and
# the penalty were chosen by leave-one-photo-out on the default validation set
# (scripts/select_skin_settings.py): every held-out photo chose no penalty, ten of eleven 30 ΔE.
MONK_SHADING_RANGE = (0.5, 1.0)


@dataclass(frozen=True)
class SkinMeasurement:
    """The measured skin colour of one face."""

    lab: tuple[float, float, float]           # robust mean L*, a*, b* (D65)
    lab_sigma: tuple[float, float, float]     # its standard uncertainty per channel
    ita: float                                # degrees
    ita_sigma: float                          # degrees
    pixel_count: int                          # skin pixels the mean is over
    patches: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-patch counts and means

    def details(self) -> dict[str, Any]:
        """A plain summary for label details."""
        return {"ita": round(self.ita, 2), "ita_sigma": round(self.ita_sigma, 2),
                "lab": [round(v, 2) for v in self.lab], "lab_sigma": [round(v, 2) for v in self.lab_sigma],
                "pixel_count": self.pixel_count, "patches": self.patches}


class SkinUnmeasurable(ValueError):
    """The face's skin cannot be measured; the message says why, in words."""


# -- colour ----------------------------------------------------------------------------------------
def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8 or float 0..1, ``[..., 3]``) to CIELAB D65/2° in float64."""
    from skimage.color import rgb2lab

    values = np.asarray(rgb)
    if values.dtype == np.uint8:
        values = values.astype(np.float64) / 255.0
    flat = values.reshape(-1, 1, 3).astype(np.float64)
    return rgb2lab(flat, illuminant="D65", observer="2").reshape(values.shape)


def hex_to_rgb(code: str) -> np.ndarray:
    """``"#rrggbb"`` to a uint8 ``[3]`` array."""
    code = code.lstrip("#")
    return np.array([int(code[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)


def hex_to_lab(code: str) -> np.ndarray:
    """``"#rrggbb"`` to CIELAB."""
    return srgb_to_lab(hex_to_rgb(code))


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB 0..255 (any dtype) to linear light 0..1, float64."""
    v = np.asarray(values, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear light (clipped to 0..1) to sRGB-encoded 0..1, float64."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


_MONK_LAB: np.ndarray | None = None


def monk_lab() -> np.ndarray:
    """CIELAB of the ten Monk swatches, ``[10, 3]``."""
    global _MONK_LAB
    if _MONK_LAB is None:
        _MONK_LAB = np.stack([hex_to_lab(code) for code in MONK_SWATCHES])
    return _MONK_LAB


def ita_degrees(lightness: float, b_star: float) -> float:
    """Individual Typology Angle: ``atan2(L* - 50, b*) * 180 / pi`` (degrees)."""
    return math.degrees(math.atan2(lightness - 50.0, b_star))


# -- classification --------------------------------------------------------------------------------
def fitzpatrick_table(name: str) -> FitzpatrickTable:
    """The table of that name; KeyError lists the names."""
    try:
        return FITZPATRICK_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown Fitzpatrick table {name!r}; use one of {', '.join(FITZPATRICK_TABLES)}") \
            from None


def fitzpatrick_type(ita: float, table: str = "kinyanjui2019") -> str:
    """Fitzpatrick type (``"I"`` .. ``"VI"``) for an ITA in degrees.

    Example:
        >>> fitzpatrick_type(48.0), fitzpatrick_type(-20.0)
        ('II', 'VI')
    """
    bounds = fitzpatrick_table(table).bounds
    for index, bound in enumerate(bounds):
        if ita > bound:
            return FITZPATRICK_TYPES[index]
    return FITZPATRICK_TYPES[-1]


def skin_group(fitzpatrick: str) -> str:
    """``"lighter"`` for Fitzpatrick I-III, ``"darker"`` for IV-VI."""
    return "lighter" if fitzpatrick in LIGHTER_TYPES else "darker"


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def fitzpatrick_probabilities(ita: float, sigma: float, table: str = "kinyanjui2019") -> dict[str, float]:
    """Probability of each type when the true ITA is normal around ``ita`` with ``sigma`` degrees."""
    sigma = max(sigma, 1e-6)
    edges = [math.inf, *fitzpatrick_table(table).bounds, -math.inf]
    out = {}
    for index, kind in enumerate(FITZPATRICK_TYPES):
        upper, lower = edges[index], edges[index + 1]
        p_upper = 1.0 if upper == math.inf else _normal_cdf((upper - ita) / sigma)
        p_lower = 0.0 if lower == -math.inf else _normal_cdf((lower - ita) / sigma)
        out[kind] = max(p_upper - p_lower, 0.0)
    return out


def lighter_probability(ita: float, sigma: float, table: str = "kinyanjui2019") -> float:
    """Probability that the ITA lies above the table's III/IV bound (lighter)."""
    return 1.0 - _normal_cdf((fitzpatrick_table(table).group_bound - ita) / max(sigma, 1e-6))


_MONK_SHADED: tuple[np.ndarray, np.ndarray] | None = None


def monk_shaded_lab() -> tuple[np.ndarray, np.ndarray]:
    """Each Monk swatch seen in shade: CIELAB ``[10, S, 3]`` of the swatch at S light levels spread over
    :data:`MONK_SHADING_RANGE` (linear light times the level), and the levels ``[S]``."""
    global _MONK_SHADED
    if _MONK_SHADED is None:
        low, high = MONK_SHADING_RANGE
        levels = np.exp(np.linspace(math.log(low), math.log(high), 29))
        linear = np.stack([srgb_to_linear(hex_to_rgb(code)) for code in MONK_SWATCHES])
        _MONK_SHADED = (srgb_to_lab(linear_to_srgb(linear[:, None, :] * levels[None, :, None])), levels)
    return _MONK_SHADED


def monk_distances(lab: Sequence[float], shade_penalty: float = 0.0) -> np.ndarray:
    """How far ``lab`` is from each Monk swatch, ``[10]``: the CIEDE2000 distance to the swatch seen at
    the light level in :data:`MONK_SHADING_RANGE` that matches best (plus ``shade_penalty`` ΔE per unit
    of the level's natural log, a prior against shade; 0 by default, see :data:`MONK_SHADING_RANGE`). At
    full light each swatch is at distance 0 from itself.

    People judge a tone with the shade discounted: a pale face in shade is still pale, though its
    lit-skin L* may sit nearer a darker swatch's."""
    from skimage.color import deltaE_ciede2000

    shaded, levels = monk_shaded_lab()
    sample = np.broadcast_to(np.asarray(lab, dtype=np.float64), shaded.shape)
    distances = np.asarray(deltaE_ciede2000(sample, shaded), dtype=np.float64)
    return (distances + shade_penalty * np.abs(np.log(levels))[None, :]).min(axis=1)


def monk_tone(lab: Sequence[float], shade_penalty: float = 0.0) -> str:
    """The Monk tone (``"1"`` .. ``"10"``) that best explains ``lab`` (:func:`monk_distances`)."""
    return str(int(np.argmin(monk_distances(lab, shade_penalty))) + 1)


def monk_probabilities(lab: Sequence[float], sigma_de: float, distances: np.ndarray | None = None
                       ) -> dict[str, float]:
    """A Gaussian likelihood over the swatches: P(tone k) ∝ exp(-ΔE00_k² / 2σ²), normalised."""
    distances = monk_distances(lab) if distances is None else distances
    sigma = max(sigma_de, 1e-6)
    logits = -(distances ** 2) / (2 * sigma ** 2)
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    return {str(k + 1): float(w) for k, w in enumerate(weights)}


# -- measurement -----------------------------------------------------------------------------------
def face_frame(landmarks: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (between the eye centres), x unit, y unit (down the face) and eye distance in pixels,
    from dlib's 5 landmarks (two corners per eye, then the nose base)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise SkinUnmeasurable(f"expected 5 facial landmarks, got {len(points)}")
    first, second = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    left, right = (first, second) if first[0] <= second[0] else (second, first)
    axis = right - left
    distance = float(np.hypot(*axis))
    if distance < 2.0:
        raise SkinUnmeasurable("eyes less than 2 pixels apart")
    unit_x = axis / distance
    unit_y = np.array([-unit_x[1], unit_x[0]])
    origin = (left + right) / 2
    if (points[4] - origin) @ unit_y < 0:  # the nose is below the eyes in the face frame
        unit_y = -unit_y
    return origin, unit_x, unit_y, distance


def patch_pixels(shape: tuple[int, int], landmarks: Sequence[Sequence[float]]
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """For each patch: row and column indices of its pixels inside the image, and the share of the
    patch that lies inside the image."""
    height, width = shape
    origin, unit_x, unit_y, distance = face_frame(landmarks)
    out = {}
    for name, (x0, x1, y0, y1) in PATCHES.items():
        corners = np.array([origin + distance * (x * unit_x + y * unit_y)
                            for x in (x0, x1) for y in (y0, y1)])
        c0, r0 = np.floor(corners.min(axis=0)).astype(int)
        c1, r1 = np.ceil(corners.max(axis=0)).astype(int)
        rows, cols = np.mgrid[r0:r1 + 1, c0:c1 + 1]
        rel = np.stack([cols + 0.5 - origin[0], rows + 0.5 - origin[1]], axis=-1) / distance
        fx, fy = rel @ unit_x, rel @ unit_y
        inside = (fx >= x0) & (fx <= x1) & (fy >= y0) & (fy <= y1)
        total = int(inside.sum())
        in_image = inside & (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        share = float(in_image.sum()) / total if total else 0.0
        out[name] = (rows[in_image], cols[in_image], share)
    return out


def measure_skin(rgb: np.ndarray, landmarks: Sequence[Sequence[float]], opaque: np.ndarray | None = None,
                 *, min_pixels: int = 40, lit_share: float = LIT_SHARE,
                 lit_min_pixels: int = LIT_MIN_PIXELS,
                 patch_disagreement: float = PATCH_DISAGREEMENT_DE) -> SkinMeasurement:
    """Measure the skin colour of the face with these landmarks.

    Args:
        rgb: ``[H, W, 3]`` uint8 sRGB image.
        landmarks: dlib's 5 facial landmarks of the face, ``(x, y)`` in pixels.
        opaque: optional ``[H, W]`` bool mask of pixels that may be measured (False where transparent).
        min_pixels: fewer skin pixels than this raises :class:`SkinUnmeasurable`.
        lit_share, lit_min_pixels: the lit skin is the brightest ``lit_share`` of the skin pixels, but at
            least ``lit_min_pixels`` of them (and at most the brighter half).
        patch_disagreement: a patch whose median is further than this (ΔE76) from the patches' median
            is dropped.
    Returns:
        The measurement, with per-patch details.
    Raises:
        SkinUnmeasurable: too few usable skin pixels, with the reason in words.
    Example:
        >>> m = measure_skin(rgb, face.landmarks)
        >>> m.pixel_count > 40
        True
    """
    patches: dict[str, dict[str, Any]] = {}
    chosen: dict[str, np.ndarray] = {}
    for name, (rows, cols, share) in patch_pixels(rgb.shape[:2], landmarks).items():
        info: dict[str, Any] = {"pixels": int(rows.size)}
        patches[name] = info
        if share < 0.5:
            info["dropped"] = "mostly outside the image"
            continue
        pixels = rgb[rows, cols]
        keep = (pixels.max(axis=1) < CLIP_HIGH) & (pixels.max(axis=1) > CLIP_LOW)
        if opaque is not None:
            keep &= opaque[rows, cols]
        if keep.sum() < max(4, 0.3 * rows.size):
            info["dropped"] = "mostly clipped highlights, black or transparent pixels"
            continue
        chosen[name] = pixels[keep]
        info["usable"] = int(keep.sum())
    samples: dict[str, np.ndarray] = {}
    if chosen:  # one conversion for all patches
        lab_all = srgb_to_lab(np.concatenate(list(chosen.values())))
        bounds = np.cumsum([0] + [len(v) for v in chosen.values()])
        samples = {name: lab_all[bounds[n]:bounds[n + 1]] for n, name in enumerate(chosen)}
    if not samples:
        raise SkinUnmeasurable("no usable skin patch (cheeks and forehead are clipped, transparent or "
                               "outside the image)")

    # Drop a patch that disagrees with the consensus of the patches (hair over the forehead, a cheek
    # in hard shadow or behind a hand).
    medians = {name: np.median(lab, axis=0) for name, lab in samples.items()}
    if len(medians) >= 3:
        consensus = np.median(np.stack(list(medians.values())), axis=0)
        distances = {name: float(np.linalg.norm(m - consensus)) for name, m in medians.items()}
        closest = min(distances, key=lambda name: distances[name])
        for name, distance in distances.items():
            if distance > patch_disagreement and name != closest:
                patches[name]["dropped"] = f"disagrees with the other patches by {distance:.1f} ΔE"
                del samples[name]
        if len(samples) == 1:  # no two patches agree: the landmarks are probably off the face
            raise SkinUnmeasurable("no two skin patches agree (each differs from the others by more than "
                                   f"{patch_disagreement:g} ΔE): the facial landmarks are probably misplaced")
    elif len(medians) == 2:
        first, second = medians.values()
        distance = float(np.linalg.norm(first - second))
        if distance > patch_disagreement:  # no majority to tell which is right: keep both, widen σ
            for name in medians:
                patches[name]["note"] = f"the two usable patches disagree by {distance:.1f} ΔE"

    pooled = np.concatenate(list(samples.values()))
    owner = np.concatenate([np.full(len(v), n) for n, v in enumerate(samples.values())])
    median = np.median(pooled, axis=0)
    spread = 1.4826 * np.median(np.abs(pooled - median), axis=0)
    spread = np.maximum(spread, (1.0, 0.5, 0.5))
    z = (pooled - median) / spread
    inlier = np.all(np.abs(z) <= 2.5, axis=1) & (z[:, 0] <= 2.0)
    count = int(inlier.sum())
    if count < min_pixels:
        raise SkinUnmeasurable(f"too few skin pixels to measure ({count}, minimum {min_pixels})")
    # The lit part of the skin: shading, pores and wrinkles only darken skin, and people judge tone
    # where the light falls on it, so the estimate is the mean of the brightest share of the inliers
    # (highlights are already out), widened on small faces so that it rests on enough pixels.
    share = min(max(lit_share, lit_min_pixels / count), 0.5)
    lit = inlier & (pooled[:, 0] >= np.quantile(pooled[inlier, 0], 1.0 - share))
    count = int(lit.sum())
    kept = pooled[lit]
    mean = kept.mean(axis=0)
    inlier = lit

    patch_means = []
    for n, name in enumerate(samples):
        mine = pooled[inlier & (owner == n)]
        patches[name]["skin_pixels"] = int(len(mine))
        if len(mine):
            patches[name]["lab"] = [round(float(v), 2) for v in mine.mean(axis=0)]
            patch_means.append(mine.mean(axis=0))
    floor = np.asarray(SIGMA_FLOOR)
    if len(patch_means) >= 2:
        between = np.std(np.stack(patch_means), axis=0, ddof=1)
    else:
        between = np.asarray(SINGLE_PATCH_SPREAD)
    within = kept.std(axis=0) / math.sqrt(max(count / PIXEL_CORRELATION, 1.0))
    sigma = np.sqrt(floor ** 2 + between ** 2 + within ** 2)

    lightness, b_star = float(mean[0]), float(mean[2])
    ita = ita_degrees(lightness, b_star)
    radius2 = (lightness - 50.0) ** 2 + b_star ** 2
    ita_sigma = math.degrees(math.sqrt((b_star * sigma[0]) ** 2 + ((lightness - 50.0) * sigma[2]) ** 2)
                             / max(radius2, 1e-6))
    return SkinMeasurement(lab=(float(mean[0]), float(mean[1]), float(mean[2])),
                           lab_sigma=(float(sigma[0]), float(sigma[1]), float(sigma[2])),
                           ita=ita, ita_sigma=min(ita_sigma, 180.0), pixel_count=count, patches=patches)


@dataclass(frozen=True)
class SkinClasses:
    """The measurement's classes with their confidences (probability of the class picked)."""

    fitzpatrick: str
    fitzpatrick_confidence: float
    skin_group: str
    skin_group_confidence: float
    monk: str
    monk_confidence: float
    monk_distances: tuple[float, ...]
    table: str


def classify_skin(measurement: SkinMeasurement, table: str = "kinyanjui2019") -> SkinClasses:
    """Fitzpatrick type, lighter/darker group and Monk tone of a measurement, with confidences.

    Example:
        >>> classes = classify_skin(measurement)
        >>> classes.skin_group, classes.fitzpatrick
        ('lighter', 'II')
    """
    kind = fitzpatrick_type(measurement.ita, table)
    fitz_p = fitzpatrick_probabilities(measurement.ita, measurement.ita_sigma, table)
    group = skin_group(kind)
    p_lighter = lighter_probability(measurement.ita, measurement.ita_sigma, table)
    sigma_de = float(np.linalg.norm(measurement.lab_sigma))
    distances = monk_distances(measurement.lab)
    monk_p = monk_probabilities(measurement.lab, sigma_de, distances)
    tone = str(int(np.argmin(distances)) + 1)
    return SkinClasses(fitzpatrick=kind, fitzpatrick_confidence=fitz_p[kind], skin_group=group,
                       skin_group_confidence=p_lighter if group == "lighter" else 1.0 - p_lighter,
                       monk=tone, monk_confidence=monk_p[tone],
                       monk_distances=tuple(round(float(d), 2) for d in distances), table=table)
