"""Validate the auditor on labelled images: how often it reads a face, abstains and is wrong, per Monk band.

:func:`validate` audits every case of a labelled set (:mod:`castgate.audit.validation_set`) with the
auditor as configured, compares each automatic label with the truth and returns a
:class:`ValidationReport`: per Monk band (1-3, 4-5, 6-7, 8-10) the faces read, gender abstentions and wrong
labels among the answered ones, Monk within one step, and lighter/darker accuracy; per skin group the
confusion counts that make the *error table* (``castgate-labeller-error/1``, docs/audit.md and the cast
gate's reading of it); and per photo series whether the measured ITA falls monotonically from Monk 1 to 10.

Example:
    >>> report = validate(default_cases(), AuditSettings(), made_by="castgate audit validate")
    >>> report.bands["8-10"]["faces_read"], report.bands["8-10"]["cases"]
    (60, 60)
    >>> write_error_table(Path("labeller-error.json"), report.error_table)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from castgate import __version__
from castgate.audit.settings import AuditSettings
from castgate.audit.validation_set import Case
from castgate.batch.manifest import UNDETERMINED, utc_now

TABLE_FORMAT = "castgate-labeller-error/1"
BANDS: dict[str, tuple[int, int]] = {"1-3": (1, 3), "4-5": (4, 5), "6-7": (6, 7), "8-10": (8, 10)}
GROUPS = ("lighter", "darker")
TABLE_ATTRIBUTES = ("gender", "skin_group")
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Outcome:
    """What the auditor said about one case."""

    case_id: str
    truth: Mapping[str, str]
    monk: int | None
    group: str | None
    face_read: bool
    labels: Mapping[str, str]                  # attribute -> automatic value (or "undetermined")
    p_female: float | None = None
    ita: float | None = None
    code: str | None = None                    # why there is no face / why gender abstained
    series: str | None = None                  # photo/method/framing (default set), for the ITA check
    framing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.case_id, "truth": dict(self.truth), "face_read": self.face_read,
                "labels": dict(self.labels), "p_female": self.p_female, "ita": self.ita, "code": self.code}


@dataclass(frozen=True)
class ValidationReport:
    """The figures of one validation run (see :func:`validate`)."""

    cases: int
    bands: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    gender_thresholds: dict[str, Any]
    gender_calibration: dict[str, Any]
    framings: dict[str, dict[str, dict[str, int]]]
    tones: dict[str, Any]
    ita_series: dict[str, Any]
    error_table: dict[str, Any]
    seconds: float
    outcomes: tuple[Outcome, ...] = field(default=(), repr=False)

    def to_dict(self, with_cases: bool = False) -> dict[str, Any]:
        out = {"cases": self.cases, "bands": self.bands, "groups": self.groups,
               "gender_thresholds": self.gender_thresholds, "gender_calibration": self.gender_calibration,
               "framings": self.framings, "tones": self.tones,
               "ita_series": self.ita_series, "error_table": self.error_table,
               "seconds": round(self.seconds, 2)}
        if with_cases:
            out["case_results"] = [o.to_dict() for o in self.outcomes]
        return out


def band_of(monk: int | None) -> str | None:
    """The Monk band name of a tone, or None."""
    if monk is None:
        return None
    return next(name for name, (low, high) in BANDS.items() if low <= monk <= high)


def audit_case(case: Case, image: Any, settings: AuditSettings, models: Any = None) -> Outcome:
    """Audit one case's image and keep what validation needs."""
    from castgate.audit.image import audit_image

    result = audit_image(image, settings, models=models, name=case.id, classify_gender=True)
    labels = {attribute: label.value for attribute, label in result.labels.items()}
    gender = result.labels["gender"]
    p_female = gender.details.get("p_female")
    ita = result.labels["fitzpatrick"].details.get("ita") if labels["fitzpatrick"] != UNDETERMINED else None
    series = f"{case.photo}/{case.method}/{case.framing}" if case.photo else None
    return Outcome(case_id=case.id, truth=dict(case.truth), monk=case.monk, group=case.skin_group,
                   face_read=result.face is not None, labels=labels,
                   p_female=None if p_female is None else float(p_female), ita=ita,
                   code=gender.details.get("code") if gender.is_undetermined else None, series=series,
                   framing=case.framing)


def run_cases(cases: Sequence[Case], settings: AuditSettings, on_progress: ProgressCallback | None = None,
              models: Any = None) -> list[Outcome]:
    """Audit every case in this process (the models load once)."""
    outcomes = []
    for done, case in enumerate(cases, start=1):
        outcomes.append(audit_case(case, case.make(), settings, models))
        if on_progress:
            on_progress(done, len(cases))
    return outcomes


