"""The gate's integrity checks, one per class (AYON-style), shared by the gate, the Nuke panel and the farm.

Each check answers one question about a batch with ``find_problems(manifest, batch_dir)``: an empty
list when all is well, else one :class:`Problem` per finding, with the plates it concerns, the verdict
it forces (TAMPERED or UNAUDITABLE: both block) and a fix in words. The statistics (shares against the
quota) are judged by :mod:`castgate.gate`; these checks decide whether those statistics can be trusted
at all. They fail closed: a file that cannot be read counts as changed, a plate without a label makes
the batch unauditable.

Example:
    >>> problems = run_checks(default_checks(("gender",)), manifest, batch_dir)
    >>> [p.verdict for p in problems]
    ['TAMPERED']
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

from castgate.batch.fileio import UnsafePathError, ensure_inside, sha256_regular_file
from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED, Manifest, Plate
from castgate.batch.plan import AWAITING_SELECTION, PlannedPlate, plan
from castgate.errors import CastgateError

TAMPERED = "TAMPERED"
UNAUDITABLE = "UNAUDITABLE"

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, on which plates, the verdict it forces and how to fix it."""

    check: str                         # the check's name, e.g. "plate_files_match"
    verdict: str                       # the verdict it forces: TAMPERED, UNAUDITABLE, FAIL, INSUFFICIENT
    message: str                       # one sentence
    plate_ids: tuple[str, ...] = ()
    fix: str = ""
    repair: str | None = None          # a command that repairs it, where one exists
    scope: str | None = None           # the role or pooled scope, for quota problems

    def to_dict(self, max_plate_ids: int | None = None) -> dict[str, Any]:
        ids = list(self.plate_ids)
        shown = ids if max_plate_ids is None else ids[:max_plate_ids]
        return {"check": self.check, "verdict": self.verdict, "message": self.message,
                "plate_ids": shown, "plate_count": len(ids), "fix": self.fix, "repair": self.repair,
                "scope": self.scope}


class Check:
    """Base class: subclasses set ``name``, ``label`` and ``verdict`` and implement ``find_problems``."""

    name: ClassVar[str] = "check"
    label: ClassVar[str] = ""
    verdict: ClassVar[str] = UNAUDITABLE

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        raise NotImplementedError

    def problem(self, message: str, plate_ids: Iterable[str] = (), fix: str = "",
                repair: str | None = None) -> Problem:
        return Problem(check=self.name, verdict=self.verdict, message=message, plate_ids=tuple(plate_ids),
                       fix=fix, repair=repair)


class HasKeptPlates(Check):
    """A batch with no kept plates cannot be judged."""

    name = "has_kept_plates"
    label = "The batch has kept plates"
    MESSAGE = "the batch has no kept plates"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if manifest.kept_plates:
            return []
        return [self.problem(self.MESSAGE, fix="Generate plates first (castgate generate), or keep some "
                                               "candidates")]


