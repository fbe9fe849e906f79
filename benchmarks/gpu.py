"""One-shot accelerator benchmark: images/s of DALL·E mega and mini on whatever device JAX sees.

One command, a hard time budget (default 450 s, under 8 minutes with start-up), one JSON file written
after every result, and a table printed at the end::

    python benchmarks/gpu.py                         # the full run, on the first accelerator lent
    python benchmarks/gpu.py --smoke                 # tiny architecture on CPU, under a minute
    python benchmarks/gpu.py --paper                 # the paper estimate (no device needed)
    benchmarks/gpu.sh                                # the same full run, with the environment set up

What it measures, each stage in its own child process (a crash, a hang or an out-of-memory error
loses that stage only; the parent never imports JAX, so it holds no device memory):

* ``ceilings``: the device (kind, count, memory), a datasheet peak for it where the kind is known
  (``PEAKS``), and a measured matrix-product rate and copy bandwidth;
* ``generation``: DalleBart + VQGAN at the real mega and mini architectures (``real_configs.json``
  in the reference fixtures) with random weights made on the device, bfloat16 and float16 compute,
  super-conditioning on (condition scale 10, top-k 50), batch sizes doubling from 1 until one does
  not fit (recorded as ``oom``: the limit) or the stage's share of the time budget is spent. Per
  batch: compile s, sampling s, VQGAN s, images/s, image tokens/s, the VQGAN's share of the time,
  peak device memory, and a roofline line (FLOPs and bytes moved, counted from the architecture,
  against the device's peak: how far from the limit this batch is);
* ``scaling``: the best batch per device again over every local device (``shard_map``), with the
  ratio to one device (skipped when there is one device);
* ``clip``: CLIP ViT-B/32 candidates scored per second (random weights, the real architecture);
* ``audit``: plates audited per second through ``castgate.audit.audit_image`` (the auditor runs on
  the host CPU, not on the accelerator; it is measured there, one process).

The functions the engine runs are the ones timed: ``castgate.generation.engine.compiled_token_sampler`` and
``compiled_image_decoder``. Nothing is read from a checkpoint: only configs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "core"))
sys.path.insert(0, str(HERE))

SCHEMA = "castgate-gpu-benchmark/1"
MARK = "@@"  # a child's result lines start with this; anything else it prints is log
CONDITION_SCALE = 10.0
TOP_K = 50

# Datasheet peaks (dense, no sparsity) of common accelerators, keyed by a piece of JAX's device_kind.
# First match wins, so the more specific names come first. TFLOP/s for bfloat16 and float16 matrix
# products; TB/s and GB of device memory. Sources: the vendors' data sheets (NVIDIA H100/H200, A100, L40S,
# L4, A10, V100, T4, RTX 4090; Google Cloud TPU pages).
PEAKS: tuple[tuple[str, str, float | None, float, float, float], ...] = (
    # (device_kind contains, name, bf16 TFLOP/s, fp16 TFLOP/s, memory TB/s, memory GB)
    ("H200", "NVIDIA H200 SXM", 989.0, 989.0, 4.8, 141),
    ("H100 PCIe", "NVIDIA H100 PCIe", 756.0, 756.0, 2.0, 80),
    ("H100 NVL", "NVIDIA H100 NVL", 835.0, 835.0, 3.9, 94),
    ("H100", "NVIDIA H100 SXM", 989.0, 989.0, 3.35, 80),
    ("GH200", "NVIDIA GH200", 989.0, 989.0, 4.0, 96),
    ("A100-SXM4-80GB", "NVIDIA A100 SXM 80GB", 312.0, 312.0, 2.04, 80),
    ("A100-PCIE-80GB", "NVIDIA A100 PCIe 80GB", 312.0, 312.0, 1.94, 80),
    ("A100", "NVIDIA A100 40GB", 312.0, 312.0, 1.555, 40),
    ("L40S", "NVIDIA L40S", 362.0, 362.0, 0.864, 48),
    ("L4", "NVIDIA L4", 121.0, 121.0, 0.3, 24),
    ("A10G", "NVIDIA A10G", 70.0, 70.0, 0.6, 24),
    ("A10", "NVIDIA A10", 125.0, 125.0, 0.6, 24),
    ("RTX 4090", "NVIDIA GeForce RTX 4090", 165.0, 165.0, 1.008, 24),
    ("V100", "NVIDIA V100", None, 125.0, 0.9, 16),
    ("T4", "NVIDIA T4", None, 65.0, 0.32, 16),
    ("TPU v5p", "Google TPU v5p", 459.0, 459.0, 2.765, 95),
    ("TPU v5 lite", "Google TPU v5e", 197.0, 197.0, 0.819, 16),
    ("TPU v4", "Google TPU v4", 275.0, 275.0, 1.2, 32),
)


def peak_for(device_kind: str) -> dict[str, Any] | None:
    """The datasheet peak for a JAX ``device_kind`` string, or None when the kind is not in ``PEAKS``."""
    for piece, name, bf16, fp16, bandwidth, capacity in PEAKS:
        if piece.lower() in device_kind.lower():
            return {"name": name, "source": "datasheet (dense)", "bfloat16_tflops": bf16, "float16_tflops": fp16,
                    "memory_tbps": bandwidth, "memory_gb": capacity}
    return None


# ------------------------------------------------------------------------------------------------
# What one sampling batch costs, counted from the architecture (the roofline's numerator)
# ------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SamplerCost:
    """FLOPs and bytes moved to draw every image token of one batch (encoder included).

    ``step_weight_bytes`` is what every decoding step reads whatever the batch; ``row_step_bytes`` is
    what each decoder row adds per step (its self-attention cache, its cross-attention keys/values).
    """

    flops: float
    bytes: float
    step_weight_bytes: float
    row_step_bytes: float
    row_step_flops: float
    cache_bytes_per_plate: float


def dallebart_parameter_counts(config) -> dict[str, int]:
    """Parameters by role: encoder, cross-attention keys/values, and the decoder's per-step set."""
    width = config.embed_count
    encoder = config.encoder_layer_count * (4 * width * width + 3 * width * config.encoder_glu_count)
    cross_keys_values = config.decoder_layer_count * 2 * width * width
    # per step: self-attention q,k,v,o; cross-attention q,o; GLU (gate, linear, output); the logits
    step = (config.decoder_layer_count * (6 * width * width + 3 * width * config.decoder_glu_count)
            + width * config.logit_count)
    return {"encoder": encoder, "cross_keys_values": cross_keys_values, "decoder_step": step,
            "text_embedding": config.text_vocab_count * width, "image_embedding": config.logit_count * width}


