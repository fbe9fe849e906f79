"""The cast question: "is this set of plates, the one that goes into the shot, balanced?"

The kept plates are the whole population, so a category's composition is a **count**, uncertain only
through the labels (:mod:`castgate.gate.evidence`). For a cast of ``n`` plates and a target
``t ± tol`` the band on counts is ``[⌈(t − tol)·n⌉, ⌊(t + tol)·n⌋]`` ("16–24 of 40").

Plausible counts of category ``k`` at the quota's confidence (docs/statistics.md):

* **low end**: the certain plates of ``k`` plus the lower ``α/2`` quantile of the number of
  automatic ``k`` labels that are right — an exact Poisson-binomial: a sum of independent per-plate
  Bernoulli variables with the error model's probabilities;
* **high end**: every plate labelled ``k`` (certain or automatic), plus the upper ``α/2`` quantile of
  the number of plates with another automatic label that are truly ``k`` (Poisson-binomial again),
  plus every plate that could be anything (unreadable, automatic undetermined, unmeasured).

With more than two categories ``α`` is split over them (Bonferroni), as for the generator question.
A category PASSes when its whole plausible range lies in its band, FAILs when none of it does (or
the band holds no whole count); the attribute PASSes when every category does, FAILs when any
category does, and is otherwise **UNDECIDED**, with the plates whose review would settle it. With
certain labels only, the range is the count itself and the verdict is exact.

The ends are built so that a review confirming an automatic label can only narrow a range (docs:
"why these ends"), so confirming labels never turns a PASS into UNDECIDED.

Example:
    >>> judgement = judge_cast(evidence, categories=("female", "male"),
    ...                        targets={"female": 0.5, "male": 0.5}, tolerance=0.1, confidence=0.95)
    >>> judgement.verdict, judgement.counts[0].band
    ('PASS', (16, 24))
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from castgate.gate.evidence import ABSTAINED, CERTAIN, MEASURED, UNLABELLED, UNMEASURED, UNREADABLE, Evidence
from castgate.stats import FAIL, PASS, per_interval_confidence

UNDECIDED = "UNDECIDED"
_EPS = 1e-9
_REVIEWABLE = frozenset({ABSTAINED, MEASURED, UNMEASURED, UNREADABLE})
REVIEW_DETAILED = 50  # review items kept with their outcomes, per attribute and scope; all ids are kept


@dataclass(frozen=True)
class CastCount:
    """One category of one attribute in a cast: counts, the plausible range and the band."""

    category: str
    target: float
    band_low: int               # the band on counts; band_low > band_high: no whole count meets it
    band_high: int
    labelled: int               # plates whose effective label is this category
    certain: int                # of those, human labels
    low: int                    # plausible range of the true count at the confidence
    high: int
    expected: float             # the mean true count (plates that could be anything excluded)
    verdict: str

    @property
    def band(self) -> tuple[int, int]:
        return self.band_low, self.band_high

    @property
    def band_empty(self) -> bool:
        return self.band_low > self.band_high


@dataclass(frozen=True)
class ReviewItem:
    """A plate whose human review could change the verdict, and what each answer would make it."""

    plate_id: str
    label: str | None
    kind: str
    why: str
    p_wrong: float                      # chance the current label is wrong (1.0: could be anything)
    outcomes: Mapping[str, str]         # reviewer's answer (category) -> the attribute's verdict then
    decisive: float                     # chance the review alone decides the verdict


@dataclass(frozen=True)
class CastJudgement:
    """The cast question's answer for one attribute in one scope."""

    verdict: str                        # PASS, FAIL or UNDECIDED (UNAUDITABLE is the caller's rule)
    plate_count: int
    counts: tuple[CastCount, ...]
    any_count: int                      # plates that could be any category
    unreadable: tuple[str, ...]         # human-undetermined plate ids
    unlabelled: tuple[str, ...]         # plates with no usable label
    review: tuple[ReviewItem, ...]      # most decisive first (the first REVIEW_DETAILED); empty unless UNDECIDED
    confidence: float
    interval_confidence: float
    cannot_meet: bool                   # the cast size cannot meet the quota
    sizes_that_can: tuple[int, ...]     # nearby cast sizes whose bands hold whole counts
    settled_by: int | None = None       # reviews confirming the first k listed labels would decide it
    review_ids: tuple[str, ...] = ()    # every plate to review, most decisive first

    def count(self, category: str) -> CastCount:
        for item in self.counts:
            if item.category == category:
                return item
        raise KeyError(category)


