"""Read published checkpoint folders: config.json, flax_model.msgpack, file hashes.

This module (with ``manifest.py``, ``plates.py`` and ``report/``) is one of the few that touch disk.
Model modules hold no weights; loaders here return plain nested dicts of numpy arrays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from castgate.errors import ModelFolderError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_files(folder: Path, names: list[str], *, what: str) -> None:
    """Raise :class:`ModelFolderError` naming every expected file that is missing from ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(
            f"{what} folder not found", where=str(folder),
            fix=f"Put the published {what} checkpoint there ({', '.join(names)}), or pass --model / set $CASTGATE_MODELS",
        )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise ModelFolderError(
            f"{what} folder is incomplete: missing {', '.join(missing)}", where=str(folder),
            fix=f"A {what} folder holds {', '.join(names)}; copy the missing files from the published checkpoint",
        )


def read_config(folder: Path) -> dict[str, Any]:
    """Read ``config.json`` from a model folder, with a clear error if it is malformed."""
    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError("config.json is missing", where=str(folder),
                               fix="Copy config.json from the published checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"config.json is not valid JSON ({exc})", where=str(path),
                               fix="Copy config.json again from the published checkpoint") from None


def read_msgpack(path: Path) -> dict[str, Any]:
    """Read a Flax ``flax_model.msgpack`` into a nested dict of numpy arrays.

    Raises:
        ModelFolderError: the file is missing, truncated or not a Flax msgpack state dict.
    """
    from flax import serialization  # heavy import, deferred

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFolderError("weights file is missing", where=str(path),
                               fix="Copy flax_model.msgpack from the published checkpoint") from None
    try:
        state = serialization.msgpack_restore(data)
    except Exception as exc:  # msgpack raises several unrelated types for truncated input
        raise ModelFolderError(
            f"weights file is truncated or corrupt ({type(exc).__name__}: {exc})", where=str(path),
            fix="The copy is incomplete; copy flax_model.msgpack again and check its size against the source",
        ) from None
    if not isinstance(state, dict):
        raise ModelFolderError("weights file does not hold a parameter dictionary", where=str(path),
                               fix="Use the published flax_model.msgpack")
    return state


def flatten(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    """Flatten a nested parameter dict to ``{("a", "b", "kernel"): array}``."""
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = np.asarray(value)
    return flat


def unflatten(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def folder_identity(folder: Path, names: list[str]) -> dict[str, Any]:
    """Describe a model folder for the manifest: its name and the SHA-256 of each named file present."""
    folder = Path(folder)
    return {
        "folder": str(folder.resolve()),
        "name": folder.name,
        "files": {name: sha256_file(folder / name) for name in names if (folder / name).is_file()},
    }
