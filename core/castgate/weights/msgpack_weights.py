"""Read a Flax ``flax_model.msgpack`` through a memory map, one array at a time.

Flax writes a state dict with msgpack: nested maps with string keys whose leaves are msgpack
*extension* values of type 1 (``ndarray``). The payload of each is itself msgpack: the array
``[shape, dtype name, raw C-order bytes]``. Arrays larger than 1 GiB are split by flax into a map
``{"__msgpack_chunked_array__": true, "shape": {"0": n, ...}, "chunks": {"0": <ndarray>, ...}}`` of
flat pieces. (Read in ``flax/serialization.py``: ``_ndarray_to_bytes``, ``_MsgpackExtType``,
``_chunk``.)

:class:`MsgpackWeights` walks that structure once, without copying any array: every leaf becomes a
:class:`WeightRef` (shape, dtype and where its bytes lie in the file). Shapes can be checked from the
refs alone; :meth:`WeightRef.read` gives a read-only numpy view into the map (or, for a chunked array,
one assembled copy), and :meth:`MsgpackWeights.release` hands a byte range's pages back to the
kernel once its array has been converted, so a load never holds the whole file and its converted
copy at the same time.

Example:
    >>> with MsgpackWeights.open(Path("models/dalle-mini/flax_model.msgpack")) as weights:
    ...     kernel = weights.arrays[("lm_head", "kernel")].read()
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from castgate.errors import ModelFolderError

NDARRAY_EXT = 1
"""flax's msgpack extension code for an ndarray (``_MsgpackExtType.ndarray``)."""
NPSCALAR_EXT = 3
CHUNKED_MARKER = "__msgpack_chunked_array__"

_FIX_TRUNCATED = "The copy is incomplete; copy flax_model.msgpack again and check its size against the source"


class _Corrupt(Exception):
    """Internal: the bytes do not form the structure flax writes (turned into ModelFolderError)."""


def release_pages(buffer: mmap.mmap, start: int, end: int) -> None:
    """Drop the pages of a read-only file map between two byte offsets from this process's memory.

    The data stays in the file (and in the page cache); touching it again reads it back in.
    """
    page = mmap.PAGESIZE
    first = start - start % page
    end = min(end, len(buffer))
    if end > first and hasattr(buffer, "madvise"):
        try:
            buffer.madvise(mmap.MADV_DONTNEED, first, end - first)
        except (OSError, ValueError):
            pass


