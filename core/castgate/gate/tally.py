"""Tallies: the label counts of the kept plates per role, per group of roles and pooled."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from castgate.batch.manifest import UNDETERMINED, Plate
from castgate.gate.evidence import Evidence
from castgate.labels_table import LabelTable
from castgate.quotas import CELL_SEPARATOR, JOINT_SEPARATOR

POOLED = "pooled"


@dataclass(frozen=True)
class Tally:
    """Label counts of the kept plates of one scope: a role, a group of roles, or all roles pooled."""

    scope: str                                        # role id, "pooled", or "column=value"
    kind: str                                         # "role", "group" or "pooled"
    title: str                                        # for people
    roles: tuple[str, ...]
    plate_count: int
    counts: Mapping[str, Mapping[str, int]]           # attribute -> label value -> plates
    undetermined_reasons: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    prompt: str | None = None
    evidence: Mapping[str, tuple[Evidence, ...]] = field(default_factory=dict)  # for the cast question


def joint_value(values: Sequence[str | None]) -> str | None:
    """A joint cell's value from its parts: None if any is missing, undetermined if any is, else ``a·b``."""
    if any(v is None for v in values):
        return None
    if any(v == UNDETERMINED for v in values):
        return UNDETERMINED
    return CELL_SEPARATOR.join(values)  # type: ignore[arg-type]


def _parts(attributes: Sequence[str]) -> list[str]:
    """The label attributes behind ``attributes`` (joint names ``a×b`` give ``a`` and ``b``)."""
    return list(dict.fromkeys(p for a in attributes for p in a.split(JOINT_SEPARATOR)))


def tally_plates(plates: Sequence[Plate], attributes: Sequence[str], role_order: Sequence[str] = (),
                 prompts: Mapping[str, str] | None = None) -> list[Tally]:
    """Count the labels of ``plates`` (kept plates) per role, in ``role_order`` then first appearance.

    Values are the effective labels (human over automatic); plates without a label are not counted,
    so ``plate_count - sum(counts[attribute].values())`` is the number missing a label. A joint name
    (``gender×skin_group``) counts cells (``female·darker``).
    """
    judged, attributes = list(attributes), _parts(attributes)
    # One pass, one Counter keyed by (role, value per attribute): the per-plate work stays small.
    joint: Counter[tuple] = Counter()
    reasons: dict[str, dict[str, Counter]] = {}
    found_prompts: dict[str, str] = {}
    for plate in plates:
        role = plate.role
        if role not in found_prompts:
            found_prompts[role] = plate.prompt
            reasons[role] = {a: Counter() for a in attributes}
        human_labels, auto_labels = plate.human_labels, plate.labels
        key: list[str | None] = [role]
        for attribute in attributes:
            human = human_labels.get(attribute)
            value: str | None
            if human is not None:
                value = human.value
            else:
                auto = auto_labels.get(attribute)
                value = None if auto is None else auto.value
            key.append(value)
            if value == UNDETERMINED:
                why = ("reviewer: " + (human.note or "undetermined") if human is not None
                       else auto.reason or "no reason given")  # type: ignore[union-attr]
                reasons[role][attribute][why] += 1
        joint[tuple(key)] += 1
    per_role: dict[str, dict[str, Counter]] = {r: {a: Counter() for a in judged} for r in found_prompts}
    plate_counts: Counter[str] = Counter()
    for (role, *values), n in joint.items():
        plate_counts[role] += n
        value_of = dict(zip(attributes, values))
        for attribute in judged:
            value = (value_of[attribute] if attribute in value_of
                     else joint_value([value_of[p] for p in attribute.split(JOINT_SEPARATOR)]))
            if value is not None:
                per_role[role][attribute][value] += n
    order = [r for r in role_order if r in per_role] + [r for r in per_role if r not in role_order]
    prompts = prompts or {}
    return [Tally(scope=role, kind="role", title=role, roles=(role,), plate_count=plate_counts[role],
                  counts={a: dict(c) for a, c in per_role[role].items()},
                  undetermined_reasons={a: dict(c) for a, c in reasons[role].items() if a in judged},
                  prompt=prompts.get(role, found_prompts.get(role)))
            for role in order]


def tally_label_table(table: LabelTable, attributes: Sequence[str]) -> list[Tally]:
    """Per-role tallies of a label table; attributes the table lacks count as missing labels."""
    tallies = []
    for role in table.roles:
        counts = {a: table.role_counts(role, a) for a in attributes if a in table.attributes}
        for a in attributes:
            parts = a.split(JOINT_SEPARATOR)
            if len(parts) > 1 and all(p in table.attributes for p in parts):
                cells: Counter[str] = Counter()
                for combo, n in table.joint_counts(role).items():
                    value = joint_value([combo[table.attributes.index(p)] for p in parts])
                    if value is not None:
                        cells[value] += n
                counts[a] = dict(cells)
            counts.setdefault(a, {})
        tallies.append(Tally(scope=role, kind="role", title=role, roles=(role,),
                             plate_count=table.role_total(role), counts=counts,
                             undetermined_reasons={}, prompt=table.prompt(role)))
    return tallies


def pool(tallies: Sequence[Tally], *, scope: str = POOLED, kind: str = "pooled",
         title: str = "all roles pooled") -> Tally:
    """Sum role tallies into one scope."""
    counts: dict[str, Counter] = {}
    reasons: dict[str, Counter] = {}
    evidence: dict[str, list[Evidence]] = {}
    for tally in tallies:
        for attribute, items in tally.evidence.items():
            evidence.setdefault(attribute, []).extend(items)
        for attribute, values in tally.counts.items():
            counts.setdefault(attribute, Counter()).update(values)
        for attribute, values in tally.undetermined_reasons.items():
            reasons.setdefault(attribute, Counter()).update(values)
    return Tally(scope=scope, kind=kind, title=title, roles=tuple(t.scope for t in tallies),
                 plate_count=sum(t.plate_count for t in tallies),
                 counts={a: dict(c) for a, c in counts.items()},
                 undetermined_reasons={a: dict(c) for a, c in reasons.items()},
                 evidence={a: tuple(e) for a, e in evidence.items()})


def group_tallies(role_tallies: Sequence[Tally], column: str, values: Mapping[str, str]) -> list[Tally]:
    """Pool role tallies by a per-role column (e.g. the seed study's ``workforce_majority``)."""
    groups: dict[str, list[Tally]] = {}
    for tally in role_tallies:
        groups.setdefault(values[tally.scope], []).append(tally)
    return [pool(members, scope=f"{column}={value}", kind="group",
                 title=f"{column} = {value} ({len(members)} role{'s' if len(members) != 1 else ''})")
            for value, members in groups.items()]