def sampler_cost(config, plates: int, *, rows_per_plate: int = 2, weight_bytes: int = 2, cache_bytes: int = 2,
                 cache_positions_read: float | None = None, shared_unconditional: bool = False) -> SamplerCost:
    """Count the work of sampling one batch the way castgate's sampler does it.

    Args:
        config: a ``DalleBartConfig``.
        plates: images in the batch.
        rows_per_plate: 2 with super-conditioning (prompt + empty text), 1 without.
        weight_bytes, cache_bytes: bytes per weight and per cached key/value element.
        cache_positions_read: self-attention positions each step reads; None = all of them (castgate
            attends over the whole fixed-size cache, masked); ``(positions + 1) / 2`` models reading
            only the positions written so far.
        shared_unconditional: the empty text is encoded once per batch and its cross-attention
            keys/values are shared by every plate (castgate's sampler encodes it per plate; sharing was
            tried on 2026-11-29 and reverted: slower on a CPU).
    """
    counts = dallebart_parameter_counts(config)
    width, layers = config.embed_count, config.decoder_layer_count
    text, positions = config.text_token_count, config.image_token_count
    read = positions if cache_positions_read is None else cache_positions_read
    rows = plates * rows_per_plate
    encoded_rows = plates + (1 if rows_per_plate == 2 else 0) if shared_unconditional else rows
    encoder_flops = encoded_rows * text * (2 * counts["encoder"] + config.encoder_layer_count * 4 * text * width)
    cross_flops = encoded_rows * text * 2 * counts["cross_keys_values"]
    row_step_flops = 2 * counts["decoder_step"] + layers * 4 * width * (read + text)
    # bytes a row adds per step: read its self-attention cache, write this step's key/value, read
    # the cross-attention keys/values (shared ones are read once per step for the whole batch)
    cross_rows = encoded_rows if shared_unconditional else rows
    row_step_bytes = layers * width * cache_bytes * (2 * read + 2) + layers * 2 * text * width * cache_bytes * (
        cross_rows / rows)
    step_weight_bytes = counts["decoder_step"] * weight_bytes
    flops = encoder_flops + cross_flops + positions * rows * row_step_flops
    moved = ((counts["encoder"] + counts["cross_keys_values"]) * weight_bytes
             + positions * (step_weight_bytes + rows * row_step_bytes))
    cache_per_plate = rows_per_plate * layers * 2 * positions * width * cache_bytes + (
        cross_rows / plates) * layers * 2 * text * width * cache_bytes
    return SamplerCost(flops, moved, step_weight_bytes, row_step_bytes, row_step_flops, cache_per_plate)


def vqgan_cost(vqgan_config, dtype: str = "float32") -> dict[str, float]:
    """FLOPs and bytes of decoding one image, from XLA's cost analysis of the compiled (fused) decoder.

    Compiled for the default backend, so the bytes are that compiler's fusion; the FLOPs are the
    convolutions' and do not depend on it.
    """
    import jax
    import jax.numpy as jnp

    from castgate.models.vqgan import VQGan
    from castgate.weights import checkpoints

    model = VQGan(vqgan_config, jnp.dtype(dtype))
    grid = vqgan_config.resolution // vqgan_config.downsample_factor
    shapes = {path: jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))
              for path, shape in checkpoints.vqgan_module_shapes(vqgan_config).items()}
    params = checkpoints.unflatten(shapes)
    codes = jax.ShapeDtypeStruct((1, grid * grid), jnp.int32)
    compiled = jax.jit(lambda p, c: model.apply({"params": p}, c, method=VQGan.decode_codes)).lower(
        params, codes).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return {"flops": float(analysis.get("flops", 0.0)), "bytes": float(analysis.get("bytes accessed", 0.0))}


def roofline(flops: float, moved: float, seconds: float, peak: dict[str, Any] | None, dtype: str,
             plates: int) -> dict[str, Any]:
    """Achieved FLOP/s and bytes/s, their fractions of the device's peak, and the limit they imply."""
    line: dict[str, Any] = {"flops": flops, "bytes": moved, "achieved_tflops": flops / seconds / 1e12,
                            "achieved_tbps": moved / seconds / 1e12}
    peak_tflops = peak and peak.get(f"{dtype}_tflops")
    if not peak or not peak_tflops:
        line.update(flops_fraction=None, bytes_fraction=None, bound=None, limit_images_per_s=None)
        return line
    compute_s = flops / (peak_tflops * 1e12)
    memory_s = moved / (peak["memory_tbps"] * 1e12)
    line.update(flops_fraction=compute_s / seconds, bytes_fraction=memory_s / seconds,
                bound="compute" if compute_s >= memory_s else "memory",
                limit_images_per_s=plates / max(compute_s, memory_s))
    return line


