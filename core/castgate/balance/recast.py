"""Re-select a cast from a batch's existing candidates and record it (``castgate balance BATCH --cast N``).

Reads the manifest, selects (:mod:`castgate.balance.select`), and writes the outcome through
:func:`castgate.batch.manifest.update_manifest`: the cast kept, every other candidate not selected or rejected
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
from castgate.balance.verify import VerifiedCast, select_verified
from castgate.batch.manifest import Manifest, read_manifest, update_manifest
from castgate.errors import CastgateError
from castgate.quotas import DEFAULT_QUOTA, Quota, load_quota


class BalanceError(CastgateError):
    """``castgate balance`` cannot do what was asked (e.g. a cast larger than the candidates)."""


@dataclass(frozen=True)
class RecastResult:
    """What a re-selection found and whether it was written."""

    batch: str
    sizes: Mapping[str, int]
    quota: Quota
    verified: VerifiedCast
    written: bool          # False when no cast met the quota's bands (the batch is unchanged)
    changed: bool

    @property
    def selection(self) -> CastSelection:
        return self.verified.selection

    @property
    def exit_code(self) -> int:
        """0: the kept cast passes the cast question; 3: short, or undecided until the listed plates are reviewed."""
        return 0 if self.verified.passed else 3

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {"batch": self.batch, "cast": dict(self.sizes), "quota": self.quota.name, "feasible": s.feasible,
                "verdict": self.verified.verdict, "review": list(self.verified.review),
                "selected": list(s.selected), "not_selected": dict(s.reasons),
                "shortfall": {r: dict(c) for r, c in self.verified.shortfall.items()}, "objective": s.objective,
                "written": self.written, "changed": self.changed, "exit_code": self.exit_code}


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
        BalanceError: a size below 1 or above the request's count; a size no quota band allows; or (when
            no more can be generated) a size above the candidates a role has.
    """
    asked = {r["id"]: int(r["count"]) for r in manifest.request.get("roles", [])}
    for role, size in sizes.items():
        if size < 1:
            raise BalanceError(f"--cast {size}: a cast needs at least 1 plate per role", where=manifest.batch,
                               fix="Pass --cast 1 or more")
        if role in asked and size > asked[role]:
            raise BalanceError(f"--cast {size} is above the {asked[role]} plate(s) the request asks for role "
                               f"{role!r} (the gate judges at most that many kept plates)", where=manifest.batch,
                               fix=f"Use --cast {asked[role]} or less, or raise the role's count in the request")
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
    candidates = candidates_of(manifest, quota.label_attributes)
    for role, size in sizes.items():
        usable = sum(1 for c in candidates if c.role == role and c.excluded is None)
        if size > usable:
            raise BalanceError(f"--cast {size} is larger than the {usable} candidate(s) role {role!r} has that could "
                               f"be cast", where=manifest.batch,
                               fix=f"Use --cast {usable} or less, or drop --no-generate to generate more candidates")


def select_for(manifest: Manifest, sizes: Mapping[str, int], quota: Quota) -> CastSelection:
    """The best cast of ``sizes`` from the manifest's candidates (pure)."""
    return select_cast(candidates_of(manifest, quota.label_attributes), cast_bands(quota, sizes), sizes)


def balance_record(sizes: Mapping[str, int], quota: Quota, selection: CastSelection,
                   previous: Mapping[str, Any] | None = None, verified: VerifiedCast | None = None) -> dict[str, Any]:
    """``Manifest.balance``: what was asked and what came out (no times: rerunning is idempotent)."""
    record = dict(previous or {})
    record.update({"cast": dict(sizes), "quota": {"name": quota.name, "source": quota.source},
                   "objective": selection.objective, "feasible": selection.feasible,
                   "shortfall": {r: dict(c) for r, c in selection.shortfall.items()}})
    if verified is not None:
        record.update({"verdict": verified.verdict, "review": list(verified.review),
                       "shortfall": {r: dict(c) for r, c in verified.shortfall.items()}})
    return record


def recast_batch(batch_dir: Path, cast: int | None = None, quota: str | Path | Quota | None = None) -> RecastResult:
    """Select a cast of ``cast`` plates per role from the batch's candidates and record it.

    Args:
        batch_dir: the batch folder.
        cast: plates per role (default: each role's requested count).
        quota: default: ``[balance].quota``, else the request's, else parity.

    Returns:
        A :class:`RecastResult`; ``written`` is False when no cast meets the quota's bands (the batch is
        unchanged). A cast that meets them is kept even when the cast question is undecided (automatic
        labels that may be wrong): ``verified.review`` then lists the plates to review before rerunning.

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
        verified = select_verified(current, sizes, quota)
        outcome["verified"] = verified
        if not verified.selection.feasible:
            return current
        updated = apply_selection(current, verified.selection,
                                  balance_record(sizes, quota, verified.selection, current.balance, verified))
        outcome["changed"] = updated.plates != current.plates
        if outcome["changed"]:
            updated = updated.with_event("balance", cast=dict(sizes), quota=quota.name, verdict=verified.verdict,
                                         kept=len(verified.selection.selected), candidates=len(current.plates),
                                         generated=0)
        return updated

    if select_for(manifest, sizes, quota).feasible:  # decide before taking the lock: short casts write nothing
        update_manifest(batch_dir, change)
        from castgate.generation.generate import write_contact_sheets

        write_contact_sheets(batch_dir, read_manifest(batch_dir))
    else:
        change(manifest)
    verified = outcome["verified"]
    return RecastResult(manifest.batch, sizes, quota, verified, written=verified.selection.feasible,
                        changed=outcome.get("changed", False))
