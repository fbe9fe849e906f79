"""Choose the skin-tone estimator's settings without fitting them to the photos they are judged on.

    .venv/bin/python scripts/select_skin_settings.py

On castgate's default validation set (``castgate audit validate``'s re-tone sweep), for every setting in a
small grid — the lit-skin share (:data:`castgate.audit.skin_tone.LIT_SHARE`), how far a skin patch may
disagree with the others before it is dropped (:data:`castgate.audit.skin_tone.PATCH_DISAGREEMENT_DE`)
and a penalty against shade in the Monk match (``shade_penalty`` of
:func:`castgate.audit.skin_tone.monk_distances`) — it
measures each read face once, then leaves one photo out at a time: the setting with the best worst
Monk band (share of faces within one Monk step) on the other photos is judged on the one left out.
Faces a setting cannot measure count as wrong for it, so a setting cannot win by abstaining. It prints
the setting each held-out photo chose, the held-out figures per Monk band (an honest estimate for photos
the choice never saw) and every setting's figures on the whole set. Takes about two minutes.
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
PATCH_DISAGREEMENTS = (12.0, 20.0, 30.0, 45.0)
Setting = tuple[float, float, float]   # lit share, patch disagreement (ΔE), shade penalty


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
    right: dict[Setting, list[bool]] = {}
    for share in LIT_SHARES:
        for disagreement in PATCH_DISAGREEMENTS:
            labs = []
            for _, _, image, landmarks in faces:
                try:
                    labs.append(skin_tone.measure_skin(image.rgb, landmarks, image.opaque, min_pixels=20,
                                                       lit_share=share, patch_disagreement=disagreement).lab)
                except skin_tone.SkinUnmeasurable:
                    labs.append(None)   # unmeasured counts as wrong: no setting wins by abstaining
            for penalty in SHADE_PENALTIES:
                right[(share, disagreement, penalty)] = [
                    lab is not None and abs(int(skin_tone.monk_tone(lab, penalty)) - face[1]) <= 1
                    for lab, face in zip(labs, faces)]

    def per_band(setting: Setting, cases: list[int]) -> dict[str, list[bool]]:
        bands: dict[str, list[bool]] = collections.defaultdict(list)
        for n in cases:
            bands[band_of(faces[n][1]) or "?"].append(right[setting][n])
        return bands

    def worst(setting: Setting, cases: list[int]) -> float:
        return min(sum(v) / len(v) for v in per_band(setting, cases).values())

    def describe(setting: Setting) -> str:
        return f"lit share {setting[0]:<5g} patch disagreement {setting[1]:<3g} ΔE shade penalty {setting[2]:<3g}"

    def figures(bands: dict[str, list[bool]]) -> str:
        return ", ".join(f"Monk {b} {sum(v)}/{len(v)} ({100 * sum(v) / len(v):.1f} %)"
                         for b, v in sorted(bands.items(), key=lambda kv: int(kv[0].split("-")[0])))

    everyone = list(range(len(faces)))
    held: dict[str, list[bool]] = collections.defaultdict(list)
    for photo in sorted({face[0] for face in faces}):
        train = [n for n in everyone if faces[n][0] != photo]
        test = [n for n in everyone if faces[n][0] == photo]
        # ties go to the smaller share, the stricter patch test and no penalty (the earlier settings)
        chosen = max(right, key=lambda s: (worst(s, train), -s[0], -s[1], -s[2]))
        print(f"{photo:14s} chose {describe(chosen)}")
        for band, values in per_band(chosen, test).items():
            held[band] += values
    print("held out (faces read; unmeasured skin counts as wrong):", figures(held))
    for setting in right:
        print(f"{describe(setting)} whole set: {figures(per_band(setting, everyone))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
