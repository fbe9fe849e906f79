"""``castgate models``: inspect model folders (``verify``) and prepare their weights for fast loads (``prepare``)."""

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
    from castgate.weights.verify import describe_verification, verify_model_folder

    report = verify_model_folder(folder, deep=deep, rehash=rehash)
    emit(report, describe_verification(report), as_json)
    if not report["ok"]:
        ctx.exit(EXIT_INPUT_ERROR)


@models.command()
@click.argument("folders", metavar="FOLDER...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True,
              help="The dtype you generate with (the request's [sampling].dtype); a VQGAN is always float32.")
@rehash_option
@json_option
def prepare(folders: tuple[Path, ...], dtype: str, rehash: bool, as_json: bool) -> None:
    """Convert each DalleBart/VQGAN FOLDER's weights once into the prepared-weights cache.

    Later loads in that dtype map the prepared file instead of reading and converting the msgpack.
    The cache is $CASTGATE_CACHE/prepared (default ~/.cache/castgate/prepared); an entry is used only
    while its checkpoint, config, dtype and SHA-256 all match.
    """
    from castgate.weights.prepared_weights import prepare_weights

    results = [prepare_weights(folder, dtype, rehash=rehash) for folder in folders]
    lines = [f"{folder}: {'already prepared' if r['reused'] else 'prepared'} ({r['kind']}, {r['dtype']}, "
             f"{r['bytes'] / 1e9:.2f} GB, {r['seconds']:.1f} s) in {r['path']}"
             + (f"\n  note: {r['note']}" if r["note"] else "") for folder, r in zip(folders, results)]
    emit({"prepared": results}, "\n".join(lines), as_json)
