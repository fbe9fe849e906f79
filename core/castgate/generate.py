"""The generate stage: request -> plates on disk + manifest.

Work is planned up front as a list of plates (role, index, seed). Each plate's seed comes from the
batch seed, the role id and the index alone, so a plate is the same whatever the batch size, the
shard split or the device count. Plates are written (files first, then the manifest entry) a chunk
at a time; a rerun skips plates whose files still match their recorded SHA-256 and never trusts a
file the manifest does not vouch for. With ``--shard i/n`` a process takes every n-th plate and
records them in its own part file; ``castgate merge`` joins the parts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from castgate import checkpoints
from castgate import plates as plate_files
from castgate.checkpoints import sha256_file
from castgate.colour import WORKING_ACESCG, ColourPipeline
from castgate.errors import ManifestError, ModelFolderError, OutputFolderError, RequestError
from castgate.manifest import (FileRef, Manifest, Plate, locked, manifest_path, part_path, read_manifest,
                               read_part, sort_plates, utc_now, write_manifest)
from castgate.plan import (AWAITING_SELECTION, PlannedPlate, Shard, plan, plate_seed,  # noqa: F401 (re-exported)
                           shard_slice)
from castgate.request import Request

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


# -- model folders -----------------------------------------------------------------------------------
def default_models_root() -> Path:
    """``$CASTGATE_MODELS``, else ``$XDG_CACHE_HOME/castgate/models`` (``~/.cache/castgate/models``)."""
    if os.environ.get("CASTGATE_MODELS"):
        return Path(os.environ["CASTGATE_MODELS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "castgate" / "models"


def model_folders(request: Request, models_root: Path | None = None) -> dict[str, Path]:
    """Resolve the request's model folders.

    The models root is, in order: ``--model``, the request's ``[models].root``, ``$CASTGATE_MODELS``,
    the default cache folder. Names in the request are folders under that root unless absolute.
    With ``[models].demo = true`` the tiny random-weight demo checkpoints are created there on first use.
    """
    root = Path(models_root or request.models.root or default_models_root()).expanduser()
    if request.models.demo:
        from castgate.demo_models import ensure_demo_models

        dalle, vqgan = ensure_demo_models(root)
        folders = {"dalle": dalle, "vqgan": vqgan}
    else:
        folders = {"dalle": root / request.models.dalle, "vqgan": root / request.models.vqgan}
    if request.sampling.candidates_per_plate > 1:
        folders["clip"] = root / request.models.clip
    return folders


# -- the stage ---------------------------------------------------------------------------------------
def generate_batch(request: Request, batch_dir: Path, *, models_root: Path | None = None,
                   ocio_config: str | None = None, shard: Shard = Shard(),
                   on_progress: Progress | None = None, rehash: bool = False) -> Manifest:
    """Generate (or resume) a batch.

    Args:
        request: a validated request (:func:`castgate.request.load_request`).
        batch_dir: the batch folder; created if missing.
        models_root: overrides where model folders are looked up (``--model``).
        ocio_config: overrides the OCIO config (``--ocio-config``; else ``$OCIO``, else built-in).
        shard: which slice of the plan this process generates.
        on_progress: called with ``(done, total)`` plates of this shard.
        rehash: hash the checkpoint files again instead of trusting remembered hashes.

    Returns:
        The batch manifest (the shard's part when sharded). What is left to do is decided from the
        manifest and the checkpoint hashes before any weight is loaded; a finished batch or shard
        never loads the models.

    Raises:
        OutputFolderError, ModelFolderError, ColourError, ManifestError: before any plate is written.
    """
    batch_dir = Path(batch_dir)
    colour = ColourPipeline.open(ocio_config)
    folders = model_folders(request, models_root)
    identity = checkpoints.model_identity(folders["dalle"], folders["vqgan"], rehash=rehash)

    # Decide what is left before any weight is loaded: a finished batch never loads the models.
    target = manifest_path(batch_dir) if shard.is_whole else part_path(batch_dir, shard.index, shard.count)
    fresh = Manifest(batch=request.batch, created=utc_now(), request=request.to_record(),
                     models=identity, sampling=dataclasses.asdict(request.sampling), colour=colour.record())
    manifest = _resume_from(batch_dir, target, fresh, shard)
    todo_all = shard_slice(plan(request), shard)
    finished = _finished_ids(batch_dir, manifest)
    todo = [p for p in todo_all if p.plate_id not in finished]
    log.info("%s: %d plate(s) in this shard, %d already done, %d to generate",
             request.batch, len(todo_all), len(todo_all) - len(todo), len(todo))

    engine: Any = None
    if todo:
        from castgate.engine import TextToImage  # JAX is imported only when there is something to generate

        engine = TextToImage.load(folders["dalle"], folders["vqgan"], dtype=request.sampling.dtype)
        if engine.identity != identity:
            raise ModelFolderError("the checkpoint files changed while castgate was reading them",
                                   where=str(folders["dalle"].parent),
                                   fix="Wait until the model folders are copied completely, then run again")
    mine = None if shard.is_whole else {p.plate_id for p in todo_all}
    _prepare_output(batch_dir, mine)
    write_manifest(batch_dir, manifest, path=target)
    total, done = len(todo_all), len(todo_all) - len(todo)
    if on_progress:
        on_progress(done, total)

    model_hash = identity["dalle"]["files"].get("flax_model.msgpack", "")
    chunk_size = request.sampling.batch_size
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        images = engine.generate([p.role.prompt for p in chunk], [p.seed for p in chunk],
                                 _sampling_settings(request), batch_size=chunk_size)
        new = [write_plate(batch_dir, request, p, image, colour, model_hash) for p, image in zip(chunk, images)]
        manifest = manifest.with_plates(new)
        write_manifest(batch_dir, manifest, path=target)
        done += len(chunk)
        if on_progress:
            on_progress(done, total)

    manifest = dataclasses.replace(manifest, plates=sort_plates(manifest.plates, manifest.roles()))
    if shard.is_whole:
        manifest = finish_batch(batch_dir, manifest, folders.get("clip"))
    manifest = manifest.with_event("generate", shard=f"{shard.index}/{shard.count}", generated=len(todo),
                                   skipped=total - len(todo))
    write_manifest(batch_dir, manifest, path=target)
    return manifest


def _sampling_settings(request: Request):
    from castgate.engine import SamplingSettings

    return SamplingSettings(condition_scale=request.sampling.condition_scale, top_k=request.sampling.top_k or None,
                            temperature=request.sampling.temperature, dtype=request.sampling.dtype)


def finish_batch(batch_dir: Path, manifest: Manifest, clip_folder: Path | None) -> Manifest:
    """After every plate exists: CLIP selection (when candidates > 1) and per-role contact sheets."""
    per_plate = int(manifest.sampling.get("candidates_per_plate", 1))
    if per_plate > 1 and any(p.rejected_reason == AWAITING_SELECTION for p in manifest.plates):
        from castgate.selection import select_plates

        keep_proxies = bool(manifest.sampling.get("keep_rejected_proxies", False))
        manifest = select_plates(batch_dir, manifest, clip_folder, keep_proxies)
    write_contact_sheets(batch_dir, manifest)
    return manifest


def write_contact_sheets(batch_dir: Path, manifest: Manifest) -> None:
    """One contact sheet per role, of its kept plates."""
    for role in manifest.roles():
        kept = [p for p in manifest.kept_plates if p.role == role and "png" in p.files]
        if kept:
            plate_files.write_contact_sheet(
                batch_dir / plate_files.CONTACT_DIR / f"{role}.png",
                [batch_dir / p.files["png"].path for p in kept], [p.id for p in kept])


# -- helpers -----------------------------------------------------------------------------------------
def _prepare_output(batch_dir: Path, plate_ids: set[str] | None = None) -> None:
    """Create the batch folder and prove it is writable; drop temp files an interrupted run left.

    A shard (``plate_ids`` = the plates it owns) drops only its own plates' temp files: other shards
    may be writing theirs in the same folders at this very moment.
    """
    try:
        batch_dir.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=batch_dir, prefix=".castgate-write-test-")  # unique per process
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFolderError(f"cannot write to the output folder ({exc.strerror})", where=str(batch_dir),
                                fix="Choose a folder you can write to with -o, or fix its permissions") from None
    subfolders = [plate_files.PLATES_DIR, plate_files.PROXIES_DIR]
    if plate_ids is None:
        subfolders += [plate_files.CONTACT_DIR, "."]
    prefixes = None if plate_ids is None else tuple(f".{plate_id}." for plate_id in plate_ids)
    for sub in subfolders:
        folder = batch_dir / sub
        if folder.is_dir():
            for leftover in folder.glob(".*.tmp*"):
                if prefixes is None or leftover.name.startswith(prefixes):
                    leftover.unlink(missing_ok=True)


def _resume_from(batch_dir: Path, target: Path, fresh: Manifest, shard: Shard) -> Manifest:
    """The manifest to continue from: the existing one if it describes the same request and models."""
    existing = None
    if target.is_file():
        existing = read_part(target) if not shard.is_whole else read_manifest(batch_dir)
    elif not shard.is_whole and manifest_path(batch_dir).is_file():
        existing = read_manifest(batch_dir)  # merged earlier: continue from what was merged
        existing = dataclasses.replace(existing, plates=tuple(p for p in existing.plates
                                                              if p.id in _ids_of_shard(fresh, shard)))
    if existing is None:
        return fresh
    if existing.request != fresh.request:
        raise ManifestError("this batch folder holds a batch made from a different request", where=str(target),
                            fix="Use another output folder with -o, or delete this batch to start over")
    if {k: existing.models.get(k) for k in ("dalle", "vqgan")} != dict(fresh.models):
        raise ManifestError("this batch was generated with different model checkpoints", where=str(target),
                            fix="Use the same --model folders as before, or another output folder")
    return existing


def _ids_of_shard(manifest: Manifest, shard: Shard) -> set[str]:
    from castgate.request import parse_request

    request = parse_request(dict(manifest.request), source="manifest.json")
    return {p.plate_id for p in shard_slice(plan(request), shard)}


def _finished_ids(batch_dir: Path, manifest: Manifest) -> set[str]:
    """Plates whose every recorded file exists and still has its recorded SHA-256.

    A candidate that selection rejected is finished too: its files were removed on purpose.
    """
    finished = set()
    for plate in manifest.plates:
        if not plate.kept and plate.rejected_reason != AWAITING_SELECTION:
            finished.add(plate.id)
        elif plate.files and all(_matches(batch_dir / ref.path, ref.sha256) for ref in plate.files.values()):
            finished.add(plate.id)
        else:
            log.warning("%s: files missing or changed since they were written; regenerating", plate.id)
    return finished


def _matches(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def write_plate(batch_dir: Path, request: Request, planned: PlannedPlate, srgb: Any,
                 colour: ColourPipeline, model_hash: str) -> Plate:
    """Write one plate's PNG proxy and EXR (prompt, seed and model in its metadata); return its record."""
    paths = plate_files.plate_paths(planned.plate_id)
    metadata: dict[str, str | int] = {"batch": request.batch, "role": planned.role.id, "prompt": planned.role.prompt,
                "seed": planned.seed, "plate_id": planned.plate_id, "model_sha256": model_hash,
                "index": planned.index}
    # Plate and proxy hold the same image: the EXR is made from the 8-bit sRGB the PNG stores (the
    # reference pipeline's output is 8-bit too), so both go back to identical codes within one step.
    srgb = plate_files.to_uint8(srgb).astype("float32") / 255.0
    plate_files.write_png(batch_dir / paths["png"], srgb)
    plate_files.write_exr(batch_dir / paths["exr"], colour.srgb_to_scene_linear(srgb), metadata, WORKING_ACESCG)
    awaiting = request.sampling.candidates_per_plate > 1
    return Plate(
        id=planned.plate_id, role=planned.role.id, index=planned.index, prompt=planned.role.prompt,
        seed=planned.seed, files={kind: FileRef(path, sha256_file(batch_dir / path)) for kind, path in paths.items()},
        kept=not awaiting, rejected_reason=AWAITING_SELECTION if awaiting else None,
    )


def merge_batch(batch_dir: Path, models_root: Path | None = None) -> Manifest:
    """Join shard parts into the manifest, then run what needs the whole batch (selection, sheets)."""
    from castgate.manifest import merge_parts

    manifest = merge_parts(batch_dir)
    request = _request_of(manifest)
    missing = {p.plate_id for p in plan(request)} - {p.id for p in manifest.plates}
    if missing:
        raise ManifestError(f"{len(missing)} plate(s) are not generated yet (e.g. {sorted(missing)[0]})",
                            where=str(batch_dir), fix="Wait for every shard to finish (or rerun the failed ones), then merge again")
    clip = model_folders(request, models_root).get("clip")
    with locked(batch_dir):
        manifest = finish_batch(batch_dir, read_manifest(batch_dir), clip).with_event("merge")
        write_manifest(batch_dir, manifest)
    return manifest


def _request_of(manifest: Manifest) -> Request:
    from castgate.request import parse_request

    try:
        return parse_request(dict(manifest.request), source="manifest.json")
    except RequestError as exc:
        raise ManifestError(f"the recorded request is invalid: {exc}", where="manifest.json",
                            fix="Regenerate the batch") from None
