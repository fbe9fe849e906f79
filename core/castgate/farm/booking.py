"""On a render host: use what the farm booked for this frame, no more (pure but for the GPU query).

OpenCue's RQD tells a frame what it booked through its environment: ``CUE_GPU_CORES`` (the booked
GPU ids, e.g. ``"0,1"``; RQD does not set ``CUDA_VISIBLE_DEVICES``), ``CUE_GPUS`` and
``CUE_GPU_MEMORY`` (booked GPU count and memory in KB) and ``CUE_THREADS`` (booked cores). Left
alone, JAX would use every GPU of the host and preallocate 75 % of each one, so two frames on one
multi-GPU host would fight over all of them. :func:`booking_environment` turns the booking into the
variables JAX reads when it starts; ``castgate`` applies it before anything imports JAX
(:func:`apply_booking`). Variables the studio set itself are never overridden.

* ``CUDA_VISIBLE_DEVICES`` = ``CUE_GPU_CORES`` (unless already set); an empty value when a farm
  frame booked no GPU (``CUE_GPUS=0``), so it never takes another frame's GPU.
* ``XLA_PYTHON_CLIENT_MEM_FRACTION`` = booked GPU memory / the smallest booked GPU's memory (from
  ``nvidia-smi``), at most 0.95; when the GPU's size is unknown, ``XLA_PYTHON_CLIENT_PREALLOCATE=false``
  (JAX then allocates as it goes and frees what it does not use).
* :func:`booked_threads`: ``CUE_THREADS``, which the audit's worker count follows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Callable, Mapping, MutableMapping

MAX_FRACTION = 0.95
MIN_FRACTION = 0.05
GPU_QUERY_TIMEOUT_S = 10.0
JAX_MEMORY_VARIABLES = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE",
                        "XLA_PYTHON_CLIENT_ALLOCATOR")

GpuMemoryQuery = Callable[[list[str]], "int | None"]


def on_farm(env: Mapping[str, str]) -> bool:
    """Whether this process is an OpenCue frame (RQD sets ``CUE_JOB`` and ``CUE_FRAME``)."""
    return bool(env.get("CUE_JOB") and env.get("CUE_FRAME"))


def booked_gpu_ids(env: Mapping[str, str]) -> list[str]:
    """The booked GPU ids from ``CUE_GPU_CORES`` (``"0,1"``, ``"0 1"`` or ``"0|1"``)."""
    return [part for part in re.split(r"[,\s|]+", env.get("CUE_GPU_CORES", "")) if part]


def booked_threads(env: Mapping[str, str] | None = None) -> int | None:
    """Booked cores (``CUE_THREADS``), or None off the farm or when unset or not a positive number."""
    value = (os.environ if env is None else env).get("CUE_THREADS", "")
    try:
        threads = int(float(value))
    except ValueError:
        return None
    return threads if threads > 0 else None


def booking_environment(env: Mapping[str, str], gpu_memory_kb: GpuMemoryQuery | None = None) -> dict[str, str]:
    """The variables to set so JAX uses the booked GPUs and memory only (empty off the farm).

    Args:
        env: the process environment.
        gpu_memory_kb: returns the smallest total memory (KB) of the given GPU ids, or None when
            unknown (default: :func:`nvidia_smi_memory_kb`).
    """
    changes: dict[str, str] = {}
    ids = booked_gpu_ids(env)
    if "CUDA_VISIBLE_DEVICES" not in env:
        if ids:
            changes["CUDA_VISIBLE_DEVICES"] = ",".join(ids)
        elif on_farm(env) and env.get("CUE_GPUS", "").strip() in ("0", ""):
            changes["CUDA_VISIBLE_DEVICES"] = ""
    if any(name in env for name in JAX_MEMORY_VARIABLES):
        return changes
    booked_kb = _positive_int(env.get("CUE_GPU_MEMORY"))
    if not ids or booked_kb is None:
        return changes
    total_kb = (gpu_memory_kb or nvidia_smi_memory_kb)(ids)
    if total_kb:
        fraction = min(MAX_FRACTION, max(MIN_FRACTION, booked_kb / total_kb))
        changes["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{fraction:.2f}"
    else:
        changes["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return changes


def apply_booking(env: MutableMapping[str, str] | None = None,
                  gpu_memory_kb: GpuMemoryQuery | None = None) -> dict[str, str]:
    """Set :func:`booking_environment`'s variables in ``env`` (default ``os.environ``); return them.

    Call it before JAX is imported: JAX reads these variables once, when its backend starts.
    """
    target = os.environ if env is None else env
    changes = booking_environment(target, gpu_memory_kb)
    target.update(changes)
    return changes


def nvidia_smi_memory_kb(gpu_ids: list[str]) -> int | None:
    """The smallest total memory (KB) among ``gpu_ids`` by ``nvidia-smi``, or None when unknown."""
    tool = shutil.which("nvidia-smi")
    if not tool or not gpu_ids:
        return None
    try:
        result = subprocess.run([tool, "--query-gpu=memory.total", "--format=csv,noheader,nounits",
                                 "-i", ",".join(gpu_ids)], capture_output=True, text=True,
                                timeout=GPU_QUERY_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sizes = [int(line.strip()) for line in result.stdout.splitlines() if line.strip().isdigit()]
    if result.returncode != 0 or not sizes:
        return None
    return min(sizes) * 1024  # nvidia-smi reports MiB


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(float(value or ""))
    except ValueError:
        return None
    return number if number > 0 else None