# ------------------------------------------------------------------------------------------------
# The child: one stage, results as JSON lines
# ------------------------------------------------------------------------------------------------

def emit(section: str, row: dict[str, Any]) -> None:
    print(MARK + json.dumps({"section": section, "row": row}, default=float), flush=True)


def is_out_of_memory(error: BaseException | str) -> bool:
    """True for the errors XLA raises when a buffer does not fit in device memory."""
    text = str(error)
    return any(piece in text for piece in ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory",
                                           "OOM when allocating", "Failed to allocate"))


def load_configs(fixtures: Path, smoke: bool) -> dict[str, Any]:
    """``{"dalle": {arch: DalleBartConfig}, "vqgan": VQGanConfig}``: the real ones, or the tiny smoke ones."""
    from castgate.weights import checkpoints

    if smoke:  # the tiny reference checkpoints' configs (their weights are not read)
        dalle, vqgan = fixtures / "reference" / "dallebart-tiny", fixtures / "reference" / "vqgan-tiny"
        return {"dalle": {"tiny": checkpoints.dallebart_config_from_dict(checkpoints.read_config(dalle),
                                                                         str(dalle / "config.json"))},
                "vqgan": checkpoints.vqgan_config_from_dict(checkpoints.read_config(vqgan), str(vqgan / "config.json"))}
    path = fixtures / "reference" / "real_configs.json"
    if not path.is_file():
        raise SystemExit(f"{path}: not found. Give --fixtures DIR (the folder holding reference/real_configs.json) "
                         "or set CASTGATE_FIXTURES")
    raw = json.loads(path.read_text())
    return {"dalle": {arch: checkpoints.dallebart_config_from_dict(raw["dallebart"][arch]["config"],
                                                                   f"{path}: dallebart.{arch}.config")
                      for arch in ("mega", "mini")},
            "vqgan": checkpoints.vqgan_config_from_dict(raw["vqgan"]["config"], f"{path}: vqgan.config")}


def hashed_uniform(shape: tuple[int, ...], salt, dtype) -> Any:
    """Pseudo-random values, uniform in ±0.0346 (std 0.02), from an integer hash of each element's index.

    A few elementwise integer operations: XLA compiles it in a fraction of the time of
    ``jax.random`` (which takes about half a second per program on a CPU) and it needs no key.
    """
    import jax.numpy as jnp

    bits = jnp.arange(math.prod(shape), dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(salt)
    bits = (bits ^ (bits >> 15)) * jnp.uint32(2246822519)
    bits = (bits ^ (bits >> 13)) * jnp.uint32(3266489917)
    bits = bits ^ (bits >> 16)
    unit = (bits >> 8).astype(jnp.float32) * (1.0 / 2 ** 24)
    return ((unit - 0.5) * 0.0693).astype(dtype).reshape(shape)


def device_params(shapes: dict[tuple[str, ...], tuple[int, ...]], dtype: str, device_count: int, seed: int = 0):
    """Random weights made on the devices (no host copy, no checkpoint), replicated over ``device_count``.

    One draw per distinct shape, stacked, then split into separate buffers (one program per
    parameter, hundreds of them, would take long to compile).
    """
    import jax
    import jax.numpy as jnp

    from castgate.generation.engine import _shardings
    from castgate.weights.checkpoints import unflatten

    replicated = _shardings(device_count)[1]
    by_shape: dict[tuple[int, ...], list[tuple[str, ...]]] = {}
    for path in sorted(shapes):
        by_shape.setdefault(tuple(shapes[path]), []).append(path)
    take = jax.jit(lambda stacked, index: stacked[index], out_shardings=replicated)
    flat = {}
    for number, (shape, paths) in enumerate(sorted(by_shape.items())):
        draw = jax.jit(functools.partial(hashed_uniform, (len(paths),) + shape, dtype=jnp.dtype(dtype)),
                       out_shardings=replicated)
        stacked = draw(jnp.uint32((seed * 7919 + number * 104729) % 2 ** 32))
        for index, path in enumerate(paths):
            flat[path] = take(stacked, jnp.int32(index))
        del stacked
    return unflatten(flat)


def memory_in_use() -> dict[str, Any]:
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    return {"peak_bytes": stats.get("peak_bytes_in_use"), "limit_bytes": stats.get("bytes_limit")}


def compiled_bytes(compiled) -> int | None:
    try:
        analysis = compiled.memory_analysis()
        return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
                   - analysis.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def best_time(run: Callable[[], Any], seconds_left: float) -> float:
    """Time ``run``; repeat once and keep the faster when a second run fits comfortably."""
    started = time.perf_counter()
    run()
    best = time.perf_counter() - started
    if best < 0.25 * seconds_left and best < 20:
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def next_batch(batches: list[int], cap: int | None, results: dict[int, str]) -> int | None:
    """The next batch size to try, given the outcome (``"ok"`` or not) of those tried so far.

    The smallest first. Then, where the device's memory is known (``cap``: the largest batch the
    cache arithmetic says fits), straight to ``cap``: climbing by doubling while batches fit,
    halving while they do not, so the limit is found within the first few compiles. Then the sizes in
    between, ascending, as long as time allows. Without ``cap``, simply ascending. Nothing at or
    above the smallest batch that failed is tried again.
    """
    if batches[0] not in results:
        return batches[0]
    failed = [batch for batch, status in results.items() if status != "ok"]
    limit = min(failed) if failed else None
    todo = [batch for batch in batches if batch not in results and (limit is None or batch < limit)]
    if not todo:
        return None
    if cap is None:
        return todo[0]
    largest_ok = max(batch for batch, status in results.items() if status == "ok")
    if largest_ok == batches[0]:  # not yet found one above the smallest that fits
        return max([batch for batch in todo if batch <= cap] or [todo[0]])
    above = [batch for batch in todo if batch > largest_ok]
    return above[0] if above and limit is None else todo[0]


def predicted_cap(config, dtype_bytes: int, memory_limit: int | None, batches: list[int]) -> int | None:
    """The largest of ``batches`` whose caches fit beside the weights, by :func:`sampler_cost`'s count."""
    if not memory_limit:
        return None
    counts = dallebart_parameter_counts(config)
    weights = dtype_bytes * sum(counts.values())
    per_plate = sampler_cost(config, 512, cache_bytes=dtype_bytes).cache_bytes_per_plate
    fits = [batch for batch in batches if weights + batch * per_plate <= 0.9 * memory_limit]
    return max(fits) if fits else batches[0]


def stage_ceilings(spec: dict[str, Any]) -> None:
    import jax
    import jax.numpy as jnp

    devices = jax.local_devices()
    kind = devices[0].device_kind
    emit("host", {"python": platform.python_version(), "jax": jax.__version__, "backend": jax.default_backend(),
                  "device_kind": kind, "device_count": len(devices), "platform": devices[0].platform,
                  "machine": platform.machine(), "cpu_count": os.cpu_count(), "peak": peak_for(kind),
                  "memory": memory_in_use()})
    size = 512 if spec["smoke"] else 8192
    rows: dict[str, Any] = {}
    for dtype in ("bfloat16", "float16"):
        a = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.dtype(dtype))
        product = jax.jit(lambda x, y: x @ y).lower(a, a).compile()
        product(a, a).block_until_ready()
        started = time.perf_counter()
        for _ in range(5):
            out = product(a, a)
        out.block_until_ready()
        rows[f"matmul_{dtype}_tflops"] = 5 * 2 * size ** 3 / (time.perf_counter() - started) / 1e12
    elements = (2 ** 20 if spec["smoke"] else 2 ** 30)  # 2 GiB of bfloat16
    big = jnp.ones((elements,), jnp.bfloat16)
    copy = jax.jit(lambda x: x + jnp.bfloat16(1)).lower(big).compile()
    copy(big).block_until_ready()
    started = time.perf_counter()
    for _ in range(5):
        out = copy(big)
    out.block_until_ready()
    rows["copy_tbps"] = 5 * 2 * 2 * elements / (time.perf_counter() - started) / 1e12  # read + write
    rows["matmul_size"], rows["copy_bytes"] = size, 2 * elements
    emit("ceilings", rows)