def validate(cases: Sequence[Case], settings: AuditSettings | None = None, *, made_by: str, set_description: str,
             on_progress: ProgressCallback | None = None, models: Any = None) -> ValidationReport:
    """Audit a labelled set and measure the auditor on it.

    Args:
        cases: the labelled set (:func:`~castgate.audit.validation_set.default_cases` or
            :func:`~castgate.audit.validation_set.studio_cases`).
        settings: the auditor's settings (default :class:`AuditSettings`).
        made_by: the command line that made it (recorded in the error table).
        set_description: the set in words (recorded in the error table).
        on_progress: ``on_progress(done, total)`` after each case.
    Returns:
        A :class:`ValidationReport` whose ``error_table`` is ready for :func:`write_error_table`.
    """
    from castgate.audit.image import methods

    settings = settings or AuditSettings()
    started = time.monotonic()
    outcomes = run_cases(cases, settings, on_progress, models)
    bands = band_figures(outcomes)
    table = error_table(outcomes, methods(settings), made_by=made_by, set_description=set_description,
                        bands=bands)
    return ValidationReport(cases=len(outcomes), bands=bands, groups=group_figures(outcomes),
                            gender_thresholds=recommend_gender_thresholds(outcomes),
                            gender_calibration=gender_calibration(outcomes, settings.detector, made_by=made_by,
                                                                  source=set_description).to_dict(),
                            framings=framing_figures(outcomes), tones=tone_figures(outcomes),
                            ita_series=ita_monotone(outcomes),
                            error_table=table, seconds=time.monotonic() - started, outcomes=tuple(outcomes))


# -- figures ---------------------------------------------------------------------------------------
def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    cases = len(outcomes)
    read = [o for o in outcomes if o.face_read]
    with_gender = [o for o in outcomes if o.truth.get("gender") in ("female", "male")]
    answered = [o for o in with_gender if o.labels["gender"] != UNDETERMINED]
    wrong = [o for o in answered if o.labels["gender"] != o.truth["gender"]]
    monk_measured = [o for o in read if o.monk is not None and o.labels["monk"] != UNDETERMINED]
    within = [o for o in monk_measured if abs(int(o.labels["monk"]) - o.monk) <= 1]  # type: ignore[operator]
    with_group = [o for o in outcomes if o.group]
    group_answered = [o for o in with_group if o.labels["skin_group"] != UNDETERMINED]
    group_right = [o for o in group_answered if o.labels["skin_group"] == o.group]
    return {"cases": cases, "faces_read": len(read), "faces_read_rate": _rate(len(read), cases),
            "gender_cases": len(with_gender), "gender_answered": len(answered),
            "gender_abstained": len(with_gender) - len(answered),
            "gender_abstention_rate": _rate(len(with_gender) - len(answered), len(with_gender)),
            "gender_wrong": len(wrong), "gender_wrong_rate": _rate(len(wrong), len(answered)),
            "monk_measured": len(monk_measured), "monk_within_1": len(within),
            "monk_within_1_rate": _rate(len(within), len(monk_measured)),
            "monk_within_1_of_read_rate": _rate(len(within), len(read)),   # unmeasured skin counts as a miss
            "skin_group_answered": len(group_answered), "skin_group_correct": len(group_right),
            "skin_group_accuracy": _rate(len(group_right), len(group_answered))}


MAX_WRONG = 0.05
MIN_ANSWERED = 10


def recommend_gender_thresholds(outcomes: Sequence[Outcome], max_wrong: float = MAX_WRONG,
                                min_answered: int = MIN_ANSWERED) -> dict[str, Any]:
    """Per measured skin group, the lowest gender confidence threshold at which wrong labels among the
    answered ones are at most ``max_wrong`` in every Monk band, with at least ``min_answered`` answered in
    the group; 1 (always abstain) when no threshold does. Uses every read face's P(female), so the
    recommendation does not depend on the threshold the set was audited with.
    """
    out: dict[str, Any] = {"rule": f"lowest threshold with wrong <= {max_wrong:.0%} among answered in every "
                                    f"Monk band and >= {min_answered} answered; 1 = always undetermined"}
    for group in GROUPS:
        cases = [o for o in outcomes if o.p_female is not None and o.labels.get("skin_group") == group
                 and o.truth.get("gender") in ("female", "male")]
        confidences = sorted({round(max(o.p_female, 1 - o.p_female), 4) for o in cases})  # type: ignore[arg-type]
        chosen, figures = 1.0, _threshold_figures(cases, 1.0)
        for threshold in [0.5, *confidences]:
            trial = _threshold_figures(cases, threshold)
            if trial["answered"] >= min_answered and all(
                    b["wrong"] <= max_wrong * b["answered"] for b in trial["bands"].values()):
                chosen, figures = threshold, trial
                break
        out[group] = {"threshold": chosen, "faces": len(cases), **figures}
    return out


