"""A batch's plates as cast candidates, and a selection written back onto its plates (pure).

Every plate of a batch is a candidate, kept or not. What it can never be: a plate rejected as showing no
person, a plate whose image files are gone (CLIP selection removed them) or that the audit could not read.
Those are *rejected*; every other plate is either *kept* (in the cast) or *not selected*, with why.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from castgate.balance.select import Candidate, CastSelection
from castgate.batch.manifest import Manifest, Plate, sort_plates

NOT_SELECTED = "not selected: "
REJECTED = "rejected: "
AWAITING_BALANCE = "awaiting balance selection"


def exclusion(plate: Plate) -> str | None:
    """Why a plate can never join a cast (a ``rejected: …`` reason), or None."""
    from castgate.generation.rerank import NO_PERSON  # rerank imports JAX: only when candidates are read

    reason = plate.rejected_reason
    if reason and reason.startswith(REJECTED):
        return reason
    if reason == NO_PERSON:
        return REJECTED + "no person detected"
    if "png" not in plate.files:
        return REJECTED + "its image files were removed" + (f" ({reason})" if reason else "")
    if plate.audit is not None and plate.audit.error:
        return REJECTED + f"the audit could not read it ({plate.audit.error})"
    if reason and not reason.startswith(NOT_SELECTED) and reason != AWAITING_BALANCE and "exr" not in plate.files:
        return REJECTED + f"{reason} (its EXR was removed)"
    return None


def candidates_of(manifest: Manifest, attributes: Sequence[str]) -> list[Candidate]:
    """Every plate of the batch as a :class:`Candidate`, in request order (role, then index)."""
    from castgate.generation.rerank import SCORE_KEY

    out = []  # the documented order is the request's (role, then index), not the order plates were written in
    for order, plate in enumerate(sort_plates(manifest.plates, manifest.roles())):
        labels = {a: plate.label(a) for a in attributes}
        out.append(Candidate(plate_id=plate.id, role=plate.role, labels=labels,
                             score=plate.scores.get(SCORE_KEY), order=order, excluded=exclusion(plate),
                             certain=all(a in plate.human_labels for a in attributes)))
    return out


def apply_selection(manifest: Manifest, selection: CastSelection, record: Mapping) -> Manifest:
    """The manifest with the cast kept, every other plate not selected or rejected with its reason, and
    ``record`` as ``Manifest.balance``. Plates are never removed and their files never touched."""
    chosen = set(selection.selected)
    plates = []
    for plate in manifest.plates:
        if plate.id in chosen:
            plates.append(dataclasses.replace(plate, kept=True, rejected_reason=None))
        else:
            plates.append(dataclasses.replace(plate, kept=False,
                                              rejected_reason=selection.reasons.get(plate.id, plate.rejected_reason)))
    return dataclasses.replace(manifest, plates=tuple(plates), balance=dict(record))