def stage_generation(spec: dict[str, Any]) -> None:
    """Sampling + VQGAN for one architecture and dtype, batch sizes doubling until out of time or memory."""
    import jax
    import numpy as np

    from bench_sampler import text_inputs
    from castgate.generation.engine import compiled_image_decoder, compiled_token_sampler
    from castgate.weights import checkpoints

    configs = load_configs(Path(spec["fixtures"]), spec["smoke"])
    arch, dtype, devices = spec["arch"], spec["dtype"], spec["devices"]
    config, vq_config = configs["dalle"][arch], configs["vqgan"]
    peak = peak_for(jax.local_devices()[0].device_kind)
    token_limit = vq_config.code_count if vq_config.code_count < config.logit_count else None
    deadline = spec["deadline"]
    section = spec.get("section", "generation")
    base = {"arch": arch, "dtype": dtype, "devices": devices, "condition_scale": CONDITION_SCALE, "top_k": TOP_K,
            "image_tokens": config.image_token_count}
    try:
        started = time.perf_counter()
        params = device_params(checkpoints.dallebart_module_shapes(config), dtype, devices)
        vq_params = device_params(checkpoints.vqgan_module_shapes(vq_config), "float32", devices, seed=1)
        jax.block_until_ready((params, vq_params))
        setup_s = time.perf_counter() - started
        vq_cost = spec.get("vqgan_cost") or vqgan_cost(vq_config)
        emit("vqgan_cost", vq_cost)
    except Exception as exc:  # noqa: BLE001 - reported, the stage ends
        emit(section, dict(base, batch=None, status="oom" if is_out_of_memory(exc) else "failed",
                           error=str(exc)[:400]))
        return
    weight_bytes = np.dtype(jax.numpy.dtype(dtype)).itemsize
    sampler = compiled_token_sampler(config, dtype, TOP_K, token_limit, devices)
    decoder = compiled_image_decoder(vq_config, devices)
    batches = sorted(spec["batches"])
    per_device = [batch // devices for batch in batches]
    cap = predicted_cap(config, weight_bytes, memory_in_use()["limit_bytes"], per_device)
    results: dict[int, str] = {}
    last: dict[str, float] | None = None  # the last batch that ran: its size and times

    def predicted_s(batch: int) -> float:
        """Compile as long as the last batch; sampling scales with the bytes moved, the VQGAN with plates."""
        if last is None:
            return 0.0
        moved = [sampler_cost(config, size // devices, weight_bytes=weight_bytes, cache_bytes=weight_bytes,
                              ).bytes for size in (batch, last["batch"])]
        return last["compile_s"] + 1.5 * (last["sample_s"] * moved[0] / moved[1]
                                          + last["vqgan_s"] * batch / last["batch"])

    while (batch := next_batch(batches, cap and cap * devices, results)) is not None:
        row = dict(base, batch=batch, per_device_batch=batch // devices, weights_s=round(setup_s, 2),
                   predicted_cap=cap)
        left = deadline - time.time()
        if predicted_s(batch) > left:  # a smaller batch may still fit in the time left
            results[batch] = "skipped"
            emit(section, dict(row, status="skipped", reason=f"time budget (needs about {predicted_s(batch):.0f} s, "
                                                              f"{left:.0f} s left)"))
            continue
        emit("progress", {"stage": section, "batch": batch})
        results[batch] = "trying"
        try:
            tokens, mask = text_inputs(batch)
            args = (params, tokens, mask, np.arange(batch, dtype=np.uint32), np.float32(CONDITION_SCALE),
                    np.float32(1.0))
            codes = np.random.default_rng(batch).integers(0, vq_config.code_count, (batch, config.image_token_count),
                                                          dtype=np.int32)
            started = time.perf_counter()
            sample_compiled = sampler.lower(*args).compile()
            decode_compiled = decoder.lower(vq_params, codes).compile()
            compile_s = time.perf_counter() - started
            left = deadline - time.time()
            sample_s = best_time(lambda: jax.block_until_ready(sample_compiled(*args)), left)
            vqgan_s = best_time(lambda: jax.block_until_ready(decode_compiled(vq_params, codes)),
                                deadline - time.time())
        except Exception as exc:  # noqa: BLE001 - out of memory is the limit; anything else is reported
            results[batch] = "oom" if is_out_of_memory(exc) else "failed"
            emit(section, dict(row, status=results[batch], error=str(exc)[:400]))
            jax.clear_caches()
            continue
        results[batch] = "ok"
        total = sample_s + vqgan_s
        last = {"batch": batch, "compile_s": compile_s, "sample_s": sample_s, "vqgan_s": vqgan_s}
        cost = sampler_cost(config, batch, weight_bytes=weight_bytes, cache_bytes=weight_bytes)
        flops = cost.flops + batch * vq_cost["flops"]
        moved = cost.bytes + batch * vq_cost["bytes"]
        row.update(status="ok", compile_s=compile_s, sample_s=sample_s, vqgan_s=vqgan_s,
                   images_per_s=batch / total, image_tokens_per_s=batch * config.image_token_count / sample_s,
                   decoder_row_tokens_per_s=2 * batch * config.image_token_count / sample_s,
                   vqgan_share=vqgan_s / total, compiled_bytes=compiled_bytes(sample_compiled),
                   **memory_in_use(),
                   roofline=roofline(flops, moved, total, peak, dtype, batch),
                   sampler_roofline=roofline(cost.flops, cost.bytes, sample_s, peak, dtype, batch))
        emit(section, row)


def stage_clip(spec: dict[str, Any]) -> None:
    import numpy as np

    from bench_clip import build_scorers

    clip_dir = Path(spec["fixtures"]) / "reference" / "clip-tiny"
    name = "tiny" if spec["smoke"] else "real"
    scorer = build_scorers(clip_dir, [name])[name]
    rng = np.random.default_rng(0)
    for batch in spec["batches"]:
        left = spec["deadline"] - time.time()
        if left < 2:
            emit("clip", {"model": name, "batch": batch, "status": "skipped", "reason": "time budget"})
            return
        images = rng.integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)
        prompts = ["a nurse at a hospital"] * batch
        try:
            started = time.perf_counter()
            scorer.score(images, prompts, batch_size=batch)  # compiles
            compile_s = time.perf_counter() - started
            seconds = best_time(lambda: scorer.score(images, prompts, batch_size=batch), left)
        except Exception as exc:  # noqa: BLE001
            emit("clip", {"model": name, "batch": batch, "status": "oom" if is_out_of_memory(exc) else "failed",
                          "error": str(exc)[:400]})
            return
        emit("clip", {"model": "ViT-B/32 (random weights)" if name == "real" else "clip-tiny", "batch": batch,
                      "status": "ok", "compile_s": compile_s, "seconds": seconds,
                      "candidates_per_s": batch / seconds, "preprocessing": "included (host)"})


