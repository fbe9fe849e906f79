"""Audit every plate of a batch, in parallel, reproducibly and idempotently.

A plate is (re)audited when its PNG's SHA-256 differs from ``plate.audit.plate_sha256``, when it was
audited with other settings or another castgate (``plate.audit.tool`` carries both), when it has no audit
yet, or always with ``force``. Plates are audited in a process pool on all cores; each worker loads the
models once. Results are written to the manifest in chunks as they arrive (under the manifest lock,
journaling only the automatic labels and audit record of those plates, one line each), so an
interrupted audit resumes where it stopped and a review made meanwhile keeps its labels. At the end
the settings go into ``Manifest.audit_settings``, an ``audit`` event is added, and the agreement with
human labels is recomputed.

Example:
    >>> summary = audit_batch(Path("batches/office"), on_progress=lambda done, total: None)
    >>> summary.audited_count, summary.skipped_count
    (48, 0)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from castgate import __version__
from castgate.audit.settings import AuditSettings
from castgate.batch.fileio import UnsafePathError, read_regular_file, sha256_regular_file
from castgate.batch.manifest import (ATTRIBUTES, AuditRecord, AutoLabel, BatchFiles, Manifest, Plate, append_operations,
                                     locked, read_manifest, update_manifest, utc_now)
from castgate.batch.manifest_ops import audit_op

log = logging.getLogger(__name__)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_WRITE_EVERY_S = 5.0
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class PlateResult:
    """One plate's audit outcome, as sent back from a worker."""

    plate_id: str
    sha256: str
    labels: dict[str, AutoLabel]
    error: str | None


@dataclass(frozen=True)
class AuditSummary:
    """What an audit run did."""

    batch: str
    audited: tuple[str, ...]
    skipped_count: int
    errors: Mapping[str, str]
    undetermined: Mapping[str, int]
    settings: AuditSettings
    workers: int
    seconds: float
    forced: bool = False
    failed: Mapping[str, str] = field(default_factory=dict)   # worker crashes: not recorded, retried next run

    @property
    def audited_count(self) -> int:
        return len(self.audited)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "audited": self.audited_count, "audited_plates": list(self.audited),
                "skipped": self.skipped_count, "errors": dict(self.errors), "failed": dict(self.failed),
                "undetermined": dict(self.undetermined), "settings": self.settings.to_dict(),
                "settings_fingerprint": self.settings.fingerprint, "workers": self.workers,
                "seconds": round(self.seconds, 3), "forced": self.forced}


def tool_name(settings: AuditSettings) -> str:
    """What ``plate.audit.tool`` records: castgate's version and the settings' fingerprint."""
    return f"castgate {__version__} audit (settings {settings.fingerprint})"


def stored_settings(manifest: Manifest) -> AuditSettings:
    """The settings the batch was last audited with, or the defaults."""
    if manifest.audit_settings:
        return AuditSettings.from_dict(manifest.audit_settings, where=f"{manifest.batch}: audit_settings")
    return AuditSettings()


def file_sha256(path: Path) -> str:
    """SHA-256 of a plate file's bytes; of zero bytes when it is missing or not a readable regular file
    (nothing could be read: the audit then records the plate as unreadable)."""
    try:
        return sha256_regular_file(Path(path))
    except (OSError, UnsafePathError):
        return EMPTY_SHA256


def needs_audit(plate: Plate, current_sha256: str, tool: str) -> bool:
    """True when the plate has no audit, or was audited from other bytes, settings or castgate."""
    record = plate.audit
    if record is None or record.plate_sha256 != current_sha256 or record.tool != tool:
        return True
    return any(attribute not in plate.labels for attribute in ATTRIBUTES)


def plan_audit(batch_dir: Path, manifest: Manifest, settings: AuditSettings, force: bool) -> list[Plate]:
    """The plates to audit now, in manifest order."""
    tool = tool_name(settings)
    todo = []
    for plate in manifest.plates:
        ref = plate.files.get("png")
        current = file_sha256(Path(batch_dir) / ref.path) if ref else EMPTY_SHA256
        if force or needs_audit(plate, current, tool):
            todo.append(plate)
    return todo


