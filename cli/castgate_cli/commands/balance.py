"""``castgate balance``: cast a crowd that meets the quota (docs/balance.md).

    castgate balance REQUEST -o BATCH          generate, audit and select until the cast passes
    castgate balance BATCH --cast N --no-generate   re-select N per role from the candidates there are

Exit codes: 0 a cast that meets the quota is kept · 2 usage or input error (nothing written) ·
3 short: no cast meets the quota (the short cells are named).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from castgate_cli.options import model_option, ocio_option, quota_option
from castgate_cli.output import emit, json_option, progress


@click.command()
@click.argument("target", metavar="REQUEST|BATCH", type=click.Path(path_type=Path))
@click.option("-o", "--output", "batch_dir", type=click.Path(path_type=Path),
              help="With a REQUEST: the batch folder to write (rerun with the same folder to resume).")
@click.option("--cast", "cast", type=int, metavar="N",
              help="Plates per role in the cast [default: each role's count in the request].")
@click.option("--no-generate", is_flag=True,
              help="With a BATCH: only re-select from the candidates already there; never generate.")
@click.option("--clip", "clip_folder", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="A CLIP checkpoint folder: score every candidate against its role's prompt and keep the "
                   "best-scoring cast among those that pass [default: the documented order].")
@click.option("--step", type=click.Choice(["plan", "generate", "select"]),
              help="Run one step of the loop, as the farm job's layers do (docs/farm.md): plan, generate "
                   "(with --shard) or select. Exits 0 whatever the cast; `castgate gate` judges it.")
@click.option("--shard", default="1/1", show_default=True, help="With --step generate: generate slice i of n.")
@click.option("--last", is_flag=True, help="With --step plan/select: plan no further round; finish with what there is.")
@quota_option
@model_option
@ocio_option
@json_option
@click.pass_context
def balance(ctx: click.Context, target: Path, batch_dir: Path | None, cast: int | None, no_generate: bool,
            clip_folder: Path | None, step: str | None, shard: str, last: bool, quota: str | None, models_root: Path | None,
            ocio_config: str | None, as_json: bool) -> None:
    """Cast a crowd that meets the quota: generate, audit and select (REQUEST -o BATCH, or an existing
    BATCH), or only re-select from a batch's candidates (BATCH --cast N --no-generate).

    Every candidate keeps its record: kept, not selected (and why), or rejected. Rerunning is
    idempotent, and a killed run resumes. Then `castgate gate BATCH` judges the kept plates. Exit codes:
    0 a cast that passes is kept, 3 short (cells named) or undecided (plates to review listed), 2 input
    error (nothing written).
    """
    from castgate.balance.recast import recast_batch

    if clip_folder is not None and (no_generate or step is not None):
        raise click.UsageError("--clip scores candidates as balance generates them; --no-generate and --step "
                               "select by the scores plates already carry")
    if target.is_dir():
        if batch_dir is not None:
            raise click.UsageError("-o is for a REQUEST file; a BATCH folder is balanced in place")
        if no_generate:
            result = recast_batch(target, cast, quota)
            emit(result.to_dict(), format_recast(result, target), as_json)
            ctx.exit(result.exit_code)
        from castgate.batch.manifest import read_manifest
        from castgate.generation.generate import request_of

        request, batch_dir = request_of(read_manifest(target)), target
    else:
        from castgate.request import load_request

        if no_generate:
            raise click.UsageError("--no-generate works on a BATCH folder; a REQUEST always generates")
        if batch_dir is None:
            raise click.UsageError("give the batch folder to write with -o BATCH")
        request = load_request(target)
    if step is not None:
        from castgate.balance.steps import run_step
        from castgate.generation.generate import Shard

        part = Shard.parse(shard)
        done = run_step(step, request, batch_dir, shard=(part.index, part.count), last=last,
                        models_root=models_root, ocio_config=ocio_config, quota=quota, cast=cast)
        emit(done, format_step(done), as_json)
        return
    outcome = _run_loop(request, batch_dir, cast, quota, models_root, ocio_config, as_json, clip_folder)
    emit(outcome.to_dict(), format_outcome(outcome, batch_dir, request), as_json)
    ctx.exit(outcome.exit_code)


def _run_loop(request, batch_dir: Path, cast, quota, models_root, ocio_config, as_json: bool, clip_folder=None):
    from castgate.balance.loop import balance_request

    bars: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = stack.enter_context(progress(stage, as_json, f"Balance: {stage}"))
            bars[stage](done, total)  # type: ignore[operator]

        return balance_request(request, batch_dir, models_root=models_root, ocio_config=ocio_config, quota=quota,
                               cast=cast, on_progress=on_progress, clip_folder=clip_folder)


def format_outcome(outcome, batch_dir: Path, request) -> str:
    """Text for people: the rounds, then the cast or exactly what is short and what was tried."""
    lines = [f"castgate balance: {outcome.batch}, cast {', '.join(f'{r} {n}' for r, n in outcome.sizes.items())} "
             f"against quota {outcome.quota.name}"]
    lines += [f"  {describe_round(r)}" for r in outcome.rounds]
    if outcome.status == "passed":
        lines.append(f"A cast that passes the cast question is kept ({len(outcome.selection.selected)} plates); every "
                     f"other candidate is recorded as not selected or rejected, with why. Next: castgate gate {batch_dir}")
        return "\n".join(lines)
    settings = request.balance
    if outcome.status == "review":
        lines.append(f"Undecided (exit 3): a cast that meets the quota's bands is kept, but the labeller's measured "
                     f"error leaves the cast question {outcome.verdict}.")
        if outcome.review:
            lines.append(f"Review these plates (castgate review {batch_dir} --plate ID --set ATTRIBUTE=VALUE "
                         f"--reviewer NAME), then rerun castgate balance: {', '.join(outcome.review[:10])}"
                         + (" …" if len(outcome.review) > 10 else ""))
        if outcome.short_text():
            lines.append(f"Short of a cast that passes without review: {outcome.short_text()}.")
        lines.append(f"Tried: {outcome.tried()}.")
    else:
        lines.append(f"Short (exit 3): the budget is spent and no cast meets the quota. Short cells: "
                     f"{outcome.short_text() or 'none that more plates would fix'}. Tried: {outcome.tried()}.")
    if settings is None or not settings.steering:
        lines.append("Steering is off: the request did not turn it on ([balance].steering = true with phrases).")
    return "\n".join(lines)


def format_step(done: dict) -> str:
    """One line for a farm step: what it generated, or what the loop decided."""
    if done["step"] == "generate":
        if not done["generated"] and "round" not in done:
            return "castgate balance --step generate: no round to generate"
        return (f"castgate balance --step generate: {done['generated']} candidate(s) of round {done['round']} "
                f"(shard {done['shard']})")
    if done["state"] == "round planned":
        return f"castgate balance --step {done['step']}: planned {done['planned']}"
    outcome = done["outcome"]
    short = "; ".join(f"{r}: " + ", ".join(f"{n} more {c}" for c, n in cells.items())
                      for r, cells in outcome["shortfall"].items())
    return (f"castgate balance --step {done['step']}: {done['state']}"
            + (f" (short: {short})" if short else "") + "; castgate gate judges the kept cast")


def describe_round(record) -> str:
    from castgate.balance.loop import describe_round as describe

    return describe(record)


def format_recast(result, batch_dir: Path) -> str:
    """Text for people: per role what was kept, by cell, and what to do next."""
    selection = result.selection
    lines = [f"castgate balance: {result.batch}, cast {', '.join(f'{r} {n}' for r, n in result.sizes.items())} "
             f"against quota {result.quota.name}"]
    if not selection.feasible:
        lines.append(f"No cast meets the quota with these candidates. Short: "
                     f"{result.verified.short_text() or 'no number of plates helps (see the quota)'}.")
        lines.append(f"The batch is unchanged. Generate more candidates (castgate balance {batch_dir}, without "
                     "--no-generate), or review undetermined plates (castgate review).")
        return "\n".join(lines)
    role_bands = [(b, n) for b, n in selection.band_counts if b.scope != "pooled" and not b.is_undetermined_limit]
    for role in result.sizes:
        cells = ", ".join(f"{b.cell} {n} (band {b.low}–{b.high})" for b, n in role_bands if b.scope == role)
        lines.append(f"  {role}: kept {result.sizes[role]}: {cells}")
    dropped = len(selection.reasons)
    lines.append(f"{len(selection.selected)} kept, {dropped} not selected or rejected (each with its reason in the "
                 f"manifest){'' if result.changed else '; nothing changed'}.")
    lines += verdict_lines(result.verified, batch_dir)
    return "\n".join(lines)


def verdict_lines(verified, batch_dir: Path) -> list[str]:
    """The cast question's verdict on the kept cast, and the plates to review when it is undecided."""
    if verified.passed:
        return [f"Cast question: PASS. Next: castgate gate {batch_dir}"]
    lines = [f"Cast question: {verified.verdict} ({verified.result.summary if verified.result else ''})."]
    if verified.review:
        shown = ", ".join(verified.review[:10]) + (" …" if len(verified.review) > 10 else "")
        lines.append(f"Review these plates to settle it (castgate review {batch_dir} --plate ID --set "
                     f"ATTRIBUTE=VALUE --reviewer NAME), then rerun castgate balance: {shown}")
    return lines
