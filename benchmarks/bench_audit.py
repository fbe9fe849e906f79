"""Benchmark the batch audit: 256x256 plates audited per second, BlazeFace against the earlier auditor.

The batch is ``--count`` (240) 256x256 PNG plates made from the two real photos castgate's tests use
(scikit-image's astronaut, matplotlib's Grace Hopper): random crops, scales, mirror images and exposure
changes, with about one plate in six showing no face (a detail of the background), as generated
batches do. Each plate is audited in full: PNG decode and SHA-256, face detection, gender classification,
skin patches, CIELAB, ITA, Fitzpatrick and Monk, and the manifest writes.

Rows, in the same process, each a ``--force`` audit of the whole batch:
  hog       the earlier auditor as it was (``detector = "dlib-hog"``, the gender classifier answering at its
            old default threshold 0.7), ``workers=1``, models loaded: the baseline;
  +gender   the default auditor with the gender classifier answering (``gender_threshold`` 0.7), ``workers=1``;
  blazeface the default auditor (gender abstains, so the classifier is not run), ``workers=1``;
  pool      the default auditor, ``workers=N`` (default: every core), end to end, starting the pool and
            loading the models in each worker included.
The floor (``--floor``, 50 plates/s) applies to the pool row; ``--check`` exits 1 below it. The machine's
load average is printed before and after: on a shared machine the absolute numbers fall, the ratios
less so.

Usage:
    python benchmarks/bench_audit.py [--count 240] [--workers N] [--floor 50] [--check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from castgate.audit.settings import AuditSettings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def make_plates(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` 256x256 plates from the two photos (deterministic for a seed)."""
    from PIL import Image

    from batch_factory import astronaut, grace_hopper

    rng = np.random.default_rng(seed)
    photos = [astronaut(), grace_hopper()]
    faces = [(180, 80, 270, 170), (175, 135, 370, 340)]   # rough face boxes (l, t, r, b) in each photo
    plates = {}
    for n in range(count):
        k = n % 2
        photo = photos[k]
        height, width = photo.shape[:2]
        if n % 6 == 5:   # a background detail, no face
            crop = photo[height - 200:, :200] if k == 0 else photo[:200, :200]
        else:
            left, top, right, bottom = faces[k]
            face = right - left
            side = min(int(face * rng.uniform(1.6, 3.2)), height, width)   # face 30-60 % of the plate
            cx = (left + right) / 2 + rng.uniform(-0.2, 0.2) * face
            cy = (top + bottom) / 2 + rng.uniform(0.0, 0.5) * face
            x0 = int(np.clip(cx - side / 2, 0, width - side))
            y0 = int(np.clip(cy - side / 2, 0, height - side))
            crop = photo[y0:y0 + side, x0:x0 + side]
        image = Image.fromarray(crop).resize((256, 256), Image.LANCZOS)
        array = np.asarray(image).astype(np.float32) * rng.uniform(0.75, 1.15)
        if rng.random() < 0.5:
            array = array[:, ::-1]
        plates[f"plate{n}"] = np.clip(array, 0, 255).astype(np.uint8)
    return plates


def timed_audit(folder: Path, workers: int, settings: AuditSettings) -> tuple[float, float, int]:
    """Seconds for a forced audit of the whole batch, seconds until the first plate was done, plates."""
    from castgate.audit.batch import audit_batch

    first: list[float] = []
    start = time.perf_counter()

    def on_progress(done: int, total: int) -> None:
        if done == 1:
            first.append(time.perf_counter() - start)

    cpu = time.process_time()
    summary = audit_batch(folder, force=True, workers=workers, on_progress=on_progress,
                          settings=settings)
    timed_audit.cpu = time.process_time() - cpu  # type: ignore[attr-defined]  # this process only
    return time.perf_counter() - start, first[0], summary.audited_count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=240, help="plates in the batch [240]")
    parser.add_argument("--workers", type=int, default=None, help="pool size [every core]")
    parser.add_argument("--floor", type=float, default=50.0, help="minimum plates/s for the pool row [50]")
    parser.add_argument("--check", action="store_true", help="exit 1 when the pool row is below the floor")
    args = parser.parse_args()

    from batch_factory import make_image_batch
    from castgate.audit.batch import available_cpus
    from castgate.audit.image import shared_models
    from castgate.audit.settings import AuditSettings

    workers = args.workers or available_cpus()
    folder = Path(tempfile.mkdtemp(prefix="bench_audit_")) / "b"
    try:
        make_image_batch(folder, make_plates(args.count))
        shared_models().warm(AuditSettings(detector="dlib-hog"))
        shared_models().warm()
        load_before = os.getloadavg()[0]
        hog_s, _, hog_n = timed_audit(folder, 1, AuditSettings(detector="dlib-hog", gender_threshold=0.7))
        hog_cpu = timed_audit.cpu  # type: ignore[attr-defined]
        gender_s, _, gender_n = timed_audit(folder, 1, AuditSettings(gender_threshold=0.7))
        base_s, _, base_n = timed_audit(folder, 1, AuditSettings())
        base_cpu = timed_audit.cpu  # type: ignore[attr-defined]
        pool_s, pool_first, pool_n = timed_audit(folder, workers, AuditSettings())
        from castgate.batch.manifest import read_manifest

        undetermined = sum(p.labels["gender"].is_undetermined for p in read_manifest(folder).plates)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    hog_rate, base_rate, pool_rate = hog_n / hog_s, base_n / base_s, pool_n / pool_s
    steady = (pool_n - 1) / (pool_s - pool_first) if pool_n > 1 and pool_s > pool_first else float("nan")
    print(f"bench_audit: {args.count} plates 256x256, {available_cpus()} core(s), "
          f"{undetermined} with gender undetermined; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (other processes share these cores)")
    print(f"  hog       workers=1  {hog_s:7.2f} s  {hog_rate:6.1f} plates/s  (the earlier auditor, in-process)")
    print(f"  +gender   workers=1  {gender_s:7.2f} s  {gender_n / gender_s:6.1f} plates/s  (BlazeFace with the gender "
          f"classifier answering, in-process)")
    print(f"  blazeface workers=1  {base_s:7.2f} s  {base_rate:6.1f} plates/s  (in-process, models loaded)")
    print(f"  pool      workers={workers}  {pool_s:7.2f} s  {pool_rate:6.1f} plates/s  (end to end; first plate "
          f"after {pool_first:.2f} s of pool start-up, {steady:.1f} plates/s after it)")
    per_plate = base_cpu / base_n
    print(f"  blazeface CPU time {per_plate * 1000:.0f} ms per plate: {available_cpus() / per_plate:.1f} plates/s "
          f"on {available_cpus()} otherwise idle core(s) at most")
    print(f"  hog CPU time {hog_cpu / hog_n * 1000:.0f} ms per plate; CPU-time ratio hog/blazeface "
          f"{hog_cpu / hog_n / per_plate:.2f}x (CPU time is what a loaded machine distorts least)")
    print(f"  ratios: blazeface/hog in-process {base_rate / hog_rate:.2f}x, pool/hog {pool_rate / hog_rate:.2f}x   "
          f"floor {args.floor:g} plates/s: {'met' if pool_rate >= args.floor else 'NOT met'}")
    return 1 if args.check and pool_rate < args.floor else 0


if __name__ == "__main__":
    sys.exit(main())