def audit_batch(batch_dir: Path, force: bool = False, workers: int | None = None,
                on_progress: ProgressCallback | None = None, *,
                settings: AuditSettings | None = None) -> AuditSummary:
    """Audit the batch's plates that need it and record the labels in its manifest.

    Args:
        batch_dir: the batch folder (holds ``manifest.json``).
        force: audit every plate, even those already audited from the same bytes and settings.
        workers: processes to use (default: every core this process may run on, at most the farm's
            booked ``CUE_THREADS``); 1 audits in-process.
        on_progress: called as ``on_progress(done, total)`` after each plate.
        settings: thresholds and methods; default: those the batch was last audited with, else defaults.
    Returns:
        An :class:`AuditSummary`.
    Raises:
        ManifestError: the folder is not a batch, or its manifest is malformed.
        AuditSettingsError: the stored or given settings are invalid.
    Example:
        >>> audit_batch(batch_dir).audited_count   # a second run audits nothing
        0
    """
    batch_dir = Path(batch_dir)
    started = time.monotonic()
    manifest = read_manifest(batch_dir)
    settings = settings or stored_settings(manifest)
    if settings.gender_calibration:  # a bad file is the user's to fix, before any plate is audited
        from castgate.audit.calibration import load_calibration

        load_calibration(Path(settings.gender_calibration))
    todo = plan_audit(batch_dir, manifest, settings, force)
    total = len(todo)
    workers = max(1, min(workers or available_cpus(), total or 1))
    log.info("%s: auditing %d of %d plates with %d worker(s)", manifest.batch, total, len(manifest.plates),
             workers)
    if on_progress and total:
        on_progress(0, total)

    results: dict[str, PlateResult] = {}
    failed: dict[str, str] = {}
    pending: list[PlateResult] = []
    last_write = time.monotonic()
    write_cost = [0.0]
    done = 0
    jobs = [(p.id, str(batch_dir / p.files["png"].path) if "png" in p.files else None) for p in todo]

    def collect(result: PlateResult) -> None:
        nonlocal done, last_write
        results[result.plate_id] = result
        pending.append(result)
        done += 1
        if on_progress:
            on_progress(done, total)
        # Checkpoint now and then; a write re-validates the whole manifest, so in a big batch write
        # less often (at most about 5 % of the time goes to checkpoints).
        if time.monotonic() - last_write > max(_WRITE_EVERY_S, 20 * write_cost[0]):
            begun = time.monotonic()
            _record(batch_dir, pending, settings)
            pending.clear()
            last_write = time.monotonic()
            write_cost[0] = last_write - begun

    try:
        if workers > 1 and not _main_is_importable():
            log.warning("the main program (%s) cannot be re-imported by worker processes; auditing in this "
                        "process", getattr(sys.modules.get("__main__"), "__file__", None))
            workers = 1
        if workers == 1:
            for plate_id, path in jobs:
                collect(audit_plate_file(plate_id, path, settings.to_dict()))
        else:
            leftover = _run_pool(jobs, settings, workers, collect, failed)
            if leftover:
                workers = 1
            for plate_id, path in leftover:
                collect(audit_plate_file(plate_id, path, settings.to_dict()))
    finally:
        if pending:  # keep what finished, even when interrupted
            _record(batch_dir, pending, settings)

    forced = force
    summary_errors = {pid: r.error for pid, r in results.items() if r.error}
    settings_changed = dict(manifest.audit_settings) != _settings_record(settings)
    if results or settings_changed:
        def finish(current: Manifest) -> Manifest:
            from castgate.review import with_agreement

            updated = dataclasses.replace(current, audit_settings=_settings_record(settings))
            updated = updated.with_event("audit", audited=len(results), skipped=len(manifest.plates) - total,
                                         errors=len(summary_errors), failed=len(failed), forced=forced,
                                         workers=workers, settings=settings.fingerprint)
            return with_agreement(updated)

        update_manifest(batch_dir, finish)
    undetermined = {a: sum(1 for r in results.values() if r.labels[a].is_undetermined) for a in ATTRIBUTES}
    return AuditSummary(batch=manifest.batch, audited=tuple(pid for pid, _ in jobs if pid in results),
                        skipped_count=len(manifest.plates) - total, errors=summary_errors,
                        undetermined=undetermined, settings=settings, workers=workers,
                        seconds=time.monotonic() - started, forced=forced, failed=failed)


def _settings_record(settings: AuditSettings) -> dict[str, Any]:
    return {**settings.to_dict(), "fingerprint": settings.fingerprint}


