"""Integrity checks: one question each, fail closed, with plate ids and a fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.checks import (TAMPERED, UNAUDITABLE, AuditIsCurrent, HasKeptPlates, LabelsKnown, LabelsPresent,
                                   PlateFilesMatch, PlatesHaveFiles, default_checks, run_checks)
from castgate.batch.manifest import AutoLabel, HumanLabel, read_manifest

ATTRS = ("gender", "skin_group")


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return make_batch(tmp_path / "b", {"nurse": labelled(3, gender="female", skin_group="lighter")},
                      rejected={"nurse": labelled(2, gender="male", skin_group="darker")})


def replace_plate(manifest, plate_id, **changes):
    return manifest.with_plates([dataclasses.replace(manifest.plate(plate_id), **changes)])


def test_a_clean_batch_has_no_problems(batch: Path):
    assert run_checks(default_checks(ATTRS), read_manifest(batch), batch) == []


def test_changed_and_missing_files_are_tampered(batch: Path):
    manifest = read_manifest(batch)
    (batch / manifest.plate("b_nurse_0000").files["png"].path).write_bytes(b"retouched")
    (batch / manifest.plate("b_nurse_0002").files["png"].path).unlink()
    seen = []
    problems = PlateFilesMatch(on_progress=lambda d, t: seen.append((d, t))).find_problems(manifest, batch)
    assert [p.verdict for p in problems] == [TAMPERED]
    assert set(problems[0].plate_ids) == {"b_nurse_0000", "b_nurse_0002"}
    assert "is missing" in problems[0].message and "differs from its recorded hash" in problems[0].message
    assert problems[0].fix
    assert seen[-1] == (3, 3)  # kept plates only


def test_rejected_candidates_are_not_hashed(batch: Path):
    manifest = read_manifest(batch)
    rejected = next(p for p in manifest.plates if not p.kept)
    (batch / rejected.files["png"].path).write_bytes(b"gone")
    assert PlateFilesMatch().find_problems(manifest, batch) == []


def test_missing_labels_fail_closed(batch: Path):
    manifest = replace_plate(read_manifest(batch), "b_nurse_0001", labels={})
    problems = LabelsPresent(ATTRS).find_problems(manifest, batch)
    assert [(p.verdict, p.plate_ids) for p in problems] == [(UNAUDITABLE, ("b_nurse_0001",))] * 2
    assert problems[0].repair == "castgate audit BATCH"


def test_a_human_label_is_a_label(batch: Path):
    manifest = replace_plate(read_manifest(batch), "b_nurse_0001", labels={},
                             human_labels={a: HumanLabel("female", "ana", "2026-01-01T00:00:00Z") for a in ATTRS})
    assert LabelsPresent(ATTRS).find_problems(manifest, batch) == []


def test_unknown_label_values(batch: Path):
    manifest = replace_plate(read_manifest(batch), "b_nurse_0000",
                             labels={"gender": AutoLabel("woman", "m", "x", "1"), "skin_group": AutoLabel("lighter", "m", "x", "1")})
    problems = LabelsKnown(ATTRS).find_problems(manifest, batch)
    assert len(problems) == 1 and "'woman'" in problems[0].message and problems[0].plate_ids == ("b_nurse_0000",)


def test_stale_audit_unless_every_label_is_human(batch: Path):
    manifest = read_manifest(batch)
    plate = manifest.plate("b_nurse_0000")
    stale = replace_plate(manifest, plate.id, audit=dataclasses.replace(plate.audit, plate_sha256="f" * 64))
    assert [p.plate_ids for p in AuditIsCurrent(ATTRS).find_problems(stale, batch)] == [("b_nurse_0000",)]
    reviewed = replace_plate(stale, plate.id, human_labels={a: HumanLabel("male", "ana", "2026-01-01T00:00:00Z")
                                                            for a in ATTRS})
    assert AuditIsCurrent(ATTRS).find_problems(reviewed, batch) == []


def test_no_kept_plates_and_no_png(batch: Path):
    manifest = read_manifest(batch)
    empty = dataclasses.replace(manifest, plates=tuple(dataclasses.replace(p, kept=False) for p in manifest.plates))
    assert HasKeptPlates().find_problems(empty, batch)[0].verdict == UNAUDITABLE
    no_png = replace_plate(manifest, "b_nurse_0000", files={})
    assert PlatesHaveFiles().find_problems(no_png, batch)[0].plate_ids == ("b_nurse_0000",)


def test_default_checks_can_leave_out_hashing():
    names = [c.name for c in default_checks(ATTRS, verify_files=False)]
    assert "plate_files_match" not in names and "labels_present" in names
    assert "plate_files_match" in [c.name for c in default_checks(ATTRS)]
