"""``castgate models``: inspect model folders (``verify``)."""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import rehash_option
from castgate_cli.output import EXIT_INPUT_ERROR, emit, json_option


@click.group()
def models() -> None:
    """Inspect DALL-E mini/mega, VQGAN and CLIP model folders."""


@models.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--deep", is_flag=True, help="Also read every weight and check that all values are finite.")
@rehash_option
@json_option
@click.pass_context
def verify(ctx: click.Context, folder: Path, deep: bool, rehash: bool, as_json: bool) -> None:
    """Check FOLDER as loading would: kind, config, tokenizer, weight shapes, files with SHA-256.

    Weight names, shapes and dtypes are read from the checkpoint's structure without loading the
    weights; --deep reads them all. Exits 0 when the folder is usable, 2 when a file is missing or a
    problem is found.
    """
    from castgate.engine import describe_verification, verify_model_folder

    report = verify_model_folder(folder, deep=deep, rehash=rehash)
    emit(report, describe_verification(report), as_json)
    if not report["ok"]:
        ctx.exit(EXIT_INPUT_ERROR)
