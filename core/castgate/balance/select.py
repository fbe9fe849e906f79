"""Select the cast: per role exactly ``count`` plates whose counts sit inside the quota's bands.

Pure: candidates and bands in, a selection (or the shortfall) out. docs/balance.md explains the method.

**The bands.** For a scope (a role, or all roles pooled) of ``n`` cast plates, a category with target
``t ± tol`` allows counts in ``[⌈(t − tol)·n⌉, ⌊(t + tol)·n⌋]`` (the cast question's band). Joint cells
(e.g. female·darker) are bands over two attributes at once. A candidate whose label is
``undetermined`` could be any category, so it is counted against every band it *could* fall in: a band's
lower bound counts only candidates surely in it, its upper bound every candidate possibly in it. A cast
chosen this way meets every band whatever the undetermined plates turn out to be (fail closed). The
undetermined plates of an attribute in a scope are also capped at ``⌊max_undetermined · n⌋``.

**The method: an exact integer program.** Candidates fall into groups by (role, label cell). Within a
group only the number taken matters to the bands, and the best plates of a group are its highest
scored (or earliest), so the program has one integer ``y_g`` per group (how many it gives the cast) and a
continuous ``x_i ∈ [0, 1]`` per candidate with ``Σ_{i∈g} x_i = y_g``; the objective is ``max Σ s_i x_i``.
For integer ``y`` the best ``x`` fills each group's top ``y_g`` candidates, so the optimum of this
mixed program is the optimum over all casts (the continuous part is a sorted knapsack per group). A group
never gives more plates than its role's size or the upper bound of any band it could fall in, so only its
best that-many candidates enter the program (10 000 candidates solve in about 0.35 s). It is
solved by HiGHS (``scipy.optimize.milp``) with a zero optimality gap. ``s_i`` is the CLIP score when every
eligible candidate has one; otherwise the documented order: plates with human labels for every quota
attribute first, then by position in the candidate list (the first round first, then by index).

When no cast meets the bands, a second program adds hypothetical extra candidates in each fully labelled
cell of each role and minimises how many are needed: those are the short cells, with how many plates
each lacks.

Example:
    >>> bands = cast_bands(load_quota("parity"), {"nurse": 4, "surgeon": 4})
    >>> selection = select_cast(candidates, bands, {"nurse": 4, "surgeon": 4})
    >>> selection.feasible, len(selection.selected)
    (True, 8)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from castgate.batch.manifest import UNDETERMINED
from castgate.gate.cast import count_band
from castgate.gate.tally import POOLED
from castgate.quotas import CELL_SEPARATOR, Quota

CELL_JOIN = CELL_SEPARATOR   # a cell's name: its categories joined, e.g. "female·darker"


@dataclass(frozen=True)
class Candidate:
    """One plate that could join the cast.

    Attributes:
        plate_id: the plate.
        role: its role.
        labels: effective label per quota attribute: a category, ``"undetermined"``, or None (unlabelled).
        score: CLIP score, or None.
        order: position in the documented candidate order (lower first).
        excluded: why it can never be selected (rejected as no person, no files, ...); None when eligible.
        certain: every quota attribute carries a human label.
    """

    plate_id: str
    role: str
    labels: Mapping[str, str | None]
    score: float | None = None
    order: int = 0
    excluded: str | None = None
    certain: bool = False


@dataclass(frozen=True)
class Band:
    """How many plates of a scope may be in a cell: ``low`` ≤ count ≤ ``high``.

    ``attributes`` is one attribute (a category band) or two (a joint cell); ``category`` the values.
    An undetermined-limit band has ``category == ("undetermined",)`` and ``low == 0``.
    """

    scope: str
    roles: tuple[str, ...]
    attributes: tuple[str, ...]
    category: tuple[str, ...]
    low: int
    high: int
    size: int

    @property
    def cell(self) -> str:
        return CELL_JOIN.join(self.category)

    @property
    def is_undetermined_limit(self) -> bool:
        return self.category == (UNDETERMINED,)

    def describe(self) -> str:
        """E.g. ``female 2 of 4`` or ``female·darker 1–3 of 8``."""
        span = f"{self.low}–{self.high}" if self.low != self.high else f"{self.low}"
        what = "undetermined " + self.attributes[0] if self.is_undetermined_limit else self.cell
        return f"{what} {span} of {self.size}"


@dataclass(frozen=True)
class CastSelection:
    """The selection: the cast, why each other candidate is not in it, or what is short."""

    feasible: bool
    selected: tuple[str, ...]                       # plate ids, in candidate order
    reasons: Mapping[str, str]                      # plate id -> why not selected
    shortfall: Mapping[str, Mapping[str, int]]      # role -> cell -> plates missing (when infeasible)
    bands: tuple[Band, ...]
    objective: str                                  # "clip" or "order"
    total_score: float | None = None
    band_counts: tuple[tuple[Band, int], ...] = ()  # each band with the cast's count possibly in it
    cell_attributes: tuple[str, ...] = ()             # the attributes a cell name joins, in order

    def short_text(self) -> str:
        """E.g. ``nurse: 2 more male·darker; surgeon: 1 more female·lighter``."""
        return short_text(self.shortfall)


def short_text(shortfall: Mapping[str, Mapping[str, int]]) -> str:
    """``{role: {cell: n}}`` in words: ``nurse: 2 more male·darker; surgeon: 1 more female·lighter``."""
    return "; ".join(f"{role}: " + ", ".join(f"{n} more {cell}" for cell, n in cells.items())
                     for role, cells in shortfall.items())


# -- bands -------------------------------------------------------------------------------------------
def cast_bands(quota: Quota, sizes: Mapping[str, int]) -> list[Band]:
    """The bands a cast of ``sizes`` (role -> plates) must meet under ``quota``: per role and pooled,
    as the quota's scope says, per attribute category, joint cells where the quota has them, and the
    undetermined limit."""
    roles = tuple(sizes)
    scopes = [(role, "role", (role,)) for role in roles] + [(POOLED, "pooled", roles)]
    bands: list[Band] = []
    for scope, kind, members in scopes:
        size = sum(sizes[r] for r in members)
        for quota_attribute in quota.attributes:
            if not quota_attribute.applies_to(kind):
                continue
            attributes = quota_attribute.parts or (quota_attribute.attribute,)
            for category, target in quota_attribute.targets.items():
                values = tuple(category.split(CELL_SEPARATOR)) if quota_attribute.is_joint else (category,)
                low, high = count_band(target, quota_attribute.tolerance, size)
                bands.append(Band(scope, members, attributes, values, low, high, size))
            if len(attributes) == 1:
                limit = math.floor(quota_attribute.max_undetermined * size + 1e-9)
                bands.append(Band(scope, members, attributes, (UNDETERMINED,), 0, limit, size))
    return bands


def impossible_bands(bands: Sequence[Band]) -> list[Band]:
    """Bands that hold no whole count (e.g. 3 plates at 50 % ± 10 %): no cast of that size can pass."""
    return [b for b in bands if b.low > b.high]


# -- the program -------------------------------------------------------------------------------------
def _surely(band: Band, cell: tuple[str | None, ...], attributes: Sequence[str]) -> bool:
    values = [cell[attributes.index(a)] for a in band.attributes]
    if band.is_undetermined_limit:
        return values[0] == UNDETERMINED
    return all(v == c for v, c in zip(values, band.category))


def _possibly(band: Band, cell: tuple[str | None, ...], attributes: Sequence[str]) -> bool:
    values = [cell[attributes.index(a)] for a in band.attributes]
    if band.is_undetermined_limit:
        return values[0] == UNDETERMINED
    return all(v == c or v == UNDETERMINED for v, c in zip(values, band.category))


def select_cast(candidates: Sequence[Candidate], bands: Sequence[Band], sizes: Mapping[str, int],
                *, time_limit: float = 30.0) -> CastSelection:
    """The best cast meeting every band, or the shortfall when none does.

    Args:
        candidates: every plate that could be considered (excluded ones get their reason back).
        bands: from :func:`cast_bands`.
        sizes: role -> cast size.
        time_limit: seconds for the solver (a safety net; real casts solve in milliseconds).

    Returns:
        A :class:`CastSelection`.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    attributes = sorted({a for b in bands for a in b.attributes})
    reasons: dict[str, str] = {}
    eligible: list[Candidate] = []
    for c in candidates:
        missing = [a for a in attributes if c.labels.get(a) is None]
        if c.excluded:
            reasons[c.plate_id] = c.excluded
        elif c.role not in sizes:
            reasons[c.plate_id] = f"role {c.role!r} is not cast"
        elif missing:
            reasons[c.plate_id] = f"not audited: no {', '.join(missing)} label (run castgate audit)"
        else:
            eligible.append(c)
    use_clip = bool(eligible) and all(c.score is not None for c in eligible)
    objective = "clip" if use_clip else "order"

    def rank_key(c: Candidate) -> tuple:
        return ((-(c.score or 0.0),) if use_clip else ()) + (not c.certain, c.order, c.plate_id)

    eligible.sort(key=rank_key)
    groups: dict[tuple[str, tuple], list[Candidate]] = {}
    for c in eligible:
        groups.setdefault((c.role, tuple(c.labels.get(a) for a in attributes)), []).append(c)
    group_keys = list(groups)

    impossible = impossible_bands(bands)
    if impossible or any(sizes[r] > sum(1 for c in eligible if c.role == r) for r in sizes):
        return _infeasible(candidates, eligible, bands, sizes, attributes, groups, reasons, objective)

    # A group never gives the cast more plates than its role's size or any band it could fall in allows,
    # so only its best `cap` candidates can matter: the rest never enter the program.
    caps = {}
    for key in group_keys:
        limits = [b.high for b in bands if key[0] in b.roles and _possibly(b, key[1], attributes)]
        caps[key] = min([len(groups[key]), sizes[key[0]]] + limits)
    in_program = [c for key in group_keys for c in groups[key][:caps[key]]]

    # variables: y_g (integer) for each group, then x_i (continuous) for each candidate in the program
    n_groups, n_cands = len(group_keys), len(in_program)
    position = {c.plate_id: n_groups + k for k, c in enumerate(in_program)}
    if use_clip:
        weights = np.array([c.score for c in in_program], dtype=float)
    else:  # earlier in the documented order is better; an exact integer objective
        rank = {c.plate_id: n for n, c in enumerate(eligible)}
        weights = -np.array([rank[c.plate_id] for c in in_program], dtype=float)
    cost = np.concatenate([np.zeros(n_groups), -weights])
    rows, cols, vals, lows, highs = [], [], [], [], []

    def add_row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(lows)
        for col, val in entries:
            rows.append(r), cols.append(col), vals.append(val)
        lows.append(low), highs.append(high)

    for g, key in enumerate(group_keys):  # Σ x_i - y_g = 0
        add_row([(position[c.plate_id], 1.0) for c in groups[key][:caps[key]]] + [(g, -1.0)], 0.0, 0.0)
    for role, size in sizes.items():      # exactly `size` per role
        add_row([(g, 1.0) for g, key in enumerate(group_keys) if key[0] == role], size, size)
    for band in bands:
        sure = [(g, 1.0) for g, key in enumerate(group_keys)
                if key[0] in band.roles and _surely(band, key[1], attributes)]
        maybe = [(g, 1.0) for g, key in enumerate(group_keys)
                 if key[0] in band.roles and _possibly(band, key[1], attributes)]
        if band.low > 0:
            add_row(sure, band.low, np.inf)
        add_row(maybe, -np.inf, band.high)
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lows), n_groups + n_cands)).tocsr()
    upper = np.concatenate([[caps[k] for k in group_keys], np.ones(n_cands)])
    result = milp(cost, constraints=LinearConstraint(matrix, lows, highs),
                  integrality=np.concatenate([np.ones(n_groups), np.zeros(n_cands)]),
                  bounds=Bounds(np.zeros(n_groups + n_cands), upper),
                  options={"mip_rel_gap": 0.0, "time_limit": time_limit, "presolve": True})
    if result.status != 0 or result.x is None:
        return _infeasible(candidates, eligible, bands, sizes, attributes, groups, reasons, objective)

    taken = {key: int(round(result.x[g])) for g, key in enumerate(group_keys)}
    chosen: set[str] = set()
    for key, members in groups.items():
        chosen.update(c.plate_id for c in members[:taken[key]])
    counts = _counts(bands, taken, attributes)
    for key, members in groups.items():
        full = _full_bands(key, bands, counts, attributes)
        for c in members:
            if c.plate_id not in chosen:
                reasons[c.plate_id] = _why_not(c, key, taken[key], full, counts, use_clip)
    order = {c.plate_id: n for n, c in enumerate(candidates)}
    selected = tuple(sorted(chosen, key=order.__getitem__))
    total = float(sum(c.score for c in eligible if c.plate_id in chosen)) if use_clip else None
    return CastSelection(True, selected, reasons, {}, tuple(bands), objective, total,
                         tuple((b, counts[b]) for b in bands), tuple(attributes))


