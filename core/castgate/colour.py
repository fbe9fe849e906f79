"""Colour management through OpenColorIO: the decoder's sRGB image to ACEScg plates.

Plates are ACEScg (AP1 primaries, D60 white, scene-linear), whatever ``$OCIO`` says. The pixels are
always converted with OCIO's built-in ACES studio config pinned to a versioned ``ocio://`` URI
(:data:`WORKING_CONFIG`; ``ocio://studio-config-latest`` moves between OCIO releases, a pinned URI
keeps old batches reproducible).

The compositor's config is, in order: ``--ocio-config``, ``$OCIO``, else that same built-in config. It
only decides the *names* the manifest records, so that a Read node in the compositor can use them:
``exr_colourspace`` is that config's ACEScg-equivalent colour space, and ``png_colourspace`` its sRGB
texture space. The ACEScg-equivalent space is found by name or alias (:data:`ACESCG_NAMES`), or, when
the config has an ``aces_interchange`` role, by converting test colours from the built-in ACEScg into
each of its scene-referred spaces: the one that leaves them unchanged is ACEScg under another name. A
config with an interchange role that names a space ACEScg which is not, or a config with no
ACEScg-equivalent space at all (say, one whose scene_linear is linear Rec.709 and nothing else), is
refused with a :class:`~castgate.errors.ColourError` naming it: castgate would otherwise label ACEScg
pixels with a name that means something else there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from castgate.errors import ColourError

WORKING_CONFIG = "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6"
DEFAULT_CONFIG = WORKING_CONFIG  # the compositor's config when neither --ocio-config nor $OCIO is given
WORKING_SRGB = "sRGB Encoded Rec.709 (sRGB)"
WORKING_ACESCG = "ACEScg"
# Names the sRGB texture space goes by in the ACES configs (newest first) and in older studio configs.
SRGB_NAMES = ("sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture", "sRGB")
# Names ACEScg goes by: ACES configs, the colour interop ID, older studio configs.
ACESCG_NAMES = ("ACEScg", "ACES - ACEScg", "lin_ap1_scene", "lin_ap1", "Linear AP1", "acescg")
SCENE_LINEAR_ROLE = "scene_linear"
INTEROP_ID = "lin_ap1_scene"  # ACEScg's colour interop ID (written to EXR headers by OpenImageIO)
# AP1 primaries and the ACES (D60-like) white point, CIE xy: red, green, blue, white.
AP1_CHROMATICITIES = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
TEST_COLOURS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.18, 0.18, 0.18],
                         [2.0, 0.5, 0.05]], np.float32)
TOLERANCE = 2e-3


def config_uri(explicit: str | None = None) -> str:
    """The compositor's OCIO config: ``explicit``, else ``$OCIO``, else the pinned built-in studio config."""
    return explicit or os.environ.get("OCIO") or DEFAULT_CONFIG


@dataclass(frozen=True)
class ColourPipeline:
    """sRGB <-> ACEScg conversions (always in :data:`WORKING_CONFIG`), named for the compositor's config.

    Attributes:
        uri: the compositor's config.
        srgb_name: its sRGB texture colour space (what the PNG proxies are).
        scene_linear_name: its ACEScg-equivalent colour space (what the EXR plates are).

    Example:
        >>> pipeline = ColourPipeline.open()
        >>> pipeline.scene_linear_name
        'ACEScg'
    """

    uri: str
    srgb_name: str
    scene_linear_name: str

    @classmethod
    def open(cls, uri: str | None = None) -> "ColourPipeline":
        """Load the compositor's config and find its ACEScg-equivalent and sRGB texture colour spaces.

        Raises:
            ColourError: a config cannot be loaded, or the compositor's has no ACEScg-equivalent or no
                sRGB texture colour space.
        """
        uri = config_uri(uri)
        config = _load_config(uri)
        srgb = _named_space(config, SRGB_NAMES)
        if srgb is None:
            raise ColourError("the OCIO config has no sRGB texture colour space", where=uri,
                              fix=f"Use a config that defines one of {', '.join(SRGB_NAMES)}, "
                                  "or unset $OCIO to use the built-in ACES studio config")
        return cls(uri=uri, srgb_name=srgb, scene_linear_name=acescg_name(config, uri))

    @cached_property
    def _config(self):
        return _load_config(WORKING_CONFIG)

    def _processor(self, source: str, target: str):
        return self._config.getProcessor(source, target).getDefaultCPUProcessor()

    def srgb_to_scene_linear(self, rgb: np.ndarray) -> np.ndarray:
        """Convert an (H, W, 3) sRGB-encoded float image to ACEScg."""
        return self._apply(rgb, WORKING_SRGB, WORKING_ACESCG)

    def scene_linear_to_srgb(self, rgb: np.ndarray) -> np.ndarray:
        """Convert an (H, W, 3) ACEScg image back to sRGB encoding."""
        return self._apply(rgb, WORKING_ACESCG, WORKING_SRGB)

    def to_acescg(self, rgb: np.ndarray, source: str) -> np.ndarray:
        """Convert an (H, W, 3) image from colour space ``source`` (a name, alias or colour interop ID
        of the built-in config) to ACEScg.

        Raises:
            ColourError: the built-in config does not know ``source``.
        """
        if self._config.getColorSpace(source) is None:
            raise ColourError(f"colour space {source!r} is not one castgate's built-in ACES config knows",
                              where=WORKING_CONFIG, fix="Use an ACES studio config name such as ACEScg, "
                                                        "ACES2065-1 or 'Linear Rec.709 (sRGB)'")
        return self._apply(rgb, source, WORKING_ACESCG)

    def _apply(self, rgb: np.ndarray, source: str, target: str) -> np.ndarray:
        pixels = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        if pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ValueError(f"expected an (H, W, 3) image, got shape {pixels.shape}")
        self._processor(source, target).applyRGB(pixels)
        return pixels

    def record(self) -> dict[str, Any]:
        """What the manifest records about colour."""
        import PyOpenColorIO as OCIO

        return {"ocio_config": self.uri, "ocio_version": OCIO.GetVersion(),
                "exr_colourspace": self.scene_linear_name, "png_colourspace": self.srgb_name,
                "working_config": WORKING_CONFIG, "exr_interop_id": INTEROP_ID,
                "exr_chromaticities": list(AP1_CHROMATICITIES)}


