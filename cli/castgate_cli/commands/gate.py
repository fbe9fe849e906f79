"""``castgate gate``: judge a batch (or a label table) against a quota; the exit code is the verdict.

Exit codes (docs/gate.md): 0 PASS · 1 blocked (FAIL, UNAUDITABLE, TAMPERED) · 2 usage or input
error · 3 UNDECIDED (cast question: plates to review) or INSUFFICIENT (generator question: more plates).

Example:
    $ castgate gate batches/office_a --quota parity --json
    $ castgate gate --labels labels.csv --group-by workforce_majority
    $ castgate gate --labels cast.csv --question cast
"""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import error_table_option, group_by_option, question_option, quota_option
from castgate_cli.output import emit, json_option, progress
from castgate_cli.stdin import table_file


@click.command()
@click.argument("batch", required=False, type=click.Path(path_type=Path))
@click.option("--labels", "labels_csv", type=click.Path(path_type=Path), metavar="CSV",
              help="Gate a label table made elsewhere (role,...,gender,skin_group,count) instead of a batch; "
                   "- reads it from standard input.")
@quota_option
@question_option
@error_table_option
@group_by_option
@click.option("--no-record", is_flag=True, help="Do not write the verdict into the batch's manifest.")
@json_option
@click.pass_context
def gate(ctx: click.Context, batch: Path | None, labels_csv: Path | None, quota: str | None,
         question: str | None, error_table: Path | None, group_by: tuple[str, ...], no_record: bool,
         as_json: bool) -> None:
    """Judge BATCH (or --labels CSV) against a quota: PASS, FAIL, UNDECIDED, INSUFFICIENT, UNAUDITABLE or TAMPERED.

    Prints the question asked, a line per role, per group and pooled with the verdict and why, and,
    when the cast is UNDECIDED, the plates to review. Exits with the verdict's code: 0 PASS, 1 blocked
    (FAIL/UNAUDITABLE/TAMPERED), 3 UNDECIDED or INSUFFICIENT, 2 usage or input error.
    """
    from castgate.gate import format_result, gate_batch, gate_label_table

    if (batch is None) == (labels_csv is None):
        raise click.UsageError("give either a BATCH folder or --labels CSV (exactly one)")
    if batch is None:
        assert labels_csv is not None
        if error_table is not None:
            raise click.UsageError("--error-table works with a BATCH: a label table's labels are people's labels")
        result = gate_label_table(table_file(labels_csv), quota, group_by=group_by or None, question=question)
    else:
        if group_by:
            raise click.UsageError("--group-by works with --labels tables; a batch pools its roles only")
        with progress("hash", as_json, "Checking plate files") as on_progress:
            result = gate_batch(batch, quota, record=not no_record, on_progress=on_progress, question=question,
                                error_table=error_table)
    emit(result.to_dict(), format_result(result), as_json)
    ctx.exit(result.exit_code)
