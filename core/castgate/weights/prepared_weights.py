"""Prepared weights: a checkpoint's params, converted once, in a file that later loads only map.

``castgate models prepare DIR --dtype bfloat16`` converts a checkpoint's parameters to the compute
dtype, in castgate's module layout, and writes them as one safetensors file (an 8-byte header
length, a JSON header naming each array's dtype, shape and byte range, then the raw bytes). Loads
then map that file and copy each array straight to where it goes: no msgpack walk, no conversion.

An entry lives in ``<cache root>/prepared/<kind>-<dtype>-<key>/`` (``params.safetensors`` +
``meta.json``), where the key is a hash of the checkpoint's SHA-256, its config.json, the dtype and
the format version. It is trusted only when everything matches: the recorded checkpoint hash,
config and dtype, the file's size, the file's own SHA-256 (remembered per file version, see
:mod:`castgate.weights.file_hashes`), and every array's name, shape and dtype against the config. Anything
else is logged and the plain load runs instead.

Entries are written whole or not at all: in a temporary folder beside the target, fsynced, then
renamed into place. Two processes preparing the same entry both finish; the second to rename
keeps the first one's entry. A read-only or full cache folder is a :class:`PreparedWeightsError`
for ``prepare`` and never breaks a load.

Example:
    >>> prepare_weights(Path("/models/dalle-mega"), "bfloat16")["path"]
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import mmap
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from castgate.errors import PreparedWeightsError
from castgate.weights import checkpoints
from castgate.weights.file_hashes import cached_sha256, default_cache_root, remember_sha256
from castgate.weights.msgpack_weights import numpy_dtype, release_pages

logger = logging.getLogger(__name__)

FORMAT = "castgate-prepared/1"
PARAMS_FILE = "params.safetensors"
META_FILE = "meta.json"
_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
VQGAN_DTYPE = "float32"
"""The engine loads the VQGAN in float32 whatever the sampling dtype (``castgate.generation.engine.VQGAN_DTYPE``)."""
_ALIGN = 64
_WRITE_BLOCK = 64 << 20
_FIX_CACHE = ("Set $CASTGATE_CACHE to a folder you can write with room for the weights (the default is "
              "~/.cache/castgate), or load without preparing")

Path_ = tuple[str, ...]


def prepared_root(cache_root: Path | None = None) -> Path:
    """``<cache root>/prepared``: where prepared entries live."""
    return Path(cache_root or default_cache_root()) / "prepared"


def _config_digest(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode("utf-8")).hexdigest()


def entry_name(kind: str, checkpoint_sha256: str, raw: dict[str, Any], dtype: str) -> str:
    """The entry folder's name: kind, dtype and a hash of everything the params depend on."""
    key = hashlib.sha256(json.dumps({"format": FORMAT, "kind": kind, "checkpoint_sha256": checkpoint_sha256,
                                     "config_sha256": _config_digest(raw), "dtype": dtype},
                                    sort_keys=True).encode("utf-8")).hexdigest()[:24]
    return f"{kind}-{dtype}-{key}"


def _name(path: Path_) -> str:
    return "/".join(path)


# -- reading ------------------------------------------------------------------------------------------

class PreparedFile:
    """A mapped ``params.safetensors``: ``entries`` maps each name to ``(offset, shape, dtype)``."""

    def __init__(self, path: Path, buffer: mmap.mmap, entries: dict[str, tuple[int, tuple[int, ...], np.dtype]]):
        self.path = path
        self.buffer = buffer
        self.entries = entries

    def read(self, name: str) -> np.ndarray:
        offset, shape, dtype = self.entries[name]
        return np.frombuffer(self.buffer, dtype, int(np.prod(shape, dtype=np.int64)), offset).reshape(shape)

    def release(self, name: str) -> None:
        offset, shape, dtype = self.entries[name]
        release_pages(self.buffer, offset, offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)

    def close(self) -> None:
        try:
            self.buffer.close()
        except BufferError:  # a view is still alive; the map goes with it
            pass

    def __enter__(self) -> "PreparedFile":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _Mismatch(Exception):
    """Internal: why an entry is not trusted."""


def _parse_header(buffer: mmap.mmap, expected: dict[str, tuple[tuple[int, ...], str]]) -> dict:
    if len(buffer) < 8:
        raise _Mismatch("the params file is shorter than its header")
    (length,) = struct.unpack_from("<Q", buffer, 0)
    if length > len(buffer) - 8 or length > 100 << 20:
        raise _Mismatch("the params file's header length is impossible")
    try:
        header = json.loads(bytes(buffer[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Mismatch("the params file's header is not JSON") from None
    header.pop("__metadata__", None)
    if set(header) != set(expected):
        raise _Mismatch("the params file does not hold exactly the parameters the config implies")
    start, entries, spans = 8 + length, {}, []
    for name, (shape, dtype) in expected.items():
        item = header[name]
        if not isinstance(item, dict) or item.get("dtype") != _SAFETENSORS_DTYPES[dtype] \
                or tuple(item.get("shape", ())) != tuple(shape):
            raise _Mismatch(f"{name} has the wrong dtype or shape")
        begin, end = item.get("data_offsets", (None, None))
        size = int(np.prod(shape, dtype=np.int64)) * numpy_dtype(dtype).itemsize
        if not (isinstance(begin, int) and isinstance(end, int) and end - begin == size and begin >= 0):
            raise _Mismatch(f"{name} has impossible byte offsets")
        spans.append((begin, end))
        entries[name] = (start + begin, tuple(shape), numpy_dtype(dtype))
    spans.sort()
    if spans and (spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:]))
                  or start + spans[-1][1] != len(buffer)):
        raise _Mismatch("the params file's arrays do not tile its data exactly (truncated or padded)")
    return entries