def stage_audit(spec: dict[str, Any]) -> None:
    import numpy as np

    try:
        from PIL import Image
        from skimage.data import astronaut

        from castgate import audit

        audit.audit_image  # noqa: B018 - imports the auditor's own dependencies now
    except ImportError as exc:  # a GPU machine may lack the auditor's packages: say so, do not crash
        emit("audit", {"status": "unavailable", "error": str(exc)[:400]})
        return
    photo = Image.fromarray(astronaut())
    plates = [np.asarray(photo.crop((80 + 8 * n, 20, 380 + 8 * n, 320)).resize((256, 256))) for n in range(4)]
    plates += [plate[:, ::-1].copy() for plate in plates]
    started = time.perf_counter()
    audit.audit_image(plates[0])  # loads the models
    load_s = time.perf_counter() - started
    count = 0
    started = time.perf_counter()
    while count < spec["count"] and time.time() < spec["deadline"] - 2:
        audit.audit_image(plates[count % len(plates)])
        count += 1
    seconds = time.perf_counter() - started
    emit("audit", {"status": "ok", "plates": count, "seconds": seconds,
                   "plates_per_s": count / seconds if count else None, "model_load_s": load_s,
                   "runs_on": "host CPU, one process (castgate.audit does not run on the JAX device)"})


STAGES = {"ceilings": stage_ceilings, "generation": stage_generation, "clip": stage_clip, "audit": stage_audit}


def child_main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    STAGES[spec["stage"]](spec)


# ------------------------------------------------------------------------------------------------
# The parent: plan, run children under the budget, write the JSON, print the table
# ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Stage:
    name: str
    share: float
    spec: dict[str, Any]


