"""Text: the one-sentence summary and the lines ``castgate gate`` prints."""

from __future__ import annotations

from collections import Counter

from castgate.checks import TAMPERED, UNAUDITABLE
from castgate.gate.results import VERDICTS, GateResult


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
