"""Choose the skin-tone estimator's settings without fitting them to the photos they are judged on.

    .venv/bin/python scripts/select_skin_settings.py

On castgate's default validation set (``castgate audit validate``'s re-tone sweep), for every setting in a
small grid — the lit-skin share (:data:`castgate.audit.skin_tone.LIT_SHARE`) and a penalty against
shade in the Monk match (``shade_penalty`` of :func:`castgate.audit.skin_tone.monk_distances`) — it
measures each read face once, then leaves one photo out at a time: the setting with the best worst
Monk band (share of faces within one Monk step) on the other photos is judged on the one left out.
It prints the setting each held-out photo chose, the held-out figures per Monk band (an honest estimate
for photos the choice never saw) and every setting's figures on the whole set. Takes about a minute.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "core")]

from castgate.audit import faces as face_mod  # noqa: E402
from castgate.audit import skin_tone  # noqa: E402
from castgate.audit.image import read_audit_image, shared_models  # noqa: E402
from castgate.audit.settings import AuditSettings  # noqa: E402
from castgate.audit.validate import band_of  # noqa: E402
from castgate.audit.validation_set import default_cases  # noqa: E402

LIT_SHARES = (0.5, 0.3, 0.15)
SHADE_PENALTIES = (0.0, 2.0, 4.0, 8.0)


def read_faces() -> list[tuple[str, int, object, list]]:
    """(photo, true Monk tone, image, landmarks) of every case whose face is read."""
    settings, models = AuditSettings(), shared_models()
    out = []
    for case in default_cases():
        image = read_audit_image(case.make())
        choice = face_mod.select_face(models.detector_for(settings).detect(image.rgb, settings), image.rgb,
                                      settings)
        if choice.face is not None:
            out.append((case.photo, case.monk, image, choice.face.landmarks))
    return out


def main() -> int:
    faces = read_faces()
    right: dict[tuple[float, float], dict[int, bool]] = {}
    for share in LIT_SHARES:
        labs = {}
        for n, (_, _, image, landmarks) in enumerate(faces):
            try:
                labs[n] = skin_tone.measure_skin(image.rgb, landmarks, image.opaque, min_pixels=20,
                                                 lit_share=share).lab
            except skin_tone.SkinUnmeasurable:
                continue
        for penalty in SHADE_PENALTIES:
            right[(share, penalty)] = {n: abs(int(skin_tone.monk_tone(lab, penalty)) - faces[n][1]) <= 1
                                       for n, lab in labs.items()}
    measured = sorted(set.intersection(*(set(r) for r in right.values())))

    def per_band(setting: tuple[float, float], cases: list[int]) -> dict[str, list[bool]]:
        bands: dict[str, list[bool]] = collections.defaultdict(list)
        for n in cases:
            bands[band_of(faces[n][1]) or "?"].append(right[setting][n])
        return bands

    def worst(setting: tuple[float, float], cases: list[int]) -> float:
        return min(sum(v) / len(v) for v in per_band(setting, cases).values())

    held: dict[str, list[bool]] = collections.defaultdict(list)
    for photo in sorted({faces[n][0] for n in measured}):
        train = [n for n in measured if faces[n][0] != photo]
        test = [n for n in measured if faces[n][0] == photo]
        chosen = max(right, key=lambda s: (worst(s, train), -s[0], -s[1]))
        print(f"{photo:14s} chose lit share {chosen[0]:g}, shade penalty {chosen[1]:g}")
        for band, values in per_band(chosen, test).items():
            held[band] += values
    print("held out:", ", ".join(f"Monk {b} {sum(v)}/{len(v)} ({100 * sum(v) / len(v):.1f} %)"
                                 for b, v in sorted(held.items(), key=lambda kv: int(kv[0].split('-')[0]))))
    for setting in right:
        bands = per_band(setting, measured)
        print(f"lit share {setting[0]:<5g} shade penalty {setting[1]:<3g} whole set: " + ", ".join(
            f"{b} {sum(v)}/{len(v)}" for b, v in sorted(bands.items(), key=lambda kv: int(kv[0].split('-')[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
