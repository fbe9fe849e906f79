"""The import paths of modules that moved into stage subpackages after castgate 0.1.0 keep working.

``import castgate.manifest`` gives ``castgate.batch.manifest`` itself (the same module object, so a
monkeypatch or an isinstance check sees one module) and warns once with a :class:`DeprecationWarning`
naming the new path. The finder is installed by ``castgate/__init__.py`` and imports nothing until an
old path is asked for.

Example:
    >>> import castgate.manifest as old
    >>> import castgate.batch.manifest as new
    >>> old is new
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED_INTO = {
    "weights": ("checkpoints", "msgpack_weights", "prepared_weights", "file_hashes", "demo_models"),
    "generation": ("engine", "generate", "sampling", "tokenizer", "text_normalizer", "clip_inputs", "rerank",
                   "selection"),
    "batch": ("manifest", "manifest_ops", "journal", "plan", "checks", "fileio", "ingest"),
}
MOVED = {f"castgate.{name}": f"castgate.{package}.{name}" for package, names in MOVED_INTO.items() for name in names}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} has moved to {self.target}; import it from there", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec   # the import system has just set the old path's spec on it


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds the old path of a moved module (:data:`MOVED`) and hands back the module at its new path."""

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
