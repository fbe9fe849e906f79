"""Human review: labels set by people, imported from CSV, and their agreement with the automatic labels.

A human label overrides the automatic label of the same attribute (``Plate.label``). People set labels one
plate at a time (``castgate review BATCH --plate ID --set gender=female --reviewer NAME``, which the Nuke
panel calls) or for many plates from a CSV table (``--import labels.csv``): a ``plate_id`` column plus any
attribute columns (``gender``, ``skin_group``, ``fitzpatrick``, ``monk``) and an optional ``note``; an
empty cell leaves that attribute alone.

Values are checked before anything is written: categories or ``undetermined``, case-insensitive;
Fitzpatrick types also as 1-6. A Fitzpatrick type given without a skin group also sets the group it
implies (I-III lighter, IV-VI darker); a contradiction between the two is refused.

Agreement: for every attribute where plates carry both a human and an automatic label, castgate keeps in
``Manifest.agreement[attribute]`` the confusion matrix (rows human, columns automatic, over the
attribute's categories then ``undetermined``), the observed agreement and Cohen's kappa (None when
chance agreement is 1, i.e. both raters used a single category). It is recomputed after every audit and
every review.

Example:
    >>> review_plate(batch_dir, "office_clerk_0003", {"gender": "female"}, reviewer="ana").labels_set
    1
    >>> read_manifest(batch_dir).agreement["gender"]["observed"]
    0.75
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from castgate.batch.manifest import (ATTRIBUTES, UNDETERMINED, HumanLabel, Manifest, Plate, read_manifest,
                                     update_manifest, utc_now)
from castgate.errors import CastgateError, LabelsFileError
from castgate.labels_table import read_csv_text

_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}
_MAX_PROBLEMS = 25
NOTE_COLUMN = "note"
ID_COLUMN = "plate_id"
NOTHING_IMPORTED = "nothing was imported: correct the table and import it again"


class ReviewError(CastgateError):
    """A review request is invalid: unknown plate or attribute, a bad value, or a missing reviewer."""


@dataclass(frozen=True)
class ReviewResult:
    """What a review changed."""

    batch: str
    plates: tuple[str, ...]                 # plates that got at least one label
    labels_set: int                         # labels written (derived skin groups included)
    derived: int = 0                        # skin groups set from a Fitzpatrick type
    rows_without_labels: int = 0            # CSV rows whose attribute cells were all empty
    agreement: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "plates": list(self.plates), "plates_changed": len(self.plates),
                "labels_set": self.labels_set, "derived": self.derived,
                "rows_without_labels": self.rows_without_labels, "agreement": dict(self.agreement)}


# -- values ----------------------------------------------------------------------------------------
def allowed_values(attribute: str) -> tuple[str, ...]:
    """The values a label of ``attribute`` may take."""
    return ATTRIBUTES[attribute] + (UNDETERMINED,)


def normalise_value(attribute: str, raw: str) -> str:
    """The canonical spelling of a label value.

    Args:
        attribute: one of ``manifest.ATTRIBUTES``.
        raw: what a person typed (case-insensitive; Fitzpatrick also 1-6).
    Returns:
        The category or ``"undetermined"``.
    Raises:
        ValueError: not an attribute, or not a value of it; the message lists what is allowed.
    Example:
        >>> normalise_value("fitzpatrick", "4"), normalise_value("gender", "Female")
        ('IV', 'female')
    """
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; use one of {', '.join(ATTRIBUTES)}")
    text = raw.strip()
    if attribute == "fitzpatrick" and text in _ROMAN:
        text = _ROMAN[text]
    if attribute == "monk" and text.isdigit():
        text = str(int(text))
    for value in allowed_values(attribute):
        if text.casefold() == value.casefold():
            return value
    raise ValueError(f"{raw.strip()!r} is not a {attribute} label; use one of "
                     f"{', '.join(allowed_values(attribute))}")


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``["gender=female", "fitzpatrick=IV"]`` to ``{"gender": "female", "fitzpatrick": "IV"}``.

    Raises:
        ReviewError: malformed, unknown attribute, bad value, or an attribute given twice.
    """
    values: dict[str, str] = {}
    for item in assignments:
        attribute, sep, raw = item.partition("=")
        attribute = attribute.strip()
        if not sep or not attribute:
            raise ReviewError(f"--set {item!r} is not ATTRIBUTE=VALUE",
                              fix=f"Write e.g. --set gender=female; attributes: {', '.join(ATTRIBUTES)}")
        if attribute in values:
            raise ReviewError(f"--set gives {attribute} twice", fix="Give each attribute once")
        try:
            values[attribute] = normalise_value(attribute, raw)
        except ValueError as exc:
            raise ReviewError(f"--set {item!r}: {exc}", fix="Correct the value") from None
    if not values:
        raise ReviewError("nothing to set", fix="Add --set ATTRIBUTE=VALUE (e.g. --set gender=female)")
    return values


