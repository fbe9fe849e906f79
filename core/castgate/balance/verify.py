"""Verify a selected cast with the gate's cast question, and tighten the selection until it passes.

The selection (:mod:`castgate.balance.select`) meets the quota's count bands on the plates' effective
labels, counting undetermined labels against every band they could tip. Automatic labels can still be
wrong: the gate's cast question (:mod:`castgate.gate.cast`) widens each count by the labeller's measured
error, and may answer UNDECIDED. Then the bands the verdict found too loose are tightened by exactly the
amount the plausible range overshoots (a category whose plausible low end is 1 below its band asks for
one more sure plate), and the cast is selected again — a cast that passes with the labeller's error is
preferred over one that only passes on its labels. When no tighter cast exists, the last one is kept and
the gate's review list names the plates whose human review would settle it.

Example:
    >>> verified = select_verified(manifest, {"nurse": 4}, load_quota("parity"))
    >>> verified.verdict, verified.review[:2]
    ('UNDECIDED', ('ward_nurse_0004', 'ward_nurse_0006'))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from castgate.balance.candidates import candidates_of
from castgate.balance.select import Band, CastSelection, cast_bands, select_cast, short_text
from castgate.batch.manifest import Manifest
from castgate.gate import ErrorModel, evaluate_cast, resolve_error_table
from castgate.gate.cast import UNDECIDED
from castgate.gate.results import GateResult
from castgate.quotas import CELL_SEPARATOR, JOINT_SEPARATOR, Quota
from castgate.stats import PASS

MAX_TIGHTENINGS = 8


@dataclass(frozen=True)
class VerifiedCast:
    """A selection with the gate's verdict on it."""

    selection: CastSelection            # the cast to keep (feasible), or the infeasible answer
    verdict: str | None                 # the gate's verdict on that cast (None: no cast)
    result: GateResult | None
    tighter_shortfall: Mapping[str, Mapping[str, int]]  # cells whose extra plates could give a surer cast
    tightenings: int = 0

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def shortfall(self) -> Mapping[str, Mapping[str, int]]:
        """Cells short of a cast that meets the bands, else of one that would pass with the labeller's error."""
        return self.selection.shortfall if not self.selection.feasible else self.tighter_shortfall

    def short_text(self) -> str:
        """E.g. ``nurse: 1 more darker``."""
        return short_text(self.shortfall)

    @property
    def review(self) -> tuple[str, ...]:
        return tuple(self.result.review) if self.result is not None else ()


def cast_verdict(manifest: Manifest, plate_ids: Sequence[str], quota: Quota, model: ErrorModel) -> GateResult:
    """The gate's cast question on the given plates of a manifest (pure; nothing read or recorded)."""
    chosen = set(plate_ids)
    return evaluate_cast([p for p in manifest.plates if p.id in chosen], quota, model=model,
                         role_order=manifest.roles())


def tighten(bands: Sequence[Band], result: GateResult) -> list[Band]:
    """Bands narrowed where the verdict's plausible ranges overshoot them (pure)."""
    shift: dict[tuple, tuple[int, int]] = {}
    for scope in result.scopes:
        for attribute in scope.attributes:
            judgement = attribute.cast
            if judgement is None or attribute.verdict != UNDECIDED:
                continue
            names = tuple(attribute.attribute.split(JOINT_SEPARATOR))
            for count in judgement.counts:
                up = max(0, count.band_low - count.low)
                down = max(0, count.high - count.band_high)
                if up or down:
                    shift[(scope.scope, names, tuple(count.category.split(CELL_SEPARATOR)))] = (up, down)
    out = []
    for band in bands:
        up, down = shift.get((band.scope, band.attributes, band.category), (0, 0))
        out.append(dataclasses.replace(band, low=band.low + up, high=band.high - down) if up or down else band)
    return out


def select_verified(manifest: Manifest, sizes: Mapping[str, int], quota: Quota,
                    error_table: Path | str | None = None) -> VerifiedCast:
    """The best cast that passes the cast question, else the best that meets the bands (see module doc).

    The error model is the gate's: the shipped table (or ``error_table``) updated with the batch's own
    reviewed plates.
    """
    candidates = candidates_of(manifest, quota.label_attributes)
    bands = cast_bands(quota, sizes)
    selection = select_cast(candidates, bands, sizes)
    if not selection.feasible:
        return VerifiedCast(selection, None, None, selection.shortfall)
    model = ErrorModel.from_table(resolve_error_table(error_table), manifest.plates)
    result = cast_verdict(manifest, selection.selected, quota, model)
    for n in range(1, MAX_TIGHTENINGS + 1):
        if result.verdict == PASS:
            return VerifiedCast(selection, result.verdict, result, {}, n - 1)
        narrower = tighten(bands, result)
        if narrower == bands:
            break
        bands = narrower
        tighter = select_cast(candidates, bands, sizes)
        if not tighter.feasible:
            return VerifiedCast(selection, result.verdict, result, tighter.shortfall, n)
        selection = tighter
        result = cast_verdict(manifest, selection.selected, quota, model)
    return VerifiedCast(selection, result.verdict, result, {}, MAX_TIGHTENINGS)
