"""Finding castgate's own command: env var, then preferences, then PATH, with messages that say the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from castgate_nuke.settings import (ENV_EXECUTABLE, Preferences, SettingsError, find_executable, load_preferences,
                                    save_preferences)


def executable(folder: Path, name: str = "castgate") -> str:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_environment_variable_wins_over_preferences(tmp_path: Path) -> None:
    env_exe = executable(tmp_path, "from_env")
    pref_exe = executable(tmp_path, "from_prefs")
    prefs = Preferences(executable=pref_exe)
    assert find_executable(prefs, environ={ENV_EXECUTABLE: env_exe}) == env_exe
    assert find_executable(prefs, environ={}) == pref_exe


def test_path_is_the_last_resort(tmp_path: Path) -> None:
    exe = executable(tmp_path)
    assert find_executable(Preferences(), environ={"PATH": str(tmp_path)}) == exe


def test_nothing_configured_says_where_to_set_it() -> None:
    with pytest.raises(SettingsError) as info:
        find_executable(Preferences(), environ={"PATH": ""})
    message = str(info.value)
    assert ENV_EXECUTABLE in message and "CastGate > Settings" in message and "own Python environment" in message


@pytest.mark.parametrize("problem", ["missing", "folder", "not executable"])
def test_a_wrong_path_is_named_with_its_source_and_the_fix(tmp_path: Path, problem: str) -> None:
    if problem == "missing":
        path, words = str(tmp_path / "nope"), "does not exist"
    elif problem == "folder":
        path, words = str(tmp_path), "is a folder"
    else:
        path = str(tmp_path / "castgate")
        Path(path).write_text("x")
        os.chmod(path, 0o644)
        words = "not executable"
    with pytest.raises(SettingsError) as info:
        find_executable(Preferences(), environ={ENV_EXECUTABLE: path})
    message = str(info.value)
    assert path in message and words in message and ENV_EXECUTABLE in message
    assert "bin/castgate" in message
    with pytest.raises(SettingsError, match="castgate.json"):
        find_executable(Preferences(executable=path), environ={}, prefs_path="/home/a/.nuke/castgate.json")


def test_preferences_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = str(tmp_path / ".nuke" / "castgate.json")
    assert load_preferences(path) == Preferences()
    prefs = Preferences(executable="/opt/castgate/bin/castgate", reviewer="ana", request_template="/t.toml")
    save_preferences(prefs, path)
    assert load_preferences(path) == prefs
    assert json.loads(Path(path).read_text())["reviewer"] == "ana"
    Path(path).write_text("[1, 2]")
    with pytest.raises(SettingsError, match="JSON object"):
        load_preferences(path)
    Path(path).write_text("{broken")
    with pytest.raises(SettingsError, match="cannot read"):
        load_preferences(path)
