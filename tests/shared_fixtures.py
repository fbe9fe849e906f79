"""Where the shared reference fixtures are: ``$CASTGATE_FIXTURES``, else ``shared/fixtures`` beside the
repository, else beside the repository this checkout was cloned from (``git clone . /tmp/x`` on the
machine that holds them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    """The fixtures folder (it may not exist: callers say what to set)."""
    if os.environ.get("CASTGATE_FIXTURES"):
        return Path(os.environ["CASTGATE_FIXTURES"])
    beside = REPO.parent / "shared" / "fixtures"
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and ":" not in origin.split("/")[0]:   # a local path, not a URL
        cloned_from = (REPO / origin).resolve().parent / "shared" / "fixtures"
        if cloned_from.is_dir():
            return cloned_from
    return beside
