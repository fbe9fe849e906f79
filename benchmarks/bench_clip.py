"""Benchmark CLIP reranking: candidates scored per second, batched and jitted vs one at a time.

Two models: the clip-tiny reference checkpoint, and the real ViT-B/32 architecture
(``real_config.json``) with random weights (the published weights are not needed to time it). Each
row scores ``--count`` synthetic 256×256 uint8 candidates (DALL·E mini's output size) with
:meth:`castgate.generation.rerank.ClipScorer.score`, preprocessing included, after one warm-up call that compiles.
The baseline, in the same process, scores each candidate alone without jit (eager Flax, text encoded
again for every image), which is what a naive loop does.

Usage:
    python benchmarks/bench_clip.py [--fixtures DIR] [--count 64] [--baseline-count 4] [--repeats 2]
        [--batch-sizes 1 8 32] [--models tiny real]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_clip")

REPO = Path(__file__).resolve().parents[1]
ROLES = ["a nurse administering medication at a hospital", "a construction worker operating a crane",
         "a software engineer writing code at a desk", "a pilot in the cockpit"]


def random_params(config, seed: int = 0) -> dict:
    """Random float32 weights in the model's layout (LayerNorm scales 1, ``logit_scale`` ln 100)."""
    from castgate.generation import clip_inputs
    from castgate.weights import checkpoints

    rng = np.random.default_rng(seed)
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for path, shape in clip_inputs.expected_param_shapes(config).items():
        if path == ("logit_scale",):
            flat[path] = np.asarray(np.log(100.0), np.float32)
        elif path[-1] == "scale":
            flat[path] = np.ones(shape, np.float32)
        elif path[-1] == "bias":
            flat[path] = np.zeros(shape, np.float32)
        else:
            flat[path] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
    return checkpoints.unflatten(flat)


def build_scorers(clip_tiny: Path, models: list[str]) -> dict:
    """``{"tiny": scorer, "real": scorer}``; the real one borrows the tiny tokenizer (ids < 714 fit)."""
    import jax

    from castgate.generation import clip_inputs
    from castgate.generation.rerank import ClipScorer

    scorers = {}
    if "tiny" in models:
        scorers["tiny"] = ClipScorer.load(clip_tiny)
    if "real" in models:
        import json

        config = clip_inputs.clip_config_from_dict(json.loads((clip_tiny / "real_config.json").read_text()))
        info = json.loads((clip_tiny / "real_checkpoint_info.json").read_text())
        scorers["real"] = ClipScorer(
            config=config, params=jax.device_put(random_params(config)),
            tokenizer=clip_inputs.load_tokenizer(clip_tiny, config.text.max_position_count),
            image_settings=clip_inputs.image_settings_from_dict(info["published_preprocessor_config"]),
            identity={"name": "random ViT-B/32"})
    return scorers


def score_one_at_a_time(scorer, images: np.ndarray, prompts: list[str]) -> np.ndarray:
    """The baseline: eager (un-jitted) Flax, one image and its prompt per call."""
    from castgate.generation import clip_inputs
    from castgate.models.clip import Clip

    model, variables = Clip(scorer.config), {"params": scorer.params}
    scores = []
    for image, prompt in zip(images, prompts):
        ids, mask = scorer.tokenizer.tokenize([prompt])
        pixels = clip_inputs.preprocess_images([image], scorer.image_settings)
        logits, _ = model.apply(variables, ids, mask, pixels)
        scores.append(float(np.asarray(logits)[0, 0]))
    return np.asarray(scores, np.float32)


def timed(function, repeats: int) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads) of ``repeats`` calls, in seconds.

    On a shared machine the wall time depends on the neighbours; CPU time much less so.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best_wall, best_cpu


def bench_model(name: str, scorer, args) -> list[tuple]:
    """Time the baseline and every batch size for one model; returns table rows."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (args.count, 256, 256, 3), dtype=np.uint8)
    prompts = [ROLES[i % len(ROLES)] for i in range(args.count)]
    few = slice(0, args.baseline_count)
    score_one_at_a_time(scorer, images[:1], prompts[:1])  # warm eager caches
    baseline_s, baseline_cpu = timed(lambda: score_one_at_a_time(scorer, images[few], prompts[few]), 1)
    baseline_rate = args.baseline_count / baseline_s
    expected = score_one_at_a_time(scorer, images[few], prompts[few])
    rows = [(name, "baseline (eager, 1/call)", args.baseline_count, baseline_rate, 1.0,
             args.baseline_count / baseline_cpu, float("nan"))]
    for batch_size in args.batch_sizes:
        start = time.perf_counter()
        check = scorer.score(images[few], prompts[few], batch_size=batch_size)  # compiles
        compile_s = time.perf_counter() - start
        np.testing.assert_allclose(check, expected, atol=1e-3, rtol=1e-4)
        seconds, cpu_seconds = timed(lambda: scorer.score(images, prompts, batch_size=batch_size), args.repeats)
        rate = args.count / seconds
        rows.append((name, f"jit batch {batch_size}", args.count, rate, rate / baseline_rate,
                     args.count / cpu_seconds, compile_s))
        log.info("%s batch %d: %.2f candidates/s", name, batch_size, rate)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path,
                        default=Path(os.environ.get("CASTGATE_FIXTURES", REPO.parent / "shared" / "fixtures")))
    parser.add_argument("--count", type=int, default=64, help="candidates per batched run")
    parser.add_argument("--baseline-count", type=int, default=4, help="candidates in the baseline run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row (best is kept)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--models", nargs="+", default=["tiny", "real"], choices=["tiny", "real"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import jax

    log.info("jax %s on %s, %d CPU(s)", jax.__version__, jax.devices()[0].platform, os.cpu_count())
    rows = []
    for name, scorer in build_scorers(args.fixtures / "reference" / "clip-tiny", args.models).items():
        rows += bench_model(name, scorer, args)
    log.info("\n| model | run | candidates | candidates/s (wall) | × baseline | candidates/CPU-s | compile s |")
    log.info("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, run, count, rate, ratio, cpu_rate, compile_s in rows:
        compile_text = "" if np.isnan(compile_s) else f"{compile_s:.1f}"
        log.info("| %s | %s | %d | %.2f | %.1f | %.2f | %s |", name, run, count, rate, ratio, cpu_rate,
                 compile_text)


if __name__ == "__main__":
    main()
