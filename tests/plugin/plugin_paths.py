"""Where the plugin tests find things (imported by name: tests/plugin is on sys.path, see conftest.py)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGIN = REPO / "plugin"
GIZMOS = PLUGIN / "gizmos"
