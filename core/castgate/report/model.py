"""The report's data: one plain dict, written as ``report.json`` and rendered into ``report.html``.

Pure: built from a :class:`~castgate.gate.GateResult` plus the manifest (or the label table). The HTML
is a view of this dict and nothing else, so the JSON twin always says what the page shows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from castgate import __version__
from castgate.balance.before_after import before_after
from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED, Manifest, Plate, utc_now
from castgate.gate import GateResult
from castgate.labels_table import LabelTable

REPORT_VERSION = 1
NOT_LABELLED = "not labelled"
OVERRIDE_EVENT = "import-override"  # castgate override: plates imported although the gate did not pass

CONDITION_SCALE_NOTE = (
    "A higher condition scale (classifier-free guidance) makes plates follow the prompt more closely and "
    "narrows their variety: the model keeps drawing its most typical person for a role, which can push a "
    "batch away from its quota. Lower it, or raise top_k or the temperature, for more varied plates.")

AGREEMENT_NOTE = (
    "Automatic labellers disagree with people, and can overstate or hide an imbalance; where both a "
    "human and an automatic label exist, this is how often they agree. Human labels override "
    "automatic ones in every count above.")


def build_batch_report(manifest: Manifest, result: GateResult, *,
                       tampered_ids: Sequence[str] = ()) -> dict[str, Any]:
    """The report dict of a batch: the gate result, counts, agreement, sampling, candidates and plates."""
    attributes = list(result.quota.attribute_names)
    kept = manifest.kept_plates
    return {
        "report_version": REPORT_VERSION,
        "castgate_version": __version__,
        "generated": utc_now(),
        "kind": "batch",
        "title": f"Audit report: batch {manifest.batch}",
        "source": dict(result.source),
        "gate": result.to_dict(),
        "attributes": attributes,
        "categories": {a: list(result.quota.attribute(a).categories) for a in attributes},
        "joint_counts": _joint_from_plates(kept, list(result.quota.label_attributes), manifest.roles()),
        "agreement": _plain(manifest.agreement),
        "agreement_note": AGREEMENT_NOTE,
        "sampling": _plain(manifest.sampling),
        "sampling_note": CONDITION_SCALE_NOTE,
        "models": {k: {"name": v.get("name"), "folder": v.get("folder")} for k, v in manifest.models.items()
                   if isinstance(v, Mapping)},
        "candidates": candidate_distribution(manifest.plates, attributes, manifest.roles()),
        "balance": before_after(manifest, result.quota, {s.scope: {a.attribute: a.verdict for a in s.attributes}
                                                         for s in result.scopes}),
        "plates": [_plate_record(p, attributes) for p in manifest.plates],
        "tampered_plate_ids": list(tampered_ids),
        "overrides": overrides(manifest),
        "provenance": provenance(manifest),
    }


def overrides(manifest: Manifest) -> list[dict[str, Any]]:
    """Every import override recorded on the batch: who took responsibility, when, why, at which verdict."""
    return [{"user": event.user, "time": event.time, "reason": event.details.get("reason"),
             "verdict": event.details.get("verdict"), "recorded_by": event.details.get("recorded_by")}
            for event in manifest.events if event.kind == OVERRIDE_EVENT]


def provenance(manifest: Manifest) -> dict[str, Any]:
    """Where the plates came from: castgate's random-weight demo models, another generator, or castgate."""
    models = manifest.request.get("models") if isinstance(manifest.request, Mapping) else None
    demo = bool(isinstance(models, Mapping) and models.get("demo"))
    imported = _plain(manifest.imported) if manifest.imported else None
    return {"demo_models": demo, "imported": imported,
            "made_by": "another generator (castgate import)" if imported else
                       "castgate's demo models (random weights)" if demo else "castgate"}


