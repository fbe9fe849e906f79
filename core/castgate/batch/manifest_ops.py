"""Journal operations on a manifest: fold a journal into a manifest, and diff two manifests into operations.

Pure (no disk). The journal (:mod:`castgate.batch.journal`) records operations; a manifest is what they fold to:

========  =====================================================================================
``set``   ``{"fields": {name: value}}``: top-level fields (the header at seq 0: batch, request, …)
``gen``   ``{"plate": {...}}``: generate wrote a plate. Its labels, human labels and audit record are
          kept when the PNG's SHA-256 is the one already recorded (a repaired plate regenerated
          byte for byte keeps its review), dropped otherwise (they described other pixels).
``put``   ``{"plate": {...}}``: the plate's whole record, as a stage changed it
``audit`` ``{"id", "labels", "audit"}``: automatic labels (merged by attribute) and the audit record
``event`` ``{"event": {...}}``: one entry of ``Manifest.events``
``order`` ``{"ids": [...]}``: the plate list is exactly these ids, in this order
``merge`` ``{"part", "seq", "head"}``: a shard part merged up to that entry (bookkeeping only)
========  =====================================================================================

Each operation is O(what it changes), so writing a batch of N plates journals O(N) bytes.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

HEADER_FIELDS = ("schema_version", "castgate_version", "batch", "created", "request", "models", "sampling",
                 "colour", "audit_settings", "agreement", "verdict", "balance", "imported")
_ABSENT_WHEN_NULL = ("balance", "imported")   # optional fields a manifest leaves out rather than writing null
_LABEL_KEYS = ("labels", "human_labels", "audit")


def plain(obj: Any) -> Any:
    """A manifest dataclass (or anything holding them) as plain JSON data."""
    from castgate.batch.manifest import _fields_of

    return json.loads(json.dumps(obj, default=_fields_of, ensure_ascii=False))


def fold(operations: Iterable[Mapping[str, Any]], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Apply operations in order to a plain manifest (``base``, or nothing) and return the plain result.

    Unknown operations and operations on plates that do not exist are ignored here; the gate's journal
    check reports a journal that does not fold to its snapshot.
    """
    state: dict[str, Any] = {k: v for k, v in (base or {}).items() if k not in ("plates", "events", "journal")}
    plates: dict[str, dict[str, Any]] = {}
    for plate in (base or {}).get("plates", []):
        if isinstance(plate, dict) and isinstance(plate.get("id"), str):
            plates[plate["id"]] = plate
    events: list[Any] = list((base or {}).get("events", []))
    for op in operations:
        kind = op.get("op")
        if kind == "set" and isinstance(op.get("fields"), dict):
            fields = dict(op["fields"])
            if "events" in fields:
                events = list(fields.pop("events") or [])
            state.update(fields)
        elif kind in ("gen", "put") and isinstance(op.get("plate"), dict) and isinstance(op["plate"].get("id"), str):
            new = dict(op["plate"])
            old = plates.get(new["id"])
            if kind == "gen" and old is not None and _png_sha(old) is not None and _png_sha(old) == _png_sha(new):
                for key in _LABEL_KEYS:
                    if key in old:
                        new[key] = old[key]
                    else:
                        new.pop(key, None)
            plates[new["id"]] = new
        elif kind == "audit" and op.get("id") in plates:
            plate = dict(plates[op["id"]])
            plate["labels"] = {**plate.get("labels", {}), **(op.get("labels") or {})}
            plate["audit"] = op.get("audit")
            plates[op["id"]] = plate
        elif kind == "event" and isinstance(op.get("event"), dict):
            events.append(op["event"])
        elif kind == "order" and isinstance(op.get("ids"), list):
            plates = {i: plates[i] for i in op["ids"] if isinstance(i, str) and i in plates}
    for name in _ABSENT_WHEN_NULL:
        if state.get(name, False) is None:
            del state[name]
    state["plates"] = list(plates.values())
    state["events"] = events
    return state


