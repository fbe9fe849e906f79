"""The report's before/after view of a balanced batch (pure): the generator's own distribution beside the cast.

*Before* is the **generator question** over the candidates drawn with the plain prompt (no steering
phrase), audited and readable as people — the seed study's question, "what does the model draw for this
prompt?", with its intervals, reproduced on this batch. *After* is the cast that was kept, as the gate's
**cast question** judged it. *Steering* says, per role, how many candidates carried which phrase and how
many of them made the cast. A supervisor sees the model's bias and its correction side by side.
"""

from __future__ import annotations

from typing import Any, Mapping

from castgate.balance.candidates import exclusion
from castgate.batch.manifest import Manifest
from castgate.quotas import Quota


def before_after(manifest: Manifest, quota: Quota, cast_scopes: Mapping[str, Any] | None = None) -> dict | None:
    """The view's data, or None when the batch was never balanced.

    Args:
        manifest: the batch.
        quota: the quota the cast was judged against (its single attributes are shown).
        cast_scopes: ``scope -> {attribute: verdict}`` from the gate's result on the kept plates.
    """
    if not manifest.balance:
        return None
    from castgate.balance.loop import describe_round
    from castgate.gate.generator import evaluate_attribute
    from castgate.gate.tally import POOLED, pool, tally_plates

    attributes = [a.attribute for a in quota.attributes if not a.is_joint]
    roles = manifest.roles()
    plain = [p for p in manifest.plates if not (p.balance or {}).get("steering") and exclusion(p) is None]
    tallies = tally_plates(plain, attributes, roles)
    before: dict[str, Any] = {}
    for tally in tallies + ([pool(tallies)] if tallies else []):
        before[tally.scope] = {"plates": tally.plate_count, "attributes": {}}
        for attribute in attributes:
            result = evaluate_attribute(tally, quota.attribute(attribute))
            before[tally.scope]["attributes"][attribute] = {
                "verdict": result.verdict, "reason": result.reason, "determined": result.determined,
                "undetermined": result.undetermined, "confidence": result.confidence,
                "categories": [{"category": c.category, "count": c.count, "share": c.share, "low": c.low,
                                "high": c.high, "band_low": c.band_low, "band_high": c.band_high}
                               for c in result.categories]}
    after: dict[str, Any] = {}
    kept = manifest.kept_plates
    for scope, members in [(r, [p for p in kept if p.role == r]) for r in roles] + [(POOLED, list(kept))]:
        after[scope] = {"plates": len(members), "attributes": {
            a: {"counts": _counts(members, a, quota.attribute(a).categories),
                "verdict": (cast_scopes or {}).get(scope, {}).get(a)} for a in attributes}}
    steering: dict[str, Any] = {}
    for role in roles:
        mine = [p for p in manifest.plates if p.role == role]
        steered = [p for p in mine if (p.balance or {}).get("steering")]
        phrases: dict[str, dict[str, int]] = {}
        for p in steered:
            text = ", ".join(p.balance["steering"].values())
            entry = phrases.setdefault(text, {"candidates": 0, "kept": 0})
            entry["candidates"] += 1
            entry["kept"] += int(p.kept)
        steering[role] = {"candidates": len(mine), "plain": len(mine) - len(steered), "steered": len(steered),
                          "steered_kept": sum(1 for p in steered if p.kept), "phrases": phrases}
    record = manifest.balance
    return {"question_before": "generator", "question_after": "cast", "attributes": attributes,
            "before": before, "after": after, "steering": steering,
            "steering_allowed": bool(((manifest.request.get("balance") or {}).get("steering"))),
            "rounds": [describe_round(r) for r in record.get("rounds", [])],
            "outcome": record.get("outcome"), "cast": dict(record.get("cast", {}))}


def _counts(plates, attribute: str, categories) -> dict[str, int]:
    counts = {c: 0 for c in categories}
    for plate in plates:
        value = plate.label(attribute)
        counts[value or "unlabelled"] = counts.get(value or "unlabelled", 0) + 1
    return counts