# -- the count bands ---------------------------------------------------------------------------------
def count_band(target: float, tolerance: float, n: int) -> tuple[int, int]:
    """``[⌈(t − tol)·n⌉, ⌊(t + tol)·n⌋]`` clipped to ``[0, n]``; empty when low > high.

    Example:
        >>> count_band(0.5, 0.1, 40), count_band(0.5, 0.1, 3)
        ((16, 24), (2, 1))
    """
    low = max(0, math.ceil((target - tolerance) * n - _EPS))
    high = min(n, math.floor((target + tolerance) * n + _EPS))
    return low, high


def size_can_meet(targets: Mapping[str, float], tolerance: float, n: int) -> bool:
    """Whether some composition of ``n`` plates lies in every category's band."""
    bands = [count_band(t, tolerance, n) for t in targets.values()]
    return (all(lo <= hi for lo, hi in bands) and sum(lo for lo, _ in bands) <= n
            <= sum(hi for _, hi in bands))


def sizes_that_can_meet(targets: Mapping[str, float], tolerance: float, near: int, span: int = 12) -> tuple[int, ...]:
    """Cast sizes within ``span`` of ``near`` (at least 1) that can meet the quota."""
    return tuple(m for m in range(max(1, near - span), near + span + 1) if size_can_meet(targets, tolerance, m))


# -- exact count distributions ------------------------------------------------------------------------
def poisson_binomial(probabilities: Sequence[float]) -> np.ndarray:
    """The exact distribution of a sum of independent Bernoulli variables: ``pmf[c] = P(sum = c)``.

    Plates with the same probability form a binomial; binomials are convolved (by FFT when long).

    Example:
        >>> poisson_binomial([0.5, 0.5]).tolist()
        [0.25, 0.5, 0.25]
    """
    return poisson_binomial_grouped(Counter(round(float(p), 12) for p in probabilities).items())


def poisson_binomial_grouped(groups: Iterable[tuple[float, int]]) -> np.ndarray:
    """:func:`poisson_binomial` of ``m`` plates with probability ``p`` for each ``(p, m)``."""
    pmf = np.ones(1)
    merged: Counter[float] = Counter()
    for p, m in groups:
        merged[round(float(p), 12)] += m
    for p, m in sorted(merged.items()):
        if p <= 0.0 or m == 0:
            continue
        if p >= 1.0:
            pmf = np.concatenate([np.zeros(m), pmf])
            continue
        pmf = _convolve(pmf, _binomial(m, p))
    return pmf


def _binomial(m: int, p: float) -> np.ndarray:
    from scipy.special import gammaln  # type: ignore[import-untyped]

    k = np.arange(m + 1)
    log = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1) + k * math.log(p) + (m - k) * math.log1p(-p)
    pmf = np.exp(log)
    return pmf / pmf.sum()


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if min(len(a), len(b)) < 64:
        out = np.convolve(a, b)
    else:
        from scipy.signal import fftconvolve  # type: ignore[import-untyped]

        out = np.clip(fftconvolve(a, b), 0.0, None)
    return out / out.sum()


def lower_quantile(pmf: np.ndarray, tail: float) -> int:
    """The smallest count ``c`` with ``P(X ≤ c) > tail`` (every smaller count is implausible)."""
    cdf = np.cumsum(pmf)
    return int(np.argmax(cdf > tail + _EPS))


def upper_quantile(pmf: np.ndarray, tail: float) -> int:
    """The largest count ``c`` with ``P(X ≥ c) > tail``."""
    sf = np.cumsum(pmf[::-1])[::-1]
    return int(len(pmf) - 1 - np.argmax((sf > tail + _EPS)[::-1]))


# -- the verdict --------------------------------------------------------------------------------------
# Plates with the same kind, label and probabilities behave alike, so the verdict works on classes of
# plates and their numbers: a cast of 100 000 plates is judged in the time of a few dozen classes.
ClassKey = tuple  # (kind, label, ((category, p), ...) or None)


def plate_classes(evidence: Sequence[Evidence]) -> Counter:
    """How many plates of each class (kind, label, probabilities) the cast holds."""
    memo: dict[int, tuple | None] = {}
    classes: Counter = Counter()
    for item in evidence:
        probabilities = item.probabilities
        key = id(probabilities)
        if key not in memo:
            memo[key] = None if probabilities is None else tuple(sorted(probabilities.items()))
        classes[(item.kind, item.label, memo[key])] += 1
    return classes


