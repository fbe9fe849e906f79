"""Every call the plugin makes into Nuke, in one small module.

The rest of the plugin is plain Python and Qt; tests replace ``nuke`` and ``nukescripts`` with a
recording fake (tests/plugin/fake_nuke.py) that follows the ``types-nuke`` signatures, and mypy
checks this module against those stubs.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

import nuke

from castgate_nuke.nodes import COPYABLE_KNOBS

PANEL_ID = "uk.castgate.panel"        # one id: Nuke restores the panel into saved layouts by it
PANEL_TITLE = "CastGate"
PANEL_WIDGET = "__import__('castgate_nuke.panel', fromlist=['CastgatePanel']).CastgatePanel"
GAP_BELOW_NODES = 150


def script_path() -> str:
    """The open script's file path, or ``""`` while it has never been saved."""
    name = nuke.root().name()
    return "" if name in ("", "Root") else name


def add_plugin_path(folder: str) -> None:
    """Add a folder (gizmos, icons) to Nuke's plugin path."""
    nuke.pluginAddPath(folder)


def install_menus(open_panel: Callable[[], None], open_settings: Callable[[], None],
                  create_plate: Callable[[], None]) -> None:
    """The CastGate menu in Nuke's menu bar and a CastGate entry in the Nodes toolbar.

    Items are callables, not strings of Python.
    """
    menu = nuke.menu("Nuke").addMenu("CastGate")
    menu.addCommand("Open Panel", open_panel)
    menu.addCommand("Create Plate Node", create_plate)
    menu.addSeparator()
    menu.addCommand("Settings...", open_settings)
    toolbar = nuke.menu("Nodes").addMenu("CastGate", icon="CastGate.png")
    toolbar.addCommand("CastGate Panel", open_panel, icon="CastGate.png")
    toolbar.addCommand("CastgatePlate", create_plate, icon="CastGate.png")


def ask_plate_file() -> Optional[str]:
    """Ask for a castgate plate EXR (Nuke's file browser); None when cancelled."""
    path = nuke.getFilename("A castgate plate (BATCH/plates/*.exr)", "*.exr")
    return path or None


def view_file(path: str, node_name: str = "CastGateViewer") -> str:
    """Show an image in the Viewer through one Read node kept for that (made on first use)."""
    node = nuke.toNode(node_name)
    if node is None:
        node = nuke.createNode("Read", "name " + node_name, False)
    knob = node.knob("file")
    if knob is not None:
        knob.setValue(path.replace("\\", "/"))
    nuke.connectViewer(0, node)
    return node.name()


def register_panel(open_panel: Callable[[], None]) -> None:
    """Register the dockable panel under one id (saved layouts restore it by that id).

    ``registerWidgetAsPanel`` also adds a Pane menu item that would make a new panel each time; it
    is replaced (same name) by ``open_panel``, which raises the panel that is already open.
    """
    import nukescripts

    nukescripts.panels.registerWidgetAsPanel(PANEL_WIDGET, PANEL_TITLE, PANEL_ID)
    nuke.menu("Pane").addCommand(PANEL_TITLE, open_panel)


def restore_panel() -> None:
    """Open the registered panel in a pane (the command Nuke itself runs from the Pane menu)."""
    import nukescripts

    nukescripts.panels.restorePanel(PANEL_ID)


def free_origin() -> Tuple[int, int]:
    """A DAG position just below every node of the script, where an import will not overlap."""
    nodes = nuke.allNodes()
    if not nodes:
        return (0, 0)
    left = min(n.xpos() for n in nodes)
    bottom = max(n.ypos() + n.screenHeight() for n in nodes)
    return (left, bottom + GAP_BELOW_NODES)


def paste_nodes(text: str, undo_name: str = "Import castgate plates") -> List[str]:
    """Paste ``.nk`` text into the script's top level as one undo step; return the new nodes' names.

    ``nuke.nodePaste`` reads a file, so the text goes through a temporary ``.nk`` file.
    """
    handle, path = tempfile.mkstemp(prefix="castgate_import_", suffix=".nk")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        undo = nuke.Undo()
        undo.begin(undo_name)
        try:
            with nuke.root():
                for node in nuke.selectedNodes():
                    node.setSelected(False)
                nuke.nodePaste(path)
                new_nodes = nuke.selectedNodes()
                for node in new_nodes:
                    mark_read_only(node, COPYABLE_KNOBS)
                pasted = [node.name() for node in new_nodes]
        finally:
            undo.end()
    finally:
        os.unlink(path)
    return pasted


def mark_read_only(node: "nuke.Node", names: Sequence[str]) -> None:
    """Make knobs read-only but selectable (``nuke.READ_ONLY``), so their text can be copied."""
    for name in names:
        knob = node.knob(name)
        if knob is not None:
            knob.setFlag(nuke.READ_ONLY)


def colourspace_known(name: str) -> Optional[bool]:
    """Whether the OCIO config in ``$OCIO`` (the one Nuke uses when it is set) knows colour space ``name``
    (by name, alias or role); None when that cannot be told (no ``$OCIO``, no PyOpenColorIO, a config
    that does not load)."""
    path = os.environ.get("OCIO")
    if not path:
        return None
    try:
        import PyOpenColorIO as OCIO  # ships with Nuke
    except ImportError:
        return None
    try:
        config = OCIO.Config.CreateFromFile(path)
    except Exception:  # OCIO raises its own exception type
        return None
    return config.getColorSpace(name) is not None


def message(text: str) -> None:
    """A modal message in Nuke."""
    nuke.message(text)
