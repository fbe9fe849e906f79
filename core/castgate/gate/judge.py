"""Judging: every scope (roles, groups, pooled) and attribute against a quota, under one question.

The question (docs/gate.md) is ``cast`` — is this set of plates balanced? — or ``generator`` — is the
model behind them biased? It comes from the caller (``--question``), else the quota file's
``question``, else the default for the source: ``cast`` for a batch, ``generator`` for a label table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from castgate.batch.checks import UNAUDITABLE, Problem
from castgate.batch.manifest import Manifest, Plate, utc_now
from castgate.errors import QuotaFileError
from castgate.gate.advice import quota_problems
from castgate.gate.cast_verdict import evaluate_cast_attribute
from castgate.gate.error_model import ErrorModel
from castgate.gate.evidence import Evidence, certain, plate_evidence
from castgate.gate.generator import evaluate_attribute
from castgate.gate.results import CAST, EXIT_CODES, GENERATOR, GateResult, ScopeResult, worst
from castgate.gate.tally import Tally, group_tallies, joint_value, pool, tally_plates
from castgate.labels_table import LabelTable
from castgate.quotas import JOINT_SEPARATOR, QUESTIONS, Quota


def resolve_question(question: str | None, quota: Quota, default: str) -> str:
    """The question to ask: the caller's, else the quota's, else ``default``.

    Raises:
        QuotaFileError: an unknown question name.
    """
    chosen = question or quota.question or default
    if chosen not in QUESTIONS:
        raise QuotaFileError(f"unknown question {chosen!r}", where="--question",
                             fix=f"Use one of {', '.join(QUESTIONS)}")
    return chosen


def evaluate_scope(tally: Tally, quota: Quota, question: str = GENERATOR) -> ScopeResult:
    """Judge every quota attribute of one scope; attributes outside the quota's scope are shown, not judged."""
    judge = evaluate_cast_attribute if question == CAST else evaluate_attribute
    attributes = tuple(judge(tally, a, gated=a.applies_to(tally.kind)) for a in quota.attributes)
    return ScopeResult(scope=tally.scope, kind=tally.kind, title=tally.title, roles=tally.roles,
                       plate_count=tally.plate_count, attributes=attributes,
                       verdict=worst(a.verdict for a in attributes if a.gated), prompt=tally.prompt)


def evaluate_tallies(role_tallies: Sequence[Tally], quota: Quota, *, problems: Sequence[Problem] = (),
                     groups: Mapping[str, Mapping[str, str]] | None = None,
                     source: Mapping[str, Any] | None = None, time: str | None = None,
                     question: str = GENERATOR, error_model: Mapping[str, Any] | None = None) -> GateResult:
    """Judge role tallies, their groups and the pooled batch against a quota, with integrity problems.

    Args:
        role_tallies: one tally per role (:func:`tally_plates` or :func:`tally_label_table`); for the
            cast question each carries its plates' evidence (:func:`with_evidence`).
        quota: the quota.
        problems: integrity problems from :mod:`castgate.batch.checks`; they force their verdicts.
        groups: ``{column: {role: value}}`` to pool roles by (e.g. ``workforce_majority``).
        source: what was gated, for the record.
        time: when (default now).
        question: ``"cast"`` or ``"generator"``.
        error_model: what backs the cast question's error model (:meth:`ErrorModel.describe`).

    Returns:
        The :class:`GateResult`; its ``problems`` holds the integrity problems then one per judged
        attribute that did not PASS; under the cast question ``review`` lists the plates to review.
    """
    scopes_tallies = list(role_tallies)
    for column, values in (groups or {}).items():
        scopes_tallies += group_tallies(role_tallies, column, values)
    scopes_tallies.append(pool(role_tallies))
    scopes = tuple(evaluate_scope(t, quota, question) for t in scopes_tallies)
    all_problems = tuple(problems) + tuple(quota_problems(scopes, source or {}))
    verdict = worst([s.verdict for s in scopes] + [p.verdict for p in problems]) or UNAUDITABLE
    return GateResult(verdict=verdict, exit_code=EXIT_CODES[verdict], source=dict(source or {}), quota=quota,
                      scopes=scopes, problems=all_problems, time=time or utc_now(), question=question,
                      error_model=error_model if question == CAST else None, review=review_ids(scopes))


def review_ids(scopes: Sequence[ScopeResult]) -> tuple[str, ...]:
    """Every plate to review, once, most decisive first (roles before pooled; within, the judge's order)."""
    ranked: dict[str, tuple[float, int]] = {}
    order = 0
    for scope in scopes:
        for attribute in scope.attributes:
            if attribute.cast is None or not attribute.gated:
                continue
            decisive = {item.plate_id: item.decisive for item in attribute.cast.review}
            for plate_id in attribute.cast.review_ids:
                order += 1
                best = ranked.get(plate_id)
                key = (-decisive.get(plate_id, 0.0), order)
                if best is None or key < best:
                    ranked[plate_id] = key
    return tuple(sorted(ranked, key=lambda p: ranked[p]))


