"""Nuke-facing code against the recording fake: init.py, menu.py, menus, panel registration, paste."""

from __future__ import annotations

import ast
import inspect
import io
import os
import runpy
import sys
import sysconfig
from contextlib import redirect_stderr
from pathlib import Path

import fake_nuke
import nk_reader
import pytest
from plugin_paths import PLUGIN

import castgate_nuke
from castgate_nuke import host, nodes
from castgate_nuke.batch import read_batch


def stub_functions() -> dict:
    """Module-level functions of the types-nuke stubs: name -> parameter names."""
    folder = Path(sysconfig.get_paths()["purelib"]) / "nuke-stubs"  # where types-nuke installs them
    out: dict = {}
    for name in ("_nuke.pyi", "overrides.pyi"):
        tree = ast.parse((folder / name).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                out.setdefault(node.name, [a.arg for a in node.args.args])
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        out.setdefault(node.name + "." + item.name, [a.arg for a in item.args.args])
    return out


def test_fake_nuke_follows_the_stub_signatures() -> None:
    stubs = stub_functions()
    checked = 0
    for name in ("root", "menu", "message", "ask", "pluginAddPath", "createNode", "nodePaste", "thisNode", "toNode",
                 "getFilename", "connectViewer"):
        params = list(inspect.signature(getattr(fake_nuke, name)).parameters)
        assert params == stubs[name], name
        checked += 1
    for cls, method in (("Node", "setSelected"), ("Node", "xpos"), ("Node", "ypos"), ("Node", "screenHeight"),
                        ("Node", "name"), ("Node", "knob"), ("Knob", "setFlag")):
        instance = fake_nuke.Node("Read", "r") if cls == "Node" else fake_nuke.Knob()
        params = ["self"] + list(inspect.signature(getattr(instance, method)).parameters)
        assert params == stubs[cls + "." + method], cls + "." + method
        checked += 1
    assert checked == 18


def test_init_py_registers_the_gizmo_folder(nuke_state: fake_nuke.State) -> None:
    runpy.run_path(str(PLUGIN / "init.py"))
    assert nuke_state.plugin_paths == [str(PLUGIN / "gizmos")]
    assert (Path(nuke_state.plugin_paths[0]) / "CastgatePlate.gizmo").is_file()
    assert (Path(nuke_state.plugin_paths[0]) / "CastGate.png").is_file()


def test_init_py_never_stops_nuke(monkeypatch: pytest.MonkeyPatch, nuke_state: fake_nuke.State) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("plugin path exploded")

    monkeypatch.setattr(fake_nuke, "pluginAddPath", broken)
    monkeypatch.setattr(sys.modules["nuke"], "pluginAddPath", broken)
    err = io.StringIO()
    with redirect_stderr(err):
        runpy.run_path(str(PLUGIN / "init.py"))
    assert "RuntimeError: plugin path exploded" in err.getvalue()


def test_menu_py_builds_menus_and_registers_one_panel(monkeypatch: pytest.MonkeyPatch,
                                                      nuke_state: fake_nuke.State) -> None:
    monkeypatch.setattr(castgate_nuke, "_installed", False)
    runpy.run_path(str(PLUGIN / "menu.py"))
    runpy.run_path(str(PLUGIN / "menu.py"))  # Nuke may read menu.py twice; still one of each
    assert nuke_state.panels == [(host.PANEL_WIDGET, "CastGate", host.PANEL_ID, False)]
    nuke_menu = nuke_state.menus["Nuke"].findItem("CastGate")
    assert [i.name() for i in nuke_menu.items if i != "-"] == ["Open Panel", "Create Plate Node", "Settings..."]
    toolbar = nuke_state.menus["Nodes"].findItem("CastGate")
    assert toolbar.icon == "CastGate.png"
    assert all(callable(i.command) for i in toolbar.items)  # callables, not strings of Python
    toolbar.findItem("CastgatePlate").invoke()  # asks for a plate; cancelled: nothing is made
    assert nuke_state.created == [] and nuke_state.pasted == []


def test_create_plate_node_asks_for_a_plate_and_pastes_its_group(make_batch, nuke_state: fake_nuke.State,
                                                                 tmp_path: Path) -> None:
    """Like an import, one plate: a self-contained Group (no empty gizmo whose Read is in error), with prompt and
    seed read-only but selectable."""
    import nk_reader

    from castgate_nuke import plate_node
    from castgate_nuke.batch import read_batch

    batch = read_batch(str(make_batch()))
    plate = batch.kept_plates[2]
    nuke_state.filename_answers = [plate.exr]
    castgate_nuke.create_plate_node()
    (text,) = nuke_state.pasted
    script = nk_reader.parse(text)
    (group,) = script.nodes
    assert group.cls == "Group" and group.knobs["plate_id"] == plate.id and group.knobs["plate_file"] == plate.exr
    pasted = fake_nuke.toNode(group.name)
    assert pasted is not None
    for name in ("prompt", "seed"):
        assert pasted.knob(name).flags & fake_nuke.READ_ONLY, name
    # not a plate of a batch: a message, nothing pasted
    stray = tmp_path / "stray.exr"
    stray.write_bytes(b"v/1\x01")
    nuke_state.filename_answers = [str(stray)]
    assert plate_node.create_plate_node() == []
    assert "is not inside a castgate batch" in nuke_state.messages[-1] and len(nuke_state.pasted) == 1


def test_view_file_shows_a_plate_in_the_viewer_through_one_read(nuke_state: fake_nuke.State) -> None:
    assert host.view_file("/shows/x/b/plates/a.exr") == "CastGateViewer"
    assert host.view_file("/shows/x/b/plates/b.exr") == "CastGateViewer"
    assert nuke_state.created == ["Read"]  # made once, then reused
    assert fake_nuke.toNode("CastGateViewer").knob("file").value() == "/shows/x/b/plates/b.exr"
    assert nuke_state.viewed == [(0, "CastGateViewer"), (0, "CastGateViewer")]


def test_menu_py_prints_the_traceback_and_nuke_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(castgate_nuke, "_installed", False)
    monkeypatch.setattr(host, "register_panel", lambda open_panel: 1 / 0)
    err = io.StringIO()
    with redirect_stderr(err):
        runpy.run_path(str(PLUGIN / "menu.py"))
    assert "ZeroDivisionError" in err.getvalue()


def test_open_panel_creates_one_panel_then_reuses_it(qtbot, monkeypatch: pytest.MonkeyPatch,
                                                     nuke_state: fake_nuke.State, prefs_path: str) -> None:
    from castgate_nuke import panel as panel_module

    monkeypatch.setattr(castgate_nuke, "_installed", False)
    monkeypatch.setattr(panel_module.CastgatePanel, "_instance", None)
    monkeypatch.setattr(panel_module.settings, "default_prefs_path", lambda: prefs_path)
    castgate_nuke.install()
    nuke_state.menus["Nuke"].findItem("CastGate/Open Panel").invoke()
    assert nuke_state.restored == [host.PANEL_ID] and len(nuke_state.widgets) == 1
    created = nuke_state.widgets[0]
    qtbot.addWidget(created)
    assert isinstance(created, panel_module.CastgatePanel)
    nuke_state.menus["Nuke"].findItem("CastGate/Open Panel").invoke()
    pane_items = [i for i in nuke_state.menus["Pane"].items if i.name() == "CastGate"]
    assert len(pane_items) == 1
    pane_items[0].invoke()  # Nuke's Pane menu entry was replaced by the single-instance opener
    assert nuke_state.restored == [host.PANEL_ID]  # the later calls raised the same panel
    assert panel_module.CastgatePanel.instance() is created and len(nuke_state.widgets) == 1


def test_paste_nodes_goes_through_a_temp_file_at_root_as_one_undo(make_batch, nuke_state: fake_nuke.State) -> None:
    old = fake_nuke.Node("Read", "Read1", 40, 500)
    old.setSelected(True)
    nuke_state.nodes.append(old)
    batch = read_batch(str(make_batch()))
    origin = host.free_origin()
    assert origin == (40, 500 + 18 + host.GAP_BELOW_NODES)
    text = nodes.import_script(batch, batch.kept_plates, origin=origin, verdict="PASS")
    pasted = host.paste_nodes(text)
    assert nuke_state.pasted == [text]
    assert pasted[0] == "cg_office_a_backdrop" and len(pasted) == 1 + len(batch.kept_plates)
    assert not old.isSelected()  # the selection was cleared, so nothing got connected to it
    assert nuke_state.root.entered == 1 and fake_nuke.Undo.log == ["begin:Import castgate plates", "end"]
    assert all(n.ypos() >= origin[1] for n in nuke_state.nodes if n is not old)
    assert nk_reader.parse(text).nodes[0].cls == "BackdropNode"


def test_script_path(nuke_state: fake_nuke.State) -> None:
    assert host.script_path() == ""  # an unsaved script is named "Root"
    nuke_state.root._name = "/shows/abc/sh010/comp/sh010_comp_v003.nk"
    assert host.script_path() == "/shows/abc/sh010/comp/sh010_comp_v003.nk"