def _png_sha(plate: Mapping[str, Any]) -> str | None:
    files = plate.get("files")
    png = files.get("png") if isinstance(files, dict) else None
    return png.get("sha256") if isinstance(png, dict) else None


def diff(old: Any, new: Any) -> list[dict[str, Any]]:
    """The operations that turn manifest ``old`` (or None: an empty batch) into ``new``.

    Plates are compared by identity first (a stage returns the same objects for what it left alone), so
    a change to a few plates of a large batch costs little.
    """
    ops: list[dict[str, Any]] = []
    fields = {name: getattr(new, name) for name in HEADER_FIELDS
              if old is None or getattr(old, name) != getattr(new, name)}
    old_events = () if old is None else old.events
    appended_events: tuple = ()
    if new.events[:len(old_events)] == old_events:
        appended_events = new.events[len(old_events):]
    else:
        fields["events"] = new.events
    if fields:
        ops.append({"op": "set", "fields": fields})
    old_plates = {} if old is None else {p.id: p for p in old.plates}
    for plate in new.plates:
        before = old_plates.get(plate.id)
        if before is None or (before is not plate and before != plate):
            ops.append({"op": "put", "plate": plate})
    old_ids = list(old_plates)
    new_ids = list(dict.fromkeys(p.id for p in new.plates))
    if new_ids != old_ids + [i for i in new_ids if i not in old_plates]:
        ops.append({"op": "order", "ids": new_ids})   # reordered or removed (what folding appends is in order)
    ops.extend({"op": "event", "event": event} for event in appended_events)
    return ops


def gen_op(plate: Any) -> dict[str, Any]:
    """The operation generate journals for a plate it wrote."""
    return {"op": "gen", "plate": plate}


def audit_op(plate_id: str, labels: Mapping[str, Any], audit: Any) -> dict[str, Any]:
    """The operation audit journals for one plate's automatic labels."""
    return {"op": "audit", "id": plate_id, "labels": dict(labels), "audit": audit}


def differences(snapshot: Mapping[str, Any], folded: Mapping[str, Any], limit: int = 5) -> list[str]:
    """Where a snapshot (``manifest.json``) differs from what its journal folds to, in words.

    Returns at most ``limit`` items such as ``plates/b_nurse_0003/human_labels/gender/value``.
    """
    found: list[str] = []
    for name in sorted(set(snapshot) | set(folded)):
        if name in ("plates", "journal"):
            continue
        if snapshot.get(name) != folded.get(name):
            found.append(_first_difference(name, snapshot.get(name), folded.get(name)))
    snap_plates, fold_plates = snapshot.get("plates", []), folded.get("plates", [])
    snap_ids = [p.get("id") if isinstance(p, dict) else None for p in snap_plates]
    fold_ids = [p.get("id") for p in fold_plates]
    if len(snap_ids) != len(set(snap_ids)):
        found.append(f"plates: {len(snap_ids) - len(set(snap_ids))} plate(s) listed more than once")
    extra = [i for i in dict.fromkeys(snap_ids) if i not in set(fold_ids)]
    missing = [i for i in fold_ids if i not in set(snap_ids)]
    if extra:
        found.append(f"plates: {', '.join(map(str, extra[:3]))} added by hand")
    if missing:
        found.append(f"plates: {', '.join(missing[:3])} removed")
    by_id = {p["id"]: p for p in fold_plates}
    for plate in snap_plates:
        if isinstance(plate, dict) and plate.get("id") in by_id and plate != by_id[plate["id"]]:
            found.append(_first_difference(f"plates/{plate['id']}", plate, by_id[plate["id"]]))
        if len(found) >= limit:
            break
    if not found and snap_ids != fold_ids:
        found.append("plates: reordered")
    return found[:limit]


def _first_difference(path: str, a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(f"{path}/{key}", a.get(key), b.get(key))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(f"{path}/{n}", x, y)
    return f"{path} is {_short(a)} in manifest.json, {_short(b)} in the journal"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
