"""Options several commands share, defined once so their names and help stay the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

model_option = click.option(
    "--model", "models_root", type=click.Path(path_type=Path),
    help="Folder holding the model folders (else the request's [models].root, $CASTGATE_MODELS, "
         "or ~/.cache/castgate/models).")
ocio_option = click.option(
    "--ocio-config", help="OCIO config path or ocio:// URI (else $OCIO, else the built-in ACES studio config).")
quota_option = click.option(
    "--quota", "quota", metavar="NAME_OR_PATH",
    help="Quota preset name or quota .toml file [default: the request's quota, else parity].")
group_by_option = click.option(
    "--group-by", "group_by", multiple=True, metavar="COLUMN",
    help="Label tables: pool roles by this per-role column (repeatable) "
         "[default: every per-role column except prompt].")
gender_threshold_option = click.option(
    "--gender-threshold", type=click.FloatRange(0, 1), metavar="P",
    help="Gender confidence below which the label is undetermined (1: always) [default 1: the classifier is measured unreliable, docs/audit.md; or as last audited].")
skin_threshold_option = click.option(
    "--skin-threshold", "skin_group_threshold", type=click.FloatRange(0, 1), metavar="P",
    help="skin_group confidence below which it is undetermined [default 0.60, or as last audited].")
min_face_option = click.option(
    "--min-face", "min_face_px", type=click.IntRange(min=8), metavar="PX",
    help="Faces narrower than this are too small to read [default 20].")
question_option = click.option(
    "--question", type=click.Choice(["cast", "generator"]), default=None,
    help="cast: is this set of plates balanced (the kept plates are the population; default for a batch). "
         "generator: is the model behind them biased (sampling intervals; default for --labels tables). "
         "[default: the quota's question, else by source].")
error_table_option = click.option(
    "--error-table", "error_table", type=click.Path(path_type=Path), metavar="JSON",
    help="The labeller's measured error table for the cast question (castgate-labeller-error/1) "
         "[default: the table shipped with castgate, if any].")
rehash_option = click.option(
    "--rehash", is_flag=True,
    help="Hash the checkpoint files again instead of trusting the SHA-256 remembered for them.")
detector_option = click.option(
    "--detector", type=click.Choice(["blazeface", "dlib-hog"]),
    help="Face detector: blazeface (MediaPipe, default) or dlib-hog (the earlier auditor, for comparison) "
         "[default: blazeface, or as last audited].")
gender_group_threshold_options = (
    click.option("--gender-threshold-lighter", type=click.FloatRange(0, 1), metavar="P",
                 help="Gender confidence needed for faces measured lighter (1: always undetermined) "
                      "[default: --gender-threshold]."),
    click.option("--gender-threshold-darker", type=click.FloatRange(0, 1), metavar="P",
                 help="The same for faces measured darker [default: --gender-threshold]."),
)


def gender_group_threshold_option(func):
    """Add ``--gender-threshold-lighter`` and ``--gender-threshold-darker``."""
    for option in reversed(gender_group_threshold_options):
        func = option(func)
    return func
