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
