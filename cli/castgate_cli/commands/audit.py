"""``castgate audit``: label every plate of a batch (or one image) for gender presentation and skin tone;
``castgate audit validate``: measure the auditor on a labelled set and write its error table.

Exit codes: 0 audited (plates that could not be read carry an error and undetermined labels; the gate
blocks on them), 2 usage or input error (not a batch, bad settings, a bad labelled set).

Example:
    $ castgate audit batches/office_a --json
    $ castgate audit batches/office_a --force --gender-threshold 0.8
    $ castgate audit some_photo.png            # one image, nothing written
    $ castgate audit validate --write-table labeller-error.json
"""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import (detector_option, gender_group_threshold_option, gender_threshold_option,
                                  min_face_option, skin_threshold_option)
from castgate_cli.output import emit, json_option, progress

ATTRIBUTE_ORDER = ("gender", "skin_group", "fitzpatrick", "monk")


class AuditGroup(click.Group):
    """``castgate audit BATCH`` (the default subcommand, ``batch``) or ``castgate audit validate``."""

    default_command = "batch"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The group's help also lists the options of ``castgate audit BATCH``."""
        super().format_options(ctx, formatter)
        command = self.commands[self.default_command]
        rows = [row for row in (p.get_help_record(ctx) for p in command.get_params(ctx)) if row]
        with formatter.section("Options of castgate audit BATCH"):
            formatter.write_dl(rows)


@click.group(cls=AuditGroup)
def audit() -> None:
    """Label plates for perceived gender presentation and skin tone, or measure how often that is wrong.

    \b
    castgate audit BATCH [OPTIONS]      label a batch's plates (same as `castgate audit batch BATCH`)
    castgate audit IMAGE [OPTIONS]      print one image's labels, write nothing
    castgate audit validate [OPTIONS]   run the auditor over a labelled set: per-Monk-band figures and
                                        the error table the cast gate uses
    """


@audit.command("batch")
@click.argument("target", metavar="BATCH", type=click.Path(path_type=Path, exists=True))
@click.option("--force", is_flag=True, help="Audit every plate again, even those already audited from the "
                                            "same PNG with the same settings.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Processes to audit with [default: every core].")
@gender_threshold_option
@gender_group_threshold_option
@skin_threshold_option
@click.option("--fitzpatrick-table", type=click.Choice(["kinyanjui2019", "chardon1991"]),
              help="ITA -> Fitzpatrick table [default kinyanjui2019, or as last audited]; see docs/audit.md.")
@min_face_option
@detector_option
@click.option("--gender-calibration", type=click.Path(path_type=Path, dir_okay=False), metavar="JSON",
              help="Gender calibration from `castgate audit validate --write-calibration` on your labelled plates: "
                   "records each plate's calibrated probability that its gender label is right.")
@click.option("--flip/--no-flip", "flip", default=None,
              help="Average the gender classifier over the image and its mirror image (about 15 % slower) "
                   "[default: off, or as last audited].")
@json_option
def audit_batch_command(target: Path, force: bool, workers: int | None, gender_threshold: float | None,
          skin_group_threshold: float | None, fitzpatrick_table: str | None, min_face_px: int | None,
          flip: bool | None, detector: str | None, gender_calibration: Path | None,
          gender_threshold_lighter: float | None, gender_threshold_darker: float | None, as_json: bool) -> None:
    """Label the plates of BATCH: perceived gender presentation and skin tone (ITA, Fitzpatrick, Monk).

    Only plates whose PNG changed since their last audit (or that were audited with other settings)
    are audited, unless --force. Plates with no readable face (none, several, too small or smeared)
    are labelled undetermined with the reason, never forced into a class. Given an image file instead
    of a batch folder, prints that image's labels and writes nothing.
    """
    from castgate.audit.batch import audit_batch, stored_settings
    from castgate.audit.settings import AuditSettings
    from castgate.batch.manifest import read_manifest

    changes = {"gender_threshold": gender_threshold, "skin_group_threshold": skin_group_threshold,
               "fitzpatrick_table": fitzpatrick_table, "min_face_px": min_face_px,
               "gender_flip_average": flip, "detector": detector,
               "gender_calibration": None if gender_calibration is None else str(gender_calibration.resolve()),
               "gender_threshold_lighter": gender_threshold_lighter, "gender_threshold_darker": gender_threshold_darker}
    if target.is_file():
        _audit_one(target, AuditSettings().replace(**changes), as_json)
        return
    settings = stored_settings(read_manifest(target)).replace(**changes)
    with progress("audit", as_json, "Auditing plates") as on_progress:
        summary = audit_batch(target, force=force, workers=workers, on_progress=on_progress, settings=settings)
    emit(summary.to_dict(), _summary_text(summary), as_json)


def _summary_text(summary) -> str:
    lines = [f"{summary.batch}: audited {summary.audited_count} plate(s), {summary.skipped_count} already "
             f"up to date ({summary.workers} worker(s), {summary.seconds:.1f} s)"]
    if summary.audited_count:
        undetermined = ", ".join(f"{a} {summary.undetermined.get(a, 0)}" for a in ATTRIBUTE_ORDER)
        lines.append(f"  undetermined among them: {undetermined}")
    for plate_id, error in summary.errors.items():
        lines.append(f"  error {plate_id}: {error}")
    for plate_id, error in summary.failed.items():
        lines.append(f"  not audited {plate_id}: {error}")
    return "\n".join(lines)


def _audit_one(path: Path, settings, as_json: bool) -> None:
    from castgate.audit.image import audit_image

    result = audit_image(path, settings)
    data = {"image": str(path), "error": result.error, "face": result.face, "notes": list(result.notes),
            "labels": {a: {"value": label.value, "confidence": label.confidence, "reason": label.reason,
                           "method": label.method, "model": label.model, "version": label.version,
                           "details": dict(label.details)}
                       for a, label in result.labels.items()}}
    lines = [f"{path}:" + (f" error: {result.error}" if result.error else "")]
    for attribute in ATTRIBUTE_ORDER:
        label = result.labels[attribute]
        confidence = "" if label.confidence is None else f" ({label.confidence:.2f})"
        why = f" - {label.reason}" if label.reason else ""
        lines.append(f"  {attribute:12s} {label.value}{confidence}{why}")
    ita = result.labels["fitzpatrick"].details.get("ita")
    if ita is not None:
        lines.append(f"  ITA {ita:.1f}°, L*a*b* {result.labels['fitzpatrick'].details.get('lab')}")
    emit(data, "\n".join(lines), as_json)


from castgate_cli.commands.audit_validate import validate  # noqa: E402  (a subcommand in its own module)

audit.add_command(validate)