def _record(batch_dir: Path, results: list[PlateResult], settings: AuditSettings) -> None:
    """Journal these plates' labels and audit records (one line per plate, under the batch lock).

    Only the automatic labels and the audit record are recorded: a review made meanwhile keeps its
    human labels. ``manifest.json`` is written from the journal when the audit finishes.
    """
    tool = tool_name(settings)
    time_now = utc_now()
    files = BatchFiles.of_batch(batch_dir)
    operations = [audit_op(r.plate_id, r.labels,
                           AuditRecord(plate_sha256=r.sha256, time=time_now, tool=tool, error=r.error))
                  for r in results]
    with locked(batch_dir, files=files):
        append_operations(files, operations)


# -- workers ---------------------------------------------------------------------------------------
def available_cpus() -> int:
    """Cores this process may run on, and no more than a farm frame booked (``CUE_THREADS``)."""
    from castgate.farm.booking import booked_threads

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    booked = booked_threads()
    return min(cores, booked) if booked else cores


def _main_is_importable() -> bool:
    """Worker processes re-import the main program by its file; a program read from stdin has none."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or Path(path).is_file()


def _init_worker(main_pid: int | None = None) -> None:
    """Load the models once per worker process (dlib's come from the fork server, see preload.py), and
    watch the audit's main process: when it dies (even by ``kill -9``) the worker exits too (finding 25
    of issue 14), instead of auditing on for nobody."""
    from castgate.audit.image import shared_models

    if main_pid is not None:
        import threading

        threading.Thread(target=_exit_when_gone, args=(main_pid,), daemon=True, name="castgate-watchdog").start()

    try:
        shared_models().warm()
    except Exception:  # warm-up only; a real failure shows on the first plate
        log.debug("model warm-up failed", exc_info=True)


def _exit_when_gone(pid: int, interval: float = 0.5) -> None:
    while _alive(pid):
        time.sleep(interval)
    os._exit(1)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def audit_plate_file(plate_id: str, path: str | None, settings: Mapping[str, Any]) -> PlateResult:
    """Audit one plate's PNG: hash exactly the bytes that are decoded. Never raises for a bad plate."""
    from castgate.audit.image import audit_image, undetermined_labels

    parsed = AuditSettings.from_dict(settings)
    if path is None:
        message = f"plate {plate_id} has no PNG proxy in the manifest; regenerate the plate"
        return PlateResult(plate_id, EMPTY_SHA256, undetermined_labels(f"unreadable image: {message}", parsed,
                                                                       "unreadable"), message)
    try:
        data = read_regular_file(Path(path))
    except FileNotFoundError:
        data = None
    except UnsafePathError as exc:
        message = f"cannot read the plate: {exc}"
        return PlateResult(plate_id, EMPTY_SHA256, undetermined_labels(f"unreadable image: {message}", parsed,
                                                                       "unreadable"), message)
    except OSError as exc:
        message = f"{path}: cannot read the file ({exc.strerror}). Check permissions and the storage."
        return PlateResult(plate_id, EMPTY_SHA256, undetermined_labels(f"unreadable image: {message}", parsed,
                                                                       "unreadable"), message)
    sha = hashlib.sha256(data or b"").hexdigest()
    try:  # missing or empty: pass the path, so the message says which
        result = audit_image(data if data else path, parsed, name=path)
    except Exception as exc:  # a bug must not stop the batch; the plate gets an error instead
        log.exception("auditing %s failed", path)
        message = f"{path}: internal error while auditing ({type(exc).__name__}: {exc}); please report it"
        return PlateResult(plate_id, sha, undetermined_labels(message, parsed, "internal_error"), message)
    return PlateResult(plate_id, sha, result.labels, result.error)


def _run_pool(jobs: list[tuple[str, str | None]], settings: AuditSettings, workers: int,
              collect: Callable[[PlateResult], None], failed: dict[str, str]) -> list[tuple[str, str | None]]:
    """Audit ``jobs`` in a process pool; return the jobs to audit in-process instead when the pool could
    not start at all (no worker ever returned a plate), e.g. when the main program cannot be re-imported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["castgate.audit.preload"])
    plain = settings.to_dict()
    finished: set[str] = set()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                initializer=_init_worker, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(audit_plate_file, pid, path, plain): pid for pid, path in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                plate_id = futures[future]
                try:
                    result = future.result()
                except concurrent.futures.process.BrokenProcessPool as exc:
                    if not finished:
                        log.warning("the audit's process pool could not start (%s); auditing in this "
                                    "process instead", exc)
                        return list(jobs)
                    failed[plate_id] = f"worker process died ({exc}); rerun the audit"
                    continue
                except Exception as exc:
                    failed[plate_id] = f"{type(exc).__name__}: {exc}"
                    continue
                finished.add(plate_id)
                collect(result)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return []