def _open_entry(folder: Path, kind: str, checkpoint_sha256: str, raw: dict[str, Any], dtype: str,
                expected: dict[str, tuple[tuple[int, ...], str]], rehash: bool = False) -> PreparedFile:
    """Open an entry if every check passes; raise :class:`_Mismatch` saying why not."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Mismatch(f"{META_FILE} is missing (an unfinished entry)") from None
    except (OSError, ValueError) as exc:
        raise _Mismatch(f"{META_FILE} is unreadable ({exc})") from None
    wanted = {"format": FORMAT, "kind": kind, "dtype": dtype, "checkpoint_sha256": checkpoint_sha256,
              "config_sha256": _config_digest(raw)}
    wrong = [key for key, value in wanted.items() if not isinstance(meta, dict) or meta.get(key) != value]
    if wrong:
        raise _Mismatch(f"it was prepared from something else ({', '.join(wrong)} differ)")
    params = folder / PARAMS_FILE
    try:
        size = params.stat().st_size
    except OSError:
        raise _Mismatch(f"{PARAMS_FILE} is missing") from None
    if size != meta.get("params_size"):
        raise _Mismatch(f"{PARAMS_FILE} is {size:,} bytes, not the {meta.get('params_size')} recorded")
    if cached_sha256(params, rehash=rehash) != meta.get("params_sha256"):
        raise _Mismatch(f"the SHA-256 of {PARAMS_FILE} does not match the one recorded when it was written")
    with open(params, "rb") as handle:
        buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return PreparedFile(params, buffer, _parse_header(buffer, expected))
    except _Mismatch:
        buffer.close()
        raise


def _expected(module_shapes: dict[Path_, tuple[int, ...]], dtype: str) -> dict[str, tuple[tuple[int, ...], str]]:
    return {_name(path): (tuple(shape), dtype) for path, shape in module_shapes.items()}


def load_prepared(kind: str, folder: Path, raw: dict[str, Any], module_shapes: dict[Path_, tuple[int, ...]],
                  dtype: str, place: checkpoints.Place | None = None, *, cache_root: Path | None = None,
                  rehash: bool = False) -> dict[str, Any] | None:
    """The params from a valid prepared entry for this checkpoint, config and dtype, else None.

    Costs nothing (no hashing) when the cache holds no entry of this kind and dtype. An entry that
    fails a check is logged and ignored (the caller loads the msgpack).
    """
    root = prepared_root(cache_root)
    if not root.is_dir() or not any(root.glob(f"{kind}-{dtype}-*")):
        return None
    checkpoint_sha256 = cached_sha256(Path(folder) / "flax_model.msgpack", rehash=rehash)
    entry = root / entry_name(kind, checkpoint_sha256, raw, dtype)
    if not entry.is_dir():
        return None
    try:
        prepared = _open_entry(entry, kind, checkpoint_sha256, raw, dtype, _expected(module_shapes, dtype), rehash)
    except (_Mismatch, OSError) as exc:
        logger.warning("ignoring the prepared weights in %s (%s); loading %s instead", entry, exc,
                       Path(folder) / "flax_model.msgpack")
        return None
    place = place or checkpoints.host_copy
    params = {}
    with prepared:
        for name, (offset, _, _) in sorted(prepared.entries.items(), key=lambda item: item[1][0]):
            params[tuple(name.split("/"))] = place(prepared.read(name))
            prepared.release(name)
    logger.info("loaded %s %s from prepared weights %s", kind, folder, entry)
    return checkpoints.unflatten(params)


# -- writing ------------------------------------------------------------------------------------------

def _header(order: list[Path_], module_shapes, dtype: str, metadata: dict[str, str]) -> bytes:
    itemsize = numpy_dtype(dtype).itemsize
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for path in order:
        shape = tuple(module_shapes[path])
        size = int(np.prod(shape, dtype=np.int64)) * itemsize
        header[_name(path)] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": list(shape),
                               "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % _ALIGN)  # the data starts on a 64-byte boundary
    return struct.pack("<Q", len(text)) + text


def _write_params(path: Path, weights, layout, module_shapes, dtype: str, metadata: dict[str, str]) -> tuple[str, int]:
    digest = hashlib.sha256()
    order = checkpoints.module_order(weights, layout)
    with open(path, "wb") as handle:
        head = _header(order, module_shapes, dtype, metadata)
        handle.write(head)
        digest.update(head)
        written = len(head)
        for expected_path, (module_path, value) in zip(order, checkpoints.iter_module_params(weights, layout, dtype)):
            if module_path != expected_path:  # the header promised another order: never write a wrong file
                raise RuntimeError(f"parameter order changed while writing ({module_path} != {expected_path})")
            data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
            for start in range(0, data.size, _WRITE_BLOCK):
                block = data[start:start + _WRITE_BLOCK]
                handle.write(block)
                digest.update(block)
            written += data.size
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest(), written


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prepare_weights(folder: Path, dtype: str = "float32", *, cache_root: Path | None = None,
                    rehash: bool = False) -> dict[str, Any]:
    """Write (or find) the prepared entry of a DalleBart or VQGAN folder in ``dtype``.

    Args:
        folder: a DalleBart or VQGAN folder in the published layout.
        dtype: "float32", "bfloat16" or "float16" (use the dtype you generate with; the engine
            always loads the VQGAN in float32).
        cache_root: default ``$CASTGATE_CACHE``, else ``~/.cache/castgate``.
        rehash: hash the checkpoint (and an existing entry) again instead of trusting remembered hashes.

    Returns:
        ``{"path", "kind", "dtype", "checkpoint_sha256", "bytes", "reused", "seconds", "note"}``
        (``note``: why the dtype differs from the one asked for, else None).

    Raises:
        ModelFolderError: the folder is not a loadable DalleBart/VQGAN checkpoint (as loading says).
        PreparedWeightsError: the cache folder cannot be written or is full (nothing is left behind).
    """
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_SAFETENSORS_DTYPES)}")
    started = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise PreparedWeightsError("model folder not found", where=str(folder),
                                   fix="Give the folder that holds config.json and flax_model.msgpack")
    kind = checkpoints.model_kind(checkpoints.read_config(folder))
    if kind not in ("dallebart", "vqgan"):
        raise PreparedWeightsError("only DalleBart and VQGAN folders can be prepared", where=str(folder),
                                   fix="Give a DALL-E mini/mega or VQGAN folder")
    note = None
    if kind == "vqgan" and dtype != VQGAN_DTYPE:
        note = f"the VQGAN always loads and decodes in {VQGAN_DTYPE}: prepared in {VQGAN_DTYPE}, not {dtype}"
        dtype = VQGAN_DTYPE
    config, raw = checkpoints.read_checked_config(folder, kind)
    module_shapes, to_checkpoint, hint = checkpoints.kind_layout(kind, config)
    checkpoint_sha256 = cached_sha256(folder / "flax_model.msgpack", rehash=rehash)
    root = prepared_root(cache_root)
    target = root / entry_name(kind, checkpoint_sha256, raw, dtype)
    expected = _expected(module_shapes, dtype)
    result = {"path": str(target), "kind": kind, "dtype": dtype, "checkpoint_sha256": checkpoint_sha256,
              "note": note}

    def existing() -> bool:
        try:
            _open_entry(target, kind, checkpoint_sha256, raw, dtype, expected, rehash).close()
            return True
        except (_Mismatch, OSError):
            return False

    if target.is_dir() and existing():
        return {**result, "bytes": (target / PARAMS_FILE).stat().st_size, "reused": True,
                "seconds": round(time.perf_counter() - started, 2)}
    weights, layout = checkpoints.open_checked(folder, module_shapes, to_checkpoint, hint)
    building = None
    try:
        with weights:
            root.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(dir=root, prefix=f".{target.name}."))
            os.chmod(building, 0o755)
            metadata = {"format": FORMAT, "kind": kind, "dtype": dtype, "checkpoint_sha256": checkpoint_sha256}
            params_sha256, size = _write_params(building / PARAMS_FILE, weights, layout, module_shapes, dtype,
                                                metadata)
        meta = {**metadata, "config_sha256": _config_digest(raw), "params_sha256": params_sha256,
                "params_size": size, "source": str(folder.resolve()),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(building / META_FILE, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(building / PARAMS_FILE, 0o644)
        os.chmod(building / META_FILE, 0o644)
        _fsync_folder(building)
        installed = _install(building, target, existing)
        building = None
        _fsync_folder(root)
    except OSError as exc:
        reason = "the cache folder is full" if exc.errno == errno.ENOSPC else \
            f"the cache folder cannot be written ({exc.strerror or exc})"
        raise PreparedWeightsError(reason, where=str(root), fix=_FIX_CACHE) from None
    finally:
        if building is not None:
            shutil.rmtree(building, ignore_errors=True)
    if installed:
        remember_sha256(target / PARAMS_FILE, params_sha256)
    return {**result, "bytes": size, "reused": not installed, "seconds": round(time.perf_counter() - started, 2)}


def _install(building: Path, target: Path, existing) -> bool:
    """Rename the finished entry into place (True); keep a valid entry another process put there first (False)."""
    try:
        os.rename(building, target)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if existing():  # another process finished the same entry first: keep theirs
        shutil.rmtree(building, ignore_errors=True)
        return False
    stale = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.stale-"))
    os.rename(target, stale / "entry")  # an entry that failed its checks: replace it
    shutil.rmtree(stale, ignore_errors=True)
    os.rename(building, target)
    return True
