"""Farm shards on one batch folder: safe together, resumable after a kill, same plates as one process.

What the farm does, on one machine: a single-process reference run, then ``castgate generate
--shard i/3`` started three times at once on one folder; shard 2 is killed (SIGKILL) once it has
recorded its first plate and is started again, as a farm retry would; then ``castgate merge``, and
``castgate audit`` / ``castgate gate`` where those commands exist.

Runtime: about 30-60 s on two cores (six tiny demo plates; the shard processes reuse the reference
run's compiled functions through JAX's persistent compilation cache).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from castgate.batch.fileio import _host_tag
from castgate.batch.manifest import part_path, read_manifest, read_part, validate_manifest_data
from castgate.generation.generate import Shard, plan, shard_slice
from castgate.request import load_request
from castgate.weights.checkpoints import sha256_file
from castgate_cli.main import cli

pytestmark = pytest.mark.slow

SHARDS = 3
KILLED = 2
REQUEST = """
[batch]
name = "farm"
seed = 404

[models]
demo = true

[sampling]
batch_size = 1

[[roles]]
id = "nurse"
prompt = "a nurse at a hospital"
count = 3

[[roles]]
id = "porter"
prompt = "a hospital porter pushing a wheelchair"
count = 3
"""


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    """Demo checkpoints, made once per test session (the same folder for every module that asks)."""
    folder = tmp_path_factory.getbasetemp() / "castgate-models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "castgate-jax-cache"
    folder.mkdir(exist_ok=True)
    return folder


def castgate_exe() -> str:
    return str(Path(sys.executable).with_name("castgate"))


def generate_cmd(request: Path, batch: Path, models: Path, shard: str | None = None) -> list[str]:
    cmd = [castgate_exe(), "generate", str(request), "-o", str(batch), "--model", str(models)]
    return cmd + (["--shard", shard] if shard else [])


def process_env(jax_cache: Path) -> dict[str, str]:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(jax_cache), JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return env


def wait_for(predicate, proc: subprocess.Popen, limit_s: float = 300.0) -> None:
    """Poll until ``predicate()``; fail (never hang) if the process ends first or the limit passes."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"shard ended (exit {proc.returncode}) before it recorded a plate")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("shard recorded no plate in time")
        time.sleep(0.02)


def plates_in(path: Path) -> int:
    try:
        part = read_part(path)
    except Exception:  # noqa: BLE001 - mid-rename on some filesystems; the next poll reads it
        return 0
    return len(part.plates) if part else 0


