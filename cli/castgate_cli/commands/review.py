"""``castgate review``: set human labels on a plate, or import them from a CSV table.

The Nuke panel calls exactly this syntax; keep it stable:

    $ castgate review BATCH --plate ID --set gender=female [--set skin_group=darker ...] --reviewer NAME \\
          [--note TEXT] [--json]
    $ castgate review BATCH --import labels.csv --reviewer NAME [--json]

Human labels override automatic ones. After every review the agreement between human and automatic
labels (confusion matrix, observed agreement, Cohen's kappa) is recomputed into the manifest and printed.
Exit codes: 0 written, 2 usage or input error (nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import click

from castgate_cli.output import emit, json_option
from castgate_cli.stdin import table_file


@click.command()
@click.argument("batch_dir", metavar="BATCH", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--plate", "plate_id", metavar="ID", help="The plate to label.")
@click.option("--set", "assignments", multiple=True, metavar="ATTRIBUTE=VALUE",
              help="A label to set (repeatable): gender=female|male, skin_group=lighter|darker, "
                   "fitzpatrick=I..VI, monk=1..10, or ATTRIBUTE=undetermined.")
@click.option("--import", "csv_path", type=click.Path(path_type=Path, dir_okay=False), metavar="CSV",
              help="Import labels from a table: plate_id plus attribute columns (optional note column); "
                   "- reads it from standard input.")
@click.option("--reviewer", required=True, metavar="NAME", help="Who takes responsibility for the labels.")
@click.option("--note", metavar="TEXT", help="A note kept with the labels (with --plate).")
@json_option
def review(batch_dir: Path, plate_id: str | None, assignments: tuple[str, ...], csv_path: Path | None,
           reviewer: str, note: str | None, as_json: bool) -> None:
    """Set human labels on plates of BATCH; they override the automatic labels.

    Either --plate ID with one or more --set ATTRIBUTE=VALUE, or --import CSV. A Fitzpatrick type
    without a skin group also sets the group it implies (I-III lighter, IV-VI darker).
    """
    from castgate.review import import_labels, parse_assignments, review_plate

    if (plate_id is None) == (csv_path is None):
        raise click.UsageError("give either --plate ID with --set ATTRIBUTE=VALUE, or --import CSV (exactly one)")
    if csv_path is not None:
        if assignments or note:
            raise click.UsageError("--set and --note go with --plate; a CSV carries its own values and notes")
        result = import_labels(batch_dir, table_file(csv_path), reviewer=reviewer)
    else:
        if not assignments:
            raise click.UsageError("--plate needs at least one --set ATTRIBUTE=VALUE")
        assert plate_id is not None
        result = review_plate(batch_dir, plate_id, parse_assignments(assignments), reviewer=reviewer,
                              note=note)
    emit(result.to_dict(), _text(result), as_json)


def _text(result) -> str:
    derived = f" ({result.derived} skin group(s) derived from Fitzpatrick)" if result.derived else ""
    lines = [f"{result.batch}: {result.labels_set} label(s) set on {len(result.plates)} plate(s){derived}"]
    if result.rows_without_labels:
        lines.append(f"  {result.rows_without_labels} row(s) without labels skipped")
    lines.extend(agreement_lines(result.agreement))
    return "\n".join(lines)


def agreement_lines(agreement: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per attribute: n, observed agreement and kappa."""
    lines = []
    for attribute, stats in agreement.items():
        kappa = "n/a" if stats.get("kappa") is None else f"{stats['kappa']:.2f}"
        lines.append(f"  agreement {attribute}: {stats['observed']:.0%} of {stats['n']} plate(s), "
                     f"Cohen's kappa {kappa}")
    return lines
