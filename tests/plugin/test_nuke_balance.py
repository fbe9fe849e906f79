"""The panel asks for a balanced cast: the Request tab's box writes [balance] and runs `castgate balance`;
the Audit tab shows what the generator drew on its own beside the cast."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Dict

import pytest

from castgate_nuke.balance_view import balance_lines
from castgate_nuke.panel import CastgatePanel
from castgate_nuke.qt import QtCore

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def panel(qtbot: Any, prefs_path: str, monkeypatch: pytest.MonkeyPatch) -> CastgatePanel:
    monkeypatch.setattr(CastgatePanel, "_instance", None)
    widget = CastgatePanel(prefs_path=prefs_path)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_balance_box_is_off_until_asked_and_steering_off_until_ticked(panel: CastgatePanel) -> None:
    tab = panel.request_tab
    assert not tab.balance_box.isChecked() and not tab.balance_button.isEnabled()
    doc, problems = tab.collect_request()
    assert "balance" not in doc
    tab.balance_box.setChecked(True)
    assert tab.balance_button.isEnabled()
    doc, problems = tab.collect_request()
    assert doc["balance"] == {"budget": 8, "steering": False}
    tab.balance_box.steering_check.setChecked(True)
    _, problems = tab.collect_request()
    assert any("steering is allowed but no phrase is given" in p for p in problems)


def test_balance_button_runs_castgate_balance_with_the_table(qtbot: Any, tmp_path: Path, panel: CastgatePanel,
                                                              fake_castgate: Dict[str, Any]) -> None:
    tab = panel.request_tab
    tab.name_edit.setText("ward")
    tab.roles_table.setRowCount(0)
    tab.add_role("nurse", "a nurse at a hospital", 2)
    tab.output_edit.setText(str(tmp_path / "ward"))
    tab.balance_box.setChecked(True)
    tab.balance_box.budget_spin.setValue(4)
    tab.balance_box.steering_check.setChecked(True)
    tab.balance_box.phrase_edits[("skin_group", "darker")].setText("with dark skin")
    qtbot.mouseClick(tab.balance_button, LEFT)
    qtbot.waitUntil(lambda: panel.job is None, timeout=15000)
    call = fake_castgate["calls"]()[-1]
    request = tmp_path / "ward.request.toml"
    assert call == ["balance", str(request), "-o", str(tmp_path / "ward"), "--json"]
    table = tomllib.loads(request.read_text())["balance"]
    assert table == {"budget": 4, "steering": True, "phrases": {"skin_group": {"darker": "with dark skin"}}}
    assert panel.tabs.currentWidget() is panel.audit_tab
    assert panel.audit_tab.balance_label.isVisible() and "generator on its own" in panel.audit_tab.balance_label.text()


def test_a_loaded_request_keeps_the_keys_the_panel_does_not_edit(panel: CastgatePanel) -> None:
    panel.request_tab.set_request({"batch": {"name": "ward"}, "roles": [{"id": "nurse", "prompt": "a nurse", "count": 4}],
                                   "balance": {"budget": 6, "quota": "skin.toml", "plain_rounds": 3,
                                               "phrases": {"gender": {"female": "a woman"}}}})
    box = panel.request_tab.balance_box
    assert box.isChecked() and box.budget_spin.value() == 6 and not box.steering_check.isChecked()
    assert box.phrase_edits[("gender", "female")].text() == "a woman"
    doc, problems = panel.request_tab.collect_request()
    assert not problems
    assert doc["balance"] == {"budget": 6, "quota": "skin.toml", "plain_rounds": 3, "steering": False,
                              "phrases": {"gender": {"female": "a woman"}}}


def test_balance_lines_show_the_generator_beside_the_cast() -> None:
    def plate(n: int, skin: str, kept: bool, steering: dict | None = None) -> dict:
        return {"id": f"w_nurse_{n:04d}", "role": "nurse", "kept": kept,
                "labels": {"skin_group": {"value": skin}}, "balance": {"round": 1, "steering": steering or {}},
                "rejected_reason": None if kept else "not selected: over quota in cell lighter"}

    manifest = {"request": {"roles": [{"id": "nurse"}]},
                "balance": {"cast": {"nurse": 2}, "outcome": "passed"},
                "plates": [plate(0, "lighter", True), plate(1, "lighter", False), plate(2, "lighter", False),
                           plate(3, "darker", True, {"skin_group": "with dark skin"})]}
    lines = balance_lines(manifest)
    assert lines[0] == "Balanced: passed (cast nurse 2)."
    assert lines[1] == ("nurse: skin group: generator on its own lighter 3 · cast darker 1, lighter 1; "
                        "steering “with dark skin” 1 candidates, 1 kept")
    assert balance_lines({"plates": []}) == []
