"""Safe file I/O for batches: atomic writes, castgate-named temp files, no symlinks, bounded reads.

* **Atomic.** A reader sees the old file or the new one, never half of either (temp file, fsync, rename).
* **Temp files say whose they are.** ``.castgate-tmp.<host>.<pid>.<random>.<name>``: castgate removes a
  leftover only when it is one of these, made on this host by a process that no longer runs; a
  user's own ``.env.tmpl`` is never touched.
* **No symlinks inside a batch.** Writes and deletes refuse a path whose folders inside the batch (or
  the file itself) are symbolic links, so nothing is written or removed outside the batch.
* **Bounded reads.** Plate files are read only when they are regular files under a size limit (a FIFO
  or ``/dev/zero`` behind a plate path gives a clear error, not a hang).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Callable

from castgate.errors import CastgateError

TEMP_PREFIX = ".castgate-tmp."
MAX_PLATE_BYTES = 256 * 1024 * 1024       # a plate file (EXR or PNG) larger than this is refused
MAX_PLATE_PIXELS = 4096 * 4096            # an image declaring more pixels is refused before it is decoded
_TEMP_NAME = re.compile(r"^\.castgate-tmp\.(?P<host>[A-Za-z0-9_-]{1,32})\.(?P<pid>\d{1,10})\.")


class UnsafePathError(CastgateError):
    """A path inside a batch is a symbolic link or not a regular file, so castgate will not use it."""


def _host_tag() -> str:
    return (re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host")[:32]


def temp_prefix() -> str:
    """The prefix of this process's temp files: ``.castgate-tmp.<host>.<pid>.``."""
    return f"{TEMP_PREFIX}{_host_tag()}.{os.getpid()}."


def atomic_write_bytes(path: Path, data: bytes, *, root: Path | None = None) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync, then rename.

    With ``root`` (the batch folder), refuse when a folder between ``root`` and ``path``, or ``path``
    itself, is a symbolic link.
    """
    path = Path(path)
    if root is not None:
        ensure_inside(root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=f".{path.name}")
    try:
        os.fchmod(fd, _default_mode())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, root: Path | None = None) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"), root=root)


def temp_path_beside(path: Path, *, root: Path | None = None) -> Path:
    """A unique castgate temp path in ``path``'s folder ending in ``path``'s name (so its suffix says the
    format), for writers that need a filename."""
    path = Path(path)
    if root is not None:
        ensure_inside(root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=f".{path.name}")
    os.close(fd)
    return Path(tmp)


def commit_temp(tmp: Path, path: Path) -> None:
    """fsync a finished temp file and rename it over ``path``."""
    os.chmod(tmp, _default_mode())
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


def is_castgate_temp(name: str) -> bool:
    """True for a temp file name castgate makes (``.castgate-tmp.<host>.<pid>.…``)."""
    return _TEMP_NAME.match(name) is not None


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Remove castgate temp files in ``folder`` (not below it) left by dead processes of this host.

    Files of a live process (another generate writing now) or of another host (a farm shard) are left
    alone, and so is anything castgate did not name: a user's ``.env.tmpl`` stays. Returns what was removed.
    """
    removed = []
    host = _host_tag()
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match.group("host") != host or not entry.is_file(follow_symlinks=False):
            continue
        if _process_alive(int(match.group("pid"))):
            continue
        _unlink_quietly(entry.path)
        removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


# -- symlinks --------------------------------------------------------------------------------------
def ensure_inside(root: Path, path: Path) -> Path:
    """Check that ``path`` lies inside ``root`` with no symbolic link on the way (or at the end).

    ``root`` itself may be a link (a studio may mount batches anywhere); what is inside it may not.

    Raises:
        UnsafePathError: a component is a symlink, or the path leaves ``root``.
    """
    root, path = Path(root), Path(path)
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise UnsafePathError(f"{path} is not inside the batch folder", where=str(root),
                              fix="Report this as a castgate bug") from None
    if ".." in relative.parts:
        raise UnsafePathError(f"{relative} leaves the batch folder", where=str(root),
                              fix="Regenerate the batch; its manifest names a path outside it")
    current = root
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if stat.S_ISLNK(mode):
            raise UnsafePathError(f"{current.relative_to(root)} is a symbolic link; castgate does not write, read "
                                  "or delete through links inside a batch", where=str(root),
                                  fix="Replace the link with a real folder or file (or move the batch)")
    return path


def open_no_follow(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link as the last component (an :class:`UnsafePathError`)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(f"{Path(path).name} is a symbolic link; castgate will not follow it",
                                  where=str(Path(path).parent),
                                  fix="Replace the link with the real file (or remove it)") from None
        raise


# -- bounded reads ---------------------------------------------------------------------------------
def read_regular_file(path: Path, max_bytes: int = MAX_PLATE_BYTES) -> bytes:
    """Read a regular file of at most ``max_bytes`` (no FIFOs, devices or links to them).

    Raises:
        FileNotFoundError: it does not exist.
        UnsafePathError: it is not a regular file, or is larger than ``max_bytes``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _check_regular(path, info, max_bytes)
        chunks, left = [], info.st_size + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise UnsafePathError(f"{path} grew past {max_bytes} bytes while being read", where=str(path),
                                  fix="Regenerate the plate")
        return data
    finally:
        os.close(fd)


def _check_regular(path: Path, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError("not a regular file (a FIFO, device or folder stands where a plate file should be)",
                              where=str(path), fix="Replace it with the plate file, or regenerate the plate")
    if info.st_size > max_bytes:
        raise UnsafePathError(f"the file is {info.st_size} bytes, above the limit of {max_bytes}",
                              where=str(path), fix="Regenerate the plate; plate files are far smaller")


def sha256_regular_file(path: Path, max_bytes: int = MAX_PLATE_BYTES) -> str:
    """SHA-256 of a regular file of at most ``max_bytes``, read in blocks (see :func:`read_regular_file`)."""
    import hashlib

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _check_regular(path, info, max_bytes)
        digest, total = hashlib.sha256(), 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise UnsafePathError(f"the file grew past {max_bytes} bytes while being read", where=str(path),
                                      fix="Regenerate the plate")
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


MAX_INPUT_BYTES = 64 * 1024 * 1024   # a request, quota or label table larger than this is refused


def read_input_text(path: Path, error: Callable[[str, str], Exception], max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of an input file (a request, quota or table), or ``error(problem, fix)`` raised saying
    exactly why not: missing, a folder or device, unreadable, too large, or not UTF-8."""
    try:
        data = read_regular_file(Path(path), max_bytes)
    except FileNotFoundError:
        raise error("file not found", "Check the path") from None
    except IsADirectoryError:
        raise error("this is a folder, not a file", "Pass the path of the file itself") from None
    except UnsafePathError:
        kind = ("a folder, not a file" if Path(path).is_dir() else
                f"larger than {max_bytes} bytes" if Path(path).is_file() else
                "not a regular file (a device or a pipe)")
        raise error(f"this is {kind}", "Pass the path of the file itself") from None
    except OSError as exc:
        raise error(f"cannot read the file ({exc.strerror or exc})", "Check the file's permissions") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start} cannot be decoded)", "Save the file as UTF-8 text") from None


# -- helpers ---------------------------------------------------------------------------------------
def _default_mode() -> int:
    """0666 less the process umask, as a plain ``open()`` would create a file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