def _counts(bands: Sequence[Band], taken: Mapping[tuple, int], attributes: Sequence[str]) -> dict[Band, int]:
    """Plates of the cast possibly in each band (the count its upper bound limits)."""
    return {b: sum(n for (role, cell), n in taken.items() if role in b.roles and _possibly(b, cell, attributes))
            for b in bands}


def _full_bands(key: tuple, bands: Sequence[Band], counts: Mapping[Band, int],
                attributes: Sequence[str]) -> list[Band]:
    """Bands a plate of this group would push over their upper bound, most specific first."""
    role, cell = key
    full = [b for b in bands if role in b.roles and _possibly(b, cell, attributes) and counts[b] >= b.high]
    return sorted(full, key=lambda b: (not b.is_undetermined_limit, b.scope == POOLED, len(b.attributes)))


def _why_not(c: Candidate, key: tuple, taken: int, full: Sequence[Band], counts: Mapping[Band, int],
             use_clip: bool) -> str:
    role, cell = key
    label = CELL_JOIN.join(v or "?" for v in cell)
    if taken:  # lost to better plates of its own cell
        better = (f"lower CLIP score ({c.score:.2f}) than the {taken} kept {label} plate(s) of {role}" if use_clip
                  else f"later in the candidate order than the {taken} kept {label} plate(s) of {role}")
        return f"not selected: {better}" + (f"; the cell is full ({full[0].describe()})" if full else "")
    if full:
        b = full[0]
        where = "the pooled cast" if b.scope == POOLED else f"role {b.scope}"
        what = f"undetermined {b.attributes[0]}" if b.is_undetermined_limit else b.cell
        return (f"not selected: over quota in cell {what} ({where} already has {counts[b]}; "
                f"the band allows {b.describe()})")
    if use_clip:
        return f"not selected: lower CLIP score ({c.score:.2f}); the best-scoring cast does not need it"
    return "not selected: later in the candidate order; the cast was filled by earlier plates"


