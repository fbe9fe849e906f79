"""``kill -9`` of an audit leaves no worker processes behind (issue 14, finding 25)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_factory import labelled, make_batch

REPO = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_finding_25_killing_the_audit_kills_its_workers(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"crowd": labelled(400)}, size=256)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'core'}:{REPO / 'cli'}"}
    audit = subprocess.Popen([sys.executable, "-m", "castgate_cli", "audit", str(batch), "--workers", "2", "--json"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and audit.poll() is None:
            below = descendants(audit.pid)
            workers = {p for p in below if os.getppid() != p and p not in _children(audit.pid)}
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        if audit.poll() is not None:
            pytest.skip("the audit finished before its workers could be seen")
        assert workers, "no worker processes appeared"
        family = descendants(audit.pid)
        audit.send_signal(signal.SIGKILL)
        audit.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(running(p) for p in family):
            time.sleep(0.2)
        assert not [p for p in family if running(p)], "processes of the killed audit still run"
    finally:
        if audit.poll() is None:
            audit.kill()


def _children(pid: int) -> set[int]:
    return {p for p in descendants(pid) if _parent(p) == pid}


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
