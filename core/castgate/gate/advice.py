"""Advice: a problem with a fix for every judged attribute that did not PASS."""

from __future__ import annotations

from typing import Sequence

from castgate.checks import UNAUDITABLE, Problem
from castgate.gate.results import ScopeResult
from castgate.stats import FAIL, INSUFFICIENT, PASS


def quota_problems(scopes: Sequence[ScopeResult]) -> list[Problem]:
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