def gender_calibration(outcomes: Sequence[Outcome], detector: str, *, made_by: str = "", source: str = ""):
    """:mod:`castgate.audit.calibration` measured on these outcomes (read faces with a true gender)."""
    from castgate.audit import calibration

    faces = [(o.labels.get("skin_group"), max(o.p_female, 1 - o.p_female),
              ("female" if o.p_female >= 0.5 else "male") == o.truth["gender"])
             for o in outcomes if o.p_female is not None and o.truth.get("gender") in ("female", "male")]
    missing = _missing_truths(outcomes, "gender")
    unmeasured = (f"the set has no true {' or '.join(missing)} case(s): how often a label is right would only "
                  f"echo the set's make-up") if missing else None
    return calibration.measure(faces, detector, made_by=made_by, source=source, unmeasured=unmeasured)


def _threshold_figures(cases: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    bands: dict[str, dict[str, int]] = {}
    for o in cases:
        p = o.p_female  # type: ignore[assignment]
        confidence = max(p, 1 - p)
        band = bands.setdefault(band_of(o.monk) or "no Monk truth", {"faces": 0, "answered": 0, "wrong": 0})
        band["faces"] += 1
        if threshold < 1.0 and confidence >= threshold:
            band["answered"] += 1
            band["wrong"] += int(("female" if p >= 0.5 else "male") != o.truth["gender"])
    answered = sum(b["answered"] for b in bands.values())
    wrong = sum(b["wrong"] for b in bands.values())
    return {"answered": answered, "wrong": wrong, "bands": bands}


def band_figures(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """:func:`_figures` per Monk band (cases without a true Monk tone are in none)."""
    return {name: _figures([o for o in outcomes if band_of(o.monk) == name]) for name in BANDS}


def group_figures(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """The same figures per true skin group (lighter / darker)."""
    return {group: _figures([o for o in outcomes if o.group == group]) for group in GROUPS}


def framing_figures(outcomes: Sequence[Outcome]) -> dict[str, dict[str, dict[str, int]]]:
    """Faces read per framing and Monk band (default set): ``{framing: {band: {cases, faces_read}}}``."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for o in outcomes:
        band = band_of(o.monk)
        if o.framing is None or band is None:
            continue
        cell = out.setdefault(o.framing, {}).setdefault(band, {"cases": 0, "faces_read": 0})
        cell["cases"] += 1
        cell["faces_read"] += int(o.face_read)
    return out


LIGHTEST, DARKEST = (1, 3), (7, 10)   # the detection parity compares faces read at these Monk tones


def tone_figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Faces read per true Monk tone, overall and at the smallest framing of the set, and the detection
    parity: faces read at Monk 7-10 against Monk 1-3, in percentage points."""
    framings = [f for f in ("face24", "face32") if any(o.framing == f for o in outcomes)]
    smallest = framings[0] if framings else None
    tones: dict[int, dict[str, int]] = {}
    for o in outcomes:
        if o.monk is None:
            continue
        cell = tones.setdefault(o.monk, {"cases": 0, "faces_read": 0, "small_cases": 0, "small_read": 0})
        cell["cases"] += 1
        cell["faces_read"] += int(o.face_read)
        if smallest and o.framing == smallest:
            cell["small_cases"] += 1
            cell["small_read"] += int(o.face_read)

    def rate(low: int, high: int) -> float | None:
        cells = [c for tone, c in tones.items() if low <= tone <= high]
        return _rate(sum(c["faces_read"] for c in cells), sum(c["cases"] for c in cells))

    lightest, darkest = rate(*LIGHTEST), rate(*DARKEST)
    small = [(c["small_read"] / c["small_cases"], tone) for tone, c in tones.items() if c["small_cases"]]
    return {"tones": {str(k): tones[k] for k in sorted(tones)}, "smallest_framing": smallest,
            "read_rate_monk_1_3": lightest, "read_rate_monk_7_10": darkest,
            "parity_gap_points": None if lightest is None or darkest is None
            else round(100 * (lightest - darkest), 1),
            "smallest_read_rate_lowest": round(min(small)[0], 4) if small else None,
            "smallest_read_rate_lowest_tone": min(small)[1] if small else None}


def ita_monotone(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Does the measured ITA fall strictly from lighter to darker Monk tones (over the tones whose skin
    was measured)? Per photo series (photo/method/framing), and per photo with the median ITA of its
    series at each tone."""
    series: dict[str, list[tuple[int, float]]] = {}
    for o in outcomes:
        if o.series and o.monk is not None and o.ita is not None:
            series.setdefault(o.series, []).append((o.monk, o.ita))
    by_photo: dict[str, dict[int, list[float]]] = {}
    for name, points in series.items():
        for monk, ita in points:
            by_photo.setdefault(name.split("/")[0], {}).setdefault(monk, []).append(ita)
    broken = sorted(name for name, points in series.items() if not _falls([ita for _, ita in sorted(points)]))
    photos_broken = sorted(photo for photo, tones in by_photo.items()
                           if not _falls([float(np.median(tones[monk])) for monk in sorted(tones)]))
    return {"series": len(series), "monotone": len(series) - len(broken), "not_monotone": broken,
            "photos": len(by_photo), "photos_monotone": len(by_photo) - len(photos_broken),
            "photos_not_monotone": photos_broken}


def _falls(values: Sequence[float]) -> bool:
    return all(a > b for a, b in zip(values, values[1:]))


def error_table(outcomes: Sequence[Outcome], methods: Mapping[str, str], *, made_by: str,
                set_description: str, bands: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The ``castgate-labeller-error/1`` table of these outcomes (format: docs/audit.md).

    ``confusion[group][auto][true]`` counts answered cases of true skin group ``group``; undetermined
    automatic labels are counted in ``abstained[group]``; ``cases[group]`` is every case of the group with a
    true value of the attribute. An attribute whose true categories the set does not all hold in each skin
    group (the default set has no man) is left out, with the reason under ``unmeasured``: the gate's
    estimate ``P(true | automatic)`` would only echo the set's make-up (every "male" label would read as a
    woman), so the gate treats those labels as unmeasured instead (fail closed).
    """
    attributes: dict[str, Any] = {}
    unmeasured: dict[str, str] = {}
    for attribute in TABLE_ATTRIBUTES:
        confusion: dict[str, dict[str, dict[str, int]]] = {g: {} for g in GROUPS}
        abstained = {g: 0 for g in GROUPS}
        cases = {g: 0 for g in GROUPS}
        for o in outcomes:
            true = o.group if attribute == "skin_group" else o.truth.get(attribute)
            if o.group is None or true in (None, UNDETERMINED):
                continue
            cases[o.group] += 1
            auto = o.labels[attribute]
            if auto == UNDETERMINED:
                abstained[o.group] += 1
                continue
            row = confusion[o.group].setdefault(auto, {})
            row[true] = row.get(true, 0) + 1  # type: ignore[index]
        missing = _missing_truths(outcomes, attribute)
        if missing:  # P(true | automatic) would only echo the set's one-sided make-up: leave it unmeasured
            unmeasured[attribute] = (f"the set has no true {' or '.join(missing)} case(s), so how often an "
                                     f"automatic {attribute} label is right cannot be estimated from it")
            continue
        attributes[attribute] = {"confusion": confusion, "abstained": abstained, "cases": cases}
    bands = bands if bands is not None else band_figures(outcomes)
    table = {"format": TABLE_FORMAT, "methods": {a: methods[a] for a in attributes}, "made_by": made_by,
             "set": set_description, "made": utc_now(), "castgate_version": __version__,
             "attributes": attributes, "monk_bands": {name: dict(figures) for name, figures in bands.items()}}
    if unmeasured:
        table["unmeasured"] = unmeasured
    return table


def _missing_truths(outcomes: Sequence[Outcome], attribute: str) -> list[str]:
    """Categories of ``attribute`` that no case of some skin group truly has (e.g. no man in the set)."""
    categories = GROUPS if attribute == "skin_group" else ("female", "male")
    missing = []
    for category in categories:
        for group in GROUPS:
            true = [o for o in outcomes if o.group == group
                    and (o.group if attribute == "skin_group" else o.truth.get(attribute)) == category]
            if not true and (attribute != "skin_group" or category == group):
                missing.append(category if attribute == "skin_group" else f"{category} ({group})")
    return missing


def write_error_table(path: Path, table: Mapping[str, Any]) -> None:
    """Write the table (or a gender calibration) as JSON, atomically."""
    from castgate.batch.fileio import atomic_write_text

    atomic_write_text(Path(path), json.dumps(table, indent=2, sort_keys=True) + "\n")