def build_table_report(table: LabelTable, result: GateResult) -> dict[str, Any]:
    """The report dict of a label table: no plates, sampling or agreement to show."""
    attributes = list(result.quota.attribute_names)
    present = [a for a in table.attributes]
    roles = {role: [{"labels": dict(zip(present, combo)), "count": n}
                    for combo, n in table.joint_counts(role).items()] for role in table.roles}
    joint = {"attributes": present, "roles": roles}
    return {
        "report_version": REPORT_VERSION,
        "castgate_version": __version__,
        "generated": utc_now(),
        "kind": "labels",
        "title": f"Audit report: label table {result.source.get('name', table.source)}",
        "source": dict(result.source),
        "gate": result.to_dict(),
        "attributes": attributes,
        "categories": {**{a: list(ATTRIBUTES[a]) for a in ATTRIBUTES if a in present},
                       **{a: list(result.quota.attribute(a).categories) for a in attributes}},
        "joint_counts": joint,
        "role_values": {r: dict(v) for r, v in table.role_values.items()},
        "agreement": {},
        "agreement_note": AGREEMENT_NOTE,
        "sampling": None,
        "sampling_note": CONDITION_SCALE_NOTE,
        "models": {},
        "candidates": None,
        "balance": None,
        "plates": [],
        "tampered_plate_ids": [],
        "overrides": [],
        "provenance": None,
    }


def candidate_distribution(plates: Sequence[Plate], attributes: Sequence[str],
                           role_order: Sequence[str]) -> dict[str, Any] | None:
    """Label counts of kept plates, rejected candidates and all candidates, pooled and per role.

    None when the batch has no rejected candidates (selection did not run, or kept everything).
    """
    rejected = [p for p in plates if not p.kept]
    if not rejected:
        return None

    def counts(selection: Sequence[Plate], attribute: str) -> dict[str, int]:
        found = Counter(p.label(attribute) or NOT_LABELLED for p in selection)
        order = list(ATTRIBUTES[attribute]) + [UNDETERMINED, NOT_LABELLED]
        return {v: found[v] for v in order + sorted(set(found) - set(order)) if found[v] or v in ATTRIBUTES[attribute]}

    def block(selection: Sequence[Plate]) -> dict[str, Any]:
        kept = [p for p in selection if p.kept]
        dropped = [p for p in selection if not p.kept]
        return {"kept_count": len(kept), "rejected_count": len(dropped), "all_count": len(selection),
                "attributes": {a: {"kept": counts(kept, a), "rejected": counts(dropped, a),
                                   "all": counts(selection, a)} for a in attributes}}

    roles = list(role_order) + sorted({p.role for p in plates} - set(role_order))
    return {"pooled": block(plates),
            "roles": {r: block([p for p in plates if p.role == r]) for r in roles
                      if any(p.role == r for p in plates)},
            "audited_rejected": sum(1 for p in rejected if p.labels or p.human_labels)}


def _joint_from_plates(plates: Sequence[Plate], attributes: Sequence[str], role_order: Sequence[str]) -> dict:
    joint: dict[str, Counter] = {}
    for plate in plates:
        combo = tuple(plate.label(a) or NOT_LABELLED for a in attributes)
        joint.setdefault(plate.role, Counter())[combo] += 1
    roles = [r for r in role_order if r in joint] + [r for r in joint if r not in role_order]
    return {"attributes": list(attributes),
            "roles": {r: [{"labels": dict(zip(attributes, combo)), "count": n}
                          for combo, n in sorted(joint[r].items())] for r in roles}}


def _plate_record(plate: Plate, attributes: Sequence[str]) -> dict[str, Any]:
    labels = {}
    present = set(plate.labels) | set(plate.human_labels)
    order = list(attributes) + [a for a in ATTRIBUTES if a in present and a not in attributes]
    for attribute in order + sorted(present - set(order)):
        auto = plate.labels.get(attribute)
        human = plate.human_labels.get(attribute)
        if auto is None and human is None:
            labels[attribute] = {"value": None, "source": None}
            continue
        record: dict[str, Any] = {"value": plate.label(attribute), "source": "human" if human else "automatic"}
        if auto is not None:
            record.update(auto_value=auto.value, confidence=auto.confidence, method=auto.method,
                          model=auto.model, reason=auto.reason)
        if human is not None:
            record.update(reviewer=human.reviewer, reviewed=human.time, note=human.note)
        labels[attribute] = record
    png = plate.files.get("png")
    return {"id": plate.id, "role": plate.role, "index": plate.index, "prompt": plate.prompt, "seed": plate.seed,
            "kept": plate.kept, "rejected_reason": plate.rejected_reason, "rank": plate.rank,
            "scores": dict(plate.scores), "png": png.path if png else None,
            "audit_error": plate.audit.error if plate.audit else None, "labels": labels}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
