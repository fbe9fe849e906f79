"""Colour management through OpenColorIO: the decoder's sRGB image to scene-linear plates.

The config is, in order: ``--ocio-config``, ``$OCIO``, else OCIO's built-in ACES studio config pinned
to a versioned ``ocio://`` URI (``ocio://studio-config-latest`` moves between OCIO releases; a pinned
URI keeps old batches reproducible). The config actually used is recorded in the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from castgate.errors import ColourError

DEFAULT_CONFIG = "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6"
# Names the sRGB texture space goes by in the ACES configs (newest first) and in older studio configs.
SRGB_NAMES = ("sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture")
SCENE_LINEAR_ROLE = "scene_linear"


def config_uri(explicit: str | None = None) -> str:
    """Which OCIO config to use: ``explicit``, else ``$OCIO``, else the pinned built-in studio config."""
    return explicit or os.environ.get("OCIO") or DEFAULT_CONFIG


@dataclass(frozen=True)
class ColourPipeline:
    """sRGB <-> scene-linear conversions under one OCIO config.

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
        """Load the config and find its sRGB texture and scene-linear colour spaces.

        Raises:
            ColourError: the config cannot be loaded or lacks either colour space.
        """
        uri = config_uri(uri)
        config = _load_config(uri)
        srgb = next((config.getColorSpace(n).getName() for n in SRGB_NAMES if config.getColorSpace(n)), None)
        if srgb is None:
            raise ColourError("the OCIO config has no sRGB texture colour space", where=uri,
                              fix=f"Use a config that defines one of {', '.join(SRGB_NAMES)}, "
                                  "or unset $OCIO to use the built-in ACES studio config")
        linear_space = config.getColorSpace(SCENE_LINEAR_ROLE)
        if linear_space is None:
            raise ColourError("the OCIO config has no scene_linear role", where=uri,
                              fix="Define the scene_linear role in the config, or unset $OCIO")
        return cls(uri=uri, srgb_name=srgb, scene_linear_name=linear_space.getName())

    @cached_property
    def _config(self):
        return _load_config(self.uri)

    def _processor(self, source: str, target: str):
        return self._config.getProcessor(source, target).getDefaultCPUProcessor()

    def srgb_to_scene_linear(self, rgb: np.ndarray) -> np.ndarray:
        """Convert an (H, W, 3) sRGB-encoded float image to scene-linear (e.g. ACEScg)."""
        return self._apply(rgb, self.srgb_name, self.scene_linear_name)

    def scene_linear_to_srgb(self, rgb: np.ndarray) -> np.ndarray:
        """Convert an (H, W, 3) scene-linear float image back to sRGB encoding."""
        return self._apply(rgb, self.scene_linear_name, self.srgb_name)

    def _apply(self, rgb: np.ndarray, source: str, target: str) -> np.ndarray:
        pixels = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        if pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ValueError(f"expected an (H, W, 3) image, got shape {pixels.shape}")
        self._processor(source, target).applyRGB(pixels)
        return pixels

    def record(self) -> dict[str, str]:
        """What the manifest records about colour."""
        import PyOpenColorIO as OCIO

        return {"ocio_config": self.uri, "ocio_version": OCIO.GetVersion(),
                "exr_colourspace": self.scene_linear_name, "png_colourspace": self.srgb_name}


def _load_config(uri: str):
    import PyOpenColorIO as OCIO

    try:
        return OCIO.Config.CreateFromFile(uri)
    except Exception as exc:  # OCIO raises its own Exception type with a useful message
        raise ColourError(f"cannot load the OCIO config ({exc})", where=uri,
                          fix="Check --ocio-config / $OCIO, or unset them to use the built-in ACES studio config") from None
