"""Audit settings: every threshold and method choice an audit depends on, in one frozen record.

The settings a batch was audited with are stored in ``Manifest.audit_settings`` and fingerprinted into
each plate's ``audit.tool``, so a later audit with the same settings is a no-op and one with different
settings knows which plates are stale.

Example:
    >>> settings = AuditSettings(gender_threshold=0.8)
    >>> AuditSettings.from_dict(settings.to_dict()) == settings
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from castgate.errors import CastgateError


class AuditSettingsError(CastgateError):
    """An audit setting is unknown or out of range."""


# Names of the ITA -> Fitzpatrick tables in castgate.audit.skin_tone (kept here to validate settings
# without importing the image stack).
FITZPATRICK_TABLE_NAMES = ("kinyanjui2019", "chardon1991")
# Face detectors (castgate.audit.faces) and the range of their detection scores.
DETECTORS = {"blazeface": (0.0, 1.0), "dlib-hog": (-2.0, 3.0)}
DEFAULT_DETECTION_THRESHOLD = {"blazeface": 0.75, "dlib-hog": 0.3}


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds and methods of an audit. Defaults are documented in docs/audit.md."""

    # -- faces ---------------------------------------------------------------------------------
    detector: str = "blazeface"       # "blazeface" (MediaPipe, LiteRT) or "dlib-hog" (the earlier auditor)
    detection_threshold: float | None = None  # score below which a detection is no face; None: the detector's
    #                                   default (BlazeFace evidence 0.75, dlib HOG score 0.3)
    upsample: int | None = None       # HOG upsampling passes; None: 1 when the shorter side <= 512 px, else 0
    min_face_px: int = 20             # a face box narrower than this is too small to read
    min_sharpness: float = 0.10       # normalised Laplacian energy of the face below which it is smeared
    prominent_ratio: float = 0.35     # a face is prominent if its area >= this share of the largest face's
    # -- gender --------------------------------------------------------------------------------
    gender_threshold: float = 1.0     # classifier confidence below which gender is undetermined (1: always;
                                      # measured unreliable in both skin groups, docs/audit.md)
    gender_threshold_lighter: float | None = None  # the same for faces measured lighter (None: gender_threshold;
    gender_threshold_darker: float | None = None   # 1: always undetermined); faces of unknown group: the higher
    gender_calibration: str | None = None  # castgate-gender-calibration/1 file: records p_correct per plate
    gender_flip_average: bool = False  # average the classifier over the image and its mirror image (+15 % time)
    # -- skin tone -----------------------------------------------------------------------------
    fitzpatrick_table: str = "kinyanjui2019"
    min_skin_pixels: int = 20         # fewer skin pixels than this: skin tone undetermined (a 24 px face has ~30)
    skin_group_threshold: float = 0.60  # confidence below which skin_group is undetermined
    fitzpatrick_threshold: float = 0.0  # ditto for the six Fitzpatrick types (0: always labelled)
    monk_threshold: float = 0.0         # ditto for the ten Monk tones (0: always labelled)

    def __post_init__(self) -> None:
        problems = []
        if self.detector not in DETECTORS:
            problems.append(f"detector is {self.detector!r}; use one of {', '.join(DETECTORS)}")
        elif self.detection_threshold is not None:
            low, high = DETECTORS[self.detector]
            if not (isinstance(self.detection_threshold, (int, float)) and low <= self.detection_threshold <= high):
                problems.append(f"detection_threshold is {self.detection_threshold!r}; use {low:g}..{high:g} "
                                f"({self.detector} scores)")
        for name in ("gender_threshold_lighter", "gender_threshold_darker"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                problems.append(f"{name} is {value!r}; use a number from 0 to 1 (1: always undetermined) or null")
        for name in ("gender_threshold", "skin_group_threshold", "fitzpatrick_threshold", "monk_threshold",
                     "prominent_ratio"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                problems.append(f"{name} is {value!r}; use a number from 0 to 1")
        if self.upsample is not None and self.upsample not in (0, 1, 2):
            problems.append(f"upsample is {self.upsample!r}; use 0, 1, 2 or null (automatic)")
        if not (isinstance(self.min_face_px, int) and self.min_face_px >= 8):
            problems.append(f"min_face_px is {self.min_face_px!r}; use an integer of at least 8")
        if not (isinstance(self.min_skin_pixels, int) and self.min_skin_pixels >= 1):
            problems.append(f"min_skin_pixels is {self.min_skin_pixels!r}; use a positive integer")
        if not 0.0 <= self.min_sharpness < 10.0:
            problems.append(f"min_sharpness is {self.min_sharpness}; use 0 (off) to about 0.3")
        if self.fitzpatrick_table not in FITZPATRICK_TABLE_NAMES:
            problems.append(f"fitzpatrick_table is {self.fitzpatrick_table!r}; use one of "
                            f"{', '.join(FITZPATRICK_TABLE_NAMES)}")
        if problems:
            raise AuditSettingsError("; ".join(problems), where="audit settings",
                                     fix="Correct the option (see `castgate audit --help` and docs/audit.md)")

    @property
    def face_threshold(self) -> float:
        """The detection threshold in force: the setting, or the detector's default."""
        if self.detection_threshold is not None:
            return float(self.detection_threshold)
        return DEFAULT_DETECTION_THRESHOLD[self.detector]

    def gender_threshold_for(self, skin_group: str | None) -> float:
        """The gender confidence needed for a face of this measured skin group (None/undetermined: the higher)."""
        lighter = self.gender_threshold if self.gender_threshold_lighter is None else self.gender_threshold_lighter
        darker = self.gender_threshold if self.gender_threshold_darker is None else self.gender_threshold_darker
        return {"lighter": lighter, "darker": darker}.get(skin_group or "", max(lighter, darker))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (as stored in ``Manifest.audit_settings``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "audit_settings") -> "AuditSettings":
        """Settings from a plain dict; unknown keys are refused (a typo must not pass silently).

        Raises:
            AuditSettingsError: an unknown key or a value out of range.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"fingerprint", "method_versions"})
        if unknown:
            raise AuditSettingsError(f"unknown setting(s) {', '.join(unknown)}", where=where,
                                     fix=f"Use only {', '.join(sorted(known))}")
        values = {k: v for k, v in data.items() if k in known}
        if "detector" not in data:  # stored before the detector was a setting: its threshold was a dlib HOG
            values.pop("detection_threshold", None)  # score, meaningless for the default detector
        return cls(**values)

    def replace(self, **changes: Any) -> "AuditSettings":
        """A copy with some settings changed (``None`` values are ignored: "not given")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the settings, recorded per plate to spot audits made differently."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
