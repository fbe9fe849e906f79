"""Selection: keep the CLIP-best candidates that show a person, as the seed study's pipeline did.

Runs once every candidate of the batch exists (at the end of ``generate``, or in ``merge`` for a
sharded batch). Nothing is silently lost: every candidate stays in the manifest with its score, rank
and, when dropped, the reason. Rejected candidates' files are removed unless the request asks to keep
their PNG proxies (``[sampling].keep_rejected_proxies``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from castgate.batch.fileio import ensure_inside
from castgate.batch.manifest import Manifest, Plate

log = logging.getLogger(__name__)


def select_plates(batch_dir: Path, manifest: Manifest, clip_folder: Path | None,
                  keep_rejected_proxies: bool = False) -> Manifest:
    """Rank each role's candidates with CLIP and keep as many as the role's count.

    Args:
        batch_dir: the batch folder (candidate PNG proxies are read from it).
        manifest: the batch with every candidate generated.
        clip_folder: the CLIP ViT-B/32 checkpoint folder.
        keep_rejected_proxies: keep rejected candidates' PNG proxies (their EXRs are always removed).

    Returns:
        The manifest with ``scores``, ``rank``, ``kept`` and ``rejected_reason`` set on every
        candidate and the CLIP checkpoint's identity under ``models["clip"]``.

    Raises:
        ModelFolderError: the CLIP folder is missing or incomplete.
    """
    from castgate.errors import ModelFolderError
    from castgate.generation.rerank import ClipScorer, rerank

    if clip_folder is None:
        raise ModelFolderError("candidates_per_plate > 1 needs a CLIP checkpoint", where="[models].clip",
                               fix="Put clip-vit-base-patch32 in the models folder, or set candidates_per_plate = 1")
    scorer = ClipScorer.load(clip_folder)
    counts = {role["id"]: int(role["count"]) for role in manifest.request["roles"]}
    selected: list[Plate] = []
    for role in manifest.roles():
        candidates = [p for p in manifest.plates if p.role == role]
        images = [_read_rgb(batch_dir / p.files["png"].path) for p in candidates]
        choices = rerank(images, [p.prompt for p in candidates], scorer, keep=counts[role])
        for plate, choice in zip(candidates, choices):
            plate = dataclasses.replace(plate, **choice.plate_fields())
            if not plate.kept:
                plate = _drop_files(batch_dir, plate, keep_rejected_proxies)
            selected.append(plate)
        log.info("%s: kept %d of %d candidates", role, sum(c.kept for c in choices), len(choices))
    manifest = manifest.with_plates(selected)
    return dataclasses.replace(manifest, models={**manifest.models, "clip": scorer.identity})


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _drop_files(batch_dir: Path, plate: Plate, keep_proxy: bool) -> Plate:
    kept = {kind: ref for kind, ref in plate.files.items() if keep_proxy and kind == "png"}
    for kind, ref in plate.files.items():
        if kind not in kept:
            ensure_inside(batch_dir, batch_dir / ref.path).unlink(missing_ok=True)
    return dataclasses.replace(plate, files=kept)
