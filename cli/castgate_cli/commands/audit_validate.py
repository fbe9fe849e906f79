"""``castgate audit validate``: run the auditor over a labelled set; per-Monk-band figures and the error table.

Example:
    $ castgate audit validate --write-table labeller-error.json
    $ castgate audit validate --images plates/ --labels truth.csv --write-table studio-error.json --json
    $ castgate audit validate --photo astronaut --framing plate --tone 1 --tone 10
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from castgate_cli.options import detector_option, gender_group_threshold_option, gender_threshold_option, \
    min_face_option, skin_threshold_option
from castgate_cli.output import emit, json_option, progress

from castgate.audit.retone import METHODS as _METHODS
from castgate.audit.validation_set import FRAMINGS as _FRAMINGS, PHOTOS

_PHOTOS = tuple(PHOTOS)


@click.command()
@click.option("--images", "images", type=click.Path(path_type=Path, file_okay=False), metavar="FOLDER",
              help="A studio's own labelled images (with --labels) instead of the default re-tone sweep.")
@click.option("--labels", "labels_csv", type=click.Path(path_type=Path, dir_okay=False), metavar="CSV",
              help="Their true labels: review-import CSV (plate_id = image file name without extension, "
                   "then gender, skin_group, fitzpatrick, monk).")
@click.option("--photo", "photos", multiple=True, type=click.Choice(_PHOTOS),
              help="Default sweep: only this photo (repeatable) [default: all].")
@click.option("--method", "methods", multiple=True, type=click.Choice(_METHODS),
              help="Default sweep: only this re-tone method (repeatable) [default: all].")
@click.option("--framing", "framings", multiple=True, type=click.Choice(_FRAMINGS),
              help="Default sweep: only this framing (repeatable) [default: all].")
@click.option("--tone", "tones", multiple=True, type=click.IntRange(1, 10), metavar="MONK",
              help="Default sweep: only this Monk tone (repeatable) [default: 1-10].")
@click.option("--write-table", "table_path", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Write the error table (castgate-labeller-error/1 JSON) here.")
@click.option("--write-calibration", "calibration_path", type=click.Path(path_type=Path, dir_okay=False),
              metavar="PATH", help="Write the gender calibration (castgate-gender-calibration/1 JSON) here.")
@click.option("--cases", "with_cases", is_flag=True, help="With --json: include every case's result.")
@gender_threshold_option
@gender_group_threshold_option
@skin_threshold_option
@min_face_option
@detector_option
@json_option
@click.pass_context
def validate(ctx: click.Context, images: Path | None, labels_csv: Path | None, photos: tuple[str, ...],
             methods: tuple[str, ...], framings: tuple[str, ...], tones: tuple[int, ...], table_path: Path | None,
             calibration_path: Path | None, with_cases: bool, gender_threshold: float | None,
             skin_group_threshold: float | None,
             min_face_px: int | None, detector: str | None, gender_threshold_lighter: float | None,
             gender_threshold_darker: float | None, as_json: bool) -> None:
    """Measure the auditor on a labelled set, per Monk band (1-3, 4-5, 6-7, 8-10).

    Prints faces read, gender abstentions and wrong labels among the answered ones, Monk within one
    step of the faces read (a face whose skin is unmeasured counts as a miss), and lighter/darker
    accuracy; with --write-table, writes the per-skin-group error table that
    `castgate gate` reads. Default set: real photographs installed with castgate's dependencies,
    re-toned to every Monk swatch by three methods, at plate size and as 32 and 24 px faces
    (docs/audit.md).
    """
    from castgate.audit.settings import AuditSettings
    from castgate.audit.validate import validate as run_validation, write_error_table
    from castgate.audit.validation_set import default_cases, describe_default, studio_cases
    from castgate.errors import LabelsFileError

    if (images is None) != (labels_csv is None):
        raise LabelsFileError("--images and --labels go together", where="castgate audit validate",
                              fix="Give both the folder of images and its CSV of true labels, or neither")
    if images is not None and (photos or methods or framings or tones):
        raise LabelsFileError("--photo, --method, --framing and --tone select from the default sweep",
                              where="castgate audit validate", fix="Leave them out with --images")
    settings = AuditSettings().replace(gender_threshold=gender_threshold, skin_group_threshold=skin_group_threshold,
                                       min_face_px=min_face_px, detector=detector,
                                       gender_threshold_lighter=gender_threshold_lighter,
                                       gender_threshold_darker=gender_threshold_darker)
    if images is not None:
        cases = studio_cases(images, labels_csv)  # type: ignore[arg-type]
        description = f"studio set: {len(cases)} labelled images in {images} ({labels_csv})"
    else:
        cases = default_cases(photos or None, methods or None, framings or None, tones or None)
        description = describe_default(cases)
    with progress("validate", as_json, "Validating the auditor") as on_progress:
        report = run_validation(cases, settings, made_by=command_line(ctx), set_description=description,
                                on_progress=on_progress)
    if table_path is not None:
        write_error_table(table_path, report.error_table)
    if calibration_path is not None:
        write_error_table(calibration_path, report.gender_calibration)
    result = report.to_dict(with_cases)
    result["table_written"] = None if table_path is None else str(table_path)
    result["calibration_written"] = None if calibration_path is None else str(calibration_path)
    emit(result, report_text(result), as_json)


def command_line(ctx: click.Context) -> str:
    """The command as typed, up to option order (recorded as the table's ``made_by``)."""
    words = ["castgate", "audit", "validate"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in ("as_json", "with_cases"):
            continue
        value = ctx.params.get(param.name)
        if value in (None, False, ()):
            continue
        flag = param.opts[0]
        if param.is_flag:
            words.append(flag)
            continue
        for item in value if param.multiple else (value,):
            words += [flag, shlex.quote(str(item))]
    return " ".join(words)


def _percent(part: int, whole: int) -> str:
    """``198/221 (89.6 %)``: one decimal, so a rate just under a floor never prints as the floor."""
    return f"{part}/{whole} ({100 * part / whole:.1f} %)" if whole else "-"


def report_text(result: dict[str, Any]) -> str:
    """The per-band table for people."""
    lines = [f"{result['error_table']['set']}", "",
             f"{'Monk':6s} {'faces read':>18s} {'gender abstained':>18s} {'gender wrong (answered)':>24s} "
             f"{'Monk ±1 (of read)':>18s} {'lighter/darker right':>21s}"]
    for name, band in result["bands"].items():
        lines.append(f"{name:6s} {_percent(band['faces_read'], band['cases']):>18s} "
                     f"{_percent(band['gender_abstained'], band['gender_cases']):>18s} "
                     f"{_percent(band['gender_wrong'], band['gender_answered']):>24s} "
                     f"{_percent(band['monk_within_1'], band['faces_read']):>18s} "
                     f"{_percent(band['skin_group_correct'], band['skin_group_answered']):>21s}")
    lines.append("")
    for group, figures in result["groups"].items():
        lines.append(f"{group:8s} skin group right {_percent(figures['skin_group_correct'], figures['skin_group_answered'])}"
                     f", gender wrong {_percent(figures['gender_wrong'], figures['gender_answered'])}, "
                     f"gender abstained {_percent(figures['gender_abstained'], figures['gender_cases'])}")
    thresholds = result["gender_thresholds"]
    for group in ("lighter", "darker"):
        pick = thresholds[group]
        if pick["threshold"] >= 1.0:
            lines.append(f"gender, faces measured {group}: no threshold keeps wrong labels at or under 5 % in every "
                         f"Monk band ({pick['faces']} faces): abstain (--gender-threshold-{group} 1)")
        else:
            lines.append(f"gender, faces measured {group}: threshold {pick['threshold']:.2f} keeps wrong labels at or "
                         f"under 5 % in every Monk band ({pick['wrong']} wrong of {pick['answered']} answered, "
                         f"{pick['faces']} faces)")
    if result["framings"]:
        lines.append("")
        lines.append("faces read by framing: " + "; ".join(
            f"{framing} " + ", ".join(f"{band} {cell['faces_read']}/{cell['cases']}" for band, cell in bands.items())
            for framing, bands in result["framings"].items()))
    tones = result["tones"]
    if tones["tones"]:
        lines.append("faces read by Monk tone: " + ", ".join(
            f"{tone} {cell['faces_read']}/{cell['cases']}" for tone, cell in tones["tones"].items()))
        if tones["smallest_framing"]:
            lines.append(f"  of them {tones['smallest_framing']}: " + ", ".join(
                f"{tone} {cell['small_read']}/{cell['small_cases']}" for tone, cell in tones["tones"].items()))
    if tones["parity_gap_points"] is not None:
        lines.append(f"faces read at Monk 7-10: {100 * tones['read_rate_monk_7_10']:.1f} %, at Monk 1-3: "
                     f"{100 * tones['read_rate_monk_1_3']:.1f} % ({tones['parity_gap_points']:g} points apart)")
    series = result["ita_series"]
    if series["series"]:
        lines.append(f"ITA falls from Monk 1 to 10 in {series['monotone']} of {series['series']} photo series"
                     + (f" (not: {', '.join(series['not_monotone'])})" if series["not_monotone"] else "")
                     + f"; for {series['photos_monotone']} of {series['photos']} photos by the median of their series"
                     + (f" (not: {', '.join(series['photos_not_monotone'])})" if series["photos_not_monotone"] else ""))
    if result.get("table_written"):
        lines.append(f"error table written to {result['table_written']}")
    if result.get("calibration_written"):
        lines.append(f"gender calibration written to {result['calibration_written']}")
    lines.append(f"({result['cases']} cases, {result['seconds']:.1f} s)")
    return "\n".join(lines)
