"""Evidence: what the gate knows about one plate's true value for one attribute (or joint cell).

The cast question reads every kept plate as one of five kinds:

* **certain** — a human label that is a category: the true value is that category;
* **unreadable** — a human ``undetermined``: the reviewer could not read it, so it could be any
  category (a second look, or a replacement plate, settles it);
* **automatic undetermined** — the labeller abstained: it could be any category until reviewed;
* **measured** — an automatic label whose labeller the error model describes: right with the
  model's probability, else one of the other categories;
* **unmeasured** — an automatic label the error model does not describe (no table, or another
  method): fail closed, it could be any category until reviewed;

and a plate with no label at all is **unlabelled** (the gate says UNAUDITABLE).

Example:
    >>> evidence_for(plate, "gender", model).kind
    'measured'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED, Plate
from castgate.gate.error_model import ErrorModel, plate_group

CERTAIN, UNREADABLE, ABSTAINED, MEASURED, UNMEASURED, UNLABELLED = (
    "certain", "unreadable", "automatic undetermined", "measured", "unmeasured", "unlabelled")
CELL_SEPARATOR = "·"


@dataclass(frozen=True)
class Evidence:
    """One plate, one attribute: its effective label and the probability of each true category."""

    plate_id: str
    kind: str                                   # one of the six kinds above
    label: str | None                           # effective value: a category, "undetermined" or None
    probabilities: Mapping[str, float] | None   # P(true = category); None: could be any category
    why: str = ""                               # in words, e.g. "automatic female, 11 % wrong for darker plates"

    @property
    def reviewable(self) -> bool:
        """Whether a (fresh) human review of this plate can change what the gate knows."""
        return self.kind in (ABSTAINED, MEASURED, UNMEASURED, UNREADABLE)

    @property
    def p_wrong(self) -> float:
        """The chance the effective label is not the true value (1.0 when it could be anything)."""
        if self.probabilities is None or self.label is None:
            return 1.0
        return 1.0 - self.probabilities.get(self.label, 0.0)

    def settled(self, category: str) -> "Evidence":
        """This plate as if a reviewer labelled it ``category``."""
        return Evidence(self.plate_id, CERTAIN, category, point_mass(category), "as if reviewed")


_POINT_MASSES: dict[str, Mapping[str, float]] = {}


def point_mass(value: str) -> Mapping[str, float]:
    """``{value: 1.0}``, one shared (read-only) mapping per value, so plates of one class share it."""
    if value not in _POINT_MASSES:
        _POINT_MASSES[value] = {value: 1.0}
    return _POINT_MASSES[value]


def certain(plate_id: str, value: str, why: str = "human label") -> Evidence:
    """A plate whose value is known: a category, or ``undetermined`` (unreadable)."""
    if value == UNDETERMINED:
        return Evidence(plate_id, UNREADABLE, value, None,
                        "a reviewer marked it undetermined: look again, or replace the plate")
    return Evidence(plate_id, CERTAIN, value, point_mass(value), why)


def evidence_for(plate: Plate, attribute: str, model: ErrorModel) -> Evidence:
    """The evidence of one plate for one attribute, from its labels and the error model."""
    human = plate.human_labels.get(attribute)
    if human is not None:
        return certain(plate.id, human.value, f"human label ({human.reviewer})")
    auto = plate.labels.get(attribute)
    if auto is None:
        return Evidence(plate.id, UNLABELLED, None, None, f"no {attribute} label")
    if auto.value == UNDETERMINED:
        return Evidence(plate.id, ABSTAINED, UNDETERMINED, None,
                        f"automatic undetermined ({auto.reason or 'no reason given'})")
    if auto.value not in ATTRIBUTES[attribute]:
        return Evidence(plate.id, UNLABELLED, auto.value, None, f"{auto.value!r} is not a {attribute} category")
    group = plate_group(plate)
    probabilities = model.probabilities(attribute, auto.method, auto.value, group)
    if probabilities is None:
        reason = ("no error table measures any labeller" if model.table is None
                  else f"the error table does not measure its method {auto.method!r}")
        return Evidence(plate.id, UNMEASURED, auto.value, None, f"automatic {auto.value}, unmeasured: {reason}")
    wrong = 1.0 - probabilities[auto.value]
    where = f" for {group} plates" if group and attribute != "skin_group" else (
        "" if attribute == "skin_group" else " (skin group unknown: the worse group)")
    return Evidence(plate.id, MEASURED, auto.value, probabilities,
                    f"automatic {auto.value}, {100 * wrong:.0f} % wrong{where}")


def joint_evidence(parts: Sequence[Evidence], categories: Sequence[str]) -> Evidence:
    """One plate's evidence for a joint cell (e.g. ``female·darker``): the product of its parts.

    The parts are taken as independent given the labels (the gender error already depends on the
    plate's skin group). Any part that is unlabelled, unreadable or could be anything makes the cell
    so too, in that order of severity.
    """
    plate_id = parts[0].plate_id
    for kind in (UNLABELLED, UNREADABLE, ABSTAINED, UNMEASURED):
        found = [p for p in parts if p.kind == kind]
        if found:
            label = None if kind == UNLABELLED else (UNDETERMINED if kind != UNMEASURED
                                                     else CELL_SEPARATOR.join(str(p.label) for p in parts))
            return Evidence(plate_id, kind, label, None, "; ".join(p.why for p in found))
    label = CELL_SEPARATOR.join(str(p.label) for p in parts)
    probabilities = {}
    for cell in categories:
        values = cell.split(CELL_SEPARATOR)
        share = 1.0
        for part, value in zip(parts, values):
            share *= (part.probabilities or {}).get(value, 0.0)
        probabilities[cell] = share
    kind = CERTAIN if all(p.kind == CERTAIN for p in parts) else MEASURED
    return Evidence(plate_id, kind, label, probabilities, "; ".join(p.why for p in parts))


def plate_evidence(plates: Iterable[Plate], attributes: Sequence[str], model: ErrorModel,
                   joints: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None
                   ) -> dict[str, list[Evidence]]:
    """Evidence per attribute (and per joint name) for ``plates``, in plate order.

    Args:
        joints: ``{name: (attributes, cells)}`` for joint quotas, e.g.
            ``{"gender×skin_group": (("gender", "skin_group"), ("female·lighter", ...))}``.
    """
    joints = joints or {}
    needed = list(dict.fromkeys(list(attributes) + [a for parts, _ in joints.values() for a in parts]))
    found: dict[str, list[Evidence]] = {a: [] for a in needed}
    for plate in plates:
        for attribute in needed:
            found[attribute].append(evidence_for(plate, attribute, model))
    for name, (parts, cells) in joints.items():
        found[name] = [joint_evidence([found[a][i] for a in parts], cells) for i in range(len(found[parts[0]]))]
    return {name: found[name] for name in list(attributes) + list(joints)}