def plan(smoke: bool, max_batch: int) -> list[Stage]:
    """The stages in order of importance, each with its share of the budget left when it starts."""
    batches = [2 ** n for n in range(int(math.log2(max_batch)) + 1)]
    if smoke:
        return [Stage("ceilings", 0.1, {"stage": "ceilings"}),
                Stage("generation tiny bfloat16", 0.25,
                      {"stage": "generation", "arch": "tiny", "dtype": "bfloat16", "devices": 1, "batches": batches}),
                Stage("generation tiny float16", 0.2,
                      {"stage": "generation", "arch": "tiny", "dtype": "float16", "devices": 1, "batches": [1]}),
                Stage("scaling tiny bfloat16", 0.2, {"stage": "generation", "section": "scaling", "arch": "tiny",
                                                     "dtype": "bfloat16", "batches": "best"}),
                Stage("clip", 0.1, {"stage": "clip", "batches": [2]}),
                Stage("audit", 0.1, {"stage": "audit", "count": 4})]
    return [Stage("ceilings", 0.05, {"stage": "ceilings"}),
            Stage("generation mega bfloat16", 0.32,
                  {"stage": "generation", "arch": "mega", "dtype": "bfloat16", "devices": 1, "batches": batches}),
            Stage("generation mini bfloat16", 0.18,
                  {"stage": "generation", "arch": "mini", "dtype": "bfloat16", "devices": 1, "batches": batches}),
            Stage("generation mega float16", 0.2,
                  {"stage": "generation", "arch": "mega", "dtype": "float16", "devices": 1, "batches": batches}),
            Stage("generation mini float16", 0.1,
                  {"stage": "generation", "arch": "mini", "dtype": "float16", "devices": 1, "batches": batches}),
            Stage("scaling mega bfloat16", 0.1, {"stage": "generation", "section": "scaling", "arch": "mega",
                                                 "dtype": "bfloat16", "batches": "best"}),
            Stage("clip", 0.03, {"stage": "clip", "batches": [1, 8, 32, 128]}),
            Stage("audit", 0.02, {"stage": "audit", "count": 40})]


class Report:
    """The JSON document, written atomically after every change."""

    def __init__(self, path: Path, args: argparse.Namespace):
        self.path = path
        self.progress: dict[str, Any] | None = None
        self.data: dict[str, Any] = {
            "schema": SCHEMA, "started": _now(), "finished": None, "complete": False,
            "command": " ".join([Path(sys.executable).name] + sys.argv), "smoke": args.smoke,
            "budget_s": args.budget, "condition_scale": CONDITION_SCALE, "top_k": TOP_K, "host": None,
            "ceilings": None, "vqgan_cost": None, "generation": [], "scaling": [], "clip": [], "audit": None,
            "stages": []}
        self.write()

    def add(self, section: str, row: dict[str, Any]) -> None:
        if section == "progress":  # which batch a stage was on, should it be cut off
            self.progress = row
            return
        if section in ("host", "ceilings", "audit", "vqgan_cost"):
            self.data[section] = row
        else:
            self.data[section].append(row)
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.data, indent=1, default=float))
        os.replace(partial, self.path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_child(spec: dict[str, Any], seconds: float, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Run one stage; yield ("row", (section, row)) per result, then ("end", status)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    lines: queue.Queue = queue.Queue()
    tail: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    ends = time.time() + seconds
    while True:
        try:
            line = lines.get(timeout=max(0.1, ends - time.time()))
        except queue.Empty:
            _stop(process)
            yield "end", {"status": "timeout", "log_tail": "".join(tail[-12:])}
            return
        if line is None:
            break
        if line.startswith(MARK):
            message = json.loads(line[len(MARK):])
            yield "row", (message["section"], message["row"])
        else:
            tail.append(line)
            sys.stderr.write("    | " + line)
    code = process.wait()
    status = "done" if code == 0 else (f"crashed (signal {-code})" if code < 0 else f"failed (exit {code})")
    yield "end", {"status": status, "log_tail": "".join(tail[-12:]) if code else ""}


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def best_batch(rows: list[dict[str, Any]], arch: str, dtype: str) -> int | None:
    """The single-device batch with the most images/s for an architecture and dtype."""
    good = [r for r in rows if r["arch"] == arch and r["dtype"] == dtype and r.get("status") == "ok"]
    return max(good, key=lambda r: r["images_per_s"])["batch"] if good else None


def child_environment(smoke: bool) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "core"), str(HERE)] + ([env["PYTHONPATH"]]
                                                                           if env.get("PYTHONPATH") else []))
    if smoke:  # two pretend devices, so the scaling stage runs its real code path on a CPU
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    else:
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.92")
    return env


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    report = Report(args.out, args)
    env = child_environment(args.smoke)
    stages = plan(args.smoke, args.max_batch)
    ends = time.time() + args.budget
    for index, stage in enumerate(stages):
        left = ends - time.time()
        share = stage.share / sum(s.share for s in stages[index:])
        seconds = left * share if index < len(stages) - 1 else left
        record = {"name": stage.name, "budget_s": round(seconds, 1)}
        # the child stops itself a little early: starting and ending a JAX process takes seconds
        spec = dict(stage.spec, smoke=args.smoke, fixtures=str(args.fixtures),
                    deadline=time.time() + seconds - max(5.0, 0.1 * seconds),
                    vqgan_cost=report.data["vqgan_cost"])
        if left < 3:
            record.update(status="skipped", note="time budget spent")
        elif spec["stage"] == "generation" and spec.get("section") == "scaling" and not _scaling_spec(report, spec):
            record.update(status="skipped", note=spec.get("skip", "nothing to scale"))
        else:
            print(f"== {stage.name} (up to {seconds:.0f} s)", file=sys.stderr, flush=True)
            started = time.time()
            for kind, value in run_child(spec, seconds, env):
                if kind == "row":
                    report.add(*value)
                    print(f"   {value[0]}: {_brief(value[1])}", file=sys.stderr, flush=True)
                else:
                    record.update(value, seconds=round(time.time() - started, 1))
                    if value["status"] != "done" and getattr(report, "progress", None):
                        record["cut_off_at"] = report.progress
            report.progress = None
        report.data["stages"].append(record)
        report.write()
    report.data.update(finished=_now(), complete=True)
    report.write()
    return report.data


