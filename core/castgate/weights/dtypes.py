"""Weights to the compute dtype: bit for bit as numpy casts them, large arrays in row blocks on every core.

Example:
    >>> convert(np.ones((4, 4), np.float16), np.dtype(np.float32)).dtype
    dtype('float32')
"""

from __future__ import annotations

import functools

import numpy as np

_SPLIT_ELEMENTS = 1 << 22  # arrays from this size are converted in row blocks on several cores


def convert(value: np.ndarray, target: np.dtype) -> np.ndarray:
    """``value`` in ``target`` dtype: itself when it already is, else one converted array.

    float16 -> bfloat16 goes through float32 (exact, the same result): ml_dtypes' direct cast is
    about 1.6x slower than the two numpy casts on this CPU, and mega is stored in float16. Large
    arrays are cast in row blocks on the process's cores (numpy's casts release the GIL), straight into
    the one output array: the same values, written once.
    """
    if value.dtype == target:
        return value
    out = np.empty(value.shape, target)
    workers = _convert_workers()
    if value.size < _SPLIT_ELEMENTS or value.ndim == 0 or value.shape[0] < workers or workers < 2:
        _cast_into(out, value)
        return out
    edges = np.linspace(0, value.shape[0], workers + 1).astype(int)
    blocks = [slice(start, stop) for start, stop in zip(edges[:-1], edges[1:])]
    list(_convert_pool(workers).map(lambda rows: _cast_into(out[rows], value[rows]), blocks))
    return out


def _cast_into(out: np.ndarray, value: np.ndarray) -> None:
    if value.dtype == np.float16 and out.dtype.name == "bfloat16":
        value = value.astype(np.float32)
    np.copyto(out, value, casting="unsafe")


@functools.lru_cache(maxsize=1)
def _convert_workers() -> int:
    import os

    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@functools.lru_cache(maxsize=1)
def _convert_pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="castgate-convert")
