"""``castgate balance``: cast a crowd that meets the quota (docs/balance.md).

    castgate balance REQUEST -o BATCH          generate, audit and select until the cast passes
    castgate balance BATCH --cast N --no-generate   re-select N per role from the candidates there are

Exit codes: 0 a cast that meets the quota is kept · 2 usage or input error (nothing written) ·
3 short: no cast meets the quota (the short cells are named).
"""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import model_option, ocio_option, quota_option
from castgate_cli.output import EXIT_INSUFFICIENT, emit, json_option


@click.command()
@click.argument("target", metavar="REQUEST|BATCH", type=click.Path(path_type=Path))
@click.option("-o", "--output", "batch_dir", type=click.Path(path_type=Path),
              help="With a REQUEST: the batch folder to write (rerun with the same folder to resume).")
@click.option("--cast", "cast", type=int, metavar="N",
              help="Plates per role in the cast [default: each role's count in the request].")
@click.option("--no-generate", is_flag=True,
              help="With a BATCH: only re-select from the candidates already there; never generate.")
@quota_option
@model_option
@ocio_option
@json_option
@click.pass_context
def balance(ctx: click.Context, target: Path, batch_dir: Path | None, cast: int | None, no_generate: bool,
            quota: str | None, models_root: Path | None, ocio_config: str | None, as_json: bool) -> None:
    """Select a cast that meets the quota from a batch's candidates (generating more when allowed).

    Every candidate keeps its record: kept, not selected (and why), or rejected. Rerunning is
    idempotent. Then `castgate gate BATCH` judges the kept plates.
    """
    from castgate.balance.recast import recast_batch

    if target.is_dir():
        if batch_dir is not None:
            raise click.UsageError("-o is for a REQUEST file; a BATCH folder is balanced in place")
        if not no_generate:
            raise click.UsageError("generating more candidates for an existing batch is not built yet; "
                                   "pass --no-generate to re-select from the candidates there are")
        result = recast_batch(target, cast, quota)
        emit(result.to_dict(), format_recast(result, target), as_json)
        ctx.exit(0 if result.selection.feasible else EXIT_INSUFFICIENT)
    raise click.UsageError(f"{target} is not a batch folder; balancing a REQUEST file is not built yet")


def format_recast(result, batch_dir: Path) -> str:
    """Text for people: per role what was kept, by cell, and what to do next."""
    selection = result.selection
    lines = [f"castgate balance: {result.batch}, cast {', '.join(f'{r} {n}' for r, n in result.sizes.items())} "
             f"against quota {result.quota.name}"]
    if not selection.feasible:
        lines.append(f"No cast meets the quota with these candidates. Short: {selection.short_text() or 'see above'}.")
        lines.append("The batch is unchanged. Generate more candidates (castgate balance REQUEST -o BATCH), "
                     "or review undetermined plates (castgate review).")
        return "\n".join(lines)
    role_bands = [(b, n) for b, n in selection.band_counts if b.scope != "pooled" and not b.is_undetermined_limit]
    for role in result.sizes:
        cells = ", ".join(f"{b.cell} {n} (band {b.low}–{b.high})" for b, n in role_bands if b.scope == role)
        lines.append(f"  {role}: kept {result.sizes[role]}: {cells}")
    dropped = len(selection.reasons)
    lines.append(f"{len(selection.selected)} kept, {dropped} not selected or rejected (each with its reason in the "
                 f"manifest){'' if result.changed else '; nothing changed'}.")
    lines.append(f"Next: castgate gate {batch_dir}")
    return "\n".join(lines)
