"""Plugin tests run without Nuke: a recording fake ``nuke`` in sys.modules, the plugin folder on
sys.path (as NUKE_PATH puts it there), Qt offscreen, and a fake ``castgate`` command."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent
for folder in (str(HERE.parents[1] / "plugin"), str(HERE)):  # the plugin as NUKE_PATH puts it, and helpers
    if folder not in sys.path:
        sys.path.insert(0, folder)

import fake_nuke  # noqa: E402
import plate_batch  # noqa: E402

_nuke, _nukescripts, _panels = fake_nuke.make_modules()
sys.modules["nuke"] = _nuke
sys.modules["nukescripts"] = _nukescripts
sys.modules["nukescripts.panels"] = _panels


@pytest.fixture(autouse=True)
def nuke_state() -> fake_nuke.State:
    """A fresh recording fake for each test."""
    return fake_nuke.reset()


@pytest.fixture
def prefs_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A preferences file of the test's own; no CASTGATE_EXECUTABLE leaks in from outside."""
    monkeypatch.delenv("CASTGATE_EXECUTABLE", raising=False)
    return str(tmp_path / "dot_nuke" / "castgate.json")


@pytest.fixture
def fake_castgate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefs_path: str) -> Dict[str, Any]:
    """A ``castgate`` executable that runs tests/plugin/fake_castgate.py; returns its path and call log."""
    exe = tmp_path / "bin" / "castgate"
    exe.parent.mkdir()
    exe.write_text('#!/bin/sh\nexec "{}" "{}" "$@"\n'.format(sys.executable, HERE / "fake_castgate.py"))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "castgate_calls.jsonl"
    monkeypatch.setenv("CASTGATE_EXECUTABLE", str(exe))
    monkeypatch.setenv("FAKE_CASTGATE_LOG", str(log))
    for name in ("FAKE_CASTGATE_VERDICT", "FAKE_CASTGATE_DELAY", "FAKE_CASTGATE_ERROR"):
        monkeypatch.delenv(name, raising=False)

    def calls() -> List[List[str]]:
        if not log.is_file():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    return {"exe": str(exe), "calls": calls}


@pytest.fixture
def make_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write a small batch; by default two roles, one balanced and one (6 plates) all male and lighter."""

    def make(name: str = "office_a", roles: Any = None, verdict: Any = None) -> Path:
        roles = roles or [
            ("clerk", "an office clerk at a desk", plate_batch.BALANCED),
            ("manager", "an office manager in a meeting", [("male", "lighter")] * 6),
        ]
        return plate_batch.write_batch(tmp_path / "shots" / "castgate" / name, name, roles, verdict=verdict)

    return make
