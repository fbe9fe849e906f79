"""``castgate merge BATCH``: join the parts that ``generate --shard i/n`` processes wrote."""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import model_option
from castgate_cli.output import emit, json_option


@click.command()
@click.argument("batch_dir", metavar="BATCH", type=click.Path(path_type=Path))
@model_option
@json_option
def merge(batch_dir: Path, models_root: Path | None, as_json: bool) -> None:
    """Join shard parts into BATCH/manifest.json (idempotent), then select and write contact sheets."""
    from castgate.generation.generate import merge_batch

    manifest = merge_batch(batch_dir, models_root)
    emit({"batch": manifest.batch, "plates": len(manifest.plates), "kept": len(manifest.kept_plates)},
         f"{manifest.batch}: merged, {len(manifest.kept_plates)} kept plate(s)", as_json)
