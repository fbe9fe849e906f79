"""``castgate farm submit REQUEST -o BATCH``: generation, merge, audit and the gate as one OpenCue job.

Example:
    $ castgate farm submit request.toml -o /shows/x/batches/office_v1 --shards 8 --dry-run > job.xml
    $ castgate farm submit request.toml -o /shows/x/batches/office_v1 --farm-config farm.toml \\
          --publish-cmd "studio-publish --plates {batch}"
"""

from __future__ import annotations

from pathlib import Path

import click

from castgate_cli.output import emit, json_option

DEFAULT_BALANCE_ROUNDS = 4


@click.group()
def farm() -> None:
    """Run castgate on a render farm (OpenCue).

    For any other farm manager, run `castgate gate BATCH` as a pre-check task: it exits 0 PASS,
    1 blocked, 3 INSUFFICIENT, 2 input error (docs/farm.md).
    """


@farm.command()
@click.argument("request_file", metavar="REQUEST", type=click.Path(path_type=Path))
@click.option("-o", "--output", "batch_dir", required=True, type=click.Path(path_type=Path),
              help="Batch folder, as farm hosts see it (shared storage).")
@click.option("--dry-run", is_flag=True,
              help="Print the OpenCue job spec (XML) instead of submitting; nothing is sent or written "
                   "(except --spec-out).")
@click.option("--spec-out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the job spec to this file.")
@click.option("--farm-config", type=click.Path(path_type=Path, dir_okay=False), envvar="CASTGATE_FARM_CONFIG",
              help="farm.toml with [farm] settings [env: CASTGATE_FARM_CONFIG]; options below win over it.")
@click.option("--shards", type=click.IntRange(min=1), help="Generate frames (hosts working at once) [default 4].")
@click.option("--castgate", "castgate_cmd", metavar="COMMAND",
              help="The castgate command farm hosts run [default: this castgate, by absolute path].")
@click.option("--models", metavar="DIR", help="CASTGATE_MODELS on the farm: the models folder as hosts see it.")
@click.option("--ocio", metavar="CONFIG", help="OCIO on the farm: the OCIO config hosts use.")
@click.option("--quota", metavar="NAME_OR_PATH", help="Quota the gate uses [default: the request's].")
@click.option("--publish-cmd", metavar="COMMAND",
              help="Shell command run only after the gate passes; {batch} and {request} are replaced.")
@click.option("--balance", is_flag=True,
              help="Run `castgate balance` instead of generate: rounds of GPU generate layers and CPU select "
                   "layers, then the gate (docs/farm.md). Needs a [balance] table or uses its defaults.")
@click.option("--balance-rounds", type=click.IntRange(1, 32), metavar="N",
              help="With --balance: rounds in the job [default: [farm].balance_rounds, else 4].")
@click.option("--gpu-tags", metavar="TAGS", help="Host tags for the generate layer, e.g. gpu,cuda12.")
@click.option("--gpus", type=click.IntRange(min=0), help="GPUs per generate frame [default 1].")
@click.option("--gpu-memory", metavar="SIZE", help="GPU memory per generate frame, e.g. 12g.")
@click.option("--cores", type=click.FloatRange(min=0, min_open=True), help="Cores per generate frame.")
@click.option("--memory", metavar="SIZE", help="Memory per generate frame, e.g. 24g.")
@click.option("--cpu-tags", metavar="TAGS", help="Host tags for merge, audit, gate and publish.")
@click.option("--job-name", help="Job name [default: the batch name].")
@click.option("--show", help="OpenCue show [default: $SHOW or pyoutline's default].")
@click.option("--shot", help="OpenCue shot [default: $SHOT or pyoutline's default].")
@click.option("--user", help="Job owner [default: [farm].user, else you; never root].")
@click.option("--uid", type=click.IntRange(min=1), help="The job owner's uid [default: looked up from the user].")
@click.option("--spec-version", type=click.Choice(["1.13", "1.14", "1.15"]),
              help="Job-spec DTD version your Cuebot knows [default 1.15; 1.14 for Cuebots before Oct 2025].")