class PlateFilesMatch(Check):
    """Every file of every kept plate exists and still has the SHA-256 the manifest recorded.

    Hashing runs on a few threads (hashlib releases the GIL); ``on_progress(done, total)`` reports it.
    One instance remembers what it verified (per file and recorded hash), so a gate that judges the
    batch again (a review landed meanwhile) hashes only the files it has not seen.
    """

    name = "plate_files_match"
    label = "Plate files match their recorded hashes"
    verdict = TAMPERED
    MESSAGE = "{n} plate file(s) changed or missing since the batch was made: {first}"

    def __init__(self, on_progress: ProgressCallback | None = None, workers: int | None = None):
        self.on_progress = on_progress
        self.workers = workers or min(8, (os.cpu_count() or 2))
        self._verified: dict[tuple[str, str], str | None] = {}   # (file, recorded hash) -> what is wrong

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if batch_dir is None:
            return []
        batch_dir = Path(batch_dir)
        jobs = [(plate.id, ref.path, ref.sha256) for plate in manifest.kept_plates for ref in plate.files.values()]
        changed: dict[str, list[str]] = {}

        def verify(file: tuple[str, str]) -> str | None:
            """What is wrong with this file (relative path, recorded hash), or None."""
            rel_path, expected = file
            try:
                actual = sha256_regular_file(ensure_inside(batch_dir, batch_dir / rel_path))
            except FileNotFoundError:
                return f"{rel_path} is missing"
            except UnsafePathError as exc:  # a link, FIFO or device where a plate file should be
                return f"{rel_path} is not a regular file inside the batch ({exc})"
            except OSError as exc:
                return f"{rel_path} cannot be read ({exc.strerror or exc})"
            return None if actual == expected else f"{rel_path} differs from its recorded hash"

        fresh = list(dict.fromkeys((path, expected) for _, path, expected in jobs
                                   if (path, expected) not in self._verified))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for done, (file, why) in enumerate(zip(fresh, pool.map(verify, fresh)), start=1):
                self._verified[file] = why
                if self.on_progress is not None and (done % 256 == 0 or done == len(fresh)):
                    self.on_progress(done, len(fresh))
        for plate_id, path, expected in jobs:
            why = self._verified[(path, expected)]
            if why is not None:
                changed.setdefault(plate_id, []).append(why)
        if not changed:
            return []
        details = [why for whys in changed.values() for why in whys]
        first = "; ".join(details[:3]) + (f"; and {len(details) - 3} more" if len(details) > 3 else "")
        return [self.problem(self.MESSAGE.format(n=len(details), first=first), changed,
                             fix="Restore the original files from the farm's copy, or regenerate these "
                                 "plates and audit them again; plates must not be edited after generation")]


class PlatesHaveFiles(Check):
    """Every kept plate names its PNG proxy, the file that is audited and shown."""

    name = "plates_have_files"
    label = "Kept plates have a PNG proxy"
    MESSAGE = "{n} kept plate(s) have no PNG file recorded"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        ids = [p.id for p in manifest.kept_plates if "png" not in p.files]
        if not ids:
            return []
        return [self.problem(self.MESSAGE.format(n=len(ids)), ids,
                             fix="Regenerate these plates; the manifest was written by an older or "
                                 "foreign tool")]


class LabelsPresent(Check):
    """Every kept plate has a label (human or automatic) for every gated attribute: missing fails closed."""

    name = "labels_present"
    label = "Kept plates are labelled"
    MESSAGE = "{n} kept plate(s) have no {attribute} label"

    def __init__(self, attributes: Sequence[str]):
        self.attributes = tuple(attributes)

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        problems = []
        missing: dict[str, list[str]] = {a: [] for a in self.attributes}
        for plate in manifest.kept_plates:  # one pass for all attributes: this runs on every gate
            human, auto = plate.human_labels, plate.labels
            for attribute in self.attributes:
                if attribute not in human and attribute not in auto:
                    missing[attribute].append(plate.id)
        for attribute, ids in missing.items():
            if ids:
                problems.append(self.problem(
                    self.MESSAGE.format(n=len(ids), attribute=attribute), ids,
                    fix=f"Audit the batch so every plate gets a {attribute} label (undetermined counts as a "
                        "label), or label these plates by hand with castgate review",
                    repair="castgate audit BATCH"))
        return problems


class LabelsKnown(Check):
    """Every label value is a category of its attribute or ``undetermined``."""

    name = "labels_known"
    label = "Labels are known categories"
    MESSAGE = "{n} kept plate(s) have a {attribute} label that is not a category ({values})"

    def __init__(self, attributes: Sequence[str]):
        self.attributes = tuple(attributes)

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        problems = []
        allowed: dict[str, set[str | None]] = {a: {*ATTRIBUTES.get(a, ()), UNDETERMINED, None}
                                               for a in self.attributes}
        found: dict[str, list[tuple[str, str | None]]] = {a: [] for a in self.attributes}
        for plate in manifest.kept_plates:  # one pass for all attributes
            human, auto = plate.human_labels, plate.labels
            for attribute in self.attributes:
                label = human.get(attribute) or auto.get(attribute)
                value = None if label is None else label.value
                if value not in allowed[attribute]:
                    found[attribute].append((plate.id, value))
        for attribute, bad in found.items():
            if bad:
                values = ", ".join(sorted({repr(v) for _, v in bad})[:5])
                problems.append(self.problem(
                    self.MESSAGE.format(n=len(bad), attribute=attribute, values=values), [i for i, _ in bad],
                    fix=f"Relabel these plates with castgate review using "
                        f"{', '.join(sorted(v for v in allowed[attribute] if v is not None))}"))
        return problems


