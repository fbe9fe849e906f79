"""The gate's verdicts and result records: what a judged attribute, scope and batch look like.

Verdicts, worst first: TAMPERED (a plate file changed) > UNAUDITABLE (labels missing, stale or too
often undetermined) > FAIL > INSUFFICIENT (generator question: more plates needed) > UNDECIDED (cast
question: reviews needed) > PASS. Exit codes (docs/gate.md): 0 PASS, 1 blocked (FAIL, UNAUDITABLE,
TAMPERED), 3 INSUFFICIENT or UNDECIDED.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from castgate import __version__
from castgate.batch.checks import TAMPERED, UNAUDITABLE, Problem
from castgate.gate.cast import UNDECIDED, CastJudgement
from castgate.quotas import Quota
from castgate.stats import FAIL, INSUFFICIENT, PASS

VERDICTS = (PASS, UNDECIDED, INSUFFICIENT, FAIL, UNAUDITABLE, TAMPERED)  # best to worst
EXIT_CODES = {PASS: 0, UNDECIDED: 3, INSUFFICIENT: 3, FAIL: 1, UNAUDITABLE: 1, TAMPERED: 1}
CAST, GENERATOR = "cast", "generator"
QUESTION_WORDS = {CAST: "is this set of plates, the one that goes into the shot, balanced?",
                  GENERATOR: "is the model / prompt behind these plates biased?"}


def worst(verdicts: Iterable[str | None]) -> str | None:
    """The most severe of ``verdicts`` (None ignored); None when there are none."""
    ranked = [v for v in verdicts if v is not None]
    return max(ranked, key=VERDICTS.index) if ranked else None



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
    question: str = GENERATOR
    cast: CastJudgement | None = None    # the cast question's counts, bands and review list

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
    question: str = GENERATOR
    error_model: Mapping[str, Any] | None = None   # which table and reviews back the cast question
    review: tuple[str, ...] = ()                    # plate ids to review, most decisive first
    recorded: bool = False                          # the verdict was written into the batch's manifest
    unrecorded: str | None = None                   # why it could not be, when recording was asked for

    def scope(self, name: str) -> ScopeResult:
        for item in self.scopes:
            if item.scope == name:
                return item
        raise KeyError(name)

    @property
    def summary(self) -> str:
        """One sentence: the verdict and its main reason."""
        from castgate.gate.text import summarise  # the words live with the text

        return summarise(self)

    def to_dict(self, max_plate_ids: int | None = None) -> dict[str, Any]:
        """Plain data for ``--json`` and the report's JSON twin."""
        return {
            "verdict": self.verdict, "exit_code": self.exit_code, "summary": self.summary,
            "source": dict(self.source), "quota": self.quota.to_dict(), "time": self.time,
            "castgate_version": self.castgate_version,
            "question": self.question, "question_words": QUESTION_WORDS[self.question],
            "error_model": _plain(self.error_model), "review": list(self.review),
            "recorded": self.recorded,
            "unrecorded": self.unrecorded,
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

