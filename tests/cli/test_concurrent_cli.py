"""The real commands at once on one batch lose nothing (issue 14, finding 2, end to end).

``castgate audit`` (a pool of two workers) runs while two reviewers label plates with ``castgate review``,
one plate per command and one CSV import each, and a third process gates the batch: every audit
label, every review and every event is kept, and the journal is intact.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from batch_factory import labelled, make_batch

from castgate.batch.checks import JournalIntact
from castgate.batch.journal import read_entries
from castgate.batch.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'core'}:{REPO / 'cli'}"}


def castgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "castgate_cli", *args], env=ENV, capture_output=True, text=True,
                          timeout=300)


def review_while(audit: subprocess.Popen, batch: Path, reviewer: str, ids: list[str]) -> list[str]:
    """Review plates one command at a time for as long as the audit runs; the ids reviewed."""
    done = []
    for plate_id in ids:
        if audit.poll() is not None:
            break
        result = castgate("review", str(batch), "--plate", plate_id, "--set", "monk=3", "--reviewer", reviewer,
                          "--note", f"{reviewer} {plate_id}", "-q")
        assert result.returncode == 0, result.stderr
        done.append(plate_id)
    return done


def review_by_import(batch: Path, reviewer: str, ids: list[str], table: Path) -> list[int]:
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["plate_id", "skin_group", "note"])
        writer.writerows([plate_id, "darker", f"{reviewer} {plate_id}"] for plate_id in ids)
    return [castgate("review", str(batch), "--import", str(table), "--reviewer", reviewer, "-q").returncode]


@pytest.mark.slow
def test_finding_2_audit_review_and_gate_commands_at_once_lose_nothing(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"crowd": labelled(700)}, size=256)  # an audit that checkpoints (5 s)
    ids = [plate.id for plate in read_manifest(batch).plates]
    imported = ids[600:612]
    audit = subprocess.Popen([sys.executable, "-m", "castgate_cli", "audit", str(batch), "--force", "--workers", "2",
                              "-q"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)   # the audit is starting its pool when the reviewers begin
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(review_while, audit, batch, "ana", ids[:60])
        second = pool.submit(review_by_import, batch, "ben", imported, tmp_path / "ben.csv")
        gate = pool.submit(castgate, "gate", str(batch), "--quota", "parity", "--json")
        one_by_one, codes, gated = first.result(), second.result(), gate.result()
    out, err = audit.communicate(timeout=300)
    assert audit.returncode == 0, err
    assert codes == [0] and one_by_one
    assert gated.returncode in (0, 1, 3) and "TAMPERED" not in gated.stdout, gated.stdout

    manifest = read_manifest(batch)
    assert [p.id for p in manifest.plates] == ids
    assert all(p.audit is not None and set(p.labels) >= {"gender", "skin_group", "fitzpatrick", "monk"}
               for p in manifest.plates)                               # the audit labelled every plate
    for plate_id in one_by_one:
        assert manifest.plate(plate_id).human_labels["monk"].note == f"ana {plate_id}"
    for plate_id in imported:
        assert manifest.plate(plate_id).human_labels["skin_group"].note == f"ben {plate_id}"
    kinds = [event.kind for event in manifest.events]
    assert (kinds.count("audit"), kinds.count("review"), kinds.count("gate")) == (1, len(one_by_one) + 1, 1), kinds
    assert JournalIntact().find_problems(manifest, batch) == []
    ops = [entry.data["op"] for entry in read_entries(batch / "journal.jsonl")]
    audited = [n for n, op in enumerate(ops) if op == "audit"]
    assert "put" in ops[audited[0]:audited[-1]], "no review landed while the audit was writing: not a test of both"
    assert not [p for p in batch.rglob("*") if "castgate-tmp" in p.name]
