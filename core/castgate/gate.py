"""The gate: judge a batch (or a label table) against a quota and say PASS, FAIL, INSUFFICIENT, UNAUDITABLE or TAMPERED.

Three steps, pure in the middle:

1. **tally** the labels of the kept plates per role, per group of roles and pooled (:class:`Tally`);
2. **evaluate** each scope and attribute with :mod:`castgate.stats` against the quota, and combine
   with the integrity problems of :mod:`castgate.checks` (:func:`evaluate_tallies`);
3. **record** the verdict in the manifest with a ``gate`` event (:func:`gate_batch`).

Verdicts, worst first: TAMPERED (a plate file changed) > UNAUDITABLE (labels missing, stale or too
often undetermined) > FAIL (an interval lies wholly outside its band) > INSUFFICIENT (cannot tell
yet; more plates needed) > PASS. Exit codes (docs/gate.md): 0 PASS, 1 blocked (FAIL, UNAUDITABLE,
TAMPERED), 3 INSUFFICIENT.

Example:
    >>> result = gate_batch(batch_dir, "parity", record=False)
    >>> result.verdict, result.exit_code
    ('INSUFFICIENT', 3)
    >>> print(format_result(result))          # a line per role and pooled, with the reason
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from castgate import __version__
from castgate.checks import TAMPERED, UNAUDITABLE, Problem, ProgressCallback, default_checks, run_checks
from castgate.errors import LabelsFileError, ManifestError
from castgate.labels_table import LabelTable, read_label_table
from castgate.manifest import UNDETERMINED, Manifest, Plate, read_manifest, update_manifest, utc_now
from castgate.quotas import DEFAULT_QUOTA, AttributeQuota, Quota, load_quota
from castgate.stats import (FAIL, INSUFFICIENT, PASS, equivalence_verdict, per_interval_confidence,
                            plates_to_decide, proportion_interval, target_band)


VERDICTS = (PASS, INSUFFICIENT, FAIL, UNAUDITABLE, TAMPERED)  # best to worst
EXIT_CODES = {PASS: 0, INSUFFICIENT: 3, FAIL: 1, UNAUDITABLE: 1, TAMPERED: 1}
POOLED = "pooled"
_RECORDED_PLATE_IDS = 50  # per problem, in the manifest's verdict record


def worst(verdicts: Iterable[str | None]) -> str | None:
    """The most severe of ``verdicts`` (None ignored); None when there are none."""
    ranked = [v for v in verdicts if v is not None]
    return max(ranked, key=VERDICTS.index) if ranked else None


# -- 1. tallies --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tally:
    """Label counts of the kept plates of one scope: a role, a group of roles, or all roles pooled."""

    scope: str                                        # role id, "pooled", or "column=value"
    kind: str                                         # "role", "group" or "pooled"
    title: str                                        # for people
    roles: tuple[str, ...]
    plate_count: int
    counts: Mapping[str, Mapping[str, int]]           # attribute -> label value -> plates
    undetermined_reasons: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    prompt: str | None = None


def tally_plates(plates: Sequence[Plate], attributes: Sequence[str], role_order: Sequence[str] = (),
                 prompts: Mapping[str, str] | None = None) -> list[Tally]:
    """Count the labels of ``plates`` (kept plates) per role, in ``role_order`` then first appearance.

    Values are the effective labels (human over automatic); plates without a label are not counted,
    so ``plate_count - sum(counts[attribute].values())`` is the number missing a label.
    """
    # One pass, one Counter keyed by (role, value per attribute): the per-plate work stays small.
    joint: Counter[tuple] = Counter()
    reasons: dict[str, dict[str, Counter]] = {}
    found_prompts: dict[str, str] = {}
    for plate in plates:
        role = plate.role
        if role not in found_prompts:
            found_prompts[role] = plate.prompt
            reasons[role] = {a: Counter() for a in attributes}
        human_labels, auto_labels = plate.human_labels, plate.labels
        key: list[str | None] = [role]
        for attribute in attributes:
            human = human_labels.get(attribute)
            value: str | None
            if human is not None:
                value = human.value
            else:
                auto = auto_labels.get(attribute)
                value = None if auto is None else auto.value
            key.append(value)
            if value == UNDETERMINED:
                why = ("reviewer: " + (human.note or "undetermined") if human is not None
                       else auto.reason or "no reason given")  # type: ignore[union-attr]
                reasons[role][attribute][why] += 1
        joint[tuple(key)] += 1
    per_role: dict[str, dict[str, Counter]] = {r: {a: Counter() for a in attributes} for r in found_prompts}
    plate_counts: Counter[str] = Counter()
    for (role, *values), n in joint.items():
        plate_counts[role] += n
        for attribute, value in zip(attributes, values):
            if value is not None:
                per_role[role][attribute][value] += n
    order = [r for r in role_order if r in per_role] + [r for r in per_role if r not in role_order]
    prompts = prompts or {}
    return [Tally(scope=role, kind="role", title=role, roles=(role,), plate_count=plate_counts[role],
                  counts={a: dict(c) for a, c in per_role[role].items()},
                  undetermined_reasons={a: dict(c) for a, c in reasons[role].items()},
                  prompt=prompts.get(role, found_prompts.get(role)))
            for role in order]


def tally_label_table(table: LabelTable, attributes: Sequence[str]) -> list[Tally]:
    """Per-role tallies of a label table; attributes the table lacks count as missing labels."""
    tallies = []
    for role in table.roles:
        counts = {a: table.role_counts(role, a) for a in attributes if a in table.attributes}
        for a in attributes:
            counts.setdefault(a, {})
        tallies.append(Tally(scope=role, kind="role", title=role, roles=(role,),
                             plate_count=table.role_total(role), counts=counts,
                             undetermined_reasons={}, prompt=table.prompt(role)))
    return tallies


def pool(tallies: Sequence[Tally], *, scope: str = POOLED, kind: str = "pooled",
         title: str = "all roles pooled") -> Tally:
    """Sum role tallies into one scope."""
    counts: dict[str, Counter] = {}
    reasons: dict[str, Counter] = {}
    for tally in tallies:
        for attribute, values in tally.counts.items():
            counts.setdefault(attribute, Counter()).update(values)
        for attribute, values in tally.undetermined_reasons.items():
            reasons.setdefault(attribute, Counter()).update(values)
    return Tally(scope=scope, kind=kind, title=title, roles=tuple(t.scope for t in tallies),
                 plate_count=sum(t.plate_count for t in tallies),
                 counts={a: dict(c) for a, c in counts.items()},
                 undetermined_reasons={a: dict(c) for a, c in reasons.items()})


def group_tallies(role_tallies: Sequence[Tally], column: str, values: Mapping[str, str]) -> list[Tally]:
    """Pool role tallies by a per-role column (e.g. the seed study's ``workforce_majority``)."""
    groups: dict[str, list[Tally]] = {}
    for tally in role_tallies:
        groups.setdefault(values[tally.scope], []).append(tally)
    return [pool(members, scope=f"{column}={value}", kind="group",
                 title=f"{column} = {value} ({len(members)} role{'s' if len(members) != 1 else ''})")
            for value, members in groups.items()]


# -- 2. evaluation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CategoryResult:
    """One category of one attribute in one scope."""

    category: str
    count: int
    share: float                 # among determined plates: what the gate judges
    share_of_all: float          # among all plates of the scope, undetermined included (the study's way)
    low: float                   # interval at ``AttributeResult.interval_confidence``
    high: float
    target: float
    band_low: float
    band_high: float
    verdict: str                 # PASS, FAIL or INSUFFICIENT from the interval alone
    more_determined: int | None  # more determined plates that would decide it (0: decided; None: never)


@dataclass(frozen=True)
class AttributeResult:
    """One attribute in one scope: counts, intervals, verdict and why."""

    attribute: str
    gated: bool                  # False when the quota's scope leaves this scope out (shown, not judged)
    verdict: str | None
    plate_count: int
    determined: int
    undetermined: int
    unlabelled: int              # plates with no label, or a value that is not a category
    undetermined_share: float
    max_undetermined: float
    min_sample: int
    confidence: float            # for all intervals of the attribute together
    interval_confidence: float   # of each interval (Bonferroni-corrected for > 2 categories)
    interval: str
    tolerance: float
    categories: tuple[CategoryResult, ...]
    more_plates: int | None      # more kept plates (undetermined ones expected too) to decide; None: never
    reason: str                  # one line
    explanation: str             # plain words, for the report
    undetermined_reasons: Mapping[str, int] = field(default_factory=dict)

    def category(self, name: str) -> CategoryResult:
        for item in self.categories:
            if item.category == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class ScopeResult:
    """A role, a group of roles or the pooled batch, with one result per quota attribute."""

    scope: str
    kind: str
    title: str
    roles: tuple[str, ...]
    plate_count: int
    attributes: tuple[AttributeResult, ...]
    verdict: str | None          # worst gated attribute verdict; None when nothing is gated here
    prompt: str | None = None

    def attribute(self, name: str) -> AttributeResult:
        for item in self.attributes:
            if item.attribute == name:
                return item
        raise KeyError(name)

    @property
    def reason(self) -> str:
        gated = [a for a in self.attributes if a.gated]
        if not gated:
            return "not gated here (the quota's scope leaves it out)"
        return "; ".join(f"{a.attribute} {a.verdict}: {a.reason}" for a in gated)


@dataclass(frozen=True)
class GateResult:
    """The gate's answer for a batch or a label table."""

    verdict: str
    exit_code: int
    source: Mapping[str, Any]            # {"kind": "batch"|"labels", "path": ..., "name": ...}
    quota: Quota
    scopes: tuple[ScopeResult, ...]
    problems: tuple[Problem, ...]        # integrity problems and quota findings, each with a fix
    time: str
    castgate_version: str = __version__

    def scope(self, name: str) -> ScopeResult:
        for item in self.scopes:
            if item.scope == name:
                return item
        raise KeyError(name)

    @property
    def summary(self) -> str:
        """One sentence: the verdict and its main reason."""
        return summarise(self)

    def to_dict(self, max_plate_ids: int | None = None) -> dict[str, Any]:
        """Plain data for ``--json`` and the report's JSON twin."""
        return {
            "verdict": self.verdict, "exit_code": self.exit_code, "summary": self.summary,
            "source": dict(self.source), "quota": self.quota.to_dict(), "time": self.time,
            "castgate_version": self.castgate_version,
            "scopes": [_plain(s) for s in self.scopes],
            "problems": [p.to_dict(max_plate_ids) for p in self.problems],
        }


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def evaluate_attribute(tally: Tally, quota: AttributeQuota, *, gated: bool = True) -> AttributeResult:
    """Judge one attribute of one scope (pure).

    Order of the rules: no plates or unlabelled plates, or too many undetermined → UNAUDITABLE (fail
    closed); fewer determined plates than ``min_sample`` → INSUFFICIENT; then the intervals: any
    category wholly outside its band → FAIL, all inside → PASS, else INSUFFICIENT.
    """
    counts = tally.counts.get(quota.attribute, {})
    categories = quota.categories
    total = tally.plate_count
    undetermined = counts.get(UNDETERMINED, 0)
    known = {c: counts.get(c, 0) for c in categories}
    determined = sum(known.values())
    unlabelled = total - determined - undetermined
    undetermined_share = undetermined / total if total else 0.0
    each = per_interval_confidence(quota.confidence, len(categories), quota.simultaneous)
    results = []
    for category in categories:
        k = known[category]
        low, high = proportion_interval(k, determined, each, quota.interval)
        target = quota.targets[category]
        band_low, band_high = target_band(target, quota.tolerance)
        verdict = equivalence_verdict(low, high, target, quota.tolerance)
        more = 0 if verdict != INSUFFICIENT else plates_to_decide(
            k, determined, target, quota.tolerance, each, quota.interval)
        results.append(CategoryResult(
            category=category, count=k, share=k / determined if determined else 0.0,
            share_of_all=k / total if total else 0.0, low=low, high=high, target=target,
            band_low=band_low, band_high=band_high, verdict=verdict, more_determined=more))
    statistical = (FAIL if any(r.verdict == FAIL for r in results)
                   else PASS if all(r.verdict == PASS for r in results) else INSUFFICIENT)
    more_determined = _more_to_decide(results, quota) if statistical == INSUFFICIENT else 0
    if determined < quota.min_sample:
        shortfall = quota.min_sample - determined
        more_determined = None if more_determined is None else max(more_determined, shortfall)
    more_plates = None
    if more_determined is not None and undetermined_share < 1.0:
        more_plates = math.ceil(more_determined / (1.0 - undetermined_share) - 1e-9)

    if total == 0:
        verdict = UNAUDITABLE
    elif unlabelled:
        verdict = UNAUDITABLE
    elif undetermined_share > quota.max_undetermined + 1e-12:
        verdict = UNAUDITABLE
    elif determined < quota.min_sample:
        verdict = INSUFFICIENT
    else:
        verdict = statistical
    partial = AttributeResult(
        attribute=quota.attribute, gated=gated, verdict=verdict if gated else None, plate_count=total,
        determined=determined, undetermined=undetermined, unlabelled=unlabelled,
        undetermined_share=undetermined_share, max_undetermined=quota.max_undetermined,
        min_sample=quota.min_sample, confidence=quota.confidence, interval_confidence=each,
        interval=quota.interval, tolerance=quota.tolerance, categories=tuple(results),
        more_plates=more_plates if verdict in (INSUFFICIENT,) else (0 if verdict != UNAUDITABLE else None),
        reason="", explanation="",
        undetermined_reasons=dict(tally.undetermined_reasons.get(quota.attribute, {})))
    reason, explanation = _explain(partial, verdict, tally)
    return dataclasses.replace(partial, reason=reason, explanation=explanation)


def _more_to_decide(results: Sequence[CategoryResult], quota: AttributeQuota) -> int | None:
    """More determined plates until the attribute is decided, if shares stay as they are.

    It decides when the first category that is heading outside its band FAILs, or, if every undecided
    category is heading inside, when the last of them PASSes.
    """
    pending = [r for r in results if r.verdict == INSUFFICIENT]
    heading_out = [r for r in pending if abs(r.share - r.target) > quota.tolerance + 1e-12]
    if heading_out:
        known = [r.more_determined for r in heading_out if r.more_determined is not None]
        return min(known) if known else None
    if any(r.more_determined is None for r in pending):
        return None
    return max((r.more_determined or 0) for r in pending) if pending else 0


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
    all_problems = tuple(problems) + tuple(_quota_problems(scopes))
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


# -- 3. the edges: batches and label tables on disk ----------------------------------------------------
def default_quota_name(manifest: Manifest) -> str:
    """The quota the request names (``[batch].quota``), else ``parity``."""
    batch = manifest.request.get("batch", {})
    name = batch.get("quota") if isinstance(batch, Mapping) else None
    return name or DEFAULT_QUOTA


def gate_batch(batch_dir: Path, quota: str | Path | Quota | None = None, *, record: bool = True,
               verify_files: bool = True, on_progress: ProgressCallback | None = None) -> GateResult:
    """Gate a batch folder: read the manifest, run the checks, judge, and record the verdict.

    Args:
        batch_dir: the batch folder (holds ``manifest.json``).
        quota: a :class:`Quota`, a preset name or a quota file path; default: the request's, else parity.
        record: write the verdict into ``Manifest.verdict`` with a ``gate`` event.
        verify_files: hash every kept plate file (TAMPERED check). The gate always does; only
            benchmarks and previews turn it off.
        on_progress: ``on_progress(done, total)`` while hashing.

    Raises:
        ManifestError: no or invalid manifest; or the batch changed while it was being gated.
        QuotaFileError: the quota cannot be loaded.

    Example:
        >>> gate_batch(Path("hospital_extras"), "parity").verdict
        'PASS'
    """
    batch_dir = Path(batch_dir)
    manifest = read_manifest(batch_dir)
    result = gate_manifest(manifest, batch_dir, quota, verify_files=verify_files, on_progress=on_progress)
    if record:
        record_verdict(batch_dir, result, gated=manifest)
    return result


def gate_manifest(manifest: Manifest, batch_dir: Path | None, quota: str | Path | Quota | None = None, *,
                  verify_files: bool = True, on_progress: ProgressCallback | None = None) -> GateResult:
    """Run the checks and judge a manifest already read (records nothing; see :func:`gate_batch`)."""
    if not isinstance(quota, Quota):
        quota = load_quota(quota if quota is not None else default_quota_name(manifest))
    checks = default_checks(quota.attribute_names, verify_files=verify_files and batch_dir is not None,
                            on_progress=on_progress)
    problems = run_checks(checks, manifest, batch_dir)
    return evaluate_manifest(manifest, quota, problems=problems,
                             source={"kind": "batch", "path": str(batch_dir) if batch_dir else None,
                                     "name": manifest.batch})


def record_verdict(batch_dir: Path, result: GateResult, *, gated: Manifest) -> Manifest:
    """Store the verdict in ``Manifest.verdict`` and add a ``gate`` event, under the manifest lock.

    Raises:
        ManifestError: the plates changed since ``gated`` was read (the verdict would be stale).
    """
    record = verdict_record(result)

    def change(current: Manifest) -> Manifest:
        if current.plates != gated.plates:
            raise ManifestError("the batch changed while it was being gated", where=str(batch_dir),
                                fix="Run castgate gate again")
        return dataclasses.replace(current, verdict=record).with_event(
            "gate", verdict=result.verdict, exit_code=result.exit_code, quota=result.quota.name,
            quota_source=result.quota.source, summary=result.summary)

    return update_manifest(batch_dir, change)


def verdict_record(result: GateResult) -> dict[str, Any]:
    """The compact form of a result stored in ``Manifest.verdict``: verdicts and reasons, not intervals."""
    return {
        "verdict": result.verdict, "exit_code": result.exit_code, "time": result.time,
        "summary": result.summary, "castgate_version": result.castgate_version,
        "quota": {"name": result.quota.name, "source": result.quota.source},
        "scopes": [{"scope": s.scope, "kind": s.kind, "verdict": s.verdict,
                    "attributes": {a.attribute: {"verdict": a.verdict, "reason": a.reason}
                                   for a in s.attributes if a.gated}}
                   for s in result.scopes],
        "problems": [p.to_dict(_RECORDED_PLATE_IDS) for p in result.problems],
    }


def gate_label_table(path: Path | LabelTable, quota: str | Path | Quota | None = None, *,
                     group_by: Sequence[str] | None = None) -> GateResult:
    """Gate a CSV label table (the seed study's long format), pooling roles by ``group_by`` columns.

    Args:
        path: the CSV file, or a table already read.
        quota: as :func:`gate_batch`; default parity.
        group_by: per-role columns to pool by; default every per-role column except ``prompt``.

    Raises:
        LabelsFileError: the table is invalid, or a ``group_by`` column does not describe roles.
        QuotaFileError: the quota cannot be loaded.

    Example:
        >>> result = gate_label_table(Path("labels.csv"), "parity")
        >>> result.scope("workforce_majority=male").attribute("gender").category("male").share_of_all
        0.69
    """
    table = path if isinstance(path, LabelTable) else read_label_table(Path(path))
    if not isinstance(quota, Quota):
        quota = load_quota(quota if quota is not None else DEFAULT_QUOTA)
    columns = table.group_columns if group_by is None else tuple(group_by)
    for column in columns:
        if column not in table.group_columns:
            known = ", ".join(table.group_columns) or "none"
            raise LabelsFileError(f"cannot group by {column!r}: it is not a per-role column of the table "
                                  f"(per-role columns: {known})", where=table.source,
                                  fix="Pass one of those columns to --group-by, or add the column")
    groups = {c: {role: table.role_values[role][c] for role in table.roles} for c in columns}
    tallies = tally_label_table(table, quota.attribute_names)
    problems = [Problem(check="labels_present", verdict=UNAUDITABLE,
                        message=f"the table has no {a} column, so every plate lacks a {a} label",
                        fix=f"Add a {a} column, or gate with a quota that does not judge {a}")
                for a in quota.attribute_names if a not in table.attributes]
    return evaluate_tallies(tallies, quota, problems=problems, groups=groups,
                            source={"kind": "labels", "path": table.source, "name": Path(table.source).name})


# -- words ---------------------------------------------------------------------------------------------
def pct(share: float) -> str:
    """A share as a percentage with one decimal, the seed study's style: ``69.0 %``."""
    return f"{100 * share:.1f} %"


def _span(low: float, high: float, *, trim: bool = True) -> str:
    if not trim:
        return f"{100 * low:.1f}–{100 * high:.1f} %"
    return f"{_num(low)}–{_num(high)} %"


def _num(share: float) -> str:
    """A share in percent with one decimal, without a trailing ``.0`` (``40``, ``62.9``)."""
    text = f"{100 * share:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _decisive(result: AttributeResult, verdict: str) -> list[CategoryResult]:
    """The categories that explain a verdict, most over-represented first."""
    ordered = sorted(result.categories, key=lambda c: c.share - c.target, reverse=True)
    if verdict == FAIL:
        return [c for c in ordered if c.verdict == FAIL]
    if verdict == INSUFFICIENT:
        return [c for c in ordered if c.verdict == INSUFFICIENT] or ordered
    return ordered


def _explain(result: AttributeResult, verdict: str, tally: Tally) -> tuple[str, str]:
    """(one-line reason, plain-words explanation) of an attribute's verdict."""
    attribute, total = result.attribute, result.plate_count
    conf = f"{100 * result.confidence:g} %"
    where = f"{tally.title}" if tally.kind != "pooled" else "all roles pooled"
    if total == 0:
        return "no plates", f"{where}: there are no kept plates, so there is nothing to judge."
    if result.unlabelled:
        return (f"{result.unlabelled} of {total} plates have no usable {attribute} label",
                f"{result.unlabelled} of the {total} plates of {where} have no usable {attribute} label. "
                "The gate fails closed: shares over the labelled plates alone could hide anything, so "
                "the verdict is UNAUDITABLE until every plate is labelled (undetermined counts as a label).")
    und = (f"{result.undetermined} undetermined ({pct(result.undetermined_share)}, "
           f"limit {pct(result.max_undetermined)})")
    if verdict == UNAUDITABLE:
        return (f"{und}",
                f"{result.undetermined} of the {total} plates of {where} ({pct(result.undetermined_share)}) "
                f"have an undetermined {attribute}, more than the {pct(result.max_undetermined)} the quota "
                "allows. Shares among the readable plates could be skewed by which plates were unreadable, "
                "so the gate fails closed: review those plates by hand or regenerate them.")
    decisive = _decisive(result, verdict)
    head = decisive[0]
    many = len(result.categories) > 2
    pieces = []
    for c in decisive[: 3 if many else 1]:
        position = ("inside" if c.verdict == PASS else "above" if c.low > c.band_high
                    else "below" if c.high < c.band_low else "across")
        of_all = f" ({pct(c.share_of_all)} of all plates)" if result.undetermined else ""
        pieces.append(f"{c.category} {pct(c.share)} [{_span(c.low, c.high, trim=False)}] {position} "
                      f"{_span(c.band_low, c.band_high)}{of_all}")
    reason = "; ".join(pieces)
    opening = (f"Of the {total} plates of {where}, {result.determined} have a readable {attribute}"
               + (f" ({result.undetermined} undetermined, within the {pct(result.max_undetermined)} allowed). "
                  if result.undetermined else ". "))
    shares_text = ", ".join(f"{c.count} {c.category} ({pct(c.share)})" for c in result.categories)
    corrected = (f" Each of the {len(result.categories)} intervals is computed at "
                 f"{100 * result.interval_confidence:.2f} % (Bonferroni) so that all hold together at "
                 f"{conf}." if result.interval_confidence != result.confidence else "")
    interval = (f"With {conf} confidence the true {head.category} share lies between {pct(head.low)} and "
                f"{pct(head.high)}; the quota asks for {_num(head.target)} % ± {_num(result.tolerance)} "
                f"points ({_span(head.band_low, head.band_high)}).{corrected} ")
    more = result.more_plates
    if verdict == INSUFFICIENT and result.determined < result.min_sample:
        reason = f"only {result.determined} determined plates (minimum {result.min_sample})"
        tail = (f"That is fewer determined plates than the quota's minimum sample of {result.min_sample}, "
                "so no verdict is given yet")
        tail += f": about {more} more plates are needed." if more is not None else "."
        return reason + _more_words(more), opening + shares_text + ". " + tail
    if verdict == PASS:
        tail = (f"Every category's interval lies inside its band, so {attribute} PASSes here."
                if many else f"The whole interval lies inside the band, so {attribute} PASSes here.")
    elif verdict == FAIL:
        side = "above" if head.low > head.band_high else "below"
        tail = (f"The whole interval lies {side} the band, so {attribute} FAILs here: "
                "the imbalance is larger than the tolerance, not sampling noise.")
    else:
        heading = "PASS" if abs(head.share - head.target) < result.tolerance else "FAIL"
        tail = ("The interval reaches both inside and outside the band, so these plates cannot decide yet. "
                + (f"If the shares hold, about {more} more plates would decide it (it would {heading})."
                   if more is not None else "The share sits on the band's edge: more plates at this share "
                                            "would never decide it."))
        reason += _more_words(more)
    return reason, opening + shares_text + ". " + interval + tail


def _more_words(more: int | None) -> str:
    if more is None:
        return "; undecidable at this share"
    return f"; ~{more} more plates to decide"


def _quota_problems(scopes: Sequence[ScopeResult]) -> list[Problem]:
    problems = []
    for scope in scopes:
        for a in scope.attributes:
            if not a.gated or a.verdict == PASS:
                continue
            if a.verdict == FAIL:
                low = sorted(a.categories, key=lambda c: c.share - c.target)[0]
                fix = (f"Check the labels by hand (castgate review), then add {low.category} plates to "
                       f"{scope.title} (castgate balance) or rework the prompt")
            elif a.verdict == INSUFFICIENT:
                fix = (f"Generate about {a.more_plates} more plates for {scope.title} (castgate balance)"
                       if a.more_plates is not None else
                       f"The share sits on the band's edge; change the mix of {scope.title} (castgate balance)")
            else:
                fix = "Review the undetermined or unlabelled plates by hand (castgate review) or regenerate them"
            problems.append(Problem(check=f"quota_{a.attribute}", verdict=a.verdict or UNAUDITABLE,
                                    message=f"{scope.title}: {a.attribute} {a.verdict}: {a.reason}",
                                    fix=fix, scope=scope.scope))
    return problems


def summarise(result: GateResult) -> str:
    """One sentence: the verdict and what drove it."""
    integrity = [p for p in result.problems if p.verdict in (TAMPERED, UNAUDITABLE) and p.scope is None]
    if result.verdict == TAMPERED or (integrity and result.verdict == UNAUDITABLE):
        first = next(p for p in integrity if p.verdict == result.verdict)
        return f"{result.verdict}: {first.message}"
    gated = [s for s in result.scopes if s.verdict is not None]
    count = Counter(s.verdict for s in gated if s.kind == "role")
    roles = sum(count.values())
    parts = [f"{n} of {roles} role{'s' if roles != 1 else ''} {v}" for v, n in
             sorted(count.items(), key=lambda kv: VERDICTS.index(kv[0]), reverse=True)]
    pooled = next((s for s in result.scopes if s.kind == "pooled"), None)
    if pooled is not None and pooled.verdict is not None:
        parts.append(f"pooled {pooled.verdict}")
    return f"{result.verdict}: " + (", ".join(parts) if parts else "nothing gated")


def format_result(result: GateResult) -> str:
    """The text ``castgate gate`` prints: a header, a line per role, group and pooled, problems, verdict."""
    source = result.source
    what = f"{source.get('kind', 'batch')} {source.get('name') or source.get('path', '')}".strip()
    lines = [f"castgate gate: {what} against quota {result.quota.name}"]
    width = max([len(s.title if s.kind != "group" else s.scope) for s in result.scopes] + [10])
    for scope in result.scopes:
        name = scope.title if scope.kind != "group" else scope.scope
        lines.append(f"  {name:<{width}}  {scope.verdict or '-':<12}  {scope.reason}")
    integrity = [p for p in result.problems if p.scope is None]
    for problem in integrity:
        lines.append(f"  {problem.verdict}: {problem.message}. Fix: {problem.fix}")
    lines.append(f"Verdict: {result.verdict} (exit {result.exit_code}). {result.summary.split(': ', 1)[-1]}")
    return "\n".join(lines)
