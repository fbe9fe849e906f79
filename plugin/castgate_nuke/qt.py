"""The plugin's one Qt import: PySide6 (Nuke 16) else PySide2 (Nuke 13-15).

Every other module imports Qt from here, never from PySide directly, and keeps to calls that exist
in both Qt 5.15 and Qt 6: fully scoped enums (``QtCore.Qt.AlignmentFlag.AlignLeft``), :data:`QAction`
from this module (it moved from QtWidgets to QtGui in Qt 6) and :func:`exec_` to run a dialog
(``exec_`` in PySide2, ``exec`` in PySide6).

Example:
    >>> from castgate_nuke.qt import QtWidgets, exec_
    >>> exec_(QtWidgets.QMessageBox())
"""

from __future__ import annotations

from typing import Any

try:
    from PySide6 import QtCore, QtGui, QtWidgets
    from PySide6.QtGui import QAction

    QT_API = "PySide6"
except ImportError:
    from PySide2 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]
    from PySide2.QtWidgets import QAction  # type: ignore[no-redef]

    QT_API = "PySide2"

Signal = QtCore.Signal
Slot = QtCore.Slot


def exec_(runnable: Any) -> Any:
    """Run a dialog's or a menu's event loop and return its result, in Qt 5 and Qt 6 alike."""
    run = getattr(runnable, "exec", None) or getattr(runnable, "exec_")
    return run()


__all__ = ["QAction", "QT_API", "QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "exec_"]
