"""Advice: a problem with a fix for every judged attribute that did not PASS.

Every fix names only commands that exist (tests/core/test_gate_advice.py checks each ``castgate X``
named here against the command line).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from castgate.batch.checks import UNAUDITABLE, Problem
from castgate.gate.cast import UNDECIDED
from castgate.gate.results import AttributeResult, ScopeResult
from castgate.stats import FAIL, INSUFFICIENT, PASS

REVIEW_IDS_IN_FIX = 8


def review_command(batch: str, plate_id: str, attribute: str, categories: Sequence[str]) -> str:
    """The exact ``castgate review`` command that settles one plate's label."""
    parts = attribute.split("×")
    sets = " ".join(f"--set {p}=<{'|'.join(_categories(p, categories, i))}>" for i, p in enumerate(parts))
    return f"castgate review {batch} --plate {plate_id} {sets} --reviewer <your name>"


def _categories(part: str, cells: Sequence[str], index: int) -> list[str]:
    return list(dict.fromkeys(c.split("·")[index] for c in cells))


def _fix(scope: ScopeResult, a: AttributeResult, source: Mapping[str, Any]) -> str:
    batch = source.get("path") or source.get("name") or "BATCH"
    if a.verdict == FAIL:
        low = sorted(a.categories, key=lambda c: c.share - c.target)[0]
        if a.cast is not None and a.cast.cannot_meet:
            sizes = ", ".join(str(s) for s in a.cast.sizes_that_can) or "none nearby"
            return (f"Change the number of plates of {scope.title} to a size that can meet the quota ({sizes}): "
                    "edit the role's count in the request and rerun castgate run")
        return (f"Check the labels by hand (castgate review), then select a cast with more {low.category} plates "
                f"for {scope.title} from the batch's candidates (castgate balance), or rework the prompt")
    if a.verdict == UNDECIDED and a.cast is not None:
        review = a.cast.review_ids
        if not review:
            return ("Replace the plates reviewers found unreadable ("
                    + ", ".join(a.cast.unreadable[:REVIEW_IDS_IN_FIX]) + ")")
        ids = ", ".join(review[:REVIEW_IDS_IN_FIX]) + (", …" if len(review) > REVIEW_IDS_IN_FIX else "")
        first = (review_command(str(batch), review[0], a.attribute, [c.category for c in a.categories])
                 if source.get("kind") == "batch" else "")
        return (f"Review these plates by hand, most decisive first: {ids}"
                + (f" — e.g. {first}" if first else ""))
    if a.verdict == INSUFFICIENT:
        return (f"Generate about {a.more_plates} more plates for {scope.title} (raise the role's count in the "
                "request and rerun castgate run)" if a.more_plates is not None else
                f"The share sits on the band's edge; change the mix of {scope.title} or rework its prompt")
    return "Review the undetermined or unlabelled plates by hand (castgate review) or regenerate them"


def quota_problems(scopes: Sequence[ScopeResult], source: Mapping[str, Any] | None = None) -> list[Problem]:
    """One :class:`Problem` per judged attribute of a scope that did not PASS, with its fix."""
    problems = []
    for scope in scopes:
        for a in scope.attributes:
            if not a.gated or a.verdict == PASS:
                continue
            review_ids = a.cast.review_ids if a.cast is not None else ()
            problems.append(Problem(check=f"quota_{a.attribute}", verdict=a.verdict or UNAUDITABLE,
                                    message=f"{scope.title}: {a.attribute} {a.verdict}: {a.reason}",
                                    fix=_fix(scope, a, source or {}), scope=scope.scope,
                                    plate_ids=review_ids))
    return problems