def category_range(classes: Mapping[ClassKey, int], category: str, tail: float) -> tuple[int, int, int, int, float]:
    """``(low, high, labelled, certain, expected)`` of the true count of ``category`` (module docstring)."""
    certain_count = labelled_count = any_count = 0
    right: list[tuple[float, int]] = []      # automatic labels of this category: P(right)
    stray: list[tuple[float, int]] = []      # automatic labels of another category: P(truly this one)
    expected = 0.0
    for (kind, label, probabilities), m in classes.items():
        if m <= 0:
            continue
        if probabilities is None:
            any_count += m if kind != UNLABELLED else 0
            continue
        p = dict(probabilities).get(category, 0.0)
        expected += p * m
        if label == category:
            labelled_count += m
            if kind == CERTAIN:
                certain_count += m
            else:
                right.append((p, m))
        elif p > 0.0:
            stray.append((p, m))
    low = certain_count + (lower_quantile(poisson_binomial_grouped(right), tail) if right else 0)
    high = labelled_count + any_count + (upper_quantile(poisson_binomial_grouped(stray), tail) if stray else 0)
    return low, high, labelled_count, certain_count, expected


def class_verdict(classes: Mapping[ClassKey, int], n: int, settings: Mapping) -> tuple[str, list[CastCount], float]:
    """The verdict of a cast given as plate classes: ``(verdict, counts, interval confidence)``."""
    categories, targets, tolerance = settings["categories"], settings["targets"], settings["tolerance"]
    each = per_interval_confidence(settings["confidence"], len(categories), settings.get("simultaneous", "bonferroni"))
    tail = (1.0 - each) / 2
    counts = []
    for category in categories:
        band_low, band_high = count_band(targets[category], tolerance, n)
        low, high, labelled, certain_count, expected = category_range(classes, category, tail)
        if band_low > band_high or high < band_low or low > band_high:
            verdict = FAIL
        elif band_low <= low and high <= band_high:
            verdict = PASS
        else:
            verdict = UNDECIDED
        counts.append(CastCount(category=category, target=targets[category], band_low=band_low,
                                band_high=band_high, labelled=labelled, certain=certain_count,
                                low=low, high=high, expected=expected, verdict=verdict))
    cannot_meet = not size_can_meet(targets, tolerance, n)
    verdict = (FAIL if cannot_meet or any(c.verdict == FAIL for c in counts)
               else PASS if all(c.verdict == PASS for c in counts) else UNDECIDED)
    return verdict, counts, each


def _settle(classes: Counter, key: ClassKey, answer: str, m: int = 1) -> Counter:
    """``classes`` with ``m`` plates of class ``key`` reviewed as ``answer``."""
    changed = Counter(classes)
    changed[key] -= m
    changed[(CERTAIN, answer, ((answer, 1.0),))] += m
    return changed


def judge_cast(evidence: Sequence[Evidence], *, categories: Sequence[str], targets: Mapping[str, float],
               tolerance: float, confidence: float, simultaneous: str = "bonferroni",
               with_review: bool = True) -> CastJudgement:
    """Judge one attribute of one cast under the cast question (pure).

    Args:
        evidence: one :class:`Evidence` per kept plate of the scope.
        categories, targets, tolerance, confidence, simultaneous: as in the quota.
        with_review: work out the review list when UNDECIDED.

    Returns:
        The :class:`CastJudgement`. Unlabelled and unreadable plates are listed for the caller's
        fail-closed rules (UNAUDITABLE, max_undetermined); the verdict here treats unreadable plates
        as possibly any category.
    """
    n = len(evidence)
    settings = dict(categories=categories, targets=targets, tolerance=tolerance, confidence=confidence,
                    simultaneous=simultaneous)
    classes = plate_classes(evidence)
    verdict, counts, each = class_verdict(classes, n, settings)
    cannot_meet = not size_can_meet(targets, tolerance, n)
    judgement = CastJudgement(
        verdict=verdict, plate_count=n, counts=tuple(counts),
        any_count=sum(1 for e in evidence if e.probabilities is None and e.kind != UNLABELLED),
        unreadable=tuple(e.plate_id for e in evidence if e.kind == UNREADABLE),
        unlabelled=tuple(e.plate_id for e in evidence if e.kind == UNLABELLED),
        review=(), confidence=confidence, interval_confidence=each, cannot_meet=cannot_meet,
        sizes_that_can=sizes_that_can_meet(targets, tolerance, n) if cannot_meet else ())
    if verdict == UNDECIDED and with_review:
        review, ids = review_list(evidence, settings, classes)
        judgement = replace(judgement, review=review, review_ids=ids,
                            settled_by=settled_by(evidence, ids, settings, classes))
    return judgement


