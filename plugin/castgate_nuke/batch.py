"""A batch as the panel sees it: ``manifest.json`` read as plain JSON, and gate verdicts made flat.

The plugin never imports castgate; it reads the manifest file (its JSON layout is the documented
contract, docs/manifest.md) and the ``--json`` output of ``castgate gate``.

Verdicts come from ``castgate gate BATCH --json`` (core/castgate/gate/results.py ``GateResult.to_dict``), or,
until the gate is run again, from the compact record the gate keeps in ``manifest["verdict"]``::

    {"verdict": "FAIL", "exit_code": 1, "summary": "FAIL: ...", "quota": {"name": "parity", ...},
     "scopes": [                                  # each role, each group of roles, and "pooled"
        {"scope": "nurse", "kind": "role", "verdict": "FAIL",
         "attributes": [                          # the manifest's record: {"gender": {"verdict", "reason"}}
            {"attribute": "gender", "gated": true, "verdict": "FAIL", "determined": 40,
             "undetermined": 2, "more_plates": 0, "reason": "...",
             "categories": [{"category": "female", "share": 0.3, "low": 0.18, "high": 0.45,
                             "target": 0.5, "band_low": 0.4, "band_high": 0.6, "verdict": "FAIL"}, ...]}]}],
     "problems": [{"message": "...", "fix": "...", "plate_ids": [...]}]}

:func:`parse_verdict` flattens that into one :class:`CategoryBar` per scope, attribute and category.
It also reads close variants (``checks``/``results`` for ``scopes``; attributes inline in a scope;
``observed`` for ``share``; ``ci``/``band`` pairs; ``target`` with ``tolerance``; ``status`` for
``verdict``), so a gate that grows its output does not break the panel.

Example:
    >>> batch = read_batch("/shows/abc/castgate/office_a")
    >>> [p.id for p in batch.kept_plates][:2]
    ['office_a_clerk_0000', 'office_a_clerk_0001']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from castgate_nuke.balance_view import balance_lines

MANIFEST_NAME = "manifest.json"
UNDETERMINED = "undetermined"
REVIEWABLE = {"gender": ("female", "male"), "skin_group": ("lighter", "darker")}
POOLED = "all roles"
VERDICTS = ("PASS", "FAIL", "UNDECIDED", "INSUFFICIENT", "UNAUDITABLE", "TAMPERED")


class BatchReadError(Exception):
    """The folder is not a readable castgate batch; the message says which file and what to do."""


@dataclass(frozen=True)
class PlateView:
    """One plate, with absolute file paths and its effective labels (human over automatic)."""

    id: str
    role: str
    index: int
    prompt: str
    seed: int
    kept: bool
    png: str
    exr: str
    labels: Mapping[str, str]           # attribute -> value
    sources: Mapping[str, str]          # attribute -> "human (ana)" / "auto 0.91" / "auto"

    def label(self, attribute: str) -> str:
        return self.labels.get(attribute, "")


@dataclass(frozen=True)
class CategoryBar:
    """One bar of the audit chart: a category's observed share in one scope against its band."""

    scope: str                          # a role id, or POOLED
    attribute: str
    category: str
    verdict: str
    observed: Optional[float] = None
    ci: Optional[Tuple[float, float]] = None
    band: Optional[Tuple[float, float]] = None
    target: Optional[float] = None
    n: Optional[int] = None
    undetermined: Optional[int] = None
    needed: Optional[int] = None         # more plates that would decide it
    reason: str = ""                     # the gate's one-line reason for this scope and attribute
    counts: Optional["CastCounts"] = None  # the cast question's counts (shares above are counts / plates)


@dataclass(frozen=True)
class CastCounts:
    """A category's counts in a cast: what the labels say, the plausible true count and the band."""

    labelled: int                       # plates whose label counts as this category
    certain: int                        # of those, human labels
    low: int                            # plausible true count, at the quota's confidence
    high: int
    band_low: int                       # the counts the quota allows (band_low > band_high: none)
    band_high: int
    plates: int                         # plates in the cast


@dataclass(frozen=True)
class Verdict:
    """A gate result made flat for display."""

    name: str                           # PASS, FAIL, UNDECIDED, INSUFFICIENT, UNAUDITABLE, TAMPERED or UNKNOWN
    quota: str = ""
    summary: str = ""
    bars: Tuple[CategoryBar, ...] = ()
    problems: Tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    question: str = ""                  # "cast" or "generator" (older results name none)
    review: Tuple[str, ...] = ()        # cast question: plate ids to review, most decisive first

    @property
    def passed(self) -> bool:
        return self.name == "PASS"


