"""Properties of the cast verdict (hypothesis): monotone in agreeing reviews, exact at target, and equal to
brute-force enumeration of every outcome on small casts."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from castgate.gate.cast import UNDECIDED, count_band, judge_cast, size_can_meet
from castgate.gate.evidence import ABSTAINED, CERTAIN, MEASURED, UNMEASURED, UNREADABLE, Evidence
from castgate.stats import FAIL, PASS, per_interval_confidence

SETTINGS = settings(max_examples=80, deadline=None)


ALL_KINDS = (CERTAIN, CERTAIN, MEASURED, MEASURED, ABSTAINED, UNMEASURED, UNREADABLE)
MOSTLY_KNOWN = (CERTAIN, CERTAIN, CERTAIN, MEASURED, MEASURED, MEASURED, UNMEASURED)


@st.composite
def plates(draw, categories: tuple[str, ...], max_plates: int = 12, kinds=ALL_KINDS, least_right: float = 0.3):
    """A cast: each plate certain, unreadable, automatic undetermined, unmeasured or measured."""
    n = draw(st.integers(1, max_plates))
    evidence = []
    for i in range(n):
        kind = draw(st.sampled_from(kinds))
        label = draw(st.sampled_from(categories))
        if kind == CERTAIN:
            evidence.append(Evidence(f"p{i}", CERTAIN, label, {label: 1.0}))
        elif kind == MEASURED:
            right = draw(st.floats(least_right, 0.999))
            others = [c for c in categories if c != label]
            weights = [draw(st.floats(0.01, 1.0)) for _ in others]
            probabilities = {label: right}
            probabilities.update({c: (1 - right) * w / sum(weights) for c, w in zip(others, weights)})
            evidence.append(Evidence(f"p{i}", MEASURED, label, probabilities))
        elif kind == UNMEASURED:
            evidence.append(Evidence(f"p{i}", UNMEASURED, label, None))
        else:
            evidence.append(Evidence(f"p{i}", kind, "undetermined", None))
    return evidence


@st.composite
def quotas(draw, categories: tuple[str, ...], tolerances=(0.05, 0.1, 0.2, 0.3)):
    raw = [draw(st.integers(1, 10)) for _ in categories]
    targets = {c: r / sum(raw) for c, r in zip(categories, raw)}
    return dict(categories=categories, targets=targets, tolerance=draw(st.sampled_from(tolerances)),
                confidence=draw(st.sampled_from([0.8, 0.9, 0.95])))


TWO = ("female", "male")
THREE = ("I", "II", "III")


@SETTINGS
@given(data=st.data(), categories=st.sampled_from([TWO, THREE]))
def test_an_agreeing_review_never_turns_pass_into_undecided(data, categories):
    quota = data.draw(quotas(categories, tolerances=(0.3, 0.4, 0.5)))
    evidence = data.draw(plates(categories, max_plates=30, kinds=MOSTLY_KNOWN, least_right=0.85))
    before = judge_cast(evidence, with_review=False, **quota).verdict
    automatic = [i for i, e in enumerate(evidence) if e.kind in (MEASURED, UNMEASURED)]
    if before != PASS or not automatic:
        return
    i = data.draw(st.sampled_from(automatic))
    reviewed = list(evidence)
    reviewed[i] = evidence[i].settled(evidence[i].label)
    assert judge_cast(reviewed, with_review=False, **quota).verdict == PASS


@SETTINGS
@given(counts=st.lists(st.integers(0, 30), min_size=2, max_size=4).filter(lambda c: sum(c) > 0),
       tolerance=st.floats(0.0, 0.5))
def test_a_cast_exactly_at_target_with_certain_labels_passes(counts, tolerance):
    categories = tuple(f"c{i}" for i in range(len(counts)))
    n = sum(counts)
    targets = {c: k / n for c, k in zip(categories, counts)}
    evidence = [Evidence(f"{c}-{j}", CERTAIN, c, {c: 1.0}) for c, k in zip(categories, counts) for j in range(k)]
    judgement = judge_cast(evidence, categories=categories, targets=targets, tolerance=tolerance, confidence=0.95)
    assert judgement.verdict == PASS
    assert all(c.low == c.high == c.labelled for c in judgement.counts)


def brute_force_verdict(evidence, categories, targets, tolerance, confidence):
    """The documented rule, by enumerating every joint outcome of the plates' true values."""
    n = len(evidence)
    tail = (1 - per_interval_confidence(confidence, len(categories))) / 2
    random = [e for e in evidence if e.probabilities is not None and e.kind != CERTAIN]
    anything = sum(1 for e in evidence if e.probabilities is None)
    right = {c: {} for c in categories}   # category -> {count of right k-labels: probability}
    stray = {c: {} for c in categories}   # category -> {count of other labels truly k: probability}
    for truth in itertools.product(categories, repeat=len(random)):
        p = math.prod(e.probabilities.get(t, 0.0) for e, t in zip(random, truth))
        if p == 0.0:
            continue
        for c in categories:
            r = sum(1 for e, t in zip(random, truth) if e.label == c and t == c)
            s = sum(1 for e, t in zip(random, truth) if e.label != c and t == c)
            right[c][r] = right[c].get(r, 0.0) + p
            stray[c][s] = stray[c].get(s, 0.0) + p
    verdicts = []
    for c in categories:
        certain = sum(1 for e in evidence if e.kind == CERTAIN and e.label == c)
        labelled = sum(1 for e in evidence if e.probabilities is not None and e.label == c)
        low_r = min(v for v in right[c] if sum(p for w, p in right[c].items() if w <= v) > tail + 1e-9)
        high_s = max(v for v in stray[c] if sum(p for w, p in stray[c].items() if w >= v) > tail + 1e-9)
        low, high = certain + low_r, labelled + anything + high_s
        band_low = math.ceil((targets[c] - tolerance) * n - 1e-9)
        band_high = math.floor((targets[c] + tolerance) * n + 1e-9)
        band_low, band_high = max(0, band_low), min(n, band_high)
        if band_low > band_high or high < band_low or low > band_high:
            verdicts.append(FAIL)
        elif band_low <= low and high <= band_high:
            verdicts.append(PASS)
        else:
            verdicts.append(UNDECIDED)
    if not size_can_meet(targets, tolerance, n) or FAIL in verdicts:
        return FAIL
    return PASS if all(v == PASS for v in verdicts) else UNDECIDED


@SETTINGS
@given(data=st.data(), categories=st.sampled_from([TWO, THREE]))
def test_verdicts_match_brute_force_enumeration(data, categories):
    quota = data.draw(quotas(categories))
    evidence = data.draw(plates(categories, max_plates=12 if categories == TWO else 8))
    assert judge_cast(evidence, with_review=False, **quota).verdict == brute_force_verdict(evidence, **quota)


def test_count_band_matches_its_definition():
    for n in range(1, 60):
        for target in (0.1, 0.25, 1 / 3, 0.5, 0.6):
            for tolerance in (0.0, 0.05, 0.1):
                low, high = count_band(target, tolerance, n)
                inside = [c for c in range(n + 1) if target - tolerance - 1e-9 <= c / n <= target + tolerance + 1e-9]
                assert (low, high) == ((inside[0], inside[-1]) if inside else (low, high))
                assert inside or low > high