def implied_values(values: Mapping[str, str], existing: Mapping[str, HumanLabel] | None = None
                   ) -> tuple[dict[str, str], int, str | None]:
    """Add the skin group a Fitzpatrick type implies; report a contradiction.

    Returns:
        ``(values with the implied group, how many were derived, problem or None)``.
    """
    out = dict(values)
    derived = 0
    fitzpatrick = out.get("fitzpatrick")
    if fitzpatrick and fitzpatrick != UNDETERMINED:
        group = "lighter" if fitzpatrick in ("I", "II", "III") else "darker"
        given = out.get("skin_group")
        if given is None:
            out["skin_group"] = group
            derived = 1
        elif given != group and given != UNDETERMINED:
            return out, 0, (f"fitzpatrick {fitzpatrick} means skin_group {group}, but skin_group {given} "
                            f"was given")
    elif "skin_group" in out and out["skin_group"] != UNDETERMINED and existing and "fitzpatrick" in existing:
        earlier = existing["fitzpatrick"].value
        if earlier != UNDETERMINED:
            group = "lighter" if earlier in ("I", "II", "III") else "darker"
            if group != out["skin_group"]:
                return out, 0, (f"skin_group {out['skin_group']} contradicts the human fitzpatrick label "
                                f"{earlier} set earlier; set fitzpatrick too")
    return out, derived, None


# -- agreement -------------------------------------------------------------------------------------
def agreement_for(plates: Sequence[Plate], attribute: str) -> dict[str, Any] | None:
    """Agreement of automatic with human labels of one attribute, or None where no plate has both.

    Returns:
        ``{"n", "observed", "kappa", "labels", "confusion"}``; ``confusion[i][j]`` counts plates whose
        human label is ``labels[i]`` and automatic label ``labels[j]``.
    Example:
        >>> agreement_for(plates, "gender")["kappa"]
        0.5
    """
    pairs = [(p.human_labels[attribute].value, p.labels[attribute].value) for p in plates
             if attribute in p.human_labels and attribute in p.labels]
    if not pairs:
        return None
    labels = list(allowed_values(attribute))
    labels += sorted({v for pair in pairs for v in pair} - set(labels))  # values of an older castgate
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    confusion = [[0] * size for _ in range(size)]
    for human, auto in pairs:
        confusion[index[human]][index[auto]] += 1
    n = len(pairs)
    observed = sum(confusion[i][i] for i in range(size)) / n
    rows = [sum(confusion[i]) for i in range(size)]
    cols = [sum(confusion[i][j] for i in range(size)) for j in range(size)]
    expected = sum(rows[i] * cols[i] for i in range(size)) / (n * n)
    kappa = None if abs(1.0 - expected) < 1e-12 else (observed - expected) / (1.0 - expected)
    return {"n": n, "observed": round(observed, 6), "kappa": None if kappa is None else round(kappa, 6),
            "labels": labels, "confusion": confusion}


def compute_agreement(plates: Sequence[Plate]) -> dict[str, dict[str, Any]]:
    """Agreement for every attribute where some plate has both labels (all plates, kept or not)."""
    out = {}
    for attribute in ATTRIBUTES:
        result = agreement_for(plates, attribute)
        if result is not None:
            out[attribute] = result
    return out


def with_agreement(manifest: Manifest) -> Manifest:
    """The manifest with ``agreement`` recomputed from its plates."""
    return dataclasses.replace(manifest, agreement=compute_agreement(manifest.plates))


# -- writing ---------------------------------------------------------------------------------------
def _check_reviewer(reviewer: str) -> str:
    name = (reviewer or "").strip()
    if not name:
        raise ReviewError("no reviewer given", fix="Pass --reviewer NAME (who takes responsibility for the labels)")
    return name


