"""The generator question: "is the model / prompt behind these plates biased?"

The kept plates are treated as a random sample of what the generator makes; each category's share
among determined plates gets a confidence interval (:mod:`castgate.stats`) and is judged against its
band: wholly inside → PASS, wholly outside → FAIL, else INSUFFICIENT with how many more plates would
decide it. The default for label tables such as the seed study (a model audit).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from castgate.batch.checks import UNAUDITABLE
from castgate.batch.manifest import UNDETERMINED
from castgate.gate.explain import explain_generator
from castgate.gate.results import AttributeResult, CategoryResult
from castgate.gate.tally import Tally
from castgate.quotas import AttributeQuota
from castgate.stats import (FAIL, INSUFFICIENT, PASS, equivalence_verdict, per_interval_confidence, plates_to_decide,
                            proportion_interval, target_band)


def evaluate_attribute(tally: Tally, quota: AttributeQuota, *, gated: bool = True) -> AttributeResult:
    """Judge one attribute of one scope (pure).

    Order of the rules: no plates or unlabelled plates, or too many undetermined → UNAUDITABLE (fail
    closed); fewer determined plates than ``min_sample`` → INSUFFICIENT; then the intervals: any
    category wholly outside its band → FAIL, all inside → PASS, else INSUFFICIENT.
    """
    counts = tally.counts.get(quota.attribute, {})
    categories = quota.categories
    total = tally.plate_count
    undetermined = counts.get(UNDETERMINED, 0)
    known = {c: counts.get(c, 0) for c in categories}
    determined = sum(known.values())
    unlabelled = total - determined - undetermined
    undetermined_share = undetermined / total if total else 0.0
    each = per_interval_confidence(quota.confidence, len(categories), quota.simultaneous)
    results = []
    for category in categories:
        k = known[category]
        low, high = proportion_interval(k, determined, each, quota.interval)
        target = quota.targets[category]
        band_low, band_high = target_band(target, quota.tolerance)
        verdict = equivalence_verdict(low, high, target, quota.tolerance)
        more = 0 if verdict != INSUFFICIENT else plates_to_decide(
            k, determined, target, quota.tolerance, each, quota.interval)
        results.append(CategoryResult(
            category=category, count=k, share=k / determined if determined else 0.0,
            share_of_all=k / total if total else 0.0, low=low, high=high, target=target,
            band_low=band_low, band_high=band_high, verdict=verdict, more_determined=more))
    statistical = (FAIL if any(r.verdict == FAIL for r in results)
                   else PASS if all(r.verdict == PASS for r in results) else INSUFFICIENT)
    more_determined = _more_to_decide(results, quota) if statistical == INSUFFICIENT else 0
    if determined < quota.min_sample:
        shortfall = quota.min_sample - determined
        more_determined = None if more_determined is None else max(more_determined, shortfall)
    more_plates = None
    if more_determined is not None and undetermined_share < 1.0:
        more_plates = math.ceil(more_determined / (1.0 - undetermined_share) - 1e-9)

    if total == 0:
        verdict = UNAUDITABLE
    elif unlabelled:
        verdict = UNAUDITABLE
    elif undetermined_share > quota.max_undetermined + 1e-12:
        verdict = UNAUDITABLE
    elif determined < quota.min_sample:
        verdict = INSUFFICIENT
    else:
        verdict = statistical
    partial = AttributeResult(
        attribute=quota.attribute, gated=gated, verdict=verdict if gated else None, plate_count=total,
        determined=determined, undetermined=undetermined, unlabelled=unlabelled,
        undetermined_share=undetermined_share, max_undetermined=quota.max_undetermined,
        min_sample=quota.min_sample, confidence=quota.confidence, interval_confidence=each,
        interval=quota.interval, tolerance=quota.tolerance, categories=tuple(results),
        more_plates=more_plates if verdict in (INSUFFICIENT,) else (0 if verdict != UNAUDITABLE else None),
        reason="", explanation="",
        undetermined_reasons=dict(tally.undetermined_reasons.get(quota.attribute, {})))
    reason, explanation = explain_generator(partial, verdict, tally)
    return dataclasses.replace(partial, reason=reason, explanation=explanation)


def _more_to_decide(results: Sequence[CategoryResult], quota: AttributeQuota) -> int | None:
    """More determined plates until the attribute is decided, if shares stay as they are.

    It decides when the first category that is heading outside its band FAILs, or, if every undecided
    category is heading inside, when the last of them PASSes.
    """
    pending = [r for r in results if r.verdict == INSUFFICIENT]
    heading_out = [r for r in pending if abs(r.share - r.target) > quota.tolerance + 1e-12]
    if heading_out:
        known = [r.more_determined for r in heading_out if r.more_determined is not None]
        return min(known) if known else None
    if any(r.more_determined is None for r in pending):
        return None
    return max((r.more_determined or 0) for r in pending) if pending else 0

