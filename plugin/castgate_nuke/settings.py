"""Where the castgate command lives, and the panel's few preferences.

Nuke's Python is not castgate's: the panel runs the ``castgate`` command of castgate's own
environment. Its path comes from, in this order:

1. the environment variable ``CASTGATE_EXECUTABLE`` (studio launchers set it);
2. ``"executable"`` in ``~/.nuke/castgate.json`` (set in CastGate > Settings...);
3. a ``castgate`` found on ``PATH``.

The preferences file is plain JSON, e.g.::

    {"executable": "/opt/castgate/.venv/bin/castgate", "reviewer": "ana",
     "request_template": "/shows/abc/castgate/request.toml"}
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from typing import Mapping, Optional

ENV_EXECUTABLE = "CASTGATE_EXECUTABLE"
PREFS_NAME = "castgate.json"


def login_name() -> str:
    """The user's login name (the default reviewer and override author)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry
        return os.environ.get("USER", os.environ.get("USERNAME", ""))


class SettingsError(Exception):
    """The castgate command or the preferences file is not usable; the message says how to fix it."""


@dataclass
class Preferences:
    """What the panel remembers between sessions."""

    executable: str = ""        # castgate command in castgate's own environment
    reviewer: str = ""          # default reviewer name for label corrections
    request_template: str = ""  # request TOML whose [models]/[sampling] new requests start from


def default_prefs_path() -> str:
    """``~/.nuke/castgate.json``."""
    return os.path.join(os.path.expanduser("~"), ".nuke", PREFS_NAME)


def load_preferences(path: Optional[str] = None) -> Preferences:
    """Read the preferences file; a missing file gives the defaults.

    Raises:
        SettingsError: the file exists but is not a JSON object.
    """
    path = path or default_prefs_path()
    if not os.path.isfile(path):
        return Preferences()
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SettingsError("{}: cannot read the castgate preferences ({}). Fix or delete the file, "
                            "then choose the castgate command again in CastGate > Settings...".format(path, exc))
    if not isinstance(data, dict):
        raise SettingsError("{}: expected a JSON object like {{\"executable\": \"...\"}}. Fix or delete "
                            "the file.".format(path))
    known = {f.name for f in fields(Preferences)}
    return Preferences(**{k: str(v) for k, v in data.items() if k in known and v is not None})


def save_preferences(prefs: Preferences, path: Optional[str] = None) -> str:
    """Write the preferences atomically (temp file, then rename); return the path written."""
    path = path or default_prefs_path()
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".castgate.", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(prefs), handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def find_executable(prefs: Preferences, environ: Optional[Mapping[str, str]] = None,
                    prefs_path: Optional[str] = None) -> str:
    """The castgate command to run, checked.

    Args:
        prefs: the loaded preferences.
        environ: the environment to read ``CASTGATE_EXECUTABLE`` from (default ``os.environ``).
        prefs_path: the preferences file, named in messages.

    Returns:
        An absolute path to an executable file.

    Raises:
        SettingsError: nothing is configured, or the configured path is not an executable file.

    Example:
        >>> find_executable(Preferences(executable="/opt/castgate/.venv/bin/castgate"), environ={})
        '/opt/castgate/.venv/bin/castgate'
    """
    environ = os.environ if environ is None else environ
    from_env = environ.get(ENV_EXECUTABLE, "").strip()
    if from_env:
        return check_executable(from_env, "{} (environment variable)".format(ENV_EXECUTABLE))
    if prefs.executable.strip():
        where = "'executable' in {}".format(prefs_path or default_prefs_path())
        return check_executable(prefs.executable.strip(), where)
    on_path = shutil.which("castgate", path=environ.get("PATH"))
    if on_path:
        return os.path.abspath(on_path)
    raise SettingsError(
        "Nuke does not know where castgate is. castgate runs in its own Python environment, not "
        "Nuke's: set {} to its castgate command (for example /opt/castgate/.venv/bin/castgate) or "
        "choose it in CastGate > Settings...".format(ENV_EXECUTABLE))


def check_executable(path: str, source: str) -> str:
    """Return ``path`` made absolute if it is an executable file, else raise :class:`SettingsError`.

    ``source`` says where the path came from, for the message.
    """
    path = os.path.abspath(os.path.expanduser(path))
    fix = ("Point it at the castgate command inside castgate's own environment "
           "(bin/castgate, or Scripts\\castgate.exe on Windows).")
    if not os.path.exists(path):
        raise SettingsError("{} is {}, which does not exist. {}".format(source, path, fix))
    if os.path.isdir(path):
        raise SettingsError("{} is {}, which is a folder. {}".format(source, path, fix))
    if not os.access(path, os.X_OK):
        raise SettingsError("{} is {}, which is not executable (chmod +x it). {}".format(source, path, fix))
    return path
