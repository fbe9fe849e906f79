"""Re-tone the facial skin of a real photograph to a Monk swatch, keeping its shading (for validation).

The auditor is validated on real photographs whose skin is re-toned across the ten Monk swatches, so the
same face, pose, light and camera are seen at every tone and only the skin colour changes. Three methods,
so that no single way of re-toning decides the result:

* ``linear`` - in linear light each skin pixel becomes ``swatch * shading``, where shading is the pixel's
  luminance over the 95th percentile of skin luminance: fully lit skin shows the swatch, the rest is
  shaded as before.
* ``lab`` - in CIELAB each skin pixel's L* is scaled by swatch L* / (L* of the lit skin), so the lit skin
  takes the swatch's lightness and shading keeps its relative depth; a* and b* become the swatch's plus
  the pixel's offset from the lit skin's, shrunk by the swatch's chroma over the lit skin's when the
  swatch is the paler (texture and blush kept in proportion). The lit skin is the mean of the skin
  between the 85th and 95th L* percentiles. (Until 0.1.0 the offsets were taken from the skin's median
  and never shrunk: on warm photos such as insightface's t1 the lit skin of a Monk 3-4 re-tone came out
  green-grey, b* -4 against the swatch's +14 to +18, so the case's "truth" was not what it showed.)
* ``multiply`` - what a photo editor's multiply layer does: in sRGB (gamma-encoded) values each skin pixel
  is multiplied by swatch / (mean colour of the skin between the 85th and 95th luminance percentiles), per
  channel.

Skin is the part of an ellipse around the face (from the eye centres and nose base) whose colour lies
within 25 ΔE (by default) of the cheeks' median; eyes, brows, lips and hair keep their colours.

Example:
    >>> dark = retone(rgb, landmarks, MONK_SWATCHES[9], "lab")
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from castgate.audit.skin_tone import (face_frame, hex_to_rgb, linear_to_srgb, patch_pixels, srgb_to_lab,
                                      srgb_to_linear)

METHODS = ("linear", "lab", "multiply")
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def skin_mask(rgb: np.ndarray, landmarks: Sequence[Sequence[float]], max_delta_e: float = 25.0) -> np.ndarray:
    """``[H, W]`` bool: the facial skin re-toning changes (ellipse around the face, within ``max_delta_e`` of
    the cheeks' colour)."""
    origin, unit_x, unit_y, distance = face_frame(landmarks)
    height, width = rgb.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    rel = np.stack([cols + 0.5 - origin[0], rows + 0.5 - origin[1]], axis=-1) / distance
    fx, fy = rel @ unit_x, rel @ unit_y
    ellipse = (fx / 1.15) ** 2 + ((fy - 0.35) / 1.45) ** 2 <= 1.0
    cheeks = [rgb[r, c] for name, (r, c, _) in patch_pixels((height, width), landmarks).items() if "cheek" in name]
    reference = np.median(srgb_to_lab(np.concatenate(cheeks)), axis=0)
    mask = ellipse.copy()
    mask[ellipse] = np.linalg.norm(srgb_to_lab(rgb[ellipse]) - reference, axis=-1) < max_delta_e
    return mask


def _lit_band(values: np.ndarray) -> np.ndarray:
    """The lit skin: pixels between the 85th and 95th percentiles of ``values`` (luminance or L*), above
    the shading and below the highlights."""
    low, high = np.percentile(values, (85, 95))
    return (values >= low) & (values <= high)


def retone(rgb: np.ndarray, landmarks: Sequence[Sequence[float]], swatch: str, method: str = "linear",
           mask: np.ndarray | None = None) -> np.ndarray:
    """The photo with its facial skin re-toned to ``swatch`` by ``method`` (see the module doc).

    Args:
        rgb: ``[H, W, 3]`` uint8 sRGB (a greyscale photo given as three equal channels works too).
        landmarks: the face's 5 landmarks in dlib's order (two points per eye, then the nose base).
        swatch: ``"#rrggbb"``.
        method: one of :data:`METHODS`.
        mask: the skin mask, when already computed (:func:`skin_mask`).
    Raises:
        ValueError: an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown re-tone method {method!r}; use one of {', '.join(METHODS)}")
    mask = skin_mask(rgb, landmarks) if mask is None else mask
    out = rgb.copy()
    pixels = rgb[mask].astype(np.float64)
    target = hex_to_rgb(swatch).astype(np.float64)
    if method == "linear":
        linear = srgb_to_linear(pixels)
        luminance = linear @ _LUMA
        shading = np.clip(luminance / np.percentile(luminance, 95), 0.0, 1.25)
        encoded = linear_to_srgb(srgb_to_linear(target)[None, :] * shading[:, None])
        out[mask] = np.round(encoded * 255.0).astype(np.uint8)
    elif method == "lab":
        from skimage.color import lab2rgb

        lab = srgb_to_lab(pixels.astype(np.uint8))
        lit = lab[_lit_band(lab[:, 0])].mean(axis=0)
        goal = srgb_to_lab(target.astype(np.uint8))
        # Chroma offsets shrink with the swatch's chroma, so a pale swatch is not pushed past grey.
        scale = min(1.0, float(np.hypot(*goal[1:])) / max(float(np.hypot(*lit[1:])), 1.0))
        moved = np.empty_like(lab)
        moved[:, 0] = np.clip(lab[:, 0] * goal[0] / max(lit[0], 1.0), 0.0, 100.0)
        moved[:, 1:] = goal[1:] + (lab[:, 1:] - lit[1:]) * scale
        rgb_float = lab2rgb(moved.reshape(-1, 1, 3), illuminant="D65", observer="2").reshape(-1, 3)
        out[mask] = np.round(np.clip(rgb_float, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:  # multiply
        bright = pixels[_lit_band(pixels @ _LUMA)].mean(axis=0)
        out[mask] = np.round(np.clip(pixels * (target / np.maximum(bright, 1.0)), 0, 255)).astype(np.uint8)
    return out