@dataclass(frozen=True)
class _Span:
    """A msgpack bin or ext payload: where its bytes lie in the file."""

    offset: int
    length: int
    code: int | None = None  # the ext type code; None for bin


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a dtype name flax wrote (``bfloat16`` through ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


@dataclass(frozen=True)
class WeightRef:
    """One array of the file, not read yet.

    Attributes:
        shape: the array's shape.
        dtype: its numpy dtype as stored.
        segments: ``(byte offset, element count)`` of each stored piece (one, unless flax chunked it).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    segments: tuple[tuple[int, int], ...]
    source: "MsgpackWeights"

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def byte_range(self) -> tuple[int, int]:
        """First byte and one past the last byte of the stored pieces."""
        first = min(offset for offset, _ in self.segments)
        last = max(offset + count * self.dtype.itemsize for offset, count in self.segments)
        return first, last

    def read(self) -> np.ndarray:
        """The array: a read-only view into the map (a copy when flax stored it in chunks)."""
        buffer = self.source.buffer
        if len(self.segments) == 1:
            offset, count = self.segments[0]
            return np.frombuffer(buffer, self.dtype, count, offset).reshape(self.shape)
        flat = np.empty(sum(count for _, count in self.segments), self.dtype)
        start = 0
        for offset, count in self.segments:
            flat[start:start + count] = np.frombuffer(buffer, self.dtype, count, offset)
            start += count
        return flat.reshape(self.shape)


class MsgpackWeights:
    """A memory-mapped flax msgpack file: ``arrays`` maps each parameter path to a :class:`WeightRef`.

    Use as a context manager (or call :meth:`close`); views from :meth:`WeightRef.read` must not
    outlive it.

    Raises (from :meth:`open`):
        ModelFolderError: the file is missing, empty, truncated, or not a flax msgpack state dict.
    """

    def __init__(self, path: Path, buffer: mmap.mmap):
        self.path = Path(path)
        self.buffer = buffer
        self.arrays: dict[tuple[str, ...], WeightRef] = {}

    @classmethod
    def open(cls, path: Path) -> "MsgpackWeights":
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size == 0:
                    raise ModelFolderError("weights file is empty", where=str(path), fix=_FIX_TRUNCATED)
                buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise ModelFolderError("weights file is missing", where=str(path),
                                   fix="Copy flax_model.msgpack from the published checkpoint") from None
        except IsADirectoryError:
            raise ModelFolderError("weights file is a folder", where=str(path),
                                   fix="Copy flax_model.msgpack from the published checkpoint") from None
        weights = cls(path, buffer)
        try:
            weights._index()
        except _Corrupt as exc:
            weights.close()
            raise ModelFolderError(f"weights file is truncated or corrupt ({exc})", where=str(path),
                                   fix=_FIX_TRUNCATED) from None
        return weights

    def __enter__(self) -> "MsgpackWeights":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Unmap the file (left to the garbage collector while a view of it is still alive)."""
        try:
            self.buffer.close()
        except BufferError:
            pass

    def release(self, start: int, end: int) -> None:
        """Hand the pages of bytes ``start`` .. ``end`` back: RSS drops, the file is untouched."""
        release_pages(self.buffer, start, end)

    def dtype_names(self) -> list[str]:
        """The distinct stored dtypes, sorted."""
        return sorted({ref.dtype.name for ref in self.arrays.values()})

    # -- the walk -------------------------------------------------------------------------------------

    def _index(self) -> None:
        reader = _Reader(self.buffer)
        tree = reader.value()
        if reader.position != len(self.buffer):
            raise _Corrupt(f"{len(self.buffer) - reader.position} stray bytes after the state dict")
        if not isinstance(tree, dict):
            raise _Corrupt("the file does not hold a parameter dictionary")
        self._collect(tree, ())

    def _collect(self, node: dict, prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            path = prefix + (str(key),)
            if isinstance(value, dict) and value.get(CHUNKED_MARKER) is True:
                self.arrays[path] = self._chunked(value, path)
            elif isinstance(value, dict):
                self._collect(value, path)
            elif isinstance(value, _Span) and value.code in (NDARRAY_EXT, NPSCALAR_EXT):
                self.arrays[path] = self._array(value, path)
            else:
                raise _Corrupt(f"{'/'.join(path)} is a {type(value).__name__}, not an array")

    def _array(self, ext: _Span, path: tuple[str, ...]) -> WeightRef:
        reader = _Reader(self.buffer, ext.offset, ext.offset + ext.length)
        header = reader.value()
        if reader.position != ext.offset + ext.length or not (isinstance(header, list) and len(header) == 3):
            raise _Corrupt(f"{'/'.join(path)} is not a flax ndarray record")
        shape, name, data = header
        if isinstance(name, _Span):  # a dtype name written as bin
            name = bytes(self.buffer[name.offset:name.offset + name.length]).decode("ascii", "replace")
        if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)
                and isinstance(name, str) and isinstance(data, _Span) and data.code is None):
            raise _Corrupt(f"{'/'.join(path)} is not a flax ndarray record")
        try:
            dtype = numpy_dtype(name)
        except TypeError:
            raise _Corrupt(f"{'/'.join(path)} has an unknown dtype {name!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != data.length:
            raise _Corrupt(f"{'/'.join(path)} holds {data.length} bytes, but shape {tuple(shape)} of {name} "
                           f"needs {count * dtype.itemsize}")
        return WeightRef(tuple(shape), dtype, ((data.offset, count),), self)

    def _chunked(self, node: dict, path: tuple[str, ...]) -> WeightRef:
        try:
            shape = tuple(node["shape"][str(i)] for i in range(len(node["shape"])))
            pieces = [self._array(node["chunks"][str(i)], path + ("chunks", str(i)))
                      for i in range(len(node["chunks"]))]
        except (KeyError, TypeError, AttributeError):
            raise _Corrupt(f"{'/'.join(path)} is a malformed chunked array") from None
        dtypes = {piece.dtype for piece in pieces}
        count = sum(piece.segments[0][1] for piece in pieces)
        if len(dtypes) != 1 or count != int(np.prod(shape, dtype=np.int64)):
            raise _Corrupt(f"{'/'.join(path)}: its chunks do not add up to shape {shape}")
        return WeightRef(shape, dtypes.pop(), tuple(piece.segments[0] for piece in pieces), self)


class _Reader:
    """A msgpack decoder over a buffer that never copies bin/ext payloads (they become :class:`_Span`)."""

    def __init__(self, buffer, start: int = 0, end: int | None = None):
        self.buffer = buffer
        self.position = start
        self.end = len(buffer) if end is None else end

    def _take(self, count: int) -> int:
        at = self.position
        if count < 0 or at + count > self.end:
            raise _Corrupt(f"the file ends inside a value at byte {at:,} (it is {len(self.buffer):,} bytes long)")
        self.position = at + count
        return at

    def _unpack(self, fmt: str) -> Any:
        at = self._take(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.buffer, at)[0]

    def _text(self, length: int) -> str:
        at = self._take(length)
        try:
            return bytes(self.buffer[at:at + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt(f"a key at byte {at:,} is not UTF-8 text") from None

    def value(self, depth: int = 0) -> Any:
        if depth > 64:
            raise _Corrupt("nesting too deep")
        kind = self._unpack(">B")
        if kind <= 0x7F:
            return kind
        if kind >= 0xE0:
            return kind - 0x100
        if 0x80 <= kind <= 0x8F:
            return self._map(kind & 0x0F, depth)
        if 0x90 <= kind <= 0x9F:
            return [self.value(depth + 1) for _ in range(kind & 0x0F)]
        if 0xA0 <= kind <= 0xBF:
            return self._text(kind & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if kind in simple:
            return simple[kind]
        if kind in _BIN:
            length = self._unpack(_BIN[kind])
            return _Span(self._take(length), length)
        if kind in _EXT:
            length = self._unpack(_EXT[kind])
            code = self._unpack(">b")
            return _Span(self._take(length), length, code)
        if kind in _FIXEXT:
            code = self._unpack(">b")
            return _Span(self._take(_FIXEXT[kind]), _FIXEXT[kind], code)
        if kind in _NUMBER:
            return self._unpack(_NUMBER[kind])
        if kind in _STR:
            return self._text(self._unpack(_STR[kind]))
        if kind in (0xDC, 0xDD):
            return [self.value(depth + 1) for _ in range(self._unpack(">H" if kind == 0xDC else ">I"))]
        if kind in (0xDE, 0xDF):
            return self._map(self._unpack(">H" if kind == 0xDE else ">I"), depth)
        raise _Corrupt(f"byte {self.position - 1:,} is 0x{kind:02x}, which starts no msgpack value")

    def _map(self, count: int, depth: int) -> dict:
        result = {}
        for _ in range(count):
            key = self.value(depth + 1)
            if isinstance(key, (dict, list, _Span)):
                raise _Corrupt(f"a map key at byte {self.position:,} is not text")
            result[key] = self.value(depth + 1)
        return result


_BIN = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}
_EXT = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_STR = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
_NUMBER = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
           0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
