"""Re-select a cast from a batch's existing candidates and record it (``castgate balance BATCH --cast N``).

Reads the manifest, selects (:mod:`castgate.balance.select`), and writes the outcome through
:func:`castgate.manifest.update_manifest`: the cast kept, every other candidate not selected or rejected
with its reason, ``Manifest.balance`` saying what was asked and what came out, and a ``balance`` event
when the plates changed. Rerunning with the same inputs changes nothing (idempotent). When no cast meets
the quota, or the cast size is larger than the candidates, the batch is left exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from castgate.balance.candidates import apply_selection, candidates_of
from castgate.balance.select import CastSelection, cast_bands, impossible_bands, select_cast
from castgate.errors import CastgateError
from castgate.manifest import Manifest, read_manifest, update_manifest
from castgate.quotas import DEFAULT_QUOTA, Quota, load_quota


class BalanceError(CastgateError):
    """``castgate balance`` cannot do what was asked (e.g. a cast larger than the candidates)."""


@dataclass(frozen=True)
class RecastResult:
    """What a re-selection found and whether it was written."""

    batch: str
    sizes: Mapping[str, int]
    quota: Quota
    selection: CastSelection
    written: bool          # False when nothing changed, or when no cast met the quota
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {"batch": self.batch, "cast": dict(self.sizes), "quota": self.quota.name, "feasible": s.feasible,
                "selected": list(s.selected), "not_selected": {k: v for k, v in s.reasons.items()},
                "shortfall": {r: dict(c) for r, c in s.shortfall.items()}, "objective": s.objective,
                "written": self.written, "changed": self.changed}


def balance_quota(manifest: Manifest, quota: str | Path | Quota | None = None) -> Quota:
    """The quota a cast must meet: the one given, else ``[balance].quota``, else ``[batch].quota``, else parity."""
    if isinstance(quota, Quota):
        return quota
    if quota is None:
        request = manifest.request
        quota = ((request.get("balance") or {}).get("quota") or (request.get("batch") or {}).get("quota")
                 or DEFAULT_QUOTA)
    return load_quota(quota)


def cast_sizes(manifest: Manifest, cast: int | None) -> dict[str, int]:
    """Role -> cast size: ``cast`` for every role, else each role's requested count."""
    counts = {r["id"]: int(r["count"]) for r in manifest.request.get("roles", [])}
    return {role: cast if cast is not None else counts.get(role, 0) for role in manifest.roles()}


def check_sizes(manifest: Manifest, sizes: Mapping[str, int], quota: Quota, *, can_generate: bool) -> None:
    """Refuse, before anything is written, a cast size that cannot work.

    Raises:
        BalanceError: a size below 1; a size no quota band allows; or (when no more can be generated) a
            size above the candidates a role has.
    """
    for role, size in sizes.items():
        if size < 1:
            raise BalanceError(f"--cast {size}: a cast needs at least 1 plate per role", where=manifest.batch,
                               fix="Pass --cast 1 or more")
    impossible = impossible_bands(cast_bands(quota, sizes))
    if impossible:
        band = impossible[0]
        ok = [n for n in range(1, 41) if not impossible_bands(cast_bands(quota, {r: n for r in sizes}))][:6]
        raise BalanceError(f"a cast of {band.size} plates ({band.scope}) cannot meet quota {quota.name}: "
                           f"{band.cell} needs a count between {band.low} and {band.high}, which no whole count is",
                           where=manifest.batch,
                           fix=f"Choose a cast size the quota allows (e.g. {', '.join(map(str, ok))})" if ok
                           else "Widen the quota's tolerance")
    if can_generate:
        return
    candidates = candidates_of(manifest, quota.attribute_names)
    for role, size in sizes.items():
        usable = sum(1 for c in candidates if c.role == role and c.excluded is None)
        if size > usable:
            raise BalanceError(f"--cast {size} is larger than the {usable} candidate(s) role {role!r} has that could "
                               f"be cast", where=manifest.batch,
                               fix=f"Use --cast {usable} or less, or drop --no-generate to generate more candidates")


def select_for(manifest: Manifest, sizes: Mapping[str, int], quota: Quota) -> CastSelection:
    """The best cast of ``sizes`` from the manifest's candidates (pure)."""
    return select_cast(candidates_of(manifest, quota.attribute_names), cast_bands(quota, sizes), sizes)


def balance_record(sizes: Mapping[str, int], quota: Quota, selection: CastSelection,
                   previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``Manifest.balance``: what was asked and what came out (no times: rerunning is idempotent)."""
    record = dict(previous or {})
    record.update({"cast": dict(sizes), "quota": {"name": quota.name, "source": quota.source},
                   "objective": selection.objective, "feasible": selection.feasible,
                   "shortfall": {r: dict(c) for r, c in selection.shortfall.items()}})
    return record


def recast_batch(batch_dir: Path, cast: int | None = None, quota: str | Path | Quota | None = None) -> RecastResult:
    """Select a cast of ``cast`` plates per role from the batch's candidates and record it.

    Args:
        batch_dir: the batch folder.
        cast: plates per role (default: each role's requested count).
        quota: default: ``[balance].quota``, else the request's, else parity.

    Returns:
        A :class:`RecastResult`; ``written`` is False when no cast meets the quota (the batch is unchanged).

    Raises:
        BalanceError: the cast size cannot work (see :func:`check_sizes`); nothing is written.
        ManifestError, QuotaFileError: as their stages do.

    Example:
        >>> recast_batch(Path("ward"), cast=4).selection.feasible
        True
    """
    batch_dir = Path(batch_dir)
    manifest = read_manifest(batch_dir)
    quota = balance_quota(manifest, quota)
    sizes = cast_sizes(manifest, cast)
    check_sizes(manifest, sizes, quota, can_generate=False)
    outcome: dict[str, Any] = {}

    def change(current: Manifest) -> Manifest:
        selection = select_for(current, sizes, quota)
        outcome["selection"] = selection
        if not selection.feasible:
            return current
        updated = apply_selection(current, selection, balance_record(sizes, quota, selection, current.balance))
        outcome["changed"] = updated.plates != current.plates
        if outcome["changed"]:
            updated = updated.with_event("balance", cast=dict(sizes), quota=quota.name, kept=len(selection.selected),
                                         candidates=len(current.plates), generated=0)
        return updated

    if select_for(manifest, sizes, quota).feasible:  # decide before taking the lock: short casts write nothing
        update_manifest(batch_dir, change)
        from castgate.generate import write_contact_sheets

        write_contact_sheets(batch_dir, read_manifest(batch_dir))
    else:
        change(manifest)
    selection = outcome["selection"]
    return RecastResult(manifest.batch, sizes, quota, selection, written=selection.feasible,
                        changed=outcome.get("changed", False))