@pytest.fixture(scope="module")
def farm(tmp_path_factory, models_root, jax_cache):
    """Run the whole simulation once; tests below check what it left."""
    root = tmp_path_factory.mktemp("shards")
    request = root / "request.toml"
    request.write_text(REQUEST, encoding="utf-8")
    env = process_env(jax_cache)
    logs = root / "logs"
    logs.mkdir()

    reference = root / "reference"
    done = subprocess.run(generate_cmd(request, reference, models_root), env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    batch = root / "batch"
    procs = {}
    for index in range(1, SHARDS + 1):
        with open(logs / f"shard{index}.log", "w") as log:
            procs[index] = subprocess.Popen(generate_cmd(request, batch, models_root, f"{index}/{SHARDS}"),
                                            env=env, stdout=log, stderr=subprocess.STDOUT)
    killed_part = part_path(batch, KILLED, SHARDS)
    wait_for(lambda: plates_in(killed_part) >= 1, procs[KILLED])
    procs[KILLED].send_signal(signal.SIGKILL)
    killed_code = procs[KILLED].wait(timeout=60)
    recorded_at_kill = plates_in(killed_part)
    for index, proc in procs.items():
        if index != KILLED:
            assert proc.wait(timeout=600) == 0, (logs / f"shard{index}.log").read_text()

    # As a farm retry would find them: a temp file the killed shard left for one of its own plates, one
    # another shard (still running, on another host) is writing right now, and a user's own file that
    # merely looks temporary (issue 14, findings 3 and 22). The retry must clean up only the first.
    own_plate = shard_slice(plan(load_request(request)), Shard(KILLED, SHARDS))[0].plate_id
    other_plate = shard_slice(plan(load_request(request)), Shard(SHARDS, SHARDS))[-1].plate_id
    own_temp = batch / "proxies" / f".castgate-tmp.{_host_tag()}.{procs[KILLED].pid}.planted.{own_plate}.png"
    other_temp = batch / "plates" / f".castgate-tmp.farm-other-host.{os.getpid()}.planted.{other_plate}.exr"
    user_file = batch / "plates" / ".env.tmpl"
    own_temp.write_bytes(b"half a png")
    other_temp.write_bytes(b"half an exr")
    user_file.write_bytes(b"KEY=value")

    retry = subprocess.run(generate_cmd(request, batch, models_root, f"{KILLED}/{SHARDS}"), env=env,
                           capture_output=True, text=True, timeout=600)
    assert retry.returncode == 0, retry.stderr
    temps = {"own_removed": not own_temp.exists(), "other_kept": other_temp.exists(),
             "user_kept": user_file.exists()}
    other_temp.unlink(missing_ok=True)
    user_file.unlink(missing_ok=True)

    merged = CliRunner().invoke(cli, ["merge", str(batch), "--model", str(models_root), "--json"],
                                catch_exceptions=False)
    assert merged.exit_code == 0, merged.output
    return {"request": request, "reference": reference, "batch": batch, "killed_code": killed_code,
            "recorded_at_kill": recorded_at_kill, "killed_part": killed_part, "models": models_root,
            "temps": temps}


def plate_rows(batch: Path) -> list[tuple[str, str, int, str, str]]:
    """(id, role, seed, SHA-256 of the PNG and of the EXR on disk) for every plate, checking the recorded
    hashes. Identical plates are identical files whatever the shard split (no wall-clock headers)."""
    rows = []
    for plate in read_manifest(batch).plates:
        for ref in plate.files.values():
            assert sha256_file(batch / ref.path) == ref.sha256, f"{plate.id}: {ref.path} changed"
        rows.append((plate.id, plate.role, plate.seed, sha256_file(batch / plate.files["png"].path),
                     sha256_file(batch / plate.files["exr"].path)))
    return rows


def test_every_plate_present_exactly_once(farm):
    planned = [p.plate_id for p in plan(load_request(farm["request"]))]
    ids = [row[0] for row in plate_rows(farm["batch"])]
    assert ids == planned  # request order, no duplicates, none missing
    batch = farm["batch"]
    assert sorted(p.stem for p in (batch / "proxies").glob("*.png")) == sorted(planned)
    assert sorted(p.stem for p in (batch / "plates").glob("*.exr")) == sorted(planned)
    assert not [p for p in batch.rglob("*") if "castgate-tmp" in p.name], "temporary files left behind"


def test_shards_make_the_same_plates_as_one_process(farm):
    assert plate_rows(farm["batch"]) == plate_rows(farm["reference"])


def test_merged_manifest_is_valid(farm):
    path = farm["batch"] / "manifest.json"
    validate_manifest_data(json.loads(path.read_text(encoding="utf-8")), source=str(path))
    manifest = read_manifest(farm["batch"])
    assert manifest.models == read_manifest(farm["reference"]).models
    kinds = [event.kind for event in manifest.events]
    # one per shard that finished (the killed one recorded none; its retry did), then the merge
    assert kinds.count("generate") == SHARDS and kinds[-1] == "merge"


def test_killed_shard_resumed_instead_of_starting_over(farm):
    assert farm["killed_code"] == -signal.SIGKILL
    request = load_request(farm["request"])
    mine = len(shard_slice(plan(request), Shard(KILLED, SHARDS)))
    assert mine == 2 and 1 <= farm["recorded_at_kill"] <= mine
    retry_event = [e for e in read_part(farm["killed_part"]).events if e.kind == "generate"][-1]
    assert retry_event.details["skipped"] == farm["recorded_at_kill"]
    assert retry_event.details["generated"] == mine - farm["recorded_at_kill"]


def test_retry_cleans_only_its_own_temp_files(farm):
    assert farm["temps"] == {"own_removed": True, "other_kept": True, "user_kept": True}


def test_merge_again_changes_nothing(farm):
    before = plate_rows(farm["batch"])
    again = CliRunner().invoke(cli, ["merge", str(farm["batch"]), "--model", str(farm["models"])],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert plate_rows(farm["batch"]) == before


@pytest.mark.skipif(importlib.util.find_spec("castgate_cli.commands.audit") is None
                    or importlib.util.find_spec("castgate_cli.commands.gate") is None,
                    reason="castgate audit / castgate gate are not in this checkout yet")
def test_audit_and_gate_after_merge(farm):
    batch = farm["batch"]
    audited = CliRunner().invoke(cli, ["audit", str(batch), "--workers", "1", "--json"], catch_exceptions=False)
    assert audited.exit_code == 0, audited.output
    manifest = read_manifest(batch)
    assert all(p.audit and p.audit.plate_sha256 == p.files["png"].sha256 for p in manifest.kept_plates)
    gated = CliRunner().invoke(cli, ["gate", str(batch), "--json"], catch_exceptions=False)
    verdict = json.loads(gated.stdout)
    # Demo plates are noise: no face can be read, so the honest verdict is UNAUDITABLE (exit 1). What
    # matters here is that the merged batch is judged at all, and not called TAMPERED.
    assert verdict["verdict"] in {"PASS", "FAIL", "INSUFFICIENT", "UNAUDITABLE"}
    assert gated.exit_code == verdict["exit_code"] == {"PASS": 0, "INSUFFICIENT": 3}.get(verdict["verdict"], 1)