def _scaling_spec(report: Report, spec: dict[str, Any]) -> bool:
    """Fill in the scaling stage: the best single-device batch per device, over every device."""
    host = report.data.get("host") or {}
    count = host.get("device_count") or 0
    if count < 2:
        spec["skip"] = f"{count or 'no'} device(s): nothing to scale"
        return False
    batch = best_batch(report.data["generation"], spec["arch"], spec["dtype"])
    if batch is None:
        spec["skip"] = f"no successful single-device {spec['arch']} {spec['dtype']} run to scale"
        return False
    spec.update(devices=count, batches=[batch * count], single_device_batch=batch)
    return True


def _brief(row: dict[str, Any]) -> str:
    keys = ("arch", "dtype", "devices", "batch", "model", "status", "images_per_s", "candidates_per_s",
            "plates_per_s", "device_kind", "copy_tbps")
    return ", ".join(f"{k}={_fmt(row[k])}" for k in keys if row.get(k) is not None)


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def scaling_ratios(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each scaling row against the single-device row of the same per-device batch."""
    out = []
    for row in data["scaling"]:
        if row.get("status") != "ok":
            continue
        single = [r for r in data["generation"] if r["arch"] == row["arch"] and r["dtype"] == row["dtype"]
                  and r.get("batch") == row["per_device_batch"] and r.get("status") == "ok"]
        if single:
            out.append({"arch": row["arch"], "dtype": row["dtype"], "devices": row["devices"],
                        "ratio": row["images_per_s"] / single[0]["images_per_s"], "ideal": row["devices"]})
    return out


def table(data: dict[str, Any]) -> str:
    host = data.get("host") or {}
    lines = [f"# {host.get('device_count', '?')} x {host.get('device_kind', '?')} ({host.get('backend', '?')}), "
             f"jax {host.get('jax', '?')}; {data['command']}"]
    if data.get("ceilings"):
        c = data["ceilings"]
        lines.append(f"measured ceilings: bf16 matmul {c['matmul_bfloat16_tflops']:.1f} TFLOP/s, fp16 matmul "
                     f"{c['matmul_float16_tflops']:.1f} TFLOP/s, copy {c['copy_tbps']:.2f} TB/s")
    lines += ["", "| arch | dtype | dev | batch | status | compile s | sample s | VQGAN s | images/s | tokens/s "
                  "| VQGAN share | peak GiB | TFLOP/s | TB/s | of peak FLOP/s | of peak B/s | roofline images/s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def order(row: dict[str, Any]) -> tuple:
        return row["arch"], row["dtype"], row["devices"], row.get("batch") or 0

    for row in sorted(data["generation"], key=order) + data["scaling"]:
        if row.get("status") != "ok":
            lines.append(f"| {row['arch']} | {row['dtype']} | {row['devices']} | {row.get('batch')} | "
                         f"{row['status']} {row.get('reason', '')} | | | | | | | | | | | | |")
            continue
        line = row["roofline"]
        peak_gib = "-" if row.get("peak_bytes") is None else f"{row['peak_bytes'] / 2 ** 30:.1f}"
        lines.append(
            f"| {row['arch']} | {row['dtype']} | {row['devices']} | {row['batch']} | ok | {row['compile_s']:.1f} | "
            f"{row['sample_s']:.3f} | {row['vqgan_s']:.3f} | {row['images_per_s']:.2f} | "
            f"{row['image_tokens_per_s']:.0f} | {row['vqgan_share']:.0%} | {peak_gib} | "
            f"{line['achieved_tflops']:.2f} | {line['achieved_tbps']:.3f} | {_pct(line['flops_fraction'])} | "
            f"{_pct(line['bytes_fraction'])} | {_num(line['limit_images_per_s'])} |")
    for ratio in scaling_ratios(data):
        lines.append(f"\nscaling {ratio['arch']} {ratio['dtype']}: {ratio['devices']} devices / 1 = "
                     f"{ratio['ratio']:.2f}x (ideal {ratio['ideal']}x)")
    for row in data["clip"]:
        rate = f"{row['candidates_per_s']:.1f} candidates/s" if row.get("status") == "ok" else row["status"]
        lines.append(f"CLIP {row['model']} batch {row['batch']}: {rate}")
    if data.get("audit"):
        a = data["audit"]
        lines.append(f"audit: {_num(a.get('plates_per_s'))} plates/s ({a.get('runs_on', a.get('status'))})")
    lines.append("\nstages: " + "; ".join(f"{s['name']}: {s['status']}" for s in data["stages"]))
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# ------------------------------------------------------------------------------------------------
# --paper: the estimate for mega/mini on H100/H200, from the same counting functions
# ------------------------------------------------------------------------------------------------

PLAN = (
    # (row name, sampler_cost keyword changes, applied on top of the rows above)
    ("castgate today: empty text encoded per plate, whole cache read", {}),
    ("+ empty text encoded once per batch, its keys/values shared", {"shared_unconditional": True}),
    ("+ read only the cache positions written so far", {"cache_positions_read": "half"}),
    ("+ 8-bit key/value cache", {"cache_bytes": 1}),
)


def paper(fixtures: Path) -> str:
    """The paper estimate for mega and mini on H100/H200 in bfloat16, from the counting functions above."""
    configs = load_configs(fixtures, smoke=False)
    vq = vqgan_cost(configs["vqgan"], "bfloat16")
    lines = [f"VQGAN f16-16384, one 256x256 image (XLA's cost analysis of the compiled program, bfloat16, this "
             f"machine's backend): {vq['flops'] / 1e12:.3f} TFLOP, {vq['bytes'] / 1e9:.2f} GB accessed", ""]
    for arch, config in configs["dalle"].items():
        counts = dallebart_parameter_counts(config)
        total = sum(counts.values()) + (config.text_token_count + config.image_token_count) * config.embed_count
        one = sampler_cost(config, 1)
        lines += [f"## {arch}: d_model {config.embed_count}, {config.encoder_layer_count}+{config.decoder_layer_count} "
                  f"layers, GLU {config.decoder_glu_count}, logits {config.logit_count}",
                  f"- parameters: {total / 1e9:.3f} G ({2 * total / 1e9:.2f} GB in bfloat16); read by every decoding "
                  f"step: {counts['decoder_step'] / 1e9:.3f} G = {one.step_weight_bytes / 1e9:.2f} GB",
                  f"- per image with super-conditioning (2 decoder rows): {one.flops / 1e12:.3f} TFLOP to sample "
                  f"(of which the 256 decoding steps {256 * 2 * one.row_step_flops / 1e12:.3f}, the encoder and cross "
                  f"keys/values the rest) + {vq['flops'] / 1e12:.3f} TFLOP of VQGAN",
                  f"- per decoder row per step: {one.row_step_flops / 1e9:.2f} GFLOP and "
                  f"{one.row_step_bytes / 1e6:.1f} MB of its own cache and text keys/values; cache per plate "
                  f"{one.cache_bytes_per_plate / 1e6:.0f} MB",
                  ""]
        for gpu in ("H100", "H200"):
            peak = peak_for(gpu)
            flop_rate, byte_rate = peak["bfloat16_tflops"] * 1e12, peak["memory_tbps"] * 1e12
            ridge = flop_rate / byte_rate
            weights_only = math.ceil(ridge * one.step_weight_bytes / one.row_step_flops / 2)
            lines.append(f"### {arch} on {peak['name']}: {peak['bfloat16_tflops']:.0f} TFLOP/s, "
                         f"{peak['memory_tbps']} TB/s, {peak['memory_gb']} GB; ridge {ridge:.0f} FLOP/byte. Weights "
                         f"alone would turn compute-bound at {weights_only} plates.")
            lines.append("| plan | FLOP/byte as batch grows | plates that fit | images/s limit at 16 | 64 | 256 "
                         "| at the plates that fit |")
            lines.append("|---|---|---|---|---|---|---|")
            options: dict[str, Any] = {}
            for name, change in PLAN:
                options.update(change)
                kwargs = dict(options)
                if kwargs.get("cache_positions_read") == "half":
                    kwargs["cache_positions_read"] = (config.image_token_count + 1) / 2
                step = sampler_cost(config, 512, **kwargs)  # a large batch: the per-row costs dominate
                asymptote = step.row_step_flops / step.row_step_bytes
                free = peak["memory_gb"] * 1e9 * 0.9 - 2 * total  # 10 % for activations and the runtime
                fit = 2 ** int(math.log2(free / step.cache_bytes_per_plate))
                limits = []
                for plates in (16, 64, 256, fit):
                    cost = sampler_cost(config, plates, **kwargs)
                    seconds = max((cost.flops + plates * vq["flops"]) / flop_rate,
                                  (cost.bytes + plates * vq["bytes"]) / byte_rate)
                    limits.append(f"{plates / seconds:.0f}")
                lines.append(f"| {name} | {asymptote:.0f} | {fit} | " + " | ".join(limits[:3]) + f" | {limits[3]} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny architecture on CPU, under a minute")
    parser.add_argument("--paper", action="store_true", help="print the paper estimate for H100/H200 and exit")
    parser.add_argument("--budget", type=float, default=None,
                        help="hard time budget in seconds [450; 55 with --smoke]")
    parser.add_argument("--max-batch", type=int, default=None, help="largest batch tried [1024; 2 with --smoke]")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file [benchmarks/out/gpu-<time>.json; gpu-smoke.json with --smoke]")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="folder holding reference/real_configs.json [$CASTGATE_FIXTURES, ./shared/fixtures "
                             "or ../shared/fixtures]")
    args = parser.parse_args()
    args.fixtures = args.fixtures or _default_fixtures()
    needed = (["dallebart-tiny/config.json", "vqgan-tiny/config.json"] if args.smoke else ["real_configs.json"])
    missing = [name for name in needed + ([] if args.paper else ["clip-tiny/real_config.json"])
               if not (args.fixtures / "reference" / name).is_file()]
    if missing:
        print(f"gpu.py: {args.fixtures / 'reference'} lacks {', '.join(missing)}. Give --fixtures DIR (the folder "
              "holding reference/) or set CASTGATE_FIXTURES", file=sys.stderr)
        raise SystemExit(2)
    if args.paper:
        print(paper(args.fixtures))
        return
    args.budget = args.budget or (55.0 if args.smoke else 450.0)
    args.max_batch = args.max_batch or (2 if args.smoke else 1024)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out = args.out or HERE / "out" / ("gpu-smoke.json" if args.smoke else f"gpu-{stamp}.json")
    data = run_all(args)
    print(table(data))
    print(f"\nwritten: {args.out}")


def _default_fixtures() -> Path:
    if os.environ.get("CASTGATE_FIXTURES"):
        return Path(os.environ["CASTGATE_FIXTURES"])
    for candidate in (REPO / "shared" / "fixtures", REPO.parent / "shared" / "fixtures"):
        if (candidate / "reference").is_dir():
            return candidate
    return REPO.parent / "shared" / "fixtures"


if __name__ == "__main__":
    main()