def _apply(manifest: Manifest, labels_by_plate: Mapping[str, Mapping[str, str]], reviewer: str,
           notes: Mapping[str, str | None], source: str) -> tuple[Manifest, int, int]:
    """Write human labels into a manifest; return it with the counts of labels set and derived."""
    time_now = utc_now()
    updated = []
    total = derived_total = 0
    for plate_id, values in labels_by_plate.items():
        plate = manifest.plate(plate_id)
        values, derived, problem = implied_values(values, plate.human_labels)
        if problem:
            raise ReviewError(f"plate {plate_id}: {problem}", fix="Make the two labels agree")
        note = notes.get(plate_id)
        human = dict(plate.human_labels)
        for attribute, value in values.items():
            own_note = note
            if derived and attribute == "skin_group" and "skin_group" not in labels_by_plate[plate_id]:
                own_note = "; ".join(n for n in (note, f"derived from fitzpatrick {values['fitzpatrick']}") if n)
            human[attribute] = HumanLabel(value=value, reviewer=reviewer, time=time_now, note=own_note)
        total += len(values)
        derived_total += derived
        updated.append(dataclasses.replace(plate, human_labels=human))
    new = manifest.with_plates(updated)
    new = new.with_event("review", reviewer=reviewer, source=source, plates=len(updated), labels=total)
    return with_agreement(new), total, derived_total


def review_plate(batch_dir: Path, plate_id: str, values: Mapping[str, str], *, reviewer: str,
                 note: str | None = None) -> ReviewResult:
    """Set human labels on one plate.

    Args:
        batch_dir: the batch folder.
        plate_id: the plate.
        values: attribute -> value (normalised here; see :func:`normalise_value`).
        reviewer: who sets them.
        note: why, or anything a supervisor should know.
    Returns:
        A :class:`ReviewResult` with the recomputed agreement.
    Raises:
        ReviewError: an unknown plate, attribute or value, a contradiction, or no reviewer.
        ManifestError: not a batch folder.
    Example:
        >>> review_plate(batch_dir, "b_nurse_0001", {"gender": "female", "fitzpatrick": "V"}, reviewer="ana")
    """
    reviewer = _check_reviewer(reviewer)
    clean = {}
    for attribute, raw in values.items():
        try:
            clean[attribute] = normalise_value(attribute, raw)
        except ValueError as exc:
            raise ReviewError(str(exc), where=f"plate {plate_id}", fix="Correct the value") from None
    if not clean:
        raise ReviewError("nothing to set", fix="Add --set ATTRIBUTE=VALUE (e.g. --set gender=female)")
    counts: dict[str, int] = {}

    def change(manifest: Manifest) -> Manifest:
        if plate_id not in {p.id for p in manifest.plates}:
            raise ReviewError(f"no plate {plate_id!r} in batch {manifest.batch!r}", where=str(batch_dir),
                              fix="Use a plate id from the batch (see manifest.json or `castgate report`)")
        new, counts["set"], counts["derived"] = _apply(manifest, {plate_id: clean}, reviewer,
                                                       {plate_id: note}, "plate")
        return new

    manifest = update_manifest(Path(batch_dir), change)
    return ReviewResult(batch=manifest.batch, plates=(plate_id,), labels_set=counts["set"],
                        derived=counts["derived"], agreement=manifest.agreement)


@dataclass(frozen=True)
class CsvLabels:
    """A validated review table: labels and notes per plate."""

    labels: dict[str, dict[str, str]]
    notes: dict[str, str | None]
    rows_without_labels: int


