"""The gate compares a batch with its plan (issue 14, findings 5-8): nothing missing, nothing forged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.checks import (TAMPERED, UNAUDITABLE, HasReadablePlates, PlannedPlatesPresent, PlateFilesDistinct,
                                   PlatesAccountedFor, PlatesMatchPlan, RolesHaveKeptPlates, UniquePlateIds,
                                   default_checks, run_checks)
from castgate.batch.manifest import read_manifest
from castgate.batch.plan import AWAITING_SELECTION
from castgate.gate import gate_manifest
from castgate.quotas import load_quota

ATTRS = ("gender", "skin_group")


def balanced(n: int) -> list[dict]:
    return (labelled(n // 2, gender="female", skin_group="lighter")
            + labelled(n - n // 2, gender="male", skin_group="darker"))


@pytest.fixture()
def lenient(tmp_path: Path):
    """A quota that would pass nearly anything: no minimum sample, every plate may be undetermined."""
    path = tmp_path / "lenient.toml"
    path.write_text('name = "lenient"\nconfidence = 0.5\n\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n'
                    'tolerance = 0.5\nmin_sample = 0\nmax_undetermined = 1.0\n', encoding="utf-8")
    return load_quota(path)


def test_finding_5_a_partial_merge_is_not_judged(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(16)})
    manifest = read_manifest(batch)
    partial = dataclasses.replace(manifest, plates=manifest.plates[:11])  # shards 1/3 and 2/3 only
    problems = PlannedPlatesPresent().find_problems(partial, batch)
    assert [p.verdict for p in problems] == [UNAUDITABLE]
    assert "5 planned plate(s)" in problems[0].message and "b_nurse_0011" in problems[0].message
    assert problems[0].repair == "castgate merge BATCH"
    assert gate_manifest(partial, batch, lenient).verdict == UNAUDITABLE


def test_finding_5_candidates_awaiting_selection_block(tmp_path: Path):
    manifest = read_manifest(make_batch(tmp_path / "b", {"nurse": balanced(4)}))
    waiting = manifest.with_plates([dataclasses.replace(manifest.plates[0], kept=False,
                                                        rejected_reason=AWAITING_SELECTION)])
    silent = manifest.with_plates([dataclasses.replace(manifest.plates[1], kept=False, rejected_reason=None)])
    assert "wait for CLIP selection" in PlatesAccountedFor().find_problems(waiting, None)[0].message
    assert "neither kept nor given a reason" in PlatesAccountedFor().find_problems(silent, None)[0].message


def test_finding_6_a_requested_role_without_kept_plates_blocks(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(8), "clerk": balanced(8)})
    manifest = read_manifest(batch)
    only_nurses = dataclasses.replace(manifest, plates=tuple(p for p in manifest.plates if p.role == "nurse"))
    problems = RolesHaveKeptPlates().find_problems(only_nurses, batch)
    assert len(problems) == 1 and "clerk" in problems[0].message
    result = gate_manifest(only_nurses, batch, lenient)
    assert result.verdict == UNAUDITABLE and result.exit_code == 1
    assert "1 of 1 role" not in result.summary


def test_finding_7_every_plate_listed_twice_is_tampered(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(6)})
    manifest = read_manifest(batch)
    doubled = dataclasses.replace(manifest, plates=manifest.plates + manifest.plates)
    assert [p.verdict for p in UniquePlateIds().find_problems(doubled, batch)] == [TAMPERED]
    assert gate_manifest(doubled, batch, lenient).verdict == TAMPERED
    cased = dataclasses.replace(manifest, plates=manifest.plates + (
        dataclasses.replace(manifest.plates[0], id=manifest.plates[0].id.upper()),))
    assert UniquePlateIds().find_problems(cased, batch)


def test_finding_7_every_plate_pointing_at_one_file_is_tampered(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(6)})
    manifest = read_manifest(batch)
    first = manifest.plates[0].files
    one_file = dataclasses.replace(manifest, plates=tuple(dataclasses.replace(p, files=first)
                                                          for p in manifest.plates))
    problems = PlateFilesDistinct().find_problems(one_file, batch)
    assert [p.verdict for p in problems] == [TAMPERED] and "share a file" in problems[0].message
    assert gate_manifest(one_file, batch, lenient).verdict == TAMPERED


def test_finding_7_a_forged_plate_is_tampered(tmp_path: Path):
    manifest = read_manifest(make_batch(tmp_path / "b", {"nurse": balanced(4)}))
    stranger = dataclasses.replace(manifest.plates[0], id="b_ghost_0000", role="ghost")
    reseeded = dataclasses.replace(manifest.plates[1], seed=manifest.plates[1].seed + 1)
    forged = manifest.with_plates([stranger, reseeded])
    problems = PlatesMatchPlan().find_problems(forged, None)
    assert problems and set(problems[0].plate_ids) == {"b_ghost_0000", manifest.plates[1].id}


def test_finding_8_zero_readable_plates_never_pass(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": labelled(6, gender="undetermined", skin_group="undetermined")})
    manifest = read_manifest(batch)
    problems = HasReadablePlates(("gender",)).find_problems(manifest, batch)
    assert [p.verdict for p in problems] == [UNAUDITABLE] and "determined gender" in problems[0].message
    result = gate_manifest(manifest, batch, lenient)
    assert result.verdict == UNAUDITABLE and result.exit_code == 1


def test_finding_8_one_blind_role_blocks_even_when_the_pool_is_readable(tmp_path: Path, lenient):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(6),
                                        "clerk": labelled(6, gender="undetermined", skin_group="undetermined")})
    problems = HasReadablePlates(("gender",)).find_problems(read_manifest(batch), batch)
    assert len(problems) == 1 and "clerk" in problems[0].message


def test_an_unreadable_recorded_request_blocks(tmp_path: Path):
    manifest = read_manifest(make_batch(tmp_path / "b", {"nurse": balanced(4)}))
    broken = dataclasses.replace(manifest, request={**manifest.request, "roles": "nurse"})
    problems = PlannedPlatesPresent().find_problems(broken, None)
    assert problems and "cannot be read" in problems[0].message


def test_a_complete_batch_passes_every_plan_check(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(4), "clerk": balanced(4)},
                       rejected={"nurse": labelled(2, gender="male")})
    assert run_checks(default_checks(ATTRS), read_manifest(batch), batch) == []
    json.dumps([p.to_dict() for p in run_checks(default_checks(ATTRS), read_manifest(batch), batch)])


def test_finding_5_merge_refuses_missing_shards_and_writes_nothing(tmp_path: Path):
    from castgate.batch.manifest import manifest_path, part_path, write_manifest
    from castgate.errors import ManifestError
    from castgate.generation.generate import merge_batch

    whole = read_manifest(make_batch(tmp_path / "made", {"nurse": balanced(6)}))
    batch = tmp_path / "farm"
    for shard in (1, 2):  # shards 1/3 and 2/3 only
        mine = dataclasses.replace(whole, plates=whole.plates[shard - 1::3], events=())
        write_manifest(batch, mine, path=part_path(batch, shard, 3))
    with pytest.raises(ManifestError, match="2 plate\\(s\\) are not generated yet.*nothing was merged"):
        merge_batch(batch)
    assert not manifest_path(batch).exists()
