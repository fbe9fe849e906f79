"""Label tables made elsewhere (CSV, long format), so the gate can judge labels castgate did not make.

The format is the seed study's ``labels.csv``: one row per role and label combination with a count::

    role,prompt,workforce_majority,gender,skin_group,count
    nurse,A nurse administering medication at a hospital,female,female,lighter,44

* ``role`` and ``count`` are required; ``count`` is a whole number ≥ 0;
* label columns are the attribute names (``gender``, ``skin_group``, ``fitzpatrick``, ``monk``), at
  least one; values are categories or ``undetermined`` (case-insensitive: ``Female``, ``iv`` work);
* ``prompt`` and any other column describe the role and must be the same on every row of that role;
  such columns can group roles for pooling (the study's ``workforce_majority``).

Errors name the file, the row and the fix: ``labels.csv row 7 (line 8): count 'x' is not a whole
number; use 0, 1, 2, …``.

Example:
    >>> table = parse_label_table("role,gender,count\\nnurse,female,3\\nnurse,male,1\\n")
    >>> table.roles, table.role_counts("nurse", "gender")
    (('nurse',), {'female': 3, 'male': 1})
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from castgate.batch.fileio import read_input_text
from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED
from castgate.errors import LabelsFileError

REQUIRED = ("role", "count")
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class LabelRow:
    """One data row: a role, its label combination and how many plates carry it."""

    row: int                       # 1-based data row (the header is row 0, line 1)
    role: str
    labels: Mapping[str, str]      # attribute -> category or "undetermined"
    count: int


@dataclass(frozen=True)
class LabelTable:
    """A validated label table."""

    source: str
    attributes: tuple[str, ...]                       # label columns, in ATTRIBUTES order
    roles: tuple[str, ...]                            # in order of first appearance
    rows: tuple[LabelRow, ...]
    role_columns: tuple[str, ...] = ()                # prompt and other per-role columns
    role_values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # role -> column -> value

    def prompt(self, role: str) -> str | None:
        return self.role_values.get(role, {}).get("prompt")

    @property
    def group_columns(self) -> tuple[str, ...]:
        """Per-role columns other than ``prompt``: candidates for pooling roles into groups."""
        return tuple(c for c in self.role_columns if c != "prompt")

    def role_total(self, role: str) -> int:
        return sum(r.count for r in self.rows if r.role == role)

    def role_counts(self, role: str, attribute: str) -> dict[str, int]:
        """Counts per label value of one attribute for one role (values with zero count included)."""
        counts: Counter[str] = Counter()
        for r in self.rows:
            if r.role == role:
                counts[r.labels[attribute]] += r.count
        return dict(counts)

    def joint_counts(self, role: str | None = None) -> dict[tuple[str, ...], int]:
        """Counts per label combination (in ``attributes`` order) for one role, or all roles."""
        counts: Counter[tuple[str, ...]] = Counter()
        for r in self.rows:
            if role is None or r.role == role:
                counts[tuple(r.labels[a] for a in self.attributes)] += r.count
        return dict(counts)


def read_label_table(path: Path) -> LabelTable:
    """Read and validate a CSV label table.

    Raises:
        LabelsFileError: the file is missing or unreadable, or has invalid rows (up to 20 listed,
        each with its row and line number).
    """
    path = Path(path)
    return parse_label_table(read_csv_text(path), source=str(path))


def read_csv_text(path: Path) -> str:
    """The text of a CSV file (UTF-8, with or without a BOM), or :class:`LabelsFileError` saying why not."""
    return read_input_text(Path(path), lambda problem, fix: LabelsFileError(problem, where=str(path), fix=fix))


def parse_label_table(text: str, *, source: str = "labels.csv") -> LabelTable:
    """Parse and validate the text of a CSV label table (pure; see :func:`read_label_table`)."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise LabelsFileError("the file is empty", where=source,
                              fix="Start with a header such as role,gender,skin_group,count") from None
    except csv.Error as exc:
        raise LabelsFileError(f"line 1: not valid CSV ({exc})", where=source) from None
    columns = [c.strip() for c in header]
    _check_header(columns, source)
    attributes = tuple(a for a in ATTRIBUTES if a in columns)
    role_columns = tuple(c for c in columns if c not in REQUIRED and c not in ATTRIBUTES)
    problems: list[str] = []
    rows: list[LabelRow] = []
    roles: list[str] = []
    role_values: dict[str, dict[str, str]] = {}
    first_row: dict[str, int] = {}
    seen: dict[tuple, int] = {}
    row_number = 0
    try:
        for record in reader:
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            row_number += 1
            where = f"row {row_number} (line {line})"
            if len(record) != len(columns):
                problems.append(f"{where}: {len(record)} fields, the header has {len(columns)}; "
                                "quote fields that contain commas")
                continue
            cells = dict(zip(columns, (cell.strip() for cell in record)))
            role = cells["role"]
            if not role:
                problems.append(f"{where}: role is empty; name the role")
                continue
            count = _parse_count(cells["count"], where, problems)
            labels: dict[str, str] = {}
            for attribute in attributes:
                value = _normalise_label(attribute, cells[attribute])
                if value is None:
                    allowed = ", ".join(ATTRIBUTES[attribute] + (UNDETERMINED,))
                    problems.append(f"{where}: {attribute} {cells[attribute]!r} is not a category; "
                                    f"use one of {allowed}")
                else:
                    labels[attribute] = value
            if role not in role_values:
                roles.append(role)
                first_row[role] = row_number
                role_values[role] = {c: cells[c] for c in role_columns}
            else:
                for column in role_columns:
                    if cells[column] != role_values[role][column]:
                        problems.append(
                            f"{where}: {column} is {cells[column]!r} but row {first_row[role]} of role "
                            f"{role!r} says {role_values[role][column]!r}; a role's {column} must be the "
                            "same on every row")
            if count is None or len(labels) != len(attributes):
                continue
            key = (role, tuple(labels[a] for a in attributes))
            if key in seen:
                combo = ", ".join(f"{a} {labels[a]}" for a in attributes)
                problems.append(f"{where}: repeats row {seen[key]} (role {role!r}, {combo}); "
                                "add the counts into one row")
                continue
            seen[key] = row_number
            rows.append(LabelRow(row=row_number, role=role, labels=labels, count=count))
            if len(problems) >= _MAX_PROBLEMS:
                break
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if not problems and not rows:
        problems.append("no data rows below the header; add one row per role and label combination")
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems[:_MAX_PROBLEMS])
        more = " (stopped at the first 20)" if len(problems) >= _MAX_PROBLEMS else ""
        message = problems[0] if len(problems) == 1 else f"{len(problems)} problems{more}:\n{listed}"
        error = LabelsFileError(message, where=source)
        error.problems = problems  # type: ignore[attr-defined]
        raise error
    return LabelTable(source=source, attributes=attributes, roles=tuple(roles), rows=tuple(rows),
                      role_columns=role_columns, role_values=role_values)


