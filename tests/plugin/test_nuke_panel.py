"""The panel with real widgets and real clicks (pytest-qt, offscreen), over the fake castgate command."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from castgate_nuke.batch import POOLED
from castgate_nuke.dialogs import OverrideDialog
from castgate_nuke.panel import CastgatePanel
from castgate_nuke.qt import QtCore, QtGui, QtWidgets
from castgate_nuke.request_tab import default_output, request_path_for

import fake_nuke
import nk_reader
import plate_batch

LEFT = QtCore.Qt.MouseButton.LeftButton
JOB_TIMEOUT_MS = 15000


@pytest.fixture
def script(tmp_path: Path, nuke_state: fake_nuke.State) -> Path:
    """The open Nuke script: /…/shots/sh010/comp/sh010_comp_v003.nk (saved)."""
    path = tmp_path / "shots" / "sh010" / "comp" / "sh010_comp_v003.nk"
    path.parent.mkdir(parents=True)
    path.write_text("# nuke script\n")
    nuke_state.root._name = str(path)
    return path


@pytest.fixture
def panel(qtbot: Any, prefs_path: str, monkeypatch: pytest.MonkeyPatch) -> CastgatePanel:
    monkeypatch.setattr(CastgatePanel, "_instance", None)
    widget = CastgatePanel(prefs_path=prefs_path)
    qtbot.addWidget(widget)
    widget.resize(900, 780)
    widget.show()
    return widget


def wait_idle(qtbot: Any, panel: CastgatePanel) -> None:
    qtbot.waitUntil(lambda: panel.job is None, timeout=JOB_TIMEOUT_MS)


def click(qtbot: Any, button: QtWidgets.QAbstractButton) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, LEFT)


def set_roles(panel: CastgatePanel, roles: List[tuple]) -> None:
    panel.request_tab.roles_table.setRowCount(0)
    for role in roles:
        panel.request_tab.add_role(*role)


def answer_dialog(qtbot: Any, answer: Callable[[OverrideDialog], None]) -> Dict[str, Any]:
    """Answer the next override dialog when it opens (it runs its own event loop)."""
    seen: Dict[str, Any] = {}

    def poll() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if isinstance(dialog, OverrideDialog):
            seen["dialog_text"] = dialog.findChildren(QtWidgets.QLabel)[0].text()
            seen["enabled_before"] = dialog.import_button.isEnabled()
            answer(dialog)
        else:
            QtCore.QTimer.singleShot(20, poll)

    QtCore.QTimer.singleShot(20, poll)
    return seen


# -- request --------------------------------------------------------------------------------------
def test_request_defaults_come_from_the_script(qtbot: Any, script: Path, panel: CastgatePanel) -> None:
    assert panel.request_tab.name_edit.text() == "sh010_comp_v003"
    assert panel.request_tab.quota_combo.currentText() == "parity"
    assert panel.request_tab.output_edit.text() == str(script.parent / "castgate" / "sh010_comp_v003")
    panel.request_tab.name_edit.clear()
    qtbot.keyClicks(panel.request_tab.name_edit, "crowd_a")  # typing follows into the output folder...
    assert panel.request_tab.output_edit.text() == default_output(str(script), "crowd_a")
    qtbot.keyClicks(panel.request_tab.output_edit, "_mine")  # ...until the folder is edited by hand
    qtbot.keyClicks(panel.request_tab.name_edit, "2")
    assert panel.request_tab.output_edit.text() == default_output(str(script), "crowd_a") + "_mine"


def test_invalid_requests_are_refused_with_every_problem(qtbot: Any, script: Path, panel: CastgatePanel,
                                                         fake_castgate: Dict[str, Any]) -> None:
    set_roles(panel, [("nurse 1", "a nurse", 2), ("nurse 1", "", 3)])
    click(qtbot, panel.request_tab.run_button)
    text = panel.status_label.text()
    assert "Role 1: id 'nurse 1'" in text and "Role 2 (nurse 1): the prompt is empty" in text
    assert fake_castgate["calls"]() == [] and panel.job is None


def test_unsaved_script_needs_an_output_folder(qtbot: Any, panel: CastgatePanel,
                                               fake_castgate: Dict[str, Any]) -> None:
    assert panel.request_tab.output_edit.text() == ""
    click(qtbot, panel.request_tab.run_button)
    assert "Save the Nuke script first" in panel.status_label.text()


def test_request_toml_round_trip_through_the_panel(script: Path, panel: CastgatePanel, tmp_path: Path) -> None:
    source = tmp_path / "in.toml"
    source.write_text('[batch]\nname = "ward_b"\nseed = 99\nquota = "studio_mix"\n\n[models]\nroot = "/models"\n'
                      'demo = true\n\n[[roles]]\nid = "nurse"\nprompt = "a nurse, \\"candid\\""\ncount = 12\n')
    assert panel.request_tab.load_request(str(source))
    assert (panel.request_tab.name_edit.text(), panel.request_tab.seed_spin.value(), panel.request_tab.quota_combo.currentText()) == (
        "ward_b", 99, "studio_mix")
    assert panel.request_tab.roles() == [{"id": "nurse", "prompt": 'a nurse, "candid"', "count": 12}]
    out = tmp_path / "out.toml"
    assert panel.request_tab.write_request(str(out))
    assert tomllib.loads(out.read_text()) == tomllib.loads(source.read_text())  # [models] kept as loaded
    (tmp_path / "quotas").mkdir()
    source.write_text('[batch]\nname = "ward_b"\nquota = "quotas/ward.toml"\n[[roles]]\nid = "a"\nprompt = "b"\n'
                      'count = 1\n')
    assert panel.request_tab.load_request(str(source))  # a relative quota path follows the request it came from
    assert panel.request_tab.quota_combo.currentText() == str(tmp_path / "quotas" / "ward.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[batch]\nname = {x = 1}\n")
    assert not panel.request_tab.load_request(str(bad))
    assert "inline tables" in panel.status_label.text() and "line 2" in panel.status_label.text()


def test_castgate_accepts_the_requests_the_panel_writes(script: Path, panel: CastgatePanel, tmp_path: Path) -> None:
    from castgate.request import load_request

    fresh = tmp_path / "fresh.request.toml"
    set_roles(panel, [("clerk", "an office clerk, \"candid\"", 3)])
    assert panel.request_tab.write_request(str(fresh))
    request = load_request(fresh)
    assert [(r.id, r.prompt, r.count) for r in request.roles] == [("clerk", 'an office clerk, "candid"', 3)]
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo" / "request.toml"
    if demo.is_file():  # a studio request loaded, edited and written back keeps its [models] and [sampling]
        assert panel.request_tab.load_request(str(demo))
        panel.request_tab.seed_spin.setValue(77)
        edited = tmp_path / "demo.request.toml"
        assert panel.request_tab.write_request(str(edited))
        assert load_request(edited).models == load_request(demo).models
        assert load_request(edited).seed == 77


# -- running ---------------------------------------------------------------------------------------
def test_run_locally_end_to_end(qtbot: Any, script: Path, panel: CastgatePanel,
                                fake_castgate: Dict[str, Any]) -> None:
    set_roles(panel, [("clerk", "an office clerk", 4), ("guard", "a security guard", 2)])
    stages: List[str] = []
    click(qtbot, panel.request_tab.run_button)
    assert panel.job is not None and panel.cancel_button.isEnabled() and not panel.request_tab.run_button.isEnabled()
    panel.job.progress.connect(lambda p: stages.append(p.stage))
    wait_idle(qtbot, panel)
    output = default_output(str(script), "sh010_comp_v003")
    request = request_path_for(output)
    assert fake_castgate["calls"]() == [["run", request, "-o", output, "--json"]]
    sent = tomllib.loads(Path(request).read_text())
    assert sent["batch"] == {"name": "sh010_comp_v003", "seed": 0, "quota": "parity"}
    assert sent["roles"] == [{"id": "clerk", "prompt": "an office clerk", "count": 4},
                             {"id": "guard", "prompt": "a security guard", "count": 2}]
    assert {"generate", "audit"} <= set(stages)
    assert "generating 6 plates" in panel.log_view.toPlainText()  # stderr log lines reach the log
    assert panel.tabs.currentIndex() == 1 and panel.batch is not None
    assert panel.audit_tab.banner.property("verdict") == panel.verdict.name
    assert panel.audit_tab.thumbnails.count() == 6 and not panel.cancel_button.isEnabled()
    scopes = {b.scope for b in panel.audit_tab.chart.bars()}
    assert scopes == {"clerk", "guard", POOLED}


def test_cancel_stops_the_command(qtbot: Any, script: Path, panel: CastgatePanel, fake_castgate: Dict[str, Any],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CASTGATE_DELAY", "2")
    set_roles(panel, [("clerk", "an office clerk", 50)])
    click(qtbot, panel.request_tab.run_button)
    qtbot.waitUntil(lambda: "generate" in panel.stage_label.text(), timeout=JOB_TIMEOUT_MS)
    pid = panel.job._process.processId()
    assert pid > 0
    click(qtbot, panel.cancel_button)
    wait_idle(qtbot, panel)
    with pytest.raises(ProcessLookupError):  # the command is gone (and reaped), not left running
        os.kill(pid, 0)
    assert panel.status_label.text().startswith("Cancelled")
    assert panel.request_tab.run_button.isEnabled() and panel.batch is None


def test_generate_only_and_farm_submit(qtbot: Any, script: Path, panel: CastgatePanel,
                                       fake_castgate: Dict[str, Any]) -> None:
    set_roles(panel, [("clerk", "an office clerk", 2)])
    click(qtbot, panel.request_tab.farm_button)
    wait_idle(qtbot, panel)
    output = panel.request_tab.output_edit.text()
    assert "fake-4242" in panel.status_label.text()
    click(qtbot, panel.request_tab.generate_button)
    wait_idle(qtbot, panel)
    assert fake_castgate["calls"]() == [["farm", "submit", request_path_for(output), "-o", output, "--json"],
                                        ["generate", request_path_for(output), "-o", output, "--json"]]
    assert panel.batch is not None and panel.verdict is None
    assert panel.audit_tab.banner.property("verdict") == "NOT GATED"


def test_input_errors_and_a_missing_command_are_shown(qtbot: Any, script: Path, panel: CastgatePanel,
                                                      fake_castgate: Dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CASTGATE_ERROR", "request.toml: 1 problem(s) in the request: [models] root missing")
    click(qtbot, panel.request_tab.run_button)
    wait_idle(qtbot, panel)
    assert "[models] root missing" in panel.status_label.text()
    monkeypatch.delenv("CASTGATE_EXECUTABLE")
    monkeypatch.setenv("PATH", "/nonexistent")
    click(qtbot, panel.request_tab.run_button)
    assert "CASTGATE_EXECUTABLE" in panel.status_label.text() and panel.job is None


# -- audit -----------------------------------------------------------------------------------------
def test_filters_and_a_label_correction(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                        fake_castgate: Dict[str, Any]) -> None:
    folder = make_batch()
    manifest = plate_batch.read_manifest(folder)
    manifest["verdict"] = plate_batch.verdict_record(plate_batch.gate_result(manifest))
    plate_batch.write_manifest(folder, manifest)
    assert panel.open_batch(str(folder))
    assert panel.audit_tab.thumbnails.count() == 10 and panel.audit_tab.banner.property("verdict") == "FAIL"
    panel.audit_tab.role_filter.setCurrentIndex(panel.audit_tab.role_filter.findData("manager"))
    assert panel.audit_tab.thumbnails.count() == 6
    panel.audit_tab.role_filter.setCurrentIndex(0)
    panel.audit_tab.label_filter.setCurrentIndex(panel.audit_tab.label_filter.findData("gender=female"))
    assert panel.audit_tab.thumbnails.count() == 2 and panel.audit_tab.shown_label.text() == "2 of 10 plates"
    panel.audit_tab.label_filter.setCurrentIndex(0)

    item = panel.audit_tab.thumbnails.item(1)  # office_a_clerk_0001: male, darker
    rect = panel.audit_tab.thumbnails.visualItemRect(item)
    qtbot.mouseClick(panel.audit_tab.thumbnails.viewport(), LEFT, pos=rect.center())
    assert panel.audit_tab.review_combos["gender"].currentText() == "male" and panel.audit_tab.review_button.isEnabled()
    panel.audit_tab.review_combos["gender"].setCurrentText("female")
    panel.audit_tab.reviewer_edit.setText("ana")
    click(qtbot, panel.audit_tab.review_button)
    wait_idle(qtbot, panel)
    assert fake_castgate["calls"]()[-1] == ["review", str(folder), "--plate", "office_a_clerk_0001",
                                            "--set", "gender=female", "--reviewer", "ana", "--json"]
    plate = plate_batch.read_manifest(folder)["plates"][1]
    assert plate["human_labels"]["gender"]["value"] == "female"
    assert panel.verdict_stale and "Check gate" in panel.audit_tab.banner.text()
    assert panel.audit_tab.thumbnails.currentItem().text().endswith("female / darker")
    assert panel.prefs.reviewer == "ana"
    click(qtbot, panel.audit_tab.review_button)  # nothing changed now
    assert "unchanged" in panel.status_label.text()
    click(qtbot, panel.audit_tab.gate_button)
    wait_idle(qtbot, panel)
    assert fake_castgate["calls"]()[-1] == ["gate", str(folder), "--json"] and not panel.verdict_stale


def test_double_click_a_thumbnail_views_the_plate(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                                  nuke_state: fake_nuke.State) -> None:
    assert panel.open_batch(str(make_batch()))
    item = panel.audit_tab.thumbnails.item(3)
    rect = panel.audit_tab.thumbnails.visualItemRect(item)
    qtbot.mouseClick(panel.audit_tab.thumbnails.viewport(), LEFT, pos=rect.center())  # a real double-click's press
    qtbot.mouseDClick(panel.audit_tab.thumbnails.viewport(), LEFT, pos=rect.center())
    plate = panel.batch.plate(str(item.data(QtCore.Qt.ItemDataRole.UserRole)))
    assert nuke_state.viewed == [(0, "CastGateViewer")]
    assert fake_nuke.toNode("CastGateViewer").knob("file").value() == plate.exr.replace("\\", "/")
    assert plate.id in panel.status_label.text()


def test_report_is_written_then_opened(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                       fake_castgate: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    opened: List[str] = []
    monkeypatch.setattr(QtGui.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    folder = make_batch()
    panel.open_batch(str(folder))
    panel.tabs.setCurrentIndex(1)
    click(qtbot, panel.audit_tab.report_button)
    wait_idle(qtbot, panel)
    report = str(folder / "report" / "report.html")
    assert fake_castgate["calls"]() == [["report", str(folder), "-o", str(folder / "report"), "--json"]]
    assert opened == [report]
    click(qtbot, panel.audit_tab.report_button)  # now it exists: opened directly, no command
    assert opened == [report, report] and len(fake_castgate["calls"]()) == 1


# -- import ----------------------------------------------------------------------------------------
def pasted_script(nuke_state: fake_nuke.State) -> nk_reader.NkScript:
    assert len(nuke_state.pasted) == 1
    return nk_reader.parse(nuke_state.pasted[0])


def test_import_of_a_passing_batch(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                   fake_castgate: Dict[str, Any], nuke_state: fake_nuke.State,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CASTGATE_VERDICT", "PASS")
    folder = make_batch()
    panel.open_batch(str(folder))
    panel.tabs.setCurrentIndex(2)
    panel.import_tab.columns_spin.setValue(4)
    click(qtbot, panel.import_tab.import_button)
    wait_idle(qtbot, panel)
    assert fake_castgate["calls"]() == [["gate", str(folder), "--json"]]  # gated again, no override
    script = pasted_script(nuke_state)
    backdrop, *plates = script.nodes
    assert backdrop.knobs["label"] == "castgate batch office_a\nverdict: PASS"
    assert [p.knobs["plate_id"] for p in plates] == [p.id for p in panel.batch.kept_plates]
    assert {p.knobs["verdict"] for p in plates} == {"PASS"}
    assert "Imported 10 plates" in panel.status_label.text()


def test_import_of_a_failing_batch_needs_an_override(qtbot: Any, panel: CastgatePanel,
                                                     make_batch: Callable[..., Path], fake_castgate: Dict[str, Any],
                                                     nuke_state: fake_nuke.State) -> None:
    folder = make_batch()
    panel.open_batch(str(folder))
    panel.audit_tab.reviewer_edit.setText("ana")

    def give_reason(dialog: OverrideDialog) -> None:
        dialog.reason_edit.setPlainText("client approved this crowd on review 12")
        assert dialog.import_button.isEnabled()
        qtbot.mouseClick(dialog.import_button, LEFT)

    seen = answer_dialog(qtbot, give_reason)
    click(qtbot, panel.import_tab.import_button)
    qtbot.waitUntil(lambda: bool(nuke_state.pasted), timeout=JOB_TIMEOUT_MS)
    wait_idle(qtbot, panel)
    assert seen["enabled_before"] is False  # no reason, no import
    assert "<b>FAIL</b>" in seen["dialog_text"]
    calls = fake_castgate["calls"]()
    assert calls == [["gate", str(folder), "--json"],
                     ["override", str(folder), "--reason", "client approved this crowd on review 12",
                      "--user", "ana", "--json"]]
    events = plate_batch.read_manifest(folder)["events"]
    assert events[-1]["kind"] == "import-override" and events[-1]["details"]["verdict"] == "FAIL"
    backdrop = pasted_script(nuke_state).nodes[0]
    assert backdrop.knobs["label"].splitlines()[1:] == [
        "verdict: FAIL", "imported with override by ana: client approved this crowd on review 12"]


def test_cancelled_override_imports_nothing(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                            fake_castgate: Dict[str, Any], nuke_state: fake_nuke.State) -> None:
    folder = make_batch()
    panel.open_batch(str(folder))
    answer_dialog(qtbot, lambda dialog: dialog.reject())
    click(qtbot, panel.import_tab.import_button)
    qtbot.waitUntil(lambda: "no override" in panel.status_label.text(), timeout=JOB_TIMEOUT_MS)
    assert nuke_state.pasted == [] and [c[0] for c in fake_castgate["calls"]()] == ["gate"]


def test_import_refuses_plates_without_exr(qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path],
                                           fake_castgate: Dict[str, Any], nuke_state: fake_nuke.State) -> None:
    folder = make_batch()
    os.unlink(folder / "plates" / "office_a_clerk_0002.exr")
    panel.open_batch(str(folder))
    click(qtbot, panel.import_tab.import_button)
    assert "office_a_clerk_0002" in panel.status_label.text()
    assert fake_castgate["calls"]() == [] and nuke_state.pasted == []


# -- screenshots -------------------------------------------------------------------------------------
def test_screenshots(qtbot: Any, script: Path, panel: CastgatePanel, make_batch: Callable[..., Path],
                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grab the panel as Nuke would show it, gated by the real ``castgate gate`` (the docs must not show a
    verdict the real gate cannot give). Set CASTGATE_DOC_IMAGES=docs/images to refresh the docs' images."""
    monkeypatch.setenv("CASTGATE_EXECUTABLE", str(Path(sys.executable).parent / "castgate"))
    folder = make_batch(roles=[
        ("clerk", "an office clerk at a desk", plate_batch.BALANCED * 2),
        ("manager", "an office manager in a meeting", [("male", "lighter")] * 7 + [("female", "lighter")]),
    ])
    from castgate.batch.manifest import read_manifest, write_manifest

    write_manifest(folder, read_manifest(folder))  # the real gate wants the journal castgate keeps for a batch
    set_roles(panel, [("clerk", "an office clerk at a desk", 8), ("manager", "an office manager in a meeting", 8)])
    shots = {}

    def show_paths() -> None:  # the docs show a show's paths, not pytest's
        for edit in (panel.batch_edit, panel.request_tab.output_edit):
            edit.setText(edit.text().replace(str(tmp_path), "/shows/abc"))

    panel.tabs.setCurrentIndex(0)
    show_paths()
    shots["nuke-request.png"] = panel.grab()
    panel.open_batch(str(folder))
    panel.tabs.setCurrentIndex(1)
    click(qtbot, panel.audit_tab.gate_button)  # the real gate's full output
    wait_idle(qtbot, panel)
    assert panel.verdict is not None and panel.verdict.name != "PASS", panel.status_label.text()
    panel.log_view.clear()
    panel.audit_tab.reviewer_edit.setText("ana")  # not the login of whoever refreshes the images
    panel.audit_tab.thumbnails.setCurrentRow(3)
    show_paths()
    QtWidgets.QApplication.processEvents()
    shots["nuke-panel.png"] = panel.grab()
    panel.tabs.setCurrentIndex(2)
    shots["nuke-import.png"] = panel.grab()
    dialog = OverrideDialog("office_a", panel.verdict, "ana", panel)
    dialog.reason_edit.setPlainText("Client approved this crowd on review 12; rebalance in v004.")
    dialog.resize(520, 260)
    dialog.show()
    QtWidgets.QApplication.processEvents()
    shots["nuke-override.png"] = dialog.grab()
    dialog.close()
    target = os.environ.get("CASTGATE_DOC_IMAGES")
    for name, pixmap in shots.items():
        path = tmp_path / name
        assert pixmap.save(str(path)) and path.stat().st_size > 5000
        image = pixmap.toImage()
        colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 37)}
        assert len(colours) > 3, name  # not a blank grab
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            pixmap.save(str(Path(target) / name))
    print("screenshots in", tmp_path)