class AuditIsCurrent(Check):
    """Automatic labels were made on the PNG the manifest now records (not on an earlier version).

    A plate whose gated attributes all carry human labels does not depend on its automatic labels and
    is not flagged.
    """

    name = "audit_is_current"
    label = "Automatic labels belong to the current plate files"
    MESSAGE = "{n} kept plate(s) were audited on a different file than the one the manifest now records"

    def __init__(self, attributes: Sequence[str]):
        self.attributes = tuple(attributes)

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        ids = [p.id for p in manifest.kept_plates if self._is_stale(p)]
        if not ids:
            return []
        return [self.problem(self.MESSAGE.format(n=len(ids)), ids,
                             fix="Audit the batch again so the labels describe the current plates",
                             repair="castgate audit BATCH")]

    def _is_stale(self, plate: Plate) -> bool:
        audit = plate.audit
        png = plate.files.get("png")
        if audit is None or png is None or audit.plate_sha256 == png.sha256:  # the common, fast case
            return False
        if all(a in plate.human_labels for a in self.attributes):
            return False
        uses_auto = any(a in plate.labels for a in self.attributes if a not in plate.human_labels)
        return uses_auto


# -- the record itself: journal chain, signatures, snapshot ---------------------------------------------
class JournalIntact(Check):
    """The batch's journal is an unbroken hash chain (signed, with a studio key) and ``manifest.json`` is
    exactly what it folds to: any hand edit of either is TAMPERED, naming the line or field that changed.

    Findings 7 and 24 of issue 14: the manifest itself is protected, not only the plate files.
    """

    name = "journal_intact"
    label = "The batch record is unedited"
    verdict = TAMPERED

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if batch_dir is None:
            return []
        from castgate.batch import manifest_ops
        from castgate.batch.journal import Position, SigningKeyError, content, signing_key, verify_journal
        from castgate.batch.manifest import BatchFiles, _read_snapshot_text

        files = BatchFiles.of_batch(Path(batch_dir))
        restore = ("Restore the batch from the farm's copy or regenerate it; the manifest and journal must "
                   "not be edited by hand (use castgate review to change labels)")
        if not files.journal.is_file():
            return [self.problem("the batch has no journal.jsonl, so nothing shows its manifest.json is the one "
                                 "castgate wrote", fix=restore)]
        try:
            key = signing_key()
        except SigningKeyError as exc:
            return [Problem(check=self.name, verdict=UNAUDITABLE, message=str(exc), fix=exc.fix or "")]
        try:
            checked = verify_journal(files.journal, key)
        except OSError as exc:
            return [self.problem(f"journal.jsonl cannot be read ({exc.strerror or exc})", fix=restore)]
        problems = []
        if checked.tampered:
            problems.append(self.problem(f"journal.jsonl was edited: {_listed(checked.tampered, 3)}", fix=restore))
        for why in checked.unverifiable:
            problems.append(Problem(check=self.name, verdict=UNAUDITABLE, message=why,
                                    fix="Run the gate where the studio key is configured (docs/manifest.md)"))
        try:
            text = _read_snapshot_text(files.snapshot)
            snapshot = json.loads(text) if text is not None else None
        except (CastgateError, ValueError, RecursionError):
            snapshot = None
        if not isinstance(snapshot, dict):
            return problems + [self.problem("manifest.json is missing or not a JSON object", fix=restore)]
        position = Position.from_dict(snapshot.get("journal"))
        if position is None:
            return problems + [self.problem("manifest.json does not say which journal entry it reflects (its "
                                            "journal field is missing or edited)", fix=restore)]
        upto = [e for e in checked.entries if e.seq <= position.seq]
        if (upto[-1].hash if upto else "") != position.head or (upto and upto[-1].seq != position.seq):
            return problems + [self.problem(f"manifest.json says it reflects journal entry {position.seq}, which "
                                            "the journal does not hold as recorded", fix=restore)]
        folded = manifest_ops.fold(content(e) for e in upto)
        changed = manifest_ops.differences(snapshot, folded)
        if changed:
            problems.append(self.problem(f"manifest.json was edited: {'; '.join(changed)}", fix=restore))
        return problems


