"""castgate for Nuke: request, review and import background-character plates without leaving Nuke.

The package is thin over the ``castgate`` command of castgate's own environment (Nuke's Python is
not castgate's, so nothing of castgate's core is imported here). Nuke runs :func:`register_gizmos`
from ``init.py`` (no UI) and :func:`install` from ``menu.py``; Qt is imported only when the panel or
a dialog opens.

Example (menu.py):
    >>> import castgate_nuke
    >>> castgate_nuke.install()
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

_installed = False


def plugin_dir() -> str:
    """The plugin folder (the one on NUKE_PATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gizmo_dir() -> str:
    """``gizmos/`` inside the plugin folder: the CastgatePlate gizmo and the menu icon. It travels with
    ``plugin/`` whether a studio deploys that folder alone or the whole repository."""
    return os.path.join(plugin_dir(), "gizmos")


def register_gizmos() -> None:
    """Add the gizmo folder to Nuke's plugin path (called from init.py; no UI, nothing slow)."""
    from castgate_nuke import host

    host.add_plugin_path(gizmo_dir())


def install() -> None:
    """Register the panel and build the CastGate menus (called once from menu.py)."""
    global _installed
    if _installed:
        return
    from castgate_nuke import host

    host.register_panel(open_panel)
    host.install_menus(open_panel, open_settings, create_plate_node)
    _installed = True


def open_panel() -> None:
    """Show the CastGate panel (one per session)."""
    from castgate_nuke.panel import show_panel

    show_panel()


def create_plate_node() -> None:
    """Ask for a plate EXR of a castgate batch and paste its plate node (a Group, as the panel imports)."""
    from castgate_nuke.plate_node import create_plate_node as create

    create()


def open_settings() -> None:
    """Show the settings dialog (where the castgate command lives)."""
    from castgate_nuke.dialogs import open_settings as show_settings

    show_settings()
