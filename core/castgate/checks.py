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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

from castgate.checkpoints import sha256_file
from castgate.manifest import ATTRIBUTES, UNDETERMINED, Manifest, Plate

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
    """

    name = "plate_files_match"
    label = "Plate files match their recorded hashes"
    verdict = TAMPERED
    MESSAGE = "{n} plate file(s) changed or missing since the batch was made: {first}"

    def __init__(self, on_progress: ProgressCallback | None = None, workers: int | None = None):
        self.on_progress = on_progress
        self.workers = workers or min(8, (os.cpu_count() or 2))

    def find_problems(self, manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
        if batch_dir is None:
            return []
        batch_dir = Path(batch_dir)
        jobs = [(plate.id, kind, ref.path, ref.sha256)
                for plate in manifest.kept_plates for kind, ref in plate.files.items()]
        changed: dict[str, list[str]] = {}

        def verify(job: tuple[str, str, str, str]) -> tuple[str, str | None]:
            plate_id, kind, rel_path, expected = job
            path = batch_dir / rel_path
            try:
                actual = sha256_file(path)
            except FileNotFoundError:
                return plate_id, f"{rel_path} is missing"
            except OSError as exc:
                return plate_id, f"{rel_path} cannot be read ({exc.strerror or exc})"
            return plate_id, None if actual == expected else f"{rel_path} differs from its recorded hash"

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for done, (plate_id, why) in enumerate(pool.map(verify, jobs), start=1):
                if why is not None:
                    changed.setdefault(plate_id, []).append(why)
                if self.on_progress is not None and (done % 256 == 0 or done == len(jobs)):
                    self.on_progress(done, len(jobs))
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


def default_checks(attributes: Sequence[str], *, verify_files: bool = True,
                   on_progress: ProgressCallback | None = None) -> list[Check]:
    """The checks ``castgate gate`` runs, in order, for a quota that gates ``attributes``.

    ``verify_files=False`` leaves out hashing the plate files (the only slow check); the gate itself
    always verifies.
    """
    checks: list[Check] = [HasKeptPlates(), PlatesHaveFiles()]
    if verify_files:
        checks.append(PlateFilesMatch(on_progress=on_progress))
    checks += [LabelsPresent(attributes), LabelsKnown(attributes), AuditIsCurrent(attributes)]
    return checks


def run_checks(checks: Sequence[Check], manifest: Manifest, batch_dir: Path | None) -> list[Problem]:
    """Run checks in order and return every problem found."""
    problems: list[Problem] = []
    for check in checks:
        problems.extend(check.find_problems(manifest, batch_dir))
    return problems
