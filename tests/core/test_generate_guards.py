"""generate checks what it can before loading models or writing plates (issue 14, findings 3, 28)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from castgate.errors import ModelFolderError, OutputFolderError
from castgate.generation.generate import generate_batch
from castgate.request import parse_request


def demo_request(**sampling):
    return parse_request({"batch": {"name": "ward", "seed": 3}, "models": {"demo": True},
                          "sampling": {"batch_size": 2, **sampling},
                          "roles": [{"id": "nurse", "prompt": "a nurse", "count": 2}]})


def test_finding_28_a_missing_clip_folder_is_reported_before_any_candidate(tmp_path: Path, demo_model_dirs):
    with pytest.raises(ModelFolderError, match="CLIP"):
        generate_batch(demo_request(candidates_per_plate=2), tmp_path / "batch",
                       models_root=demo_model_dirs[0].parent)
    assert not (tmp_path / "batch").exists()  # nothing made, no model loaded


def test_finding_3_a_folder_of_the_users_files_is_refused_before_the_models_load(tmp_path: Path, monkeypatch):
    out = tmp_path / "project"
    out.mkdir()
    (out / ".env.tmpl").write_text("SECRET=1")
    (out / "notes").mkdir()
    (out / "notes" / ".gitlab-ci.tmpl.yml").write_text("x")

    def no_load(*args, **kwargs):
        raise AssertionError("models loaded before the output folder was checked")
    monkeypatch.setattr("castgate.weights.checkpoints.model_identity", no_load)
    with pytest.raises(OutputFolderError, match="not a castgate batch"):
        generate_batch(demo_request(), out, models_root=tmp_path / "models")
    assert sorted(os.listdir(out)) == [".env.tmpl", "notes"]
    assert os.listdir(out / "notes") == [".gitlab-ci.tmpl.yml"]
