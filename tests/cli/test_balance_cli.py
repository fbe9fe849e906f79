"""`castgate balance BATCH --cast N --no-generate`: re-select a cast on a 16-plate batch, every candidate
keeping its record, idempotently; bad input leaves the batch as it was."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_factory import labelled, make_batch
from castgate.batch.manifest import manifest_path, read_manifest, update_manifest
from castgate.generation.rerank import NO_PERSON
from castgate.review import review_plate
from castgate_cli.main import cli

REPO = Path(__file__).resolve().parents[2]
# Human labels: nurse 6 female / 2 male, surgeon 2 female / 6 male; skin alternates within each gender.
GENDERS = {"nurse": ["female"] * 6 + ["male"] * 2, "surgeon": ["female"] * 2 + ["male"] * 6}


def skins(genders: list[str]) -> list[str]:
    """Alternate lighter / darker within each gender."""
    seen: dict[str, int] = {}
    out = []
    for gender in genders:
        out.append("lighter" if seen.get(gender, 0) % 2 == 0 else "darker")
        seen[gender] = seen.get(gender, 0) + 1
    return out


@pytest.fixture(scope="module")
def demo_batch(tmp_path_factory) -> Path:
    """16 plates (2 roles × 8) whose automatic labels are undetermined and whose human labels are 6 female /
    2 male (nurse) and 2 / 6 (surgeon), set through castgate's review."""
    root = tmp_path_factory.mktemp("balance-demo")
    specs = {role: labelled(8, gender="undetermined", skin_group="undetermined") for role in GENDERS}
    batch = make_batch(root / "batch", specs, batch="demo_hospital")
    manifest = read_manifest(batch)
    for role, genders in GENDERS.items():
        plates = [p for p in manifest.plates if p.role == role]
        for plate, gender, skin in zip(plates, genders, skins(genders)):
            review_plate(batch, plate.id, {"gender": gender, "skin_group": skin}, reviewer="supervisor")
    return batch


@pytest.fixture
def batch(demo_batch, tmp_path) -> Path:
    copy = tmp_path / "batch"
    shutil.copytree(demo_batch, copy)
    return copy


def balance(*args: str):
    return CliRunner().invoke(cli, ["balance", *args])


def test_cast_four_keeps_two_women_and_two_men_per_role(batch):
    result = balance(str(batch), "--cast", "4", "--no-generate", "--json")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(batch)
    assert len(manifest.plates) == 16
    for role in GENDERS:
        kept = [p for p in manifest.kept_plates if p.role == role]
        assert sorted(p.label("gender") for p in kept) == ["female", "female", "male", "male"]
        assert sorted(p.label("skin_group") for p in kept) == ["darker", "darker", "lighter", "lighter"]
    dropped = [p for p in manifest.plates if not p.kept]
    assert len(dropped) == 8 and all(p.rejected_reason.startswith("not selected: ") for p in dropped)
    assert any("over quota in cell" in p.rejected_reason or "the cell is full" in p.rejected_reason
               for p in dropped)
    assert manifest.balance["cast"] == {"nurse": 4, "surgeon": 4} and manifest.events[-1].kind == "balance"
    assert json.loads(result.stdout)["feasible"] is True

    before = manifest_path(batch).read_bytes()
    again = balance(str(batch), "--cast", "4", "--no-generate")
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert read_manifest(batch).plates == manifest.plates and len(read_manifest(batch).events) == len(manifest.events)
    assert manifest_path(batch).read_bytes() == before


def test_gate_passes_the_balanced_cast(batch):
    assert balance(str(batch), "--cast", "4", "--no-generate").exit_code == 0
    gate = CliRunner().invoke(cli, ["gate", str(batch)])
    assert gate.exit_code == 0, gate.output


def test_cast_larger_than_the_candidates_is_refused_and_the_batch_unchanged(batch):
    def no_person(manifest):  # two nurse candidates showed nobody: 6 are left that could be cast
        nurses = [p for p in manifest.plates if p.role == "nurse"][:2]
        return manifest.with_plates([dataclasses.replace(p, kept=False, rejected_reason=NO_PERSON) for p in nurses])

    update_manifest(batch, no_person)
    before = manifest_path(batch).read_bytes()
    result = balance(str(batch), "--cast", "7", "--no-generate")
    assert result.exit_code == 2
    assert "--cast 7 is larger than the 6 candidate(s) role 'nurse' has that could be cast" in result.output
    assert "Use --cast 6 or less, or drop --no-generate" in result.output
    assert manifest_path(batch).read_bytes() == before


def test_cast_above_the_requested_count_is_refused(batch):
    before = manifest_path(batch).read_bytes()
    result = balance(str(batch), "--cast", "10", "--no-generate")
    assert result.exit_code == 2 and "--cast 10 is above the 8 plate(s) the request asks for role 'nurse'" in result.output
    assert manifest_path(batch).read_bytes() == before


def test_a_cast_size_the_quota_cannot_meet_is_refused(batch):
    result = balance(str(batch), "--cast", "3", "--no-generate")
    assert result.exit_code == 2 and "cannot meet quota parity" in result.output


def test_short_cells_exit_3_naming_them_and_leave_the_batch_unchanged(batch):
    before = manifest_path(batch).read_bytes()
    result = balance(str(batch), "--cast", "6", "--no-generate", "--json")
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["feasible"] is False and sum(out["shortfall"]["nurse"].values()) == 1
    assert all(cell.startswith("male") for cell in out["shortfall"]["nurse"])
    assert manifest_path(batch).read_bytes() == before


DEMO_BALANCE = """
[balance]
budget = 1
first_round = 1
"""


def test_request_mode_generates_audits_and_exits_3_naming_what_is_short(tmp_path, demo_model_dirs):
    """The demo request (random-weight models draw no people): one round within the budget, every label
    undetermined, so no cast can pass; balance says which cells are short and what it tried."""
    request = tmp_path / "request.toml"
    text = (REPO / "examples" / "demo" / "request.toml").read_text().replace("count = 4", "count = 2")
    request.write_text(text + DEMO_BALANCE)
    batch = tmp_path / "batch"
    result = balance(str(request), "-o", str(batch), "--model", str(demo_model_dirs[0].parent), "--json")
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "short" and set(out["shortfall"]) == {"nurse", "surgeon"}
    assert "round 1: nurse 2, plain prompt, surgeon 2, plain prompt" in out["tried"]
    manifest = read_manifest(batch)
    assert len(manifest.plates) == 4 and manifest.kept_plates == ()
    assert all(p.prompt in text and p.balance == {"round": 1, "aim": None, "steering": {}} for p in manifest.plates)
    assert all(p.labels["gender"].is_undetermined for p in manifest.plates)  # really audited


def test_bad_balance_table_is_refused_before_anything_is_written(tmp_path):
    request = tmp_path / "request.toml"
    request.write_text((REPO / "examples" / "demo" / "request.toml").read_text()
                       + "[balance]\nbudget = 0\n[balance.phrases.gender]\nnonbinary = \"a person\"\n")
    result = balance(str(request), "-o", str(tmp_path / "batch"))
    assert result.exit_code == 2
    assert "[balance].budget 0 must be a whole number from 1 to 64" in result.output
    assert "'nonbinary' is not a category of gender; use female, male" in result.output
    assert not (tmp_path / "batch").exists()
