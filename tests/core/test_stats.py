"""Intervals against scipy's independent implementation, exact coverage, verdicts and plates-to-decide."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binom, binomtest

from castgate.stats import (FAIL, INSUFFICIENT, PASS, clopper_pearson, equivalence_verdict, per_interval_confidence,
                            plates_to_decide, proportion_interval, shares, target_band, wilson)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (72, 99), (48, 97), (345, 500)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy_exact(k, n, confidence):
    expected = binomtest(k, n).proportion_ci(confidence, method="exact")
    low, high = clopper_pearson(k, n, confidence)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


@pytest.mark.parametrize("k,n", [(0, 10), (5, 10), (48, 97), (99, 100)])
def test_wilson_matches_scipy(k, n):
    expected = binomtest(k, n).proportion_ci(0.95, method="wilson")
    low, high = wilson(k, n, 0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-9)


@pytest.mark.parametrize("n", [10, 37, 100])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.81])
def test_exact_interval_covers_at_least_nominal(n, p):
    """Coverage computed exactly over the binomial distribution, no simulation."""
    coverage = sum(binom.pmf(k, n, p) for k in range(n + 1)
                   if clopper_pearson(k, n, 0.95)[0] <= p <= clopper_pearson(k, n, 0.95)[1])
    assert coverage >= 0.95 - 1e-9


def test_no_trials_gives_the_whole_range():
    assert clopper_pearson(0, 0) == (0.0, 1.0)
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("args", [(5, 3, 0.95), (-1, 3, 0.95), (1, 3, 1.0), (1, 3, 0.0)])
def test_bad_arguments_raise(args):
    with pytest.raises(ValueError):
        clopper_pearson(*args)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="wilson"):
        proportion_interval(1, 2, 0.95, "agresti")


def test_bonferroni_only_beyond_two_categories():
    assert per_interval_confidence(0.95, 2) == 0.95
    assert per_interval_confidence(0.95, 6) == pytest.approx(1 - 0.05 / 6)
    assert per_interval_confidence(0.95, 6, "none") == 0.95


def test_two_category_intervals_are_mirror_images():
    low_f, high_f = clopper_pearson(72, 99)
    low_m, high_m = clopper_pearson(27, 99)
    assert (low_f, high_f) == pytest.approx((1 - high_m, 1 - low_m), abs=1e-12)


def test_equivalence_verdicts_and_float_edges():
    assert equivalence_verdict(0.45, 0.55, 0.5, 0.1) == PASS
    assert equivalence_verdict(0.4, 0.6, 0.5, 0.1) == PASS          # closed band; 0.5-0.1 is 0.3999...
    assert equivalence_verdict(0.61, 0.8, 0.5, 0.1) == FAIL
    assert equivalence_verdict(0.1, 0.39, 0.5, 0.1) == FAIL
    assert equivalence_verdict(0.55, 0.7, 0.5, 0.1) == INSUFFICIENT
    assert target_band(0.05, 0.1) == (0.0, pytest.approx(0.15))


def test_plates_to_decide_is_the_smallest_deciding_count():
    more = plates_to_decide(63, 94, 0.5, 0.1)
    assert more is not None and more > 0
    share = 63 / 94

    def verdict(n):
        return equivalence_verdict(*clopper_pearson(share * n, n), 0.5, 0.1)

    assert verdict(94 + more) == FAIL
    assert verdict(94 + more - 1) == INSUFFICIENT


def test_plates_to_decide_edge_cases():
    assert plates_to_decide(90, 100, 0.5, 0.1) == 0          # already FAIL
    assert plates_to_decide(60, 100, 0.5, 0.1) is None       # exactly on the band edge: never decides
    assert plates_to_decide(0, 0, 0.5, 0.1) is None           # no data
    more = plates_to_decide(10, 20, 0.5, 0.1)                 # heading for PASS
    assert more is not None and equivalence_verdict(*clopper_pearson(0.5 * (20 + more), 20 + more), 0.5, 0.1) == PASS


def test_shares_among_listed_categories():
    assert shares({"female": 3, "male": 1, "undetermined": 5}, ("female", "male")) == {"female": 0.75, "male": 0.25}
    assert shares({}, ("female", "male")) == {"female": 0.0, "male": 0.0}
    assert math.isclose(sum(shares({"I": 1, "II": 2, "III": 4}, ("I", "II", "III")).values()), 1.0)
