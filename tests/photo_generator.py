"""A test generator for ``castgate balance``: real photographs, re-toned across the Monk scale, cropped and
placed in a frame, with a skin-tone skew the way a biased model has one.

It exists for tests only (a request cannot select it; only code can pass it to
:func:`castgate.balance.loop.balance_request`). Each (prompt, seed) gives one image, the same every time:

* **unsteered** prompts draw the *darker* group (Monk 6–9) with probability ``darker_share`` (0.25: lighter
  outnumbers darker about 3:1, as the seed study found for DALL·E mini) and *lighter* (Monk 1–4) otherwise;
* a prompt holding one of the ``steering`` phrases draws that phrase's group with probability
  ``steered_share`` (0.9): steering shifts the draw, without making it certain.

The photos are scikit-image's astronaut (Eileen Collins) and matplotlib's Grace Hopper, which the tests
already use; their facial skin is re-toned with :func:`batch_factory.retone_skin` on landmarks measured once
on the 256-px photos (hard-coded, so the generator does not depend on the auditor it feeds).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Mapping, Sequence

import numpy as np

from batch_factory import astronaut, grace_hopper, resized, retone_skin

SIZE = 256
# Five landmarks (eye corners and nose base) of each photo at 256 px wide, measured once with dlib's
# 5-point model; the darker tones each photo keeps readable for the detectors castgate uses.
PHOTOS = {
    "astronaut": {"load": astronaut, "landmarks": ((127.0, 52.0), (119.0, 52.0), (97.0, 50.0), (106.0, 51.0),
                                                   (112.0, 67.0)), "lighter": (1, 2, 3, 4), "darker": (6, 7)},
    "grace_hopper": {"load": grace_hopper, "landmarks": ((160.0, 94.0), (145.0, 95.0), (104.0, 97.0),
                                                         (120.0, 97.0), (135.0, 126.0)),
                     "lighter": (1, 2, 3, 4), "darker": (6, 7, 8, 9)},
}
FRAMES = ((32, 36, 44), (58, 62, 70), (84, 78, 70), (40, 52, 60))


@functools.cache
def retoned(photo: str, monk: int) -> np.ndarray:
    """The photo at 256 px with its facial skin at Monk tone ``monk`` (1–10), cropped square from the top."""
    from castgate.audit.skin_tone import MONK_SWATCHES

    spec = PHOTOS[photo]
    rgb = resized(spec["load"](), SIZE)
    return retone_skin(rgb, spec["landmarks"], MONK_SWATCHES[monk - 1])[:SIZE, :SIZE]


class PhotoGenerator:
    """Deterministic draws from real photos with an unsteered skin-group skew (see the module docstring)."""

    model_hash = hashlib.sha256(b"castgate photo test generator 1").hexdigest()

    def __init__(self, steering: Mapping[str, str] | None = None, darker_share: float = 0.25,
                 steered_share: float = 0.9):
        self.steering = dict(steering or {})   # phrase -> "lighter" | "darker"
        self.darker_share = darker_share
        self.steered_share = steered_share

    @property
    def identity(self) -> dict:
        """As a checkpoint's identity: a name and the SHA-256 of each source photo's pixels."""
        files = {name: hashlib.sha256(np.ascontiguousarray(spec["load"]()).tobytes()).hexdigest()
                 for name, spec in sorted(PHOTOS.items())}
        return {"generator": {"name": f"photo test generator (darker {self.darker_share}, "
                                      f"steered {self.steered_share})", "files": files}}

    def group_for(self, prompt: str, seed: int) -> str:
        """The skin group a (prompt, seed) draws."""
        rng = np.random.default_rng([seed, 1])
        aimed = [group for phrase, group in self.steering.items() if phrase in prompt]
        if aimed:
            other = "lighter" if aimed[0] == "darker" else "darker"
            return aimed[0] if rng.random() < self.steered_share else other
        return "darker" if rng.random() < self.darker_share else "lighter"

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[np.ndarray]:
        images = []
        for prompt, seed in zip(prompts, seeds):
            group = self.group_for(prompt, seed)
            rng = np.random.default_rng([seed, 2])
            photo = sorted(PHOTOS)[int(rng.integers(len(PHOTOS)))]
            tones = PHOTOS[photo][group]
            face = retoned(photo, int(tones[int(rng.integers(len(tones)))]))
            crop = 224
            top, left = (int(v) for v in rng.integers(0, SIZE - crop + 1, size=2))
            frame = np.empty((SIZE, SIZE, 3), np.uint8)
            frame[:] = FRAMES[int(rng.integers(len(FRAMES)))]
            offset = (SIZE - crop) // 2
            frame[offset:offset + crop, offset:offset + crop] = face[top:top + crop, left:left + crop]
            images.append(frame.astype(np.float32) / 255.0)
        return images
