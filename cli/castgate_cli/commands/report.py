"""``castgate report``: write the audit report (self-contained HTML plus JSON) of a batch or a label table.

The report gates afresh (without recording a verdict) so it always shows the current state; the
command exits 0 once the report is written, whatever the verdict (``castgate gate`` is the check).

Example:
    $ castgate report batches/office_a -o batches/office_a/report --quota parity
    $ castgate report --labels labels.csv -o study-report
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
              help="Report on a label table made elsewhere instead of a batch; - reads it from standard input.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Folder for report.html and report.json (created if missing).")
@quota_option
@question_option
@error_table_option
@group_by_option
@json_option
def report(batch: Path | None, labels_csv: Path | None, out_dir: Path, quota: str | None, question: str | None,
           error_table: Path | None, group_by: tuple[str, ...], as_json: bool) -> None:
    """Write OUTPUT/report.html and OUTPUT/report.json for BATCH (or --labels CSV).

    The HTML needs nothing else: charts are inline SVG and thumbnails are embedded. Exits 0 when the
    report is written, 2 on a usage or input error.
    """
    from castgate.report import report_batch, report_label_table

    if (batch is None) == (labels_csv is None):
        raise click.UsageError("give either a BATCH folder or --labels CSV (exactly one)")
    if batch is None:
        assert labels_csv is not None
        if error_table is not None:
            raise click.UsageError("--error-table works with a BATCH: a label table's labels are people's labels")
        result, paths = report_label_table(table_file(labels_csv), out_dir, quota, group_by=group_by or None,
                                           question=question)
    else:
        if group_by:
            raise click.UsageError("--group-by works with --labels tables; a batch pools its roles only")
        with progress("hash", as_json, "Checking plate files") as on_progress:
            result, paths = report_batch(batch, out_dir, quota, on_progress=on_progress, question=question,
                                         error_table=error_table)
    emit({"verdict": result.verdict, "exit_code": result.exit_code, "summary": result.summary,
          "html": str(paths["html"]), "json": str(paths["json"])},
         f"{result.summary}\nReport: {paths['html']}\nJSON:   {paths['json']}", as_json)
