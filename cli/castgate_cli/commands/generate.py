"""``castgate generate REQUEST -o BATCH``: plates from a request file (resumable, shardable)."""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import model_option, ocio_option, rehash_option
from castgate_cli.output import emit, json_option, progress
from castgate_cli.stdin import load_request_arg


@click.command()
@click.argument("request_file", metavar="REQUEST", type=click.Path(path_type=Path))
@click.option("-o", "--output", "batch_dir", required=True, type=click.Path(path_type=Path),
              help="Batch folder to write (rerun with the same folder to resume).")
@click.option("--shard", default="1/1", show_default=True,
              help="Generate only slice i of n (1-based), e.g. 2/4 on a farm; join with `castgate merge`.")
@model_option
@ocio_option
@rehash_option
@json_option
def generate(request_file: Path, batch_dir: Path, shard: str, models_root: Path | None,
             ocio_config: str | None, rehash: bool, as_json: bool) -> None:
    """Generate the plates a REQUEST file asks for into a batch folder (REQUEST - reads it from
    standard input).

    Rerunning the same command resumes: plates whose files still match their recorded SHA-256 are
    skipped, anything else is generated again. What is left is decided before the models are
    loaded, so a finished batch returns in seconds.
    """
    from castgate.generation.generate import Shard, generate_batch

    request = load_request_arg(request_file)
    shard_spec = Shard.parse(shard)
    with progress("generate", as_json, label=f"Generating {request.batch}") as on_progress:
        manifest = generate_batch(request, batch_dir, models_root=models_root, ocio_config=ocio_config,
                                  shard=shard_spec, on_progress=on_progress, rehash=rehash)
    kept = len(manifest.kept_plates)
    emit({"batch": manifest.batch, "batch_dir": str(batch_dir), "plates": len(manifest.plates), "kept": kept,
          "shard": shard, "manifest": str(batch_dir / "manifest.json") if shard_spec.is_whole else None},
         f"{manifest.batch}: {len(manifest.plates)} plate(s) in {batch_dir}"
         + ("" if shard_spec.is_whole else f" (shard {shard}; run `castgate merge {batch_dir}` when all are done)"),
         as_json)
