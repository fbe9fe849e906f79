"""``castgate import FOLDER -o BATCH``: plates from any generator become a castgate batch.

Example:
    $ castgate import ~/renders/sdxl_crowd -o /shows/x/batches/crowd_sdxl --role pedestrian \\
          --prompt "a pedestrian crossing a city street" --generator "SDXL 1.0"
    $ castgate import ~/renders/mixed -o /shows/x/batches/mixed --sidecar ~/renders/mixed/plates.csv
    $ castgate audit /shows/x/batches/crowd_sdxl && castgate gate /shows/x/batches/crowd_sdxl
"""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.options import ocio_option, quota_option
from castgate_cli.output import emit, json_option, progress


@click.command("import")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("-o", "--output", "batch_dir", required=True, type=click.Path(path_type=Path),
              help="Batch folder to write (new or empty).")
@click.option("--role", help="The role of every image (with --prompt).")
@click.option("--prompt", help="The prompt every image was made from (with --role).")
@click.option("--sidecar", type=click.Path(path_type=Path, dir_okay=False), metavar="CSV",
              help="Per image: file,role,prompt (optional seed,generator,model), instead of --role/--prompt.")
@click.option("--generator", metavar="NAME", help="What made the images, e.g. \"SDXL 1.0\" (recorded).")
@click.option("--name", "batch_name", metavar="NAME", help="Batch name [default: the batch folder's name].")
@click.option("--reference", is_flag=True,
              help="Leave the original files where they are and record their paths (default: copy them).")
@click.option("--exr-colourspace", metavar="NAME",
              help="Colour space of EXR inputs that do not say [default: their header's, else ACEScg].")
@ocio_option
@quota_option
@json_option
def import_command(folder: Path, batch_dir: Path, role: str | None, prompt: str | None, sidecar: Path | None,
                   generator: str | None, batch_name: str | None, reference: bool, exr_colourspace: str | None,
                   ocio_config: str | None, quota: str | None, as_json: bool) -> None:
    """Import the PNG, JPEG and EXR images of FOLDER, made by any generator, as a castgate batch.

    Each image becomes a plate like castgate's own (an ACEScg EXR and an sRGB PNG proxy, hashed), so
    audit, review, gate, balance --no-generate, report and the Nuke panel use it. The manifest records
    that castgate did not make the plates, and where they came from.
    """
    from castgate.batch.ingest import find_images, import_folder, sources_for_role, sources_from_sidecar

    if sidecar is not None and (role or prompt):
        raise click.UsageError("give either --sidecar or --role with --prompt, not both")
    if sidecar is None and not (role and prompt):
        raise click.UsageError("give --role and --prompt (one role for every image), or --sidecar CSV")
    images = find_images(folder)
    sources = (sources_from_sidecar(images, sidecar, generator) if sidecar is not None
               else sources_for_role(images, str(role), str(prompt), generator))
    with progress("import", as_json, "Importing plates") as on_progress:
        manifest = import_folder(folder, batch_dir, sources, batch_name=batch_name, reference=reference,
                                 ocio_config=ocio_config, exr_colourspace=exr_colourspace, quota=quota,
                                 sidecar=sidecar, on_progress=on_progress)
    roles = {r["id"]: r["count"] for r in manifest.request["roles"]}
    emit({"batch": manifest.batch, "batch_dir": str(batch_dir), "plates": len(manifest.plates), "roles": roles,
          "mode": "reference" if reference else "copy", "manifest": str(batch_dir / "manifest.json")},
         f"{manifest.batch}: imported {len(manifest.plates)} plate(s) in {len(roles)} role(s) into {batch_dir}; "
         f"next: castgate audit {batch_dir}", as_json)