@click.option("--priority", type=click.IntRange(min=0), help="Job priority.")
@click.option("--pause/--no-pause", default=None, help="Submit the job paused.")
@click.option("--cuebot", metavar="HOST:PORT", help="Cuebot to submit to [default: $CUEBOT_HOSTS or pycue's config].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="How long to wait for Cuebot [default 10].")
@json_option
def submit(request_file: Path, batch_dir: Path, dry_run: bool, spec_out: Path | None, farm_config: Path | None,
           shards: int | None, castgate_cmd: str | None, models: str | None, ocio: str | None,
           quota: str | None, publish_cmd: str | None, balance: bool, balance_rounds: int | None,
           gpu_tags: str | None, gpus: int | None,
           gpu_memory: str | None, cores: float | None, memory: str | None, cpu_tags: str | None,
           job_name: str | None, show: str | None, shot: str | None, user: str | None, uid: int | None,
           spec_version: str | None, priority: int | None,
           pause: bool | None, cuebot: str | None, timeout: float | None, as_json: bool) -> None:
    """Submit REQUEST as an OpenCue job writing BATCH: generate (one frame per shard, GPU hosts),
    merge, audit, gate (a non-zero exit holds back every later layer) and an optional publish.

    Paths are made absolute; farm hosts must see REQUEST, BATCH and --models at the same paths.
    """
    from castgate.batch.fileio import atomic_write_text
    from castgate.farm.layers import job_environment, job_layers, job_name as name_of_job, shard_count
    from castgate.farm.opencue import FRAME_TOKEN, job_spec, submit as submit_job
    from castgate.farm.settings import DEFAULT_SHARDS, FarmSettings, load_farm_settings, require_valid, split_tags
    from castgate.request import load_request

    if str(request_file) == "-":
        raise click.UsageError("farm hosts read the request file itself: give its path on shared storage, not -")
    request = load_request(request_file)
    settings = load_farm_settings(farm_config) if farm_config else FarmSettings()
    settings = settings.replace(shards=shards, castgate=castgate_cmd, models=models, ocio=ocio, quota=quota,
                                publish_cmd=publish_cmd, job_name=job_name, show=show, shot=shot,
                                user=user, uid=uid, spec_version=spec_version, priority=priority, pause=pause, timeout=timeout,
                                cuebot=(cuebot,) if cuebot else None)
    if balance_rounds is not None and not balance:
        raise click.UsageError("--balance-rounds works with --balance")
    if balance:
        settings = settings.replace(balance_rounds=balance_rounds or settings.balance_rounds or DEFAULT_BALANCE_ROUNDS)
    settings = settings.with_layer("generate", tags=split_tags(gpu_tags), gpus=gpus, gpu_memory=gpu_memory,
                                   cores=cores, memory=memory)
    if cpu_tags is not None:
        for name in ("merge", "audit", "gate", "publish"):
            settings = settings.with_layer(name, tags=split_tags(cpu_tags))
    require_valid(settings, source="castgate farm submit")

    layers = job_layers(request, batch_dir, settings, FRAME_TOKEN)
    spec = job_spec(request, batch_dir, settings) if dry_run or spec_out else None
    if spec_out and spec is not None:
        atomic_write_text(spec_out, spec)
    summary = {"job": name_of_job(request, settings), "dry_run": dry_run,
               "shards": shard_count(request, settings), "batch_dir": str(batch_dir.absolute()),
               "spec_version": settings.spec_version, "env": job_environment(request, settings),
               "layers": [{"name": layer.name, "frames": layer.frames, "command": layer.command,
                           "depends_on": layer.depends_on}
                          for layer in layers],
               "spec_file": str(spec_out) if spec_out else None}
    if dry_run:
        if as_json:
            emit({**summary, "spec": spec}, "", as_json)
        elif not spec_out:
            click.echo(spec, nl=False)
        else:
            click.echo(f"wrote the job spec for {summary['job']} ({summary['shards']} shard(s)) to {spec_out}")
        return
    submission = submit_job(request, batch_dir, settings)
    emit({**summary, "cuebot": submission.cuebot, "jobs": list(submission.jobs)},
         f"submitted {', '.join(submission.jobs)} to {submission.cuebot}: "
         + (f"{settings.balance_rounds} balance round(s) of {settings.shards or DEFAULT_SHARDS} generate frame(s) "
            f"and a select frame, then gate" if settings.balance_rounds else
            f"{summary['shards']} generate frame(s), then merge, audit, gate")
         + (", publish" if settings.publish_cmd else ""), as_json)