def _infeasible(candidates, eligible, bands, sizes, attributes, groups, reasons, objective) -> CastSelection:
    shortfall = find_shortfall(eligible, bands, sizes, attributes)
    for c in candidates:
        reasons.setdefault(c.plate_id, "not selected: no cast meets the quota yet")
    return CastSelection(False, (), reasons, shortfall, tuple(bands), objective,
                         cell_attributes=tuple(attributes))


def find_shortfall(eligible: Sequence[Candidate], bands: Sequence[Band], sizes: Mapping[str, int],
                   attributes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Fewest extra plates, per role and fully labelled cell, that would let a cast meet every band.

    An integer program over group counts: the candidates there are, plus ``e_{role,cell} ≥ 0`` extra
    ones; minimise ``Σ e``. Returns ``{role: {cell: plates}}`` (empty if a band holds no whole count:
    then no number of plates helps and :func:`impossible_bands` says which).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    if impossible_bands(bands):
        return {}
    category_sets = [tuple(dict.fromkeys(c for b in bands if b.attributes == (a,) and not b.is_undetermined_limit
                                         for c in b.category)) for a in attributes]
    full_cells = list(itertools.product(*category_sets))
    available: dict[tuple, int] = {}
    for c in eligible:
        key = (c.role, tuple(c.labels.get(a) for a in attributes))
        available[key] = available.get(key, 0) + 1
    keys = list(available) + [(r, cell) for r in sizes for cell in full_cells]
    n_real = len(available)
    n = len(keys)
    rows: list[np.ndarray] = []
    lows, highs = [], []
    for role, size in sizes.items():
        rows.append(np.array([1.0 if k[0] == role else 0.0 for k in keys]))
        lows.append(size), highs.append(size)
    for band in bands:
        if band.low > 0:
            rows.append(np.array([1.0 if k[0] in band.roles and _surely(band, k[1], attributes) else 0.0
                                  for k in keys]))
            lows.append(band.low), highs.append(np.inf)
        rows.append(np.array([1.0 if k[0] in band.roles and _possibly(band, k[1], attributes) else 0.0
                              for k in keys]))
        lows.append(-np.inf), highs.append(band.high)
    # y_k for real groups (bounded by what exists) and e_k for extra plates (unbounded), both integer
    upper = np.array([available[k] for k in keys[:n_real]] + [np.inf] * (n - n_real), dtype=float)
    cost = np.array([0.0] * n_real + [1.0] * (n - n_real))
    result = milp(cost, constraints=LinearConstraint(np.array(rows), lows, highs), integrality=np.ones(n),
                  bounds=Bounds(np.zeros(n), upper), options={"mip_rel_gap": 0.0, "time_limit": 30.0})
    if result.status != 0 or result.x is None:
        return {}
    shortfall: dict[str, dict[str, int]] = {}
    for k, value in zip(keys[n_real:], result.x[n_real:]):
        if round(value) > 0:
            shortfall.setdefault(k[0], {})[CELL_JOIN.join(k[1])] = int(round(value))
    return shortfall