@dataclass(frozen=True)
class BatchView:
    """What the panel shows of a batch folder."""

    folder: str
    name: str
    plates: Tuple[PlateView, ...]
    roles: Tuple[str, ...]
    verdict: Optional[Verdict]
    events: Tuple[Mapping[str, Any], ...] = ()
    exr_colourspace: str = "ACEScg"
    castgate_version: str = ""   # the castgate that made the batch (its manifest's castgate_version)
    balance: Tuple[str, ...] = ()        # what castgate balance did, in lines (balance_view.py)

    @property
    def kept_plates(self) -> Tuple[PlateView, ...]:
        return tuple(p for p in self.plates if p.kept)

    @property
    def report_html(self) -> str:
        return os.path.join(self.folder, "report", "report.html")

    def plate(self, plate_id: str) -> PlateView:
        for plate in self.plates:
            if plate.id == plate_id:
                return plate
        raise KeyError(plate_id)


# -- reading ----------------------------------------------------------------------------------------
def read_batch(folder: str) -> BatchView:
    """Read ``folder/manifest.json`` into a :class:`BatchView`.

    Raises:
        BatchReadError: no manifest, not JSON, or not a castgate manifest.
    """
    folder = os.path.abspath(folder)
    path = os.path.join(folder, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise BatchReadError("{}: no manifest.json here, so this is not a castgate batch (yet). Pick the "
                             "folder `castgate run -o` wrote, or wait for the farm job to finish."
                             .format(folder))
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BatchReadError("{}: cannot read the manifest ({}). Rerun `castgate gate {}` to see what "
                             "is wrong.".format(path, exc, folder))
    try:
        return batch_from_manifest(data, folder)
    except (KeyError, TypeError, ValueError) as exc:
        raise BatchReadError("{}: not a castgate manifest the panel understands (missing or wrong {}). "
                             "Check it with `castgate gate {}`.".format(path, exc, folder))


def batch_from_manifest(data: Mapping[str, Any], folder: str) -> BatchView:
    """Build a :class:`BatchView` from a parsed manifest (pure)."""
    plates = tuple(_plate_view(p, folder) for p in data["plates"])
    roles = [str(r["id"]) for r in data.get("request", {}).get("roles", []) if "id" in r]
    roles += [p.role for p in plates if p.role not in roles]
    verdict = parse_verdict(data["verdict"]) if data.get("verdict") else None
    colour = data.get("colour") or {}
    return BatchView(folder=folder, name=str(data["batch"]), plates=plates,
                     roles=tuple(dict.fromkeys(roles)), verdict=verdict,
                     events=tuple(data.get("events", [])),
                     exr_colourspace="ACEScg" if not colour else _nuke_colourspace(colour),
                     castgate_version=str(data.get("castgate_version") or ""),
                     balance=tuple(balance_lines(data)))


def _nuke_colourspace(colour: Mapping[str, Any]) -> str:
    # The name castgate recorded for the compositor's OCIO config (the one $OCIO named at generate time).
    return str(colour.get("exr_colourspace") or "ACEScg")


def _plate_view(data: Mapping[str, Any], folder: str) -> PlateView:
    files = data.get("files") or {}
    labels = {}  # type: Dict[str, str]
    sources = {}  # type: Dict[str, str]
    for attribute, label in (data.get("labels") or {}).items():
        labels[attribute] = str(label["value"])
        confidence = label.get("confidence")
        sources[attribute] = "auto" if confidence is None else "auto {:.2f}".format(float(confidence))
    for attribute, label in (data.get("human_labels") or {}).items():
        labels[attribute] = str(label["value"])
        sources[attribute] = "human ({})".format(label.get("reviewer", "?"))
    return PlateView(
        id=str(data["id"]), role=str(data["role"]), index=int(data["index"]), prompt=str(data["prompt"]),
        seed=int(data["seed"]), kept=bool(data.get("kept", True)),
        png=_file_path(folder, files.get("png")), exr=_file_path(folder, files.get("exr")),
        labels=labels, sources=sources)


def _file_path(folder: str, ref: Any) -> str:
    if not isinstance(ref, Mapping) or not ref.get("path"):
        return ""
    return os.path.normpath(os.path.join(folder, str(ref["path"])))


# -- verdicts ---------------------------------------------------------------------------------------
def verdict_name(data: Mapping[str, Any]) -> str:
    """``"PASS"``, ``"FAIL"``... from a gate result dict (``UNKNOWN`` when it names none)."""
    for key in ("verdict", "status", "result"):
        value = data.get(key)
        if isinstance(value, str):
            return value.upper()
        if isinstance(value, Mapping):  # {"verdict": {"verdict": "PASS", ...}}
            return verdict_name(value)
    return "UNKNOWN"


def parse_verdict(data: Mapping[str, Any]) -> Verdict:
    """Flatten a gate result dict (see the module docstring) into a :class:`Verdict`."""
    for key in ("gate", "verdict"):  # `castgate run --json` carries the gate's result under "gate"
        if isinstance(data.get(key), Mapping):
            data = data[key]
            break
    quota = data.get("quota", "")
    if isinstance(quota, Mapping):
        quota = quota.get("name") or quota.get("source") or ""
    rows = _first(data, ("scopes", "checks", "results", "rows")) or []
    if isinstance(rows, Mapping):  # {"nurse": {"gender": {...}}}
        rows = [dict(v, scope=v.get("scope", k)) for k, v in rows.items() if isinstance(v, Mapping)]
    bars = []  # type: List[CategoryBar]
    for row in rows:
        if isinstance(row, Mapping):
            bars.extend(_bars_from_scope(row))
    problems = tuple(_problem_text(p) for p in (data.get("problems") or []))
    review = data.get("review") or ()
    return Verdict(name=verdict_name(data), quota=str(quota), summary=str(data.get("summary") or ""),
                   bars=tuple(bars), problems=problems, raw=dict(data), question=str(data.get("question") or ""),
                   review=tuple(str(i) for i in review) if isinstance(review, (list, tuple)) else ())


def review_reasons(verdict: Verdict) -> Dict[str, List[str]]:
    """Plate id -> why its review matters and what each answer would do, from the cast question's result."""
    reasons = {}  # type: Dict[str, List[str]]
    for scope in verdict.raw.get("scopes") or []:
        if not isinstance(scope, Mapping):
            continue
        for attribute in scope.get("attributes") or []:
            cast = attribute.get("cast") if isinstance(attribute, Mapping) else None
            if not isinstance(cast, Mapping):
                continue
            for item in cast.get("review") or []:
                if not isinstance(item, Mapping):
                    continue
                outcomes = ", ".join("{} -> {}".format(k, v) for k, v in (item.get("outcomes") or {}).items())
                text = "{} in {}: {}{}".format(attribute.get("attribute"), scope.get("title") or scope.get("scope"),
                                               item.get("why", ""), "; if " + outcomes if outcomes else "")
                found = reasons.setdefault(str(item.get("plate_id")), [])
                if text not in found:
                    found.append(text)
    return reasons


def _bars_from_scope(row: Mapping[str, Any]) -> List[CategoryBar]:
    """A scope with its attributes (list, or mapping attribute -> result), or one attribute result."""
    attributes = row.get("attributes")
    if attributes is None:
        attributes = {k: v for k, v in row.items() if k in REVIEWABLE or k in _OTHER_ATTRIBUTES}
        if not attributes:
            return _bars_from_attribute(row, row)
    if isinstance(attributes, Mapping):
        attributes = [dict(v, attribute=v.get("attribute", k)) for k, v in attributes.items()
                      if isinstance(v, Mapping)]
    bars = []
    for item in attributes:
        if isinstance(item, Mapping) and item.get("gated", True):
            bars.extend(_bars_from_attribute(row, item))
    return bars


def _bars_from_attribute(scope_row: Mapping[str, Any], row: Mapping[str, Any]) -> List[CategoryBar]:
    scope = _scope_name(scope_row)
    attribute = str(row.get("attribute", ""))
    verdict = verdict_name(row)
    determined = _int(_first(row, ("determined", "n", "sample")))
    undetermined = _int(row.get("undetermined"))
    needed = _int(_first(row, ("more_plates", "needed", "more_needed")))
    reason = str(row.get("reason") or "")
    cast = row.get("cast")
    if isinstance(cast, Mapping) and isinstance(cast.get("counts"), list):
        return [_cast_bar(scope, attribute, verdict, item, _int(cast.get("plate_count")) or 0, reason)
                for item in cast["counts"] if isinstance(item, Mapping)]
    categories = row.get("categories")
    if isinstance(categories, Mapping):
        categories = [dict(v, category=v.get("category", k)) for k, v in categories.items()
                      if isinstance(v, Mapping)]
    if not categories:
        categories = [row]
    bars = []
    for item in categories:
        if not isinstance(item, Mapping):
            continue
        target = _float(item.get("target"))
        # the attribute's verdict (it also weighs undetermined shares and minimum samples) over the category's
        own = verdict_name(item) if item is not row else "UNKNOWN"
        bars.append(CategoryBar(
            scope=scope, attribute=attribute, category=str(item.get("category", "")),
            verdict=verdict if verdict != "UNKNOWN" else own,
            observed=_float(_first(item, ("share", "observed", "proportion", "estimate"))),
            ci=_pair(item, ("ci", "interval"), ("low", "high"), ("ci_low", "ci_high"), ("lower", "upper")),
            band=_band(item, target), target=target,
            n=determined if determined is not None else _int(item.get("n")),
            undetermined=undetermined, needed=needed, reason=reason))
    return bars


def _cast_bar(scope: str, attribute: str, verdict: str, item: Mapping[str, Any], plates: int,
              reason: str) -> CategoryBar:
    """A cast question's category: counts drawn as shares of the cast, the band in counts."""
    number = {key: _int(item.get(key)) or 0 for key in ("labelled", "certain", "low", "high", "band_low", "band_high")}
    counts = CastCounts(labelled=number["labelled"], certain=number["certain"], low=number["low"],
                        high=number["high"], band_low=number["band_low"], band_high=number["band_high"],
                        plates=plates)
    share = (lambda count: count / plates) if plates else (lambda count: 0.0)
    band = (share(counts.band_low), share(counts.band_high)) if counts.band_low <= counts.band_high else None
    own = verdict_name(item)
    return CategoryBar(scope=scope, attribute=attribute, category=str(item.get("category", "")),
                       verdict=verdict if verdict != "UNKNOWN" else own, observed=share(counts.labelled),
                       ci=(share(counts.low), share(counts.high)), band=band, target=_float(item.get("target")),
                       n=plates, reason=reason, counts=counts)


_OTHER_ATTRIBUTES = ("fitzpatrick", "monk")


def _scope_name(row: Mapping[str, Any]) -> str:
    kind = str(row.get("kind") or "")
    scope = row.get("scope")
    role = row.get("role")
    if kind == "pooled" or scope == "pooled" or (scope is None and role in (None, "")):
        return POOLED
    return str(role if role not in (None, "") else scope)


def _band(item: Mapping[str, Any], target: Optional[float]) -> Optional[Tuple[float, float]]:
    band = _pair(item, ("band", "target_band"), ("band_low", "band_high"))
    if band is None and target is not None and _float(item.get("tolerance")) is not None:
        tolerance = float(item["tolerance"])
        band = (max(0.0, target - tolerance), min(1.0, target + tolerance))
    return band


def _pair(item: Mapping[str, Any], list_keys: Sequence[str],
          *key_pairs: Tuple[str, str]) -> Optional[Tuple[float, float]]:
    value = _first(item, list_keys)
    if isinstance(value, Mapping):
        value = [_first(value, ("low", "lower")), _first(value, ("high", "upper"))]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = _float(value[0]), _float(value[1])
        if low is not None and high is not None:
            return (low, high)
    for low_key, high_key in key_pairs:
        low, high = _float(item.get(low_key)), _float(item.get(high_key))
        if low is not None and high is not None:
            return (low, high)
    return None


def _problem_text(problem: Any) -> str:
    if isinstance(problem, Mapping):
        text = str(problem.get("message", "")).strip()
        if problem.get("fix"):
            text = "{}. {}".format(text.rstrip("."), str(problem["fix"]).strip())
        return text
    return str(problem)


def _first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None


def _float(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> Optional[int]:
    number = _float(value)
    return None if number is None else int(number)


# -- filtering ------------------------------------------------------------------------------------
def label_filters(plates: Sequence[PlateView]) -> List[Tuple[str, str]]:
    """``(attribute, value)`` filters that match at least one plate, reviewable attributes first."""
    seen = []  # type: List[Tuple[str, str]]
    for attribute, values in REVIEWABLE.items():
        for value in values + (UNDETERMINED,):
            if any(p.label(attribute) == value for p in plates):
                seen.append((attribute, value))
    return seen


def filter_plates(plates: Sequence[PlateView], role: Optional[str] = None,
                  label: Optional[Tuple[str, str]] = None, kept_only: bool = True) -> List[PlateView]:
    """Plates of ``role`` (None: all) whose effective label matches ``label`` (None: any)."""
    out = []
    for plate in plates:
        if kept_only and not plate.kept:
            continue
        if role and plate.role != role:
            continue
        if label and plate.label(label[0]) != label[1]:
            continue
        out.append(plate)
    return out


def bar_rows(verdict: Verdict) -> List[CategoryBar]:
    """The bars worth drawing: for two-category attributes only the first category (the other is 1 - it)."""
    firsts = {(b.scope, b.attribute) for b in verdict.bars
              if b.attribute in REVIEWABLE and b.category == REVIEWABLE[b.attribute][0]}
    out = []
    for bar in verdict.bars:
        categories = REVIEWABLE.get(bar.attribute)
        if categories and bar.category != categories[0] and (bar.scope, bar.attribute) in firsts:
            continue
        out.append(bar)
    return out
