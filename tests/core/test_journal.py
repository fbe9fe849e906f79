"""The journal: one writer discipline, tamper evidence and signing (issue 14, findings 2, 4, 7, 22, 24)."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.checks import TAMPERED, UNAUDITABLE, JournalIntact
from castgate.batch.journal import KEY_ENV, entry_line, read_entries, verify_journal
from castgate.batch.manifest import (AuditRecord, AutoLabel, BatchFiles, FileRef, HumanLabel, append_operations, locked,
                                     manifest_path, read_manifest, update_manifest, utc_now, write_manifest)
from castgate.batch.manifest_ops import audit_op, fold, gen_op
from castgate.gate import gate_batch
from castgate.review import review_plate

ATTRS = ("gender", "skin_group")


def balanced(n: int) -> list[dict]:
    return (labelled(n // 2, gender="female", skin_group="lighter")
            + labelled(n - n // 2, gender="male", skin_group="darker"))


@pytest.fixture()
def wide(tmp_path: Path) -> Path:
    path = tmp_path / "wide.toml"
    path.write_text('name = "wide"\ntolerance = 0.3\nmin_sample = 4\nconfidence = 0.8\n\n'
                    '[gender]\ntargets = { female = 0.5, male = 0.5 }\n', encoding="utf-8")
    return path


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return make_batch(tmp_path / "b", {"nurse": balanced(20)})


def edit_snapshot(batch: Path, change) -> None:
    data = json.loads(manifest_path(batch).read_text())
    change(data)
    manifest_path(batch).write_text(json.dumps(data))


def journal_problems(batch: Path):
    return JournalIntact().find_problems(read_manifest(batch), batch)


def test_a_batch_castgate_wrote_is_intact(batch: Path, wide: Path):
    assert journal_problems(batch) == []
    review_plate(batch, "b_nurse_0000", {"gender": "female"}, reviewer="ana")
    assert journal_problems(batch) == []
    assert gate_batch(batch, wide).verdict not in ("TAMPERED", "UNAUDITABLE")
    assert journal_problems(batch) == []  # the gate's own record keeps it intact


def test_finding_7_flipped_labels_in_manifest_json_are_tampered_and_named(batch: Path, wide: Path):
    def flip(data):
        for plate in data["plates"]:
            plate["labels"]["gender"]["value"] = "female"
    edit_snapshot(batch, flip)
    result = gate_batch(batch, wide, record=False)
    assert result.verdict == TAMPERED and result.exit_code == 1
    assert "plates/b_nurse_0010/labels/gender/value" in result.summary
    assert "manifest.json was edited" in result.summary


def test_finding_7_a_forged_verdict_is_tampered(batch: Path, wide: Path):
    gate_batch(batch, wide)
    edit_snapshot(batch, lambda data: data["verdict"].update(verdict="PASS", exit_code=0, summary="forged"))
    problems = journal_problems(batch)
    assert [p.verdict for p in problems] == [TAMPERED] and "verdict/" in problems[0].message


def test_finding_7_a_swapped_png_with_its_hash_updated_is_tampered(batch: Path):
    manifest = read_manifest(batch)
    target = batch / manifest.plates[0].files["png"].path
    target.write_bytes((batch / manifest.plates[1].files["png"].path).read_bytes() + b"x")
    import hashlib

    new_hash = hashlib.sha256(target.read_bytes()).hexdigest()
    edit_snapshot(batch, lambda data: data["plates"][0]["files"]["png"].update(sha256=new_hash))
    problems = journal_problems(batch)
    assert problems and "plates/b_nurse_0000/files/png/sha256" in problems[0].message


def test_finding_7_every_plate_listed_twice_in_manifest_json(batch: Path):
    edit_snapshot(batch, lambda data: data["plates"].extend(list(data["plates"])))
    assert "listed more than once" in journal_problems(batch)[0].message


def test_an_edited_journal_line_is_named(batch: Path):
    path = batch / "journal.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"female"', '"male"', 1)
    path.write_text("".join(lines))
    problems = journal_problems(batch)
    assert problems[0].verdict == TAMPERED and "line 4" in problems[0].message and "was edited" in problems[0].message


def test_a_removed_journal_line_breaks_the_chain(batch: Path):
    path = batch / "journal.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[3:]))
    assert "does not follow" in journal_problems(batch)[0].message


def test_a_deleted_journal_is_tampered_and_stages_refuse_the_batch(batch: Path):
    (batch / "journal.jsonl").unlink()
    assert "no journal.jsonl" in journal_problems(batch)[0].message
    with pytest.raises(Exception, match="no journal"):
        review_plate(batch, "b_nurse_0000", {"gender": "male"}, reviewer="eve")


def _rechain(path: Path, change) -> None:
    """What an editor without the key can do: change an entry and recompute every hash after it."""
    prev, out = "", []
    for seq, entry in enumerate(e for e in read_entries(path)):
        data = {k: v for k, v in entry.data.items() if not k.startswith("~")}
        change(data)
        line, prev = entry_line(data, seq, prev, None)
        out.append(line)
    path.write_text("".join(out))


def test_signed_journal_detects_an_edit_with_recomputed_hashes(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "studio-secret")
    batch = make_batch(tmp_path / "b", {"nurse": balanced(6)})
    assert journal_problems(batch) == []

    def flip(data):
        if data.get("op") == "put" and data["plate"]["id"] == "b_nurse_0005":
            data["plate"]["labels"]["gender"]["value"] = "female"
    _rechain(batch / "journal.jsonl", flip)
    edit_snapshot(batch, lambda data: data["plates"][5]["labels"]["gender"].update(value="female"))
    problems = journal_problems(batch)
    assert problems and problems[0].verdict == TAMPERED and "not signed with the studio key" in problems[0].message

    monkeypatch.delenv(KEY_ENV)  # without the key, recomputed hashes are not detectable (docs/manifest.md)
    assert verify_journal(batch / "journal.jsonl", None).tampered == []


def test_a_signature_from_another_key_is_named(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "key-one")
    batch = make_batch(tmp_path / "b", {"nurse": balanced(4)})
    monkeypatch.setenv(KEY_ENV, "key-two")
    problems = journal_problems(batch)
    assert problems and "does not match the studio key" in problems[0].message and "signed with key" in problems[0].message
    monkeypatch.delenv(KEY_ENV)
    assert [p.verdict for p in journal_problems(batch)] == [UNAUDITABLE]  # signed, but no key here to check


def test_a_line_cut_short_by_a_crash_is_ignored_and_repaired(batch: Path):
    path = batch / "journal.jsonl"
    with open(path, "a") as handle:
        handle.write('{"op":"event","event":{"kind":"half')
    assert read_manifest(batch).batch == "b"
    review_plate(batch, "b_nurse_0001", {"gender": "male"}, reviewer="ana")
    assert journal_problems(batch) == []
    assert read_manifest(batch).plate("b_nurse_0001").human_labels["gender"].value == "male"


def test_finding_4_a_plate_regenerated_byte_for_byte_keeps_its_labels(batch: Path):
    files = BatchFiles.of_batch(batch)
    before = read_manifest(batch).plate("b_nurse_0002")
    review_plate(batch, before.id, {"gender": "male"}, reviewer="ana")
    bare = dataclasses.replace(before, labels={}, human_labels={}, audit=None)
    with locked(batch, files=files):
        append_operations(files, [gen_op(bare)])
    again = read_manifest(batch).plate(before.id)
    assert again.human_labels["gender"].value == "male" and again.labels == before.labels
    assert again.audit == before.audit
    changed = dataclasses.replace(bare, files={"png": FileRef(before.files["png"].path, "f" * 64)})
    with locked(batch, files=files):
        append_operations(files, [gen_op(changed)])
    assert read_manifest(batch).plate(before.id).human_labels == {}  # other pixels: the review does not apply


def test_fold_is_the_plain_manifest():
    folded = fold([{"op": "set", "fields": {"batch": "b"}},
                   {"op": "gen", "plate": {"id": "p", "files": {"png": {"path": "x", "sha256": "1"}}}},
                   {"op": "audit", "id": "p", "labels": {"gender": {"value": "male"}}, "audit": {"t": 1}},
                   {"op": "audit", "id": "ghost", "labels": {}, "audit": None},
                   {"op": "event", "event": {"kind": "generate"}}])
    assert folded["plates"][0]["labels"] == {"gender": {"value": "male"}} and len(folded["plates"]) == 1
    assert folded["events"] == [{"kind": "generate"}]


# -- finding 2 and 22: stages at once on one batch keep everything -----------------------------------
def _generate_like(folder: str, start: int, count: int) -> None:
    """What generate does per chunk: plate files exist, one journal line each, under the lock."""
    batch = Path(folder)
    files = BatchFiles.of_batch(batch)
    template = read_manifest(batch).plates[0]
    for index in range(start, start + count):
        plate = dataclasses.replace(template, id=f"b_nurse_{index:04d}", index=index, labels={}, human_labels={},
                                    audit=None, files={"png": FileRef(f"proxies/b_nurse_{index:04d}.png",
                                                                      f"{index:064x}")})
        with locked(batch, files=files):
            append_operations(files, [gen_op(plate)])
    update_manifest(batch, lambda m: m.with_event("generate", start=start))


def _review_like(folder: str, ids: list[str]) -> None:
    for plate_id in ids:
        review_plate(Path(folder), plate_id, {"gender": "undetermined"}, reviewer="ana", note=plate_id)


def _audit_like(folder: str, ids: list[str]) -> None:
    batch = Path(folder)
    files = BatchFiles.of_batch(batch)
    for plate_id in ids:
        label = AutoLabel("male", "soak", "soak", "1", 0.9)
        with locked(batch, files=files):
            append_operations(files, [audit_op(plate_id, {"monk": label}, AuditRecord("0" * 64, utc_now(), "soak"))])
    update_manifest(batch, lambda m: m.with_event("audit", plates=len(ids)))


def _merge_like(folder: str) -> None:
    from castgate.batch.manifest import merge_parts

    for _ in range(3):
        merge_parts(Path(folder))


def test_finding_2_and_22_generate_audit_review_merge_at_once_lose_nothing(tmp_path: Path):
    from castgate.batch.manifest import part_path

    batch = make_batch(tmp_path / "b", {"nurse": balanced(8)})
    whole = read_manifest(batch)
    shard_plates = [dataclasses.replace(whole.plates[0], id=f"b_nurse_{i:04d}", index=i, labels={}, audit=None,
                                        files={"png": FileRef(f"proxies/b_nurse_{i:04d}.png", f"{i + 7:064x}")})
                    for i in range(26, 30)]
    write_manifest(batch, dataclasses.replace(whole, plates=tuple(shard_plates), events=()),
                   path=part_path(batch, 1, 1))   # a shard's part, merged while the others write
    reviewed = [f"b_nurse_{i:04d}" for i in range(8)]
    jobs = [(_generate_like, (str(batch), 8, 12)), (_generate_like, (str(batch), 14, 12)),
            (_review_like, (str(batch), reviewed)), (_audit_like, (str(batch), reviewed[::-1])),
            (_merge_like, (str(batch),))]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for target, args in jobs]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    manifest = read_manifest(batch)
    ids = [p.id for p in manifest.plates]
    assert sorted(ids) == [f"b_nurse_{i:04d}" for i in range(30)] and len(ids) == len(set(ids))
    for plate_id in reviewed:  # every review kept, with its note, beside the audit's label
        plate = manifest.plate(plate_id)
        assert plate.human_labels["gender"].note == plate_id and plate.labels["monk"].method == "soak"
    kinds = [e.kind for e in manifest.events]
    assert kinds.count("generate") == 2 and kinds.count("review") == 8 and kinds.count("audit") == 1
    assert journal_problems(batch) == []
    assert not [p for p in batch.rglob("*") if "castgate-tmp" in p.name]


def test_write_manifest_starts_a_journal_for_a_new_batch(tmp_path: Path):
    manifest = read_manifest(make_batch(tmp_path / "a", {"nurse": balanced(2)}))
    write_manifest(tmp_path / "c", manifest)
    assert read_manifest(tmp_path / "c") == manifest
    assert journal_problems(tmp_path / "c") == []
    human = HumanLabel("female", "ana", utc_now())
    update_manifest(tmp_path / "c", lambda m: m.with_plates([dataclasses.replace(m.plates[0],
                                                                                 human_labels={"gender": human})]))
    assert journal_problems(tmp_path / "c") == []