def with_evidence(tallies: Sequence[Tally], plates: Sequence[Plate], quota: Quota, model: ErrorModel) -> list[Tally]:
    """Role tallies with their plates' evidence for every judged attribute (cast question)."""
    by_role: dict[str, list[Plate]] = {}
    for plate in plates:
        by_role.setdefault(plate.role, []).append(plate)
    out = []
    for tally in tallies:
        mine = by_role.get(tally.scope, [])
        singles = [a for a in quota.attribute_names if JOINT_SEPARATOR not in a]
        evidence = plate_evidence(mine, singles, model, quota.joints)
        out.append(dataclasses.replace(tally, evidence={a: tuple(e) for a, e in evidence.items()}))
    return out


def table_evidence(tallies: Sequence[Tally], table: LabelTable, quota: Quota) -> list[Tally]:
    """Role tallies of a label table with certain evidence: a table's labels are people's labels."""
    out = []
    for tally in tallies:
        evidence: dict[str, tuple] = {}
        combos = table.joint_counts(tally.scope)
        for name in quota.attribute_names:
            parts = name.split(JOINT_SEPARATOR)
            if not all(p in table.attributes for p in parts):
                continue
            items: list[Evidence] = []
            for combo, n in combos.items():
                value = joint_value([combo[table.attributes.index(p)] for p in parts])
                for i in range(n):
                    items.append(certain(f"{tally.scope}#{len(items) + 1}", value or "undetermined",
                                         "label table"))
            evidence[name] = tuple(items)
        out.append(dataclasses.replace(tally, evidence=evidence))
    return out


def evaluate_manifest(manifest: Manifest, quota: Quota, *, problems: Sequence[Problem] = (),
                      source: Mapping[str, Any] | None = None, question: str | None = None,
                      model: ErrorModel | None = None) -> GateResult:
    """Judge a manifest's kept plates (pure: integrity problems are passed in, see :func:`gate_batch`).

    ``question`` defaults to the quota's, else ``cast``; ``model`` to no error table (every automatic
    label unmeasured).
    """
    question = resolve_question(question, quota, CAST)
    prompts = {r["id"]: r.get("prompt") for r in manifest.request.get("roles", []) if "id" in r}
    source = source or {"kind": "batch", "name": manifest.batch}
    if question == CAST:
        return evaluate_cast(manifest.kept_plates, quota, model=model, role_order=manifest.roles(),
                             prompts=prompts, problems=problems, source=source)
    tallies = tally_plates(manifest.kept_plates, quota.attribute_names, manifest.roles(), prompts)
    return evaluate_tallies(tallies, quota, problems=problems, question=question, source=source)


def evaluate_cast(plates: Sequence[Plate], quota: Quota, *, model: ErrorModel | None = None,
                  role_order: Sequence[str] = (), prompts: Mapping[str, str] | None = None,
                  problems: Sequence[Problem] = (), source: Mapping[str, Any] | None = None) -> GateResult:
    """Judge any set of plates — a batch's kept plates, or a candidate cast — under the cast question (pure).

    This is the entry point for callers that choose plates themselves (``castgate balance``): pass the
    plates of the cast; nothing is read or written.

    Args:
        plates: the plates of the cast (their ``kept`` flag is not consulted).
        quota: the quota; its ``question`` is ignored.
        model: the labeller's error model (:meth:`ErrorModel.from_table`); default: none, so every
            automatic label is unmeasured.
        role_order: roles in display order (others follow in order of appearance).

    Returns:
        A :class:`GateResult` with ``question == "cast"``: per scope and attribute ``.cast`` holds the
        :class:`~castgate.gate.cast.CastJudgement` (counts, plausible ranges, bands, review list), and
        ``review`` lists every plate to review, most decisive first.

    Example:
        >>> result = evaluate_cast(candidates, load_quota("parity"), model=model)
        >>> result.verdict, result.scope("pooled").attribute("gender").cast.count("female").band
        ('PASS', (16, 24))
    """
    model = model if model is not None else ErrorModel(table=None)
    tallies = tally_plates(plates, quota.attribute_names, role_order, prompts)
    tallies = with_evidence(tallies, plates, quota, model)
    return evaluate_tallies(tallies, quota, problems=problems, question=CAST, error_model=model.describe(),
                            source=source or {"kind": "plates"})
