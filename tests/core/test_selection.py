"""Selection inside generate: k candidates per plate, CLIP-ranked among those showing a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from castgate.batch.manifest import read_manifest
from castgate.generation.generate import AWAITING_SELECTION, generate_batch
from castgate.request import parse_request


@pytest.fixture(scope="module")
def selected_batch(tmp_path_factory, reference_dir) -> Path:
    folder = tmp_path_factory.mktemp("select")
    request = parse_request({
        "batch": {"name": "sel", "seed": 3},
        "models": {"demo": True, "clip": str(reference_dir / "clip-tiny")},
        "sampling": {"candidates_per_plate": 3, "batch_size": 3, "keep_rejected_proxies": True},
        "roles": [{"id": "nurse", "prompt": "a nurse at a hospital", "count": 1}],
    })
    generate_batch(request, folder / "batch", models_root=folder / "models")
    return folder / "batch"


def test_every_candidate_is_recorded_with_its_fate(selected_batch):
    manifest = read_manifest(selected_batch)
    assert [p.index for p in manifest.plates] == [0, 1, 2]
    assert manifest.models["clip"]["files"]["flax_model.msgpack"]
    for plate in manifest.plates:
        assert plate.rejected_reason != AWAITING_SELECTION
        # demo weights draw noise: the person filter finds nobody, and says so for every candidate
        assert not plate.kept and plate.rejected_reason == "no person detected"
        assert set(plate.files) == {"png"}  # EXR removed, PNG proxy kept as asked
        assert (selected_batch / plate.files["png"].path).is_file()
        assert not (selected_batch / "plates" / f"{plate.id}.exr").exists()


def test_rerun_does_not_regenerate_rejected_candidates(selected_batch, tmp_path):
    manifest = read_manifest(selected_batch)
    request = parse_request(dict(manifest.request))
    again = generate_batch(request, selected_batch, models_root=selected_batch.parent / "models")
    assert again.events[-1].details["generated"] == 0
    assert [p.rejected_reason for p in again.plates] == [p.rejected_reason for p in manifest.plates]