def test_the_cast_verdict_lists_plates_to_review_and_reviewing_one_gates_again(
        qtbot: Any, panel: CastgatePanel, make_batch: Callable[..., Path], fake_castgate: Dict[str, Any]) -> None:
    folder = make_batch()
    manifest = plate_batch.read_manifest(folder)
    record = plate_batch.verdict_record(plate_batch.gate_result(manifest))
    record.update(verdict="UNDECIDED", exit_code=3, question="cast", review=["office_a_clerk_0001"])
    record["scopes"] = [{"scope": "clerk", "title": "clerk", "kind": "role", "verdict": "UNDECIDED",
                         "attributes": [{"attribute": "gender", "gated": True, "verdict": "UNDECIDED",
                                         "cast": {"review": [{"plate_id": "office_a_clerk_0001",
                                                              "why": "automatic male, unmeasured",
                                                              "outcomes": {"female": "PASS", "male": "FAIL"}}]}}]}]
    manifest["verdict"] = record
    plate_batch.write_manifest(folder, manifest)
    assert panel.open_batch(str(folder))
    tab = panel.audit_tab
    assert "cast question" in tab.banner.text() and tab.banner.property("verdict") == "UNDECIDED"
    assert not tab.review_box.isHidden() and tab.review_list.count() == 1
    item = tab.review_list.item(0)
    assert item.text().startswith("office_a_clerk_0001") and "female -> PASS" in item.toolTip()
    tab.role_filter.setCurrentIndex(tab.role_filter.findData("manager"))   # the plate is filtered out
    tab.review_list.setCurrentItem(item)
    assert tab.selected_plate() is not None and tab.selected_plate().id == "office_a_clerk_0001"
    tab.review_combos["gender"].setCurrentText("female")
    tab.reviewer_edit.setText("ana")
    click(qtbot, tab.review_button)
    qtbot.waitUntil(lambda: fake_castgate["calls"]()[-1:] == [["gate", str(folder), "--json"]], timeout=20000)
    wait_idle(qtbot, panel)
    assert fake_castgate["calls"]()[-2][:4] == ["review", str(folder), "--plate", "office_a_clerk_0001"]
    assert not panel.verdict_stale
