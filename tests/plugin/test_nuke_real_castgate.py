"""The panel against the real castgate command (gate, review, override) on a tiny batch.

The other plugin tests use the fake command; this one checks that the fake and the real command agree
on what the panel relies on. Skipped in a checkout where ``castgate gate`` is not built yet.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from castgate_nuke.batch import POOLED, VERDICTS
from castgate_nuke.panel import CastgatePanel

import fake_nuke
import nk_reader
from test_nuke_panel import JOB_TIMEOUT_MS, answer_dialog, click, wait_idle

pytestmark = pytest.mark.skipif(importlib.util.find_spec("castgate_cli.commands.gate") is None,
                                reason="castgate gate is not built in this checkout")


def test_gate_review_and_override_with_the_real_command(qtbot: Any, prefs_path: str, make_batch: Callable[..., Path],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        nuke_state: fake_nuke.State) -> None:
    from castgate.batch.manifest import read_manifest

    monkeypatch.setenv("CASTGATE_EXECUTABLE", str(Path(sys.executable).parent / "castgate"))
    monkeypatch.setattr(CastgatePanel, "_instance", None)
    panel = CastgatePanel(prefs_path=prefs_path)
    qtbot.addWidget(panel)
    from castgate.batch.manifest import write_manifest

    folder = make_batch()
    write_manifest(folder, read_manifest(folder))  # the real command wants the journal castgate keeps for a batch
    assert panel.open_batch(str(folder))

    click(qtbot, panel.audit_tab.gate_button)
    wait_idle(qtbot, panel)
    assert panel.verdict is not None and panel.verdict.name in VERDICTS and panel.verdict.name != "PASS", \
        panel.status_label.text() + panel.log_view.toPlainText()[-3000:]
    manager = [b for b in panel.audit_tab.chart.bars() if b.scope == "manager" and b.attribute == "gender"]
    assert manager and manager[0].category == "female" and manager[0].observed == 0.0
    counts = manager[0].counts  # the cast question: the band is in counts, drawn as shares of the cast
    assert counts is not None and manager[0].ci is not None
    assert manager[0].band == pytest.approx((counts.band_low / counts.plates, counts.band_high / counts.plates))
    assert 0.4 <= manager[0].band[0] <= manager[0].band[1] <= 0.6  # inside the quota's 40-60 % band
    assert {b.scope for b in panel.audit_tab.chart.bars()} >= {"clerk", "manager", POOLED}
    assert read_manifest(folder).verdict["verdict"] == panel.verdict.name  # the gate recorded it

    panel.audit_tab.thumbnails.setCurrentRow(1)
    panel.audit_tab.review_combos["skin_group"].setCurrentText("lighter")
    panel.audit_tab.reviewer_edit.setText("ana")
    click(qtbot, panel.audit_tab.review_button)
    wait_idle(qtbot, panel)
    plate = read_manifest(folder).plate("office_a_clerk_0001")
    assert plate.human_labels["skin_group"].value == "lighter" and plate.human_labels["skin_group"].reviewer == "ana"

    def give_reason(dialog: Any) -> None:
        dialog.reason_edit.setPlainText("layout pass only; rebalance before final")
        dialog.import_button.click()

    answer_dialog(qtbot, give_reason)
    click(qtbot, panel.import_tab.import_button)
    qtbot.waitUntil(lambda: bool(nuke_state.pasted), timeout=JOB_TIMEOUT_MS)
    wait_idle(qtbot, panel)
    event = read_manifest(folder).events[-1]
    assert (event.kind, event.user) == ("import-override", "ana")
    assert event.details["reason"] == "layout pass only; rebalance before final"
    assert event.details["verdict"] == panel.verdict.name
    plates = nk_reader.parse(nuke_state.pasted[0]).nodes[1:]
    assert len(plates) == 10 and {p.knobs["verdict"] for p in plates} == {panel.verdict.name}
