"""SHA-256 of big files, computed once and remembered while the file does not change.

A checkpoint's SHA-256 is its identity in the manifest, and hashing a 5 GB ``flax_model.msgpack``
takes seconds (and, under memory pressure, re-reads the file from disk). :func:`cached_sha256`
remembers each hash in a small JSON record under ``<cache root>/hashes/``, keyed by the file's
resolved path and trusted only while the file's size, modification time, change time, inode and
device are all the same as when it was hashed; any change, or ``rehash=True`` (``--rehash``),
computes it again. A cache folder that cannot be written only costs the saving: the hash is still
computed and returned.

Example:
    >>> cached_sha256(Path("/models/dalle-mega/flax_model.msgpack"))  # hashes once, then remembers
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from castgate.batch.fileio import atomic_write_text

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
CACHE_ENV = "CASTGATE_CACHE"


def default_cache_root() -> Path:
    """``$CASTGATE_CACHE``, else ``$XDG_CACHE_HOME/castgate`` (``~/.cache/castgate``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "castgate"


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    info = os.stat(path)
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns,
            "inode": info.st_ino, "device": info.st_dev}


def _record_path(path: Path, cache_root: Path | None) -> Path:
    # path + device + inode: hosts that share a cache folder over the network (each sees its own
    # device number) keep their own records instead of overwriting each other's.
    info = os.stat(path)
    key = hashlib.sha256(f"{path}\0{info.st_dev}\0{info.st_ino}".encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Path(cache_root or default_cache_root()) / "hashes" / f"{key}.json"


def cached_sha256(path: Path, *, rehash: bool = False, cache_root: Path | None = None) -> str:
    """The file's hex SHA-256, from the record when the file is unchanged since it was hashed.

    Args:
        path: the file.
        rehash: ignore any record and hash the file again (the new hash is recorded).
        cache_root: where records live (default :func:`default_cache_root`).

    Returns:
        64 hex digits.

    Raises:
        OSError: the file cannot be read (as :func:`sha256_file`).
    """
    path = Path(path).resolve()
    record = _record_path(path, cache_root)
    stamp = _stamp(path)
    if not rehash:
        try:
            saved = json.loads(record.read_text(encoding="utf-8"))
            if saved.get("path") == str(path) and all(saved.get(k) == v for k, v in stamp.items()):
                return str(saved["sha256"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    digest = sha256_file(path)
    if _stamp(path) != stamp:  # changed while it was read: do not remember a hash of a moving target
        return digest
    try:
        atomic_write_text(record, json.dumps({"path": str(path), **stamp, "sha256": digest}, sort_keys=True))
    except OSError as exc:
        logger.info("cannot remember the SHA-256 of %s in %s (%s); it will be computed again next time",
                    path, record.parent, exc.strerror or exc)
    return digest


def remember_sha256(path: Path, digest: str, *, cache_root: Path | None = None) -> None:
    """Record a hash the caller computed while writing ``path`` (saves reading it again)."""
    path = Path(path).resolve()
    try:
        atomic_write_text(_record_path(path, cache_root),
                          json.dumps({"path": str(path), **_stamp(path), "sha256": digest}, sort_keys=True))
    except OSError as exc:
        logger.info("cannot remember the SHA-256 of %s (%s)", path, exc.strerror or exc)