def parse_labels_csv(text: str, plate_ids: Iterable[str], *, source: str = "labels.csv") -> CsvLabels:
    """Parse and validate a review table against the batch's plate ids (pure).

    Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.

    Raises:
        LabelsFileError: every problem found (up to 25), each with its row and column.
    """
    known = set(plate_ids)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        raise LabelsFileError("the file is empty", where=source,
                              fix="Start with a header such as plate_id,gender,skin_group") from None
    except csv.Error as exc:
        raise LabelsFileError(f"row 1: not valid CSV ({exc})", where=source) from None
    problems: list[str] = []
    if ID_COLUMN not in header:
        problems.append(f"row 1: no {ID_COLUMN!r} column")
    unknown = [c for c in header if c not in ATTRIBUTES and c not in (ID_COLUMN, NOTE_COLUMN)]
    if unknown:
        problems.append(f"row 1: unknown column(s) {', '.join(repr(c) for c in unknown)}; use {ID_COLUMN}, "
                        f"{', '.join(ATTRIBUTES)} and optionally {NOTE_COLUMN}")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        problems.append(f"row 1: column(s) {', '.join(repr(c) for c in duplicates)} appear twice")
    attributes = [c for c in header if c in ATTRIBUTES]
    if not attributes and not problems:
        problems.append(f"row 1: no label column; add at least one of {', '.join(ATTRIBUTES)}")
    if problems:
        raise _labels_error(problems, source)

    labels: dict[str, dict[str, str]] = {}
    notes: dict[str, str | None] = {}
    first_row: dict[str, int] = {}
    empty_rows = 0
    row = 1
    try:
        for record in reader:
            row += 1
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(f"row {row}: {len(record)} cells, the header has {len(header)}; quote cells "
                                f"that contain commas")
                continue
            cells = dict(zip(header, (c.strip() for c in record)))
            plate_id = cells[ID_COLUMN]
            if not plate_id:
                problems.append(f"row {row}: {ID_COLUMN} is empty")
                continue
            if plate_id not in known:
                problems.append(f"row {row}: plate {plate_id!r} is not in this batch")
                continue
            if plate_id in first_row:
                problems.append(f"row {row}: plate {plate_id!r} is already labelled in row {first_row[plate_id]}; "
                                f"keep one row per plate")
                continue
            first_row[plate_id] = row
            values = {}
            for attribute in attributes:
                if not cells[attribute]:
                    continue
                try:
                    values[attribute] = normalise_value(attribute, cells[attribute])
                except ValueError as exc:
                    problems.append(f"row {row}, column {attribute}: {exc}")
            if not values:
                empty_rows += 1
                continue
            _, _, problem = implied_values(values)
            if problem:
                problems.append(f"row {row}: {problem}")
                continue
            labels[plate_id] = values
            notes[plate_id] = cells.get(NOTE_COLUMN) or None
            if len(problems) >= _MAX_PROBLEMS:
                break
    except csv.Error as exc:  # raised while reading the next record, before ``row`` counted it
        problems.append(f"row {row + 1}: not valid CSV ({exc})")
    if problems:
        raise _labels_error(problems, source)
    if not labels:
        raise LabelsFileError("no labels in the table (every attribute cell is empty)", where=source,
                              fix="Fill in at least one label")
    return CsvLabels(labels=labels, notes=notes, rows_without_labels=empty_rows)


def _labels_error(problems: list[str], source: str) -> LabelsFileError:
    listed = "\n".join(f"  - {p}" for p in problems[:_MAX_PROBLEMS])
    more = f" (the first {_MAX_PROBLEMS} shown)" if len(problems) >= _MAX_PROBLEMS else ""
    if len(problems) == 1:
        message = f"{problems[0]}; {NOTHING_IMPORTED}"
    else:
        message = f"{len(problems)} problems{more}:\n{listed}\n{NOTHING_IMPORTED[0].upper()}{NOTHING_IMPORTED[1:]}"
    error = LabelsFileError(message, where=source)
    error.problems = list(problems)  # type: ignore[attr-defined]
    return error


def import_labels(batch_dir: Path, csv_path: Path, *, reviewer: str) -> ReviewResult:
    """Import human labels from a CSV table: all rows or, if any row is invalid, none.

    Args:
        batch_dir: the batch folder.
        csv_path: the table (UTF-8; ``plate_id`` plus attribute columns, optional ``note``).
        reviewer: who takes responsibility for the labels.
    Returns:
        A :class:`ReviewResult`.
    Raises:
        LabelsFileError: the file is missing, unreadable, or has invalid rows (all listed with rows).
        ReviewError: no reviewer.
    Example:
        >>> import_labels(batch_dir, Path("labels.csv"), reviewer="ana").labels_set
        42
    """
    reviewer = _check_reviewer(reviewer)
    csv_path = Path(csv_path)
    text = read_csv_text(csv_path)
    counts: dict[str, Any] = {}

    def change(manifest: Manifest) -> Manifest:
        table = parse_labels_csv(text, [p.id for p in manifest.plates], source=str(csv_path))
        new, counts["set"], counts["derived"] = _apply(manifest, table.labels, reviewer, table.notes,
                                                       f"csv:{csv_path.name}")
        counts["plates"] = tuple(table.labels)
        counts["empty"] = table.rows_without_labels
        return new

    read_manifest(Path(batch_dir))  # a clear error for a folder that is not a batch, before parsing
    manifest = update_manifest(Path(batch_dir), change)
    return ReviewResult(batch=manifest.batch, plates=counts["plates"], labels_set=counts["set"],
                        derived=counts["derived"], rows_without_labels=counts["empty"],
                        agreement=manifest.agreement)
