"""Modules that moved into stage subpackages still import from their 0.1.0 paths, as the same module."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from castgate.moved import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_an_old_path_is_the_moved_module_itself(old, new):
    assert old.rsplit(".", 1)[1] == new.rsplit(".", 1)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    assert module is importlib.import_module(new) and module.__spec__.name == new


def test_old_paths_warn_and_give_the_same_module_in_a_fresh_interpreter():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "import castgate.batch.manifest as new\n"
            "try:\n    import castgate.manifest\nexcept DeprecationWarning as w:\n    print('warned:', w)\n"
            "warnings.simplefilter('ignore')\n"
            "import castgate.manifest as old\nfrom castgate import checkpoints\n"
            "import castgate.weights.checkpoints as c\n"
            "print(old is new, checkpoints is c, new.__spec__.name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "warned: castgate.manifest has moved to castgate.batch.manifest" in out
    assert out.strip().endswith("True True castgate.batch.manifest")


def test_a_name_that_never_existed_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("castgate.no_such_module")
