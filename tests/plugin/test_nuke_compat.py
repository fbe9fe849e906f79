"""The plugin runs in Nuke 13-16: Python 3.7 syntax, Qt 5 and Qt 6 through one shim, typed against Nuke's stubs."""

from __future__ import annotations

import ast
import enum
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List

import pytest
from plugin_paths import PLUGIN, REPO

PLUGIN_FILES = sorted(PLUGIN.rglob("*.py"))
SHIM = PLUGIN / "castgate_nuke" / "qt.py"
VERMIN = str(Path(sys.executable).parent / "vermin")  # the console script; vermin has no __main__

# Attribute paths that exist in only one of Qt 5 (PySide2) and Qt 6 (PySide6).
QT5_ONLY = {
    "QtWidgets.QAction", "QtWidgets.QActionGroup", "QtWidgets.QShortcut", "QtWidgets.QFileSystemModel",
    "QtWidgets.QUndoStack", "QtWidgets.QUndoCommand", "QtWidgets.QDesktopWidget", "QtCore.QRegExp",
    "QtGui.QRegExpValidator", "QtCore.QTextCodec", "QtCore.QStringRef", "QtCore.Qt.MidButton",
    "QtGui.QPalette.Background", "QtGui.QPalette.Foreground",
}
QT6_ONLY = {
    "QtGui.QAction", "QtGui.QActionGroup", "QtGui.QShortcut", "QtGui.QFileSystemModel", "QtGui.QUndoStack",
    "QtGui.QPointingDevice", "QtGui.QInputDevice",
}
ONE_VERSION_METHODS = {"exec", "exec_", "desktop", "setMargin", "globalPosition"}


def attribute_chains(tree: ast.AST) -> Iterator[List[str]]:
    """Dotted names used in the code, outermost first: ``QtCore.Qt.AlignmentFlag.AlignLeft``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "parent", None), ast.Attribute):
            chain = []
            current: ast.AST = node
            while isinstance(current, ast.Attribute):
                chain.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name):
                chain.append(current.id)
                yield list(reversed(chain))


def parsed(path: Path) -> ast.AST:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node  # type: ignore[attr-defined]
    return tree


def test_python_37_syntax_with_vermin_and_ast() -> None:
    for path in PLUGIN_FILES:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))
    run = subprocess.run([VERMIN, "-t=3.7-", "--violations", "--no-tips",
                          "--eval-annotations", "-q", str(PLUGIN)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_37_checks_catch_a_38_feature(tmp_path: Path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text("import shlex\nif (n := 2):\n    print(shlex.join(['a']))\n")
    with pytest.raises(SyntaxError):
        ast.parse(newer.read_text(), feature_version=(3, 7))
    run = subprocess.run([VERMIN, "-t=3.7-", "--violations", "-q", str(newer)],
                         capture_output=True, text=True)
    assert run.returncode != 0


def test_qt_comes_only_from_the_shim_and_avoids_one_version_apis() -> None:
    problems = []
    for path in PLUGIN_FILES:
        tree = parsed(path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if path != SHIM and any(n.split(".")[0] in ("PySide2", "PySide6", "PyQt5", "qtpy") for n in names):
                    problems.append("{}:{} imports Qt directly; use castgate_nuke.qt".format(path.name, node.lineno))
        if path == SHIM:
            continue
        for chain in attribute_chains(tree):
            dotted = ".".join(chain)
            for banned in QT5_ONLY | QT6_ONLY:
                if dotted == banned or dotted.startswith(banned + "."):
                    problems.append("{}: {} exists in only one of Qt 5 and Qt 6".format(path.name, dotted))
            if chain[-1] in ONE_VERSION_METHODS:
                problems.append("{}: .{} differs between Qt 5 and Qt 6; use castgate_nuke.qt".format(
                    path.name, chain[-1]))
    assert problems == []


def test_qt_enums_are_fully_scoped() -> None:
    """``Qt.AlignmentFlag.AlignLeft``, not ``Qt.AlignLeft`` (PySide6 only accepts the short form by grace)."""
    from castgate_nuke.qt import QtCore, QtGui, QtWidgets

    roots = {"QtCore": QtCore, "QtGui": QtGui, "QtWidgets": QtWidgets}
    problems = []
    checked = 0
    for path in PLUGIN_FILES:
        for chain in attribute_chains(parsed(path)):
            if chain[0] not in roots:
                continue
            parent, current = None, roots[chain[0]]
            for name in chain[1:]:
                parent, current = current, getattr(current, name, None)
                if current is None:
                    break
                if isinstance(current, enum.Enum):
                    checked += 1
                    if not (isinstance(parent, type) and issubclass(parent, enum.Enum)):
                        problems.append("{}: {} is an unscoped enum".format(path.name, ".".join(chain)))
                    break
    assert checked > 20 and problems == []


def test_shim_falls_back_to_pyside2(tmp_path: Path) -> None:
    """With no PySide6 (Nuke 13-15), the shim takes PySide2 and QAction from QtWidgets."""
    fake = tmp_path / "PySide2"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "QtCore.py").write_text("Signal = object\nSlot = object\n")
    (fake / "QtGui.py").write_text("")
    (fake / "QtWidgets.py").write_text(textwrap.dedent("""
        class QAction: pass
        class QDialog:
            def exec_(self): return 'ran exec_'
    """))
    code = textwrap.dedent("""
        import sys
        sys.modules['PySide6'] = None  # not installed
        from castgate_nuke import qt
        print(qt.QT_API, qt.QAction.__module__, qt.exec_(qt.QtWidgets.QDialog()))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": "{}:{}".format(tmp_path, PLUGIN), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["PySide2", "PySide2.QtWidgets", "ran", "exec_"]


def test_plugin_type_checks_against_the_nuke_stubs(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "plugin/mypy.ini"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    misspelt = tmp_path / "misspelt.py"
    misspelt.write_text("import nuke\nnuke.nodePasteX('a.nk')\n")
    typo = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "plugin/mypy.ini", str(misspelt)],
                          cwd=REPO, capture_output=True, text=True)
    assert typo.returncode == 1 and 'has no attribute "nodePasteX"' in typo.stdout