def _check_header(columns: list[str], source: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"the header has no {' or '.join(repr(m) for m in missing)} column")
    if not any(a in columns for a in ATTRIBUTES):
        problems.append(f"the header has no label column; add at least one of {', '.join(ATTRIBUTES)}")
    if duplicates:
        problems.append(f"the header repeats {', '.join(repr(d) for d in duplicates)}")
    if any(not c for c in columns):
        problems.append("the header has an empty column name")
    if problems:
        raise LabelsFileError("line 1: " + "; ".join(problems), where=source,
                              fix="The header needs role, count and label columns, e.g. "
                                  "role,prompt,gender,skin_group,count")


MAX_COUNT = 10_000_000   # plates in one cell of a label table


def _parse_count(cell: str, where: str, problems: list[str]) -> int | None:
    text = cell.strip()
    if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
        problems.append(f"{where}: count is {text}; use a whole number ≥ 0")
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # int() would take "1_000", " 7" and 10^300
        problems.append(f"{where}: count {cell!r} is not a whole number of at most {MAX_COUNT}; use 0, 1, 2, … "
                        "written with digits only")
        return None
    count = int(text)
    if count > MAX_COUNT:
        problems.append(f"{where}: count is {count}, above {MAX_COUNT}; check the table")
        return None
    if count < 0:
        problems.append(f"{where}: count is {count}; use a whole number ≥ 0")
        return None
    return count


def _normalise_label(attribute: str, cell: str) -> str | None:
    """The canonical spelling of a label cell, or None when it is not a category of the attribute."""
    for category in ATTRIBUTES[attribute] + (UNDETERMINED,):
        if cell.casefold() == category.casefold():
            return category
    return None
