"""``castgate run REQUEST -o BATCH``: generate → audit → gate → report in one command."""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import error_table_option, model_option, ocio_option, question_option, quota_option
from castgate_cli.output import emit, json_option, progress
from castgate_cli.stdin import load_request_arg


@click.command()
@click.argument("request_file", metavar="REQUEST", type=click.Path(path_type=Path))
@click.option("-o", "--output", "batch_dir", required=True, type=click.Path(path_type=Path),
              help="Batch folder to write (rerun with the same folder to resume).")
@quota_option
@question_option
@error_table_option
@model_option
@ocio_option
@json_option
@click.pass_context
def run(ctx: click.Context, request_file: Path, batch_dir: Path, quota: str | None, question: str | None,
        error_table: Path | None, models_root: Path | None, ocio_config: str | None, as_json: bool) -> None:
    """Generate the plates REQUEST asks for, audit them, gate them and write BATCH/report/
    (REQUEST - reads it from standard input).

    Every stage resumes: rerunning the command redoes only what is missing or changed. The exit code
    is the gate's (the cast question unless --question or the quota says otherwise): 0 PASS, 1 blocked
    (FAIL, UNAUDITABLE, TAMPERED), 3 UNDECIDED or INSUFFICIENT, 2 input error.
    """
    from castgate.audit.batch import audit_batch
    from castgate.gate import format_result, gate_batch
    from castgate.generation.generate import generate_batch
    from castgate.report import report_batch

    request = load_request_arg(request_file)
    with progress("generate", as_json, f"Generating {request.batch}") as on_progress:
        manifest = generate_batch(request, batch_dir, models_root=models_root, ocio_config=ocio_config,
                                  on_progress=on_progress)
    with progress("audit", as_json, "Auditing plates") as on_progress:
        audit = audit_batch(batch_dir, on_progress=on_progress)
    with progress("gate", as_json, "Checking plate files") as on_progress:
        result = gate_batch(batch_dir, quota, record=True, on_progress=on_progress, question=question,
                            error_table=error_table)
    _, paths = report_batch(batch_dir, batch_dir / "report", quota, question=question, error_table=error_table)
    emit({"batch": manifest.batch, "batch_dir": str(batch_dir), "plates": len(manifest.kept_plates),
          "audited": audit.audited_count, "verdict": result.verdict, "exit_code": result.exit_code,
          "gate": result.to_dict(), "report": {"html": str(paths["html"]), "json": str(paths["json"])}},
         f"{format_result(result)}\nReport: {paths['html']}", as_json)
    ctx.exit(result.exit_code)