def acescg_name(config: Any, uri: str) -> str:
    """The name of ``config``'s colour space that holds ACEScg pixels unchanged.

    Raises:
        ColourError: there is none (naming the config and its scene_linear space).
    """
    if uri == WORKING_CONFIG:
        return WORKING_ACESCG
    named = _named_space(config, ACESCG_NAMES)
    if not config.hasRole("aces_interchange"):
        if named is not None:
            return named
        raise _no_acescg(config, uri, "and no aces_interchange role to find one by its primaries")
    candidates = ([named] if named else []) + [
        cs.getName() for cs in config.getColorSpaces(_scene_reference(), _all_spaces())
        if cs.getName() != named and not cs.isData()]  # a data space passes any colour through unchanged
    for name in candidates:
        if _holds_acescg(uri, name):
            return name
    if named is not None:
        raise ColourError(f"the OCIO config's colour space {named!r} is named like ACEScg but does not hold "
                          f"ACEScg pixels unchanged", where=uri,
                          fix="Fix that colour space's transform, or use a config with a true ACEScg space")
    raise _no_acescg(config, uri, "(none of its scene-referred spaces has AP1 primaries)")


def _no_acescg(config: Any, uri: str, detail: str) -> ColourError:
    linear = config.getColorSpace(SCENE_LINEAR_ROLE)
    linear_name = linear.getName() if linear is not None else "none"
    return ColourError(f"the OCIO config has no ACEScg colour space {detail}; its scene_linear is "
                       f"{linear_name!r}, and castgate's plates are ACEScg", where=uri,
                       fix="Add an ACEScg colour space (or the alias ACEScg) to the config, point --ocio-config / "
                           "$OCIO at an ACES config, or unset $OCIO to use the built-in ACES studio config")


def _named_space(config: Any, names: tuple[str, ...]) -> str | None:
    """The config's name of the first of ``names`` it knows, by name or alias, case-insensitively."""
    wanted = [n.lower() for n in names]
    known: dict[str, str] = {}
    for space in config.getColorSpaces():
        for label in [space.getName(), *space.getAliases()]:
            known.setdefault(label.lower(), space.getName())
    return next((known[n] for n in wanted if n in known), None)


@lru_cache(maxsize=64)
def _holds_acescg(uri: str, name: str) -> bool:
    """Whether converting the built-in ACEScg into ``uri``'s ``name`` leaves test colours unchanged."""
    import PyOpenColorIO as OCIO

    try:
        processor = OCIO.Config.GetProcessorFromConfigs(_load_config(WORKING_CONFIG), WORKING_ACESCG,
                                                        _load_config(uri), name)
    except Exception:  # OCIO refuses spaces it cannot connect (data spaces, missing transforms)
        return False
    pixels = TEST_COLOURS.copy()
    processor.getDefaultCPUProcessor().applyRGB(pixels)
    return bool(np.allclose(pixels, TEST_COLOURS, rtol=TOLERANCE, atol=TOLERANCE))


def _scene_reference() -> Any:
    import PyOpenColorIO as OCIO

    return OCIO.SEARCH_REFERENCE_SPACE_SCENE


def _all_spaces() -> Any:
    import PyOpenColorIO as OCIO

    return OCIO.COLORSPACE_ALL


@lru_cache(maxsize=8)
def _load_config(uri: str) -> Any:
    import PyOpenColorIO as OCIO

    try:
        return OCIO.Config.CreateFromFile(uri)
    except Exception as exc:  # OCIO raises its own Exception type with a useful message
        raise ColourError(f"cannot load the OCIO config ({exc})", where=uri,
                          fix="Check --ocio-config / $OCIO, or unset them to use the built-in ACES studio config") from None
