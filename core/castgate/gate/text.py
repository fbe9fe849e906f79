"""Text: the one-sentence summary and the lines ``castgate gate`` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from castgate.batch.checks import TAMPERED, UNAUDITABLE
from castgate.gate.results import CAST, QUESTION_WORDS, VERDICTS, GateResult

REVIEW_LINES = 12  # plates listed in the text; --json lists them all


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
    lines = [f"castgate gate: {what} against quota {result.quota.name}",
             f"Question: {result.question} — {QUESTION_WORDS[result.question]}"]
    if result.question == CAST and result.error_model is not None:
        lines.append(f"Error model: {error_model_words(result.error_model)}")
    width = max([len(s.title if s.kind != "group" else s.scope) for s in result.scopes] + [10])
    for scope in result.scopes:
        name = scope.title if scope.kind != "group" else scope.scope
        lines.append(f"  {name:<{width}}  {scope.verdict or '-':<12}  {scope.reason}")
    integrity = [p for p in result.problems if p.scope is None]
    for problem in integrity:
        lines.append(f"  {problem.verdict}: {problem.message}. Fix: {problem.fix}")
    if result.review:
        settle = [a.cast.settled_by for s in result.scopes for a in s.attributes
                  if a.cast is not None and a.gated and a.cast.review_ids]
        note = ""
        if settle and all(k is not None for k in settle):
            note = (f"; if the reviews confirm the labels, {max(k for k in settle if k is not None)} of them, "
                    "the most decisive in each scope, settle it")
        lines.append(f"Review these plates, most decisive first ({len(result.review)}{note}):")
        lines += review_lines(result)
    lines.append(f"Verdict: {result.verdict} (exit {result.exit_code}). {result.summary.split(': ', 1)[-1]}")
    if result.unrecorded:
        lines.append(f"Not recorded: {result.unrecorded}.")
    return "\n".join(lines)


def error_model_words(described: Mapping[str, Any]) -> str:
    """Which table and how many reviewed plates back the cast question's error model, in words."""
    if not described.get("table"):
        return "no error table, so every automatic label is unmeasured and could be any category"
    reviewed = ", ".join(f"{a} {n}" for a, n in described.get("reviewed_plates", {}).items())
    return (f"{described['table']} (made by: {described.get('made_by') or 'not recorded'}), "
            f"updated with the batch's reviewed plates ({reviewed})")


def review_lines(result: GateResult) -> list[str]:
    """A line per plate to review: its label, why it matters and what each answer would make the verdict."""
    details: dict[str, dict[tuple, list[str]]] = {}
    for scope in result.scopes:
        for attribute in scope.attributes:
            if attribute.cast is None or not attribute.gated:
                continue
            for item in attribute.cast.review:
                if item.outcomes and all(v == item.outcomes[next(iter(item.outcomes))] for v in item.outcomes.values()):
                    effect = f"alone it leaves this {next(iter(item.outcomes.values()))}"
                else:
                    effect = ", ".join(f"{answer} → {verdict}" for answer, verdict in item.outcomes.items())
                key = (attribute.attribute, item.why, effect)
                details.setdefault(item.plate_id, {}).setdefault(key, []).append(scope.title)
    lines = []
    for plate_id in result.review[:REVIEW_LINES]:
        parts = [f"{attribute}: {why}" + (f"; {effect}" if effect else "") + f" ({', '.join(scopes)})"
                 for (attribute, why, effect), scopes in details.get(plate_id, {}).items()]
        lines.append(f"  {plate_id}  " + " | ".join(parts[:2]))
    if len(result.review) > REVIEW_LINES:
        lines.append(f"  … and {len(result.review) - REVIEW_LINES} more (castgate gate --json lists them all)")
    return lines