# -- the batch against its plan (what the request asked for) ---------------------------------------------
def _listed(ids: Sequence[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``: plate or role ids for a one-sentence message."""
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


@functools.lru_cache(maxsize=4)
def _plan_of(request_json: str) -> tuple[tuple[PlannedPlate, ...], str | None]:
    from castgate.request import parse_request

    try:
        request = parse_request(json.loads(request_json), source="manifest.json [request]")
    except CastgateError as exc:
        return (), str(exc)
    return tuple(plan(request)), None


def planned_plates(manifest: Manifest) -> tuple[tuple[PlannedPlate, ...], str | None]:
    """The plan of the request the manifest records, or ``((), why)`` when that request is unreadable."""
    return _plan_of(json.dumps(manifest.request, sort_keys=True, default=str))


def requested_roles(manifest: Manifest) -> dict[str, int]:
    """Role id -> the count the recorded request asks for (kept plates per role)."""
    roles = manifest.request.get("roles", [])
    return {r["id"]: int(r.get("count", 0)) for r in roles if isinstance(r, dict) and isinstance(r.get("id"), str)
            and isinstance(r.get("count", 0), int)}


class PlannedPlatesPresent(Check):
    """Every plate the request planned is in the manifest (kept, not selected or rejected, with a reason).

    Finding 5 of issue 14: a merge of some shards only must not leave a batch the gate can pass.
    """

    name = "planned_plates_present"
    label = "Every planned plate is accounted for"
    MESSAGE = "{n} planned plate(s) are not in the batch: {ids}"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        planned, why = planned_plates(manifest)
        if why is not None:
            return [self.problem(f"the request recorded in the manifest cannot be read, so the batch cannot be "
                                 f"compared with its plan ({why})",
                                 fix="Regenerate the batch with castgate generate")]
        present = {p.id for p in manifest.plates}
        missing = [p.plate_id for p in planned if p.plate_id not in present]
        if not missing:
            return []
        return [self.problem(self.MESSAGE.format(n=len(missing), ids=_listed(missing)), missing,
                             fix="Finish the batch: rerun castgate generate (or the failed shards), then "
                                 "castgate merge BATCH", repair="castgate merge BATCH")]


class RolesHaveKeptPlates(Check):
    """Every requested role has kept plates, and no more than its count (finding 6 of issue 14)."""

    name = "roles_have_kept_plates"
    label = "Every requested role has its kept plates"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        kept = Counter(p.role for p in manifest.kept_plates)
        problems = []
        roles = requested_roles(manifest)
        empty = [role for role in roles if kept[role] == 0]
        if empty:
            problems.append(self.problem(
                f"{len(empty)} requested role(s) have no kept plates, so they cannot be judged: {_listed(empty)}",
                fix="Generate plates for these roles (castgate generate) or remove them from the request"))
        over = [f"{role} ({kept[role]} kept, {count} asked)" for role, count in roles.items() if kept[role] > count]
        if over:
            problems.append(self.problem(f"role(s) with more kept plates than the request asks for: {_listed(over)}",
                                         fix="Regenerate the batch; the manifest was edited or written by "
                                             "another tool"))
        return problems


class PlatesAccountedFor(Check):
    """Every plate that is not kept says why; none still waits for CLIP selection (an unmerged batch)."""

    name = "plates_accounted_for"
    label = "Plates that are not kept say why"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        waiting = [p.id for p in manifest.plates if not p.kept and p.rejected_reason == AWAITING_SELECTION]
        silent = [p.id for p in manifest.plates if not p.kept and not (p.rejected_reason or "").strip()]
        problems = []
        if waiting:
            problems.append(self.problem(
                f"{len(waiting)} candidate(s) still wait for CLIP selection: {_listed(waiting)}", waiting,
                fix="Run castgate merge BATCH once every shard has finished", repair="castgate merge BATCH"))
        if silent:
            problems.append(self.problem(
                f"{len(silent)} plate(s) are neither kept nor given a reason: {_listed(silent)}", silent,
                fix="Regenerate these plates; every plate must be kept, not selected or rejected with a reason"))
        return problems


class PlatesMatchPlan(Check):
    """Every plate belongs to a requested role and carries the id and seed its role and index give.

    A plate the request could not have made (an unknown role, a renamed id, a changed seed) is forged.
    """

    name = "plates_match_plan"
    label = "Plates are the ones the request makes"
    verdict = TAMPERED

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        from castgate.batch.plan import plate_seed
        from castgate.request import plate_name

        roles = requested_roles(manifest)
        batch = manifest.request.get("batch", {}) if isinstance(manifest.request.get("batch"), dict) else {}
        template = batch.get("output_template")
        seed = batch.get("seed", 0)
        if not isinstance(template, str) or not isinstance(seed, int):
            return []  # PlannedPlatesPresent reports an unreadable request
        strangers = []
        for p in manifest.plates:
            try:
                expected = plate_name(template, manifest.batch, p.role, p.index)
            except (ValueError, KeyError, IndexError):
                expected = None
            if p.role not in roles or p.id != expected or p.seed != plate_seed(seed, p.role, p.index):
                strangers.append(p.id)
        if not strangers:
            return []
        return [self.problem(f"{len(strangers)} plate(s) do not match the request (unknown role, or an id or "
                             f"seed that their role and index do not give): {_listed(strangers)}", strangers,
                             fix="Regenerate the batch; plates must not be added or renamed by hand")]


class UniquePlateIds(Check):
    """No plate id appears twice, even differing only by case (finding 7 of issue 14)."""

    name = "unique_plate_ids"
    label = "Plate ids are unique"
    verdict = TAMPERED

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        counts = Counter(p.id.casefold() for p in manifest.plates)
        twice = sorted({p.id for p in manifest.plates if counts[p.id.casefold()] > 1})
        if not twice:
            return []
        return [self.problem(f"{len(twice)} plate id(s) appear more than once (case ignored): {_listed(twice)}",
                             twice, fix="Regenerate the batch; the manifest was edited by hand or written "
                                        "by another tool")]


class PlateFilesDistinct(Check):
    """No two plates share a file or identical file content (finding 7 of issue 14)."""

    name = "plate_files_distinct"
    label = "Every plate has its own files"
    verdict = TAMPERED

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        by_path: dict[str, list[str]] = {}
        by_hash: dict[str, list[str]] = {}
        for p in manifest.plates:
            for kind, ref in p.files.items():
                by_path.setdefault(ref.path.casefold(), []).append(p.id)
                by_hash.setdefault(f"{kind}:{ref.sha256}", []).append(p.id)
        shared = sorted({i for ids in by_path.values() if len(set(ids)) > 1 for i in ids})
        same = sorted({i for ids in by_hash.values() if len(set(ids)) > 1 for i in ids} - set(shared))
        problems = []
        if shared:
            problems.append(self.problem(f"{len(shared)} plate(s) share a file with another plate: {_listed(shared)}",
                                         shared, fix="Regenerate the batch; each plate must have its own files"))
        if same:
            problems.append(self.problem(f"{len(same)} plate(s) have byte-identical files: {_listed(same)}", same,
                                         fix="Regenerate these plates; distinct seeds never give identical files, "
                                             "so the files were copied"))
        return problems


class ShardsMerged(Check):
    """Every plate a shard part recorded is in the manifest with the same files (no unmerged shard)."""

    name = "shards_merged"
    label = "Shard parts are merged"

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if batch_dir is None:
            return []
        from castgate.batch.manifest import part_paths, read_part

        hashes = {p.id: {k: v.sha256 for k, v in p.files.items()} for p in manifest.plates}
        unmerged: list[str] = []
        parts: list[str] = []
        for path in part_paths(Path(batch_dir)):
            try:
                part = read_part(path)
            except CastgateError as exc:
                return [self.problem(f"shard part {path.name} cannot be read ({exc})",
                                     fix="Rerun that shard, then castgate merge BATCH")]
            if part is None:
                continue
            ids = [p.id for p in part.plates if not _merged(p, hashes.get(p.id))]
            if ids:
                unmerged += ids
                parts.append(path.name)
        if not unmerged:
            return []
        return [self.problem(f"{len(unmerged)} plate(s) of shard part(s) {_listed(parts)} are not merged: "
                             f"{_listed(unmerged)}", unmerged, fix="Run castgate merge BATCH",
                             repair="castgate merge BATCH")]


def _merged(part_plate: Plate, merged_hashes: dict[str, str] | None) -> bool:
    """A part's plate is merged when the manifest has it with the same files (selection may have removed
    a rejected candidate's files, so a file the manifest lacks is fine)."""
    if merged_hashes is None:
        return False
    return all(merged_hashes.get(kind, ref.sha256) == ref.sha256 for kind, ref in part_plate.files.items())


class HasReadablePlates(Check):
    """Every requested role, and the batch pooled, has at least one plate with a determined label.

    Finding 8 of issue 14: a quota that allows every plate to be undetermined must still not pass a
    batch nobody could read.
    """

    name = "has_readable_plates"
    label = "Some plates have a readable label"
    MESSAGE = "no kept plate of {where} has a determined {attribute} label"

    def __init__(self, attributes: Sequence[str]):
        self.attributes = tuple(attributes)

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if not manifest.kept_plates:
            return []  # HasKeptPlates says it
        readable: dict[str, Counter] = {a: Counter() for a in self.attributes}
        for plate in manifest.kept_plates:
            for attribute in self.attributes:
                value = plate.label(attribute)
                if value is not None and value != UNDETERMINED:
                    readable[attribute][plate.role] += 1
        problems = []
        roles = list(dict.fromkeys([*requested_roles(manifest), *(p.role for p in manifest.kept_plates)]))
        for attribute, counts in readable.items():
            blind = [r for r in roles if counts[r] == 0 and any(p.role == r for p in manifest.kept_plates)]
            if not counts:
                problems.append(self.problem(self.MESSAGE.format(where="the batch", attribute=attribute),
                                             fix="Review the plates by hand (castgate review) or regenerate them"))
            elif blind:
                ids = [p.id for p in manifest.kept_plates if p.role in blind]
                problems.append(self.problem(
                    self.MESSAGE.format(where=f"role(s) {_listed(blind)}", attribute=attribute), ids,
                    fix="Review these plates by hand (castgate review) or regenerate them"))
        return problems


def default_checks(attributes: Sequence[str], *, verify_files: bool = True,
                   on_progress: ProgressCallback | None = None) -> list[Check]:
    """The checks ``castgate gate`` runs, in order, for a quota that gates ``attributes``.

    ``verify_files=False`` leaves out reading the journal and hashing the plate files (the slow checks);
    the gate itself always verifies.
    """
    checks: list[Check] = [JournalIntact()] if verify_files else []
    checks += [HasKeptPlates(), PlatesHaveFiles(), UniquePlateIds(), PlateFilesDistinct(),
               PlannedPlatesPresent(), RolesHaveKeptPlates(), PlatesAccountedFor(), PlatesMatchPlan(),
               ShardsMerged()]
    if verify_files:
        checks.append(PlateFilesMatch(on_progress=on_progress))
    checks += [LabelsPresent(attributes), LabelsKnown(attributes), AuditIsCurrent(attributes),
               HasReadablePlates(attributes)]
    return checks


def run_checks(checks: Sequence[Check], manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
    """Run checks in order and return every problem found."""
    problems: list[Problem] = []
    for check in checks:
        problems.extend(check.find_problems(manifest, batch_dir))
    return problems
