"""The cast question for one attribute of one scope, with its fail-closed rules, as an AttributeResult.

How the quota's keys read for a cast (docs/quotas.md, "The two questions"):

* ``min_sample`` is a sampling rule and does not apply: a cast is not a sample. A small cast is judged
  by its count band, and a size whose band holds no whole count FAILs with the sizes that can;
* ``undetermined`` plates (a reviewer's or the labeller's) count as possibly any category, so a cast
  whose unreadable plates could tip it never passes: it is UNDECIDED and lists them for review;
* ``max_undetermined`` caps their share: above it a cast that would PASS is UNDECIDED instead (the
  counts may allow it, but too much of the cast is unread), and the undetermined plates are listed;
* a plate with no label at all makes the scope UNAUDITABLE, as under the generator question.
"""

from __future__ import annotations

import dataclasses

from castgate.batch.checks import UNAUDITABLE
from castgate.batch.manifest import UNDETERMINED
from castgate.gate.cast import REVIEW_DETAILED, UNDECIDED, ReviewItem, judge_cast
from castgate.gate.explain import explain_cast
from castgate.gate.results import CAST, AttributeResult, CategoryResult
from castgate.gate.tally import Tally
from castgate.quotas import AttributeQuota
from castgate.stats import PASS, target_band


def evaluate_cast_attribute(tally: Tally, quota: AttributeQuota, *, gated: bool = True) -> AttributeResult:
    """Judge one attribute of one scope under the cast question (pure)."""
    evidence = tally.evidence.get(quota.attribute, ())
    counts = tally.counts.get(quota.attribute, {})
    total = tally.plate_count
    judgement = judge_cast(evidence, categories=quota.categories, targets=quota.targets,
                           tolerance=quota.tolerance, confidence=quota.confidence,
                           simultaneous=quota.simultaneous, with_review=gated)
    undetermined = counts.get("undetermined", 0)
    too_many = total > 0 and undetermined / total > quota.max_undetermined + 1e-12
    if total == 0 or judgement.unlabelled or len(evidence) != total:
        verdict = UNAUDITABLE
    elif judgement.verdict == PASS and too_many:
        verdict = UNDECIDED
        undetermined_ids = {e.plate_id for e in evidence if e.label == UNDETERMINED}
        listed = [e for e in evidence if e.plate_id in undetermined_ids]
        judgement = dataclasses.replace(judgement, review_ids=tuple(e.plate_id for e in listed), review=tuple(
            ReviewItem(plate_id=e.plate_id, label=e.label, kind=e.kind, why=e.why, p_wrong=1.0, outcomes={},
                       decisive=0.0) for e in listed[:REVIEW_DETAILED]))
    else:
        verdict = judgement.verdict
    if verdict != UNDECIDED:
        judgement = dataclasses.replace(judgement, review=(), review_ids=())
    categories = tuple(
        CategoryResult(category=c.category, count=c.labelled, share=c.labelled / total if total else 0.0,
                       share_of_all=c.labelled / total if total else 0.0,
                       low=c.low / total if total else 0.0, high=c.high / total if total else 1.0,
                       target=c.target, band_low=target_band(c.target, quota.tolerance)[0],
                       band_high=target_band(c.target, quota.tolerance)[1], verdict=c.verdict,
                       more_determined=None)
        for c in judgement.counts)
    determined = sum(c.labelled for c in judgement.counts)
    partial = AttributeResult(
        attribute=quota.attribute, gated=gated, verdict=verdict if gated else None, plate_count=total,
        determined=determined, undetermined=undetermined,
        unlabelled=len(judgement.unlabelled) if len(evidence) == total else total,
        undetermined_share=undetermined / total if total else 0.0, max_undetermined=quota.max_undetermined,
        min_sample=quota.min_sample, confidence=quota.confidence,
        interval_confidence=judgement.interval_confidence, interval="exact counts", tolerance=quota.tolerance,
        categories=categories, more_plates=0 if verdict != UNDECIDED and verdict != UNAUDITABLE else None,
        reason="", explanation="", undetermined_reasons=dict(tally.undetermined_reasons.get(quota.attribute, {})),
        question=CAST, cast=judgement)
    reason, explanation = explain_cast(partial, verdict, tally)
    return dataclasses.replace(partial, reason=reason, explanation=explanation)
