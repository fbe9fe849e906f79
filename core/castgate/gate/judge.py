"""Judging: every scope (roles, groups, pooled) and attribute against a quota, with integrity problems."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from castgate.checks import UNAUDITABLE, Problem
from castgate.gate.advice import quota_problems
from castgate.gate.generator import evaluate_attribute
from castgate.gate.results import EXIT_CODES, GateResult, ScopeResult, worst
from castgate.gate.tally import Tally, group_tallies, pool, tally_plates
from castgate.manifest import Manifest, utc_now
from castgate.quotas import Quota


def evaluate_scope(tally: Tally, quota: Quota) -> ScopeResult:
    """Judge every quota attribute of one scope; attributes outside the quota's scope are shown, not judged."""
    attributes = tuple(evaluate_attribute(tally, a, gated=a.applies_to(tally.kind)) for a in quota.attributes)
    return ScopeResult(scope=tally.scope, kind=tally.kind, title=tally.title, roles=tally.roles,
                       plate_count=tally.plate_count, attributes=attributes,
                       verdict=worst(a.verdict for a in attributes if a.gated), prompt=tally.prompt)


def evaluate_tallies(role_tallies: Sequence[Tally], quota: Quota, *, problems: Sequence[Problem] = (),
                     groups: Mapping[str, Mapping[str, str]] | None = None,
                     source: Mapping[str, Any] | None = None, time: str | None = None) -> GateResult:
    """Judge role tallies, their groups and the pooled batch against a quota, with integrity problems.

    Args:
        role_tallies: one tally per role (:func:`tally_plates` or :func:`tally_label_table`).
        quota: the quota.
        problems: integrity problems from :mod:`castgate.checks`; they force their verdicts.
        groups: ``{column: {role: value}}`` to pool roles by (e.g. ``workforce_majority``).
        source: what was gated, for the record.
        time: when (default now).

    Returns:
        The :class:`GateResult`; its ``problems`` holds the integrity problems then one per judged
        attribute that did not PASS.
    """
    scopes_tallies = list(role_tallies)
    for column, values in (groups or {}).items():
        scopes_tallies += group_tallies(role_tallies, column, values)
    scopes_tallies.append(pool(role_tallies))
    scopes = tuple(evaluate_scope(t, quota) for t in scopes_tallies)
    all_problems = tuple(problems) + tuple(quota_problems(scopes))
    verdict = worst([s.verdict for s in scopes] + [p.verdict for p in problems]) or UNAUDITABLE
    return GateResult(verdict=verdict, exit_code=EXIT_CODES[verdict], source=dict(source or {}), quota=quota,
                      scopes=scopes, problems=all_problems, time=time or utc_now())


def evaluate_manifest(manifest: Manifest, quota: Quota, *, problems: Sequence[Problem] = (),
                      source: Mapping[str, Any] | None = None) -> GateResult:
    """Judge a manifest's kept plates (pure: integrity problems are passed in, see :func:`gate_batch`)."""
    prompts = {r["id"]: r.get("prompt") for r in manifest.request.get("roles", []) if "id" in r}
    tallies = tally_plates(manifest.kept_plates, quota.attribute_names, manifest.roles(), prompts)
    return evaluate_tallies(tallies, quota, problems=problems,
                            source=source or {"kind": "batch", "name": manifest.batch})