def settled_by(evidence: Sequence[Evidence], review: Sequence[str], settings: Mapping,
               classes: Counter | None = None) -> int | None:
    """The fewest of the listed plates, in order, whose reviews would decide the verdict if they confirm
    the labels (plates that could be anything stay so); None when even all of them would not.

    Confirming labels only narrows the plausible ranges, so the smallest such prefix is found by bisection.
    """
    classes = classes if classes is not None else plate_classes(evidence)
    memo: dict[int, tuple | None] = {}
    keys = {}
    for e in evidence:
        if e.probabilities is not None and e.reviewable:
            pid = id(e.probabilities)
            if pid not in memo:
                memo[pid] = tuple(sorted(e.probabilities.items()))
            keys[e.plate_id] = (e.kind, e.label, memo[pid])
    n = len(evidence)

    def decided(k: int) -> bool:
        moved: Counter = Counter(keys[plate_id] for plate_id in review[:k] if plate_id in keys)
        changed = Counter(classes)
        for key, m in moved.items():
            changed = _settle(changed, key, key[1], m)
        return class_verdict(changed, n, settings)[0] != UNDECIDED

    if not review or not decided(len(review)):
        return None
    low, high = 0, len(review)          # decided(high) and not decided(low)
    while high - low > 1:
        middle = (low + high) // 2
        if decided(middle):
            high = middle
        else:
            low = middle
    return high


def review_list(evidence: Sequence[Evidence], settings: Mapping,
                classes: Counter | None = None) -> tuple[tuple[ReviewItem, ...], tuple[str, ...]]:
    """The reviewable plates, most decisive first: ``(the first REVIEW_DETAILED with the verdict every
    answer would give, every plate id)``.

    Plates of the same class (kind, label, probabilities) give the same outcomes, so outcomes are
    worked out once per class. Order: the chance that reviewing the plate alone decides the verdict,
    then the chance its label is wrong, then plate order.
    """
    classes = classes if classes is not None else plate_classes(evidence)
    categories = settings["categories"]
    n = len(evidence)
    outcomes_by_key: dict[ClassKey, tuple[dict[str, str], float, float]] = {}
    memo: dict[int, tuple | None] = {}
    items = []
    for index, item in enumerate(evidence):
        if item.kind not in _REVIEWABLE:
            continue
        pid = id(item.probabilities)
        if pid not in memo:
            memo[pid] = None if item.probabilities is None else tuple(sorted(item.probabilities.items()))
        key = (item.kind, item.label, memo[pid])
        known = outcomes_by_key.get(key)
        if known is None:
            outcomes = {}
            for answer in categories:
                if item.probabilities is not None and item.probabilities.get(answer, 0.0) <= 0.0:
                    continue
                outcomes[answer] = class_verdict(_settle(classes, key, answer), n, settings)[0]
            weights = ({a: item.probabilities.get(a, 0.0) for a in outcomes} if item.probabilities
                       else {a: 1.0 / len(outcomes) for a in outcomes})
            decisive = sum(w for a, w in weights.items() if outcomes[a] != UNDECIDED)
            known = outcomes_by_key[key] = (outcomes, decisive, item.p_wrong)
        items.append((-known[1], -known[2], index, item, known[0]))
    items.sort()  # plain tuples; the index is unique, so items and outcomes are never compared
    ids = tuple(t[3].plate_id for t in items)
    detailed = tuple(ReviewItem(plate_id=item.plate_id, label=item.label, kind=item.kind, why=item.why,
                                p_wrong=item.p_wrong, outcomes=dict(outcomes), decisive=-negative)
                     for negative, _, _, item, outcomes in items[:REVIEW_DETAILED])
    return detailed, ids


def count_distribution(evidence: Sequence[Evidence], category: str) -> tuple[int, np.ndarray]:
    """The exact distribution of the true count of ``category`` among plates with probabilities.

    Returns ``(offset, pmf)``: ``P(count = offset + c) = pmf[c]``, where ``offset`` counts the
    certain plates of the category; plates that could be anything are left out (their count is
    ``any_count`` in the judgement, to be added in any way).
    """
    fixed = 0
    ps = []
    for item in evidence:
        if item.probabilities is None:
            continue
        p = item.probabilities.get(category, 0.0)
        if p >= 1.0:
            fixed += 1
        elif p > 0.0:
            ps.append(p)
    return fixed, poisson_binomial(ps)
