"""Calibrated gender probability: how often the gender classifier was right, per skin group and confidence.

``castgate audit validate --write-calibration PATH`` measures it on a labelled set: for each *measured*
skin group and each band of classifier confidence (:data:`EDGES`), how many read faces there were and how
many the classifier labelled right. A plate's **calibrated probability** (``details.p_correct`` of its
gender label) is the posterior mean ``(right + 1) / (faces + 2)`` (uniform prior) of its group and
confidence band; ``details.calibration`` says which file backs it (``AuditSettings.gender_calibration``,
``castgate audit --gender-calibration PATH``).

A calibration needs a set with both genders in both skin groups: from a one-sided set (the default sweep
shows only women) "how often a label of this confidence is right" only echoes the set's make-up, so
:func:`measure` then records the reason under ``unmeasured`` and no counts, and no ``p_correct`` is
recorded from it. A calibration describes one detector and classifier: when the audit runs with another
detector, no ``p_correct`` is recorded either.

Example:
    >>> calibration = load_calibration(Path("studio-gender-calibration.json"))
    >>> calibration.p_correct("darker", 0.93)
    0.91
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

FORMAT = "castgate-gender-calibration/1"
EDGES = (0.5, 0.7, 0.9, 0.97, 1.0)
GROUPS = ("lighter", "darker")


@dataclass(frozen=True)
class GenderCalibration:
    """Faces and right labels per measured skin group and confidence band."""

    detector: str
    counts: Mapping[str, Sequence[Mapping[str, Any]]]   # group -> [{low, high, faces, right}]
    source: str = ""
    made_by: str = ""
    unmeasured: str | None = None      # why the set could not calibrate (then counts is empty)

    def p_correct(self, group: str | None, confidence: float) -> float | None:
        """Posterior mean probability that a label of this confidence is right (unknown group: the lower)."""
        if self.unmeasured:
            return None
        if group not in GROUPS:
            values = [self.p_correct(g, confidence) for g in GROUPS]
            known = [v for v in values if v is not None]
            return min(known) if known else None
        for cell in self.counts.get(group, ()):
            if cell["low"] <= confidence < cell["high"] or (cell["high"] == 1.0 and confidence == 1.0):
                return round((cell["right"] + 1) / (cell["faces"] + 2), 4)
        return None

    def to_dict(self) -> dict[str, Any]:
        groups = {g: [{**c, "p_correct": round((c["right"] + 1) / (c["faces"] + 2), 4)} for c in cells]
                  for g, cells in self.counts.items()}
        out = {"format": FORMAT, "detector": self.detector, "made_by": self.made_by, "set": self.source,
               "edges": list(EDGES), "groups": groups}
        if self.unmeasured:
            out["unmeasured"] = self.unmeasured
        return out


def measure(faces: Sequence[tuple[str | None, float, bool]], detector: str, *, made_by: str = "",
            source: str = "", unmeasured: str | None = None) -> GenderCalibration:
    """A calibration from ``(measured group, confidence, right)`` per read face with a true gender; with
    ``unmeasured`` (why the set cannot calibrate) an empty one that says so."""
    if unmeasured:
        return GenderCalibration(detector=detector, counts={}, source=source, made_by=made_by, unmeasured=unmeasured)
    counts: dict[str, list[dict[str, Any]]] = {}
    for group in GROUPS:
        cells = []
        for low, high in zip(EDGES, EDGES[1:]):
            inside = [right for g, c, right in faces if g == group and (low <= c < high or (high == 1.0 and c == 1.0))]
            cells.append({"low": low, "high": high, "faces": len(inside), "right": sum(inside)})
        counts[group] = cells
    return GenderCalibration(detector=detector, counts=counts, source=source, made_by=made_by)


def from_dict(data: Mapping[str, Any], where: str) -> GenderCalibration:
    """Read a calibration written by :meth:`GenderCalibration.to_dict`.

    Raises:
        ValueError: another format or malformed counts (the message names ``where``).
    """
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError(f"{where}: not a {FORMAT} file")
    if data.get("unmeasured"):
        return GenderCalibration(detector=str(data.get("detector", "")), counts={}, source=str(data.get("set", "")),
                                 made_by=str(data.get("made_by", "")), unmeasured=str(data["unmeasured"]))
    try:
        counts = {g: [{"low": float(c["low"]), "high": float(c["high"]), "faces": int(c["faces"]),
                       "right": int(c["right"])} for c in data["groups"][g]] for g in GROUPS}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: malformed groups ({exc})") from None
    return GenderCalibration(detector=str(data.get("detector", "")), counts=counts, source=str(data.get("set", "")),
                             made_by=str(data.get("made_by", "")))


@functools.lru_cache(maxsize=8)
def load_calibration(path: Path) -> GenderCalibration:
    """Read a calibration file (cached per path).

    Raises:
        AuditSettingsError: missing, unreadable or malformed; the message names the file.
    """
    from castgate.audit.settings import AuditSettingsError

    try:
        return from_dict(json.loads(Path(path).read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError) as exc:
        raise AuditSettingsError(f"cannot read the gender calibration ({exc})", where=str(path),
                                 fix="Write it with castgate audit validate --write-calibration PATH") from None
