"""Shares, confidence intervals and equivalence verdicts: the statistics behind the gate.

Pure functions only (no I/O, no state); docs/statistics.md explains the choices. In short:

* a share is counted **among determined plates** (undetermined plates are reported, never forced into
  a class);
* its interval is exact (Clopper–Pearson, the default) or Wilson;
* with more than two categories the intervals are made simultaneous by Bonferroni: each interval is
  computed at confidence ``1 - (1 - confidence) / k`` so that all ``k`` hold together with at least
  the requested confidence (with two categories one interval is the mirror image of the other, so no
  correction is needed);
* a category PASSes when its whole interval lies inside ``target ± tolerance``, FAILs when the whole
  interval lies outside that band, and is INSUFFICIENT otherwise: the data cannot tell yet.

Example:
    >>> low, high = proportion_interval(72, 99, 0.95)
    >>> round(low, 3), round(high, 3)
    (0.629, 0.812)
    >>> equivalence_verdict(low, high, target=0.5, tolerance=0.1)
    'FAIL'
"""

from __future__ import annotations

import math
from typing import Mapping

from scipy.special import betaincinv, ndtri  # scipy.special: a fraction of scipy.stats' import time

PASS = "PASS"
FAIL = "FAIL"
INSUFFICIENT = "INSUFFICIENT"

METHODS = ("clopper-pearson", "wilson")
CORRECTIONS = ("bonferroni", "none")

# Beyond this many determined plates we say a verdict "cannot be reached at the current share".
_DECIDE_CAP = 100_000_000


def clopper_pearson(successes: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided interval for a binomial share.

    ``successes`` may be fractional (used when projecting a share onto more plates); the interval is
    then the continuous extension of the exact one, still monotone in both arguments.

    Args:
        successes: plates in the category (0 ≤ successes ≤ trials).
        trials: determined plates.
        confidence: two-sided confidence level, 0 < confidence < 1.

    Returns:
        ``(low, high)``; ``(0.0, 1.0)`` when there are no trials.

    Example:
        >>> [round(x, 4) for x in clopper_pearson(0, 10)]
        [0.0, 0.3085]
    """
    _check_args(successes, trials, confidence)
    if trials == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    low = 0.0 if successes <= 0 else float(betaincinv(successes, trials - successes + 1, alpha / 2))
    high = 1.0 if successes >= trials else float(betaincinv(successes + 1, trials - successes, 1 - alpha / 2))
    return low, high


def wilson(successes: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial share (narrower than exact, approximate coverage).

    Args and Returns as :func:`clopper_pearson`.

    Example:
        >>> [round(x, 4) for x in wilson(5, 10)]
        [0.2366, 0.7634]
    """
    _check_args(successes, trials, confidence)
    if trials == 0:
        return 0.0, 1.0
    z = float(ndtri(1.0 - (1.0 - confidence) / 2))
    share = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_interval(successes: float, trials: float, confidence: float = 0.95,
                        method: str = "clopper-pearson") -> tuple[float, float]:
    """A two-sided interval for a share by the named method (``clopper-pearson`` or ``wilson``).

    Raises:
        ValueError: unknown method or arguments out of range.

    Example:
        >>> [round(x, 3) for x in proportion_interval(48, 97, 0.95, "wilson")]
        [0.397, 0.593]
    """
    if method == "clopper-pearson":
        return clopper_pearson(successes, trials, confidence)
    if method == "wilson":
        return wilson(successes, trials, confidence)
    raise ValueError(f"unknown interval method {method!r}; use one of {', '.join(METHODS)}")


def per_interval_confidence(confidence: float, category_count: int, correction: str = "bonferroni") -> float:
    """The confidence each of ``category_count`` intervals needs so all hold together.

    Two categories need no correction: among determined plates one share is one minus the other and
    the two exact intervals are mirror images, so they are right or wrong together. With ``k > 2``
    categories Bonferroni gives each interval ``1 - (1 - confidence) / k``.

    Example:
        >>> per_interval_confidence(0.95, 2), round(per_interval_confidence(0.95, 6), 5)
        (0.95, 0.99167)
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")
    if correction == "none" or category_count <= 2:
        return confidence
    return 1.0 - (1.0 - confidence) / category_count


def target_band(target: float, tolerance: float) -> tuple[float, float]:
    """``target ± tolerance`` clipped to [0, 1]."""
    return max(0.0, target - tolerance), min(1.0, target + tolerance)


def equivalence_verdict(low: float, high: float, target: float, tolerance: float) -> str:
    """PASS when ``[low, high]`` lies inside ``target ± tolerance``, FAIL when wholly outside, else INSUFFICIENT.

    Example:
        >>> equivalence_verdict(0.45, 0.55, 0.5, 0.1), equivalence_verdict(0.35, 0.55, 0.5, 0.1)
        ('PASS', 'INSUFFICIENT')
    """
    band_low, band_high = target_band(target, tolerance)
    eps = 1e-12  # 0.5 - 0.1 is 0.39999999999999997 in binary; do not let that decide a verdict
    if low >= band_low - eps and high <= band_high + eps:
        return PASS
    if high < band_low - eps or low > band_high + eps:
        return FAIL
    return INSUFFICIENT


def plates_to_decide(successes: int, trials: int, target: float, tolerance: float,
                     confidence: float = 0.95, method: str = "clopper-pearson") -> int | None:
    """How many more determined plates would turn INSUFFICIENT into PASS or FAIL at the current share.

    The share ``successes / trials`` is held fixed and the interval recomputed for ``trials + m``
    plates; the smallest such ``m`` is returned (0 when the verdict is already decided). A share that
    sits exactly on the band's edge never decides, nor does one with no data: both give ``None``.

    Example:
        >>> plates_to_decide(63, 94, 0.5, 0.1)   # software developers, 67 % male
        104
    """
    if trials <= 0:
        return None
    share = successes / trials

    def decided(n: int) -> bool:
        low, high = proportion_interval(share * n, n, confidence, method)
        return equivalence_verdict(low, high, target, tolerance) != INSUFFICIENT

    if decided(trials):
        return 0
    band_low, band_high = target_band(target, tolerance)
    if abs(share - band_low) < 1e-12 or abs(share - band_high) < 1e-12:
        return None
    low_n, high_n = trials, trials * 2
    while not decided(high_n):
        low_n, high_n = high_n, high_n * 2
        if high_n > _DECIDE_CAP:
            return None
    while high_n - low_n > 1:  # decided(high_n) and not decided(low_n)
        middle = (low_n + high_n) // 2
        if decided(middle):
            high_n = middle
        else:
            low_n = middle
    return high_n - trials


def shares(counts: Mapping[str, int], categories: tuple[str, ...]) -> dict[str, float]:
    """Each category's share among the plates counted in ``categories`` (0.0 for all when none).

    Example:
        >>> shares({"female": 3, "male": 1, "undetermined": 5}, ("female", "male"))
        {'female': 0.75, 'male': 0.25}
    """
    total = sum(counts.get(c, 0) for c in categories)
    return {c: (counts.get(c, 0) / total if total else 0.0) for c in categories}


def _check_args(successes: float, trials: float, confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must lie strictly between 0 and 1")
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 ≤ successes ≤ trials, got {successes} of {trials}")
