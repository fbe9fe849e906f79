"""A recording stand-in for Nuke's ``nuke`` and ``nukescripts`` modules, for tests without a licence.

Module-level functions keep the parameter names of the ``types-nuke`` stubs (a test checks this),
so a call that works here works in Nuke. ``nodePaste`` parses the pasted file with the test
``.nk`` reader and adds its top-level nodes, selected, like Nuke does.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Dict, List, Optional

import nk_reader


READ_ONLY = 0x10000000  # Nuke's value


class Knob:
    def __init__(self, value: Any = "") -> None:
        self._value = value
        self.flags = 0

    def setFlag(self, flag: int) -> None:
        self.flags |= flag

    def value(self, index: int = 0) -> Any:
        return self._value

    def setValue(self, value: Any, channel: int = 0) -> bool:
        self._value = value
        return True


class Node:
    def __init__(self, cls: str, name: str, xpos: int = 0, ypos: int = 0, knobs: Optional[Dict[str, str]] = None,
                 height: int = 18) -> None:
        self._cls = cls
        self._name = name
        self._xpos = xpos
        self._ypos = ypos
        self._height = height
        self._selected = False
        self._knobs = {k: Knob(v) for k, v in (knobs or {}).items()}

    def Class(self) -> str:
        return self._cls

    def name(self) -> str:
        return self._name

    def xpos(self) -> int:
        return self._xpos

    def ypos(self) -> int:
        return self._ypos

    def screenHeight(self) -> int:
        return self._height

    def screenWidth(self) -> int:
        return 80

    def setSelected(self, selected: bool) -> None:
        self._selected = selected

    def isSelected(self) -> bool:
        return self._selected

    def knob(self, p: Any, follow_link: bool = False) -> Optional[Knob]:
        return self._knobs.get(p)

    def __getitem__(self, name: str) -> Knob:
        return self._knobs[name]


class Root(Node):
    def __init__(self) -> None:
        super().__init__("Root", "Root")
        self.entered = 0

    def __enter__(self) -> "Root":
        self.entered += 1
        return self

    def __exit__(self, type: Any, value: Any, traceback: Any) -> None:
        return None


class Menu:
    def __init__(self, name: str) -> None:
        self._name = name
        self.items: List[Any] = []

    def name(self) -> str:
        return self._name

    def addMenu(self, name: str, icon: Optional[str] = None, **kwargs: Any) -> "Menu":
        for item in self.items:
            if isinstance(item, Menu) and item.name() == name:
                return item
        menu = Menu(name)
        menu.icon = icon  # type: ignore[attr-defined]
        self.items.append(menu)
        return menu

    def addCommand(self, name: str, command: Optional[Callable[[], Any]] = None, shortcut: str = "",
                   icon: str = "", tooltip: str = "", **kwargs: Any) -> "Command":
        item = Command(name, command, icon)
        for position, existing in enumerate(self.items):  # Nuke replaces an item of the same name
            if isinstance(existing, Command) and existing.name() == name:
                self.items[position] = item
                return item
        self.items.append(item)
        return item

    def addSeparator(self, **kwargs: Any) -> None:
        self.items.append("-")

    def findItem(self, name: str) -> Optional[Any]:
        head, _, rest = name.partition("/")
        for item in self.items:
            if isinstance(item, (Menu, Command)) and item.name() == head:
                if rest:
                    return item.findItem(rest) if isinstance(item, Menu) else None
                return item
        return None


class Command:
    def __init__(self, name: str, command: Optional[Callable[[], Any]], icon: str) -> None:
        self._name = name
        self.command = command
        self.icon = icon

    def name(self) -> str:
        return self._name

    def invoke(self) -> Any:
        return self.command() if self.command else None


class Undo:
    log: List[str] = []

    def begin(self, name: str = "") -> None:
        Undo.log.append("begin:" + name)

    def end(self) -> None:
        Undo.log.append("end")


class State:
    """Everything the fake records; reset per test."""

    def __init__(self) -> None:
        self.root = Root()
        self.nodes: List[Node] = []
        self.menus: Dict[str, Menu] = {}
        self.pasted: List[str] = []
        self.messages: List[str] = []
        self.plugin_paths: List[str] = []
        self.created: List[str] = []
        self.panels: List[tuple] = []
        self.restored: List[str] = []
        self.widgets: List[Any] = []
        self.filename_answers: List[Optional[str]] = []   # what getFilename returns, in turn
        self.viewed: List[tuple] = []                     # connectViewer calls: (input, node name)
        Undo.log = []


state = State()


def reset() -> State:
    global state
    state = State()
    return state


# -- nuke (names and parameters as in the types-nuke stubs) -----------------------------------------
def root() -> Root:
    return state.root


def menu(name: str) -> Menu:
    return state.menus.setdefault(name, Menu(name))


def message(prompt: str) -> None:
    state.messages.append(prompt)


def ask(prompt: str) -> bool:
    state.messages.append(prompt)
    return True


def pluginAddPath(args: str, addToSysPath: bool = True) -> None:
    state.plugin_paths.append(args)


def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:
    name = knobs[len("name "):] if knobs.startswith("name ") else "{}{}".format(typ, len(state.nodes) + 1)
    node = Node(typ, name, knobs={"file": ""} if typ == "Read" else None)
    state.created.append(typ)
    state.nodes.append(node)
    return node


def allNodes(*args: Any, **kwargs: Any) -> List[Node]:
    return list(state.nodes)


def selectedNodes(*args: Any) -> List[Node]:
    return [n for n in state.nodes if n.isSelected()]


def nodePaste(s: str) -> Optional[Node]:
    with open(s, encoding="utf-8") as handle:
        text = handle.read()
    state.pasted.append(text)
    script = nk_reader.parse(text)
    for n in state.nodes:
        n.setSelected(False)
    for parsed in script.nodes:
        node = Node(parsed.cls, parsed.name, int(parsed.knobs.get("xpos", 0)), int(parsed.knobs.get("ypos", 0)),
                    parsed.knobs)
        node.setSelected(True)
        state.nodes.append(node)
    return None


def thisNode() -> Node:
    return state.root


def toNode(s: str) -> Optional[Node]:
    return next((n for n in state.nodes if n.name() == s), None)


def getFilename(message: str, pattern: str = "", default: str = "", favorites: str = "", type: str = "",
                multiple: bool = False) -> Optional[str]:
    state.messages.append(message)
    return state.filename_answers.pop(0) if state.filename_answers else None


def connectViewer(inputNum: Any, node: Any) -> None:
    state.viewed.append((inputNum, node.name()))


# -- nukescripts ---------------------------------------------------------------------------------
def _register_widget_as_panel(widget: str, name: str, id: str, create: bool = False) -> None:
    """Like nukescripts: remember the panel and add a Pane menu item that makes a new one."""
    state.panels.append((widget, name, id, create))
    menu("Pane").addCommand(name, lambda: _restore_panel(id))


def _restore_panel(id: str) -> Any:
    state.restored.append(id)
    for widget, _name, panel_id, _create in state.panels:
        if panel_id == id:
            instance = eval(widget)()  # what nukescripts' WidgetKnob does with the string
            state.widgets.append(instance)
            return instance
    raise KeyError(id)


def make_modules() -> tuple:
    """Module objects to put in ``sys.modules`` as ``nuke``, ``nukescripts`` and ``nukescripts.panels``."""
    nuke = types.ModuleType("nuke")
    for name in ("root", "menu", "message", "ask", "pluginAddPath", "createNode", "allNodes", "selectedNodes",
                 "nodePaste", "thisNode", "toNode", "getFilename", "connectViewer", "READ_ONLY", "Undo", "Node",
                 "Knob", "Menu"):
        setattr(nuke, name, _forward(name))
    panels = types.ModuleType("nukescripts.panels")
    panels.registerWidgetAsPanel = _register_widget_as_panel  # type: ignore[attr-defined]
    panels.restorePanel = _restore_panel  # type: ignore[attr-defined]
    nukescripts = types.ModuleType("nukescripts")
    nukescripts.panels = panels  # type: ignore[attr-defined]
    return nuke, nukescripts, panels


def _forward(name: str) -> Any:
    return globals()[name]
