"""Benchmark: gate 100 000 plates fast enough for a farm pre-check (budget: under 2 s).

What is timed, separately (docs/gate.md):

1. **gate** — the integrity checks except hashing, tallying, intervals, verdicts and reasons on an
   in-memory manifest of 100 000 kept plates (20 roles × 5 000): the work ``castgate gate`` adds,
   under the generator question (the budget) and, reported beside it, the cast question.
   Printed as a ratio against a **baseline** measured in the same process: one bare pass that only
   counts each plate's two labels into a Counter (the least any gate must do).
2. **hashing** — SHA-256 of plate PNGs (the TAMPERED check), measured on real files written here and
   given per plate and extrapolated to 100 000; it is I/O bound and scales with plate size.
3. **manifest I/O** — ``Manifest.from_json`` (parse + JSON Schema validation) at 10 000 plates, for
   scale; reading the manifest is not part of the gate's own 2 s budget.

Run: ``python benchmarks/bench_gate.py [--plates 100000] [--hash-files 500]``. Exits 1 if the gate
misses its budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from castgate.batch.checks import PlateFilesMatch, default_checks, run_checks
from castgate.batch.manifest import AuditRecord, AutoLabel, FileRef, Manifest, Plate
from castgate.gate import evaluate_manifest
from castgate.quotas import load_quota

BUDGET_S = 2.0
SHA = "0" * 64


def synthetic_manifest(plate_count: int, role_count: int = 20, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed)
    genders = rng.choice(["female", "male", "undetermined"], size=plate_count, p=[0.48, 0.48, 0.04])
    skins = rng.choice(["lighter", "darker", "undetermined"], size=plate_count, p=[0.5, 0.48, 0.02])
    roles = [f"role_{n:02d}" for n in range(role_count)]
    plates = []
    for i in range(plate_count):
        g, s = str(genders[i]), str(skins[i])
        plates.append(Plate(
            id=f"bench_{roles[i % role_count]}_{i:06d}", role=roles[i % role_count], index=i // role_count,
            prompt="a person", seed=i, files={"png": FileRef(f"proxies/{i:06d}.png", SHA)},
            labels={"gender": AutoLabel(g, "bench", "bench", "0", None if g == "undetermined" else 0.9,
                                        "no face found" if g == "undetermined" else None),
                    "skin_group": AutoLabel(s, "bench", "bench", "0", None if s == "undetermined" else 0.8,
                                            "too few skin pixels" if s == "undetermined" else None)},
            audit=AuditRecord(SHA, "2026-01-01T00:00:00Z", "bench")))
    request = {"batch": {"name": "bench"}, "roles": [{"id": r, "prompt": "a person", "count": 1} for r in roles],
               "sampling": {}, "models": {}}
    return Manifest(batch="bench", created="2026-01-01T00:00:00Z", request=request, models={}, sampling={},
                    colour={"ocio_config": "x", "exr_colourspace": "ACEScg", "png_colourspace": "sRGB"},
                    plates=tuple(plates))


def best_of(repeats: int, func) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_gate(plate_count: int) -> float:
    manifest = synthetic_manifest(plate_count)
    quota = load_quota("parity")

    def baseline() -> None:
        counts: Counter = Counter()
        for plate in manifest.plates:
            counts[(plate.role, plate.label("gender"), plate.label("skin_group"))] += 1

    def gate(question: str) -> None:
        problems = run_checks(default_checks(quota.attribute_names, verify_files=False), manifest, None)
        result = evaluate_manifest(manifest, quota, problems=problems, question=question)
        assert result.verdict  # (the synthetic plates share one file hash and no plan: integrity problems expected)

    base = best_of(3, baseline)
    gated = best_of(3, lambda: gate("generator"))
    print(f"gate (generator question), {plate_count} plates, hashing excluded: {gated:.3f} s "
          f"({gated / base:.1f}x the bare label-counting baseline of {base:.3f} s); budget {BUDGET_S} s: "
          f"{'met' if gated < BUDGET_S else 'MISSED'}")
    cast = best_of(1, lambda: gate("cast"))
    print(f"gate (cast question: evidence per plate, exact counts, the review list of every unmeasured plate), "
          f"{plate_count} plates: {cast:.3f} s ({cast / base:.1f}x the baseline; no budget)")
    return gated


def bench_hashing(file_count: int, plate_count: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        plates = []
        for i in range(file_count):  # 256×256 noise PNGs: the size of a DALL·E mini plate, incompressible
            rel = f"proxies/{i:05d}.png"
            path = Path(folder) / rel
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
            plates.append(Plate(id=f"p{i}", role="r", index=i, prompt="p", seed=i, files={"png": FileRef(rel, SHA)}))
        manifest = Manifest(batch="b", created="2026-01-01T00:00:00Z", request={}, models={}, sampling={}, colour={},
                            plates=tuple(plates))
        size = sum(f.stat().st_size for f in Path(folder, "proxies").iterdir()) / file_count
        seconds = best_of(2, lambda: PlateFilesMatch().find_problems(manifest, Path(folder)))
    per_plate = seconds / file_count
    print(f"hashing, {file_count} PNGs of {size / 1024:.0f} KiB ({os.cpu_count()} CPUs, warm page cache): "
          f"{1e3 * per_plate:.3f} ms per plate -> ~{per_plate * plate_count:.1f} s for {plate_count} plates")


def bench_manifest_io(plate_count: int) -> None:
    manifest = synthetic_manifest(plate_count)
    text = manifest.to_json()
    seconds = best_of(1, lambda: Manifest.from_json(text))
    print(f"manifest read (parse + schema validation), {plate_count} plates: {seconds:.2f} s "
          f"(not part of the gate budget; for scale)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plates", type=int, default=100_000)
    parser.add_argument("--hash-files", type=int, default=500)
    parser.add_argument("--manifest-plates", type=int, default=10_000, help="0 skips the manifest I/O timing")
    args = parser.parse_args(argv)
    gated = bench_gate(args.plates)
    if args.hash_files:
        bench_hashing(args.hash_files, args.plates)
    if args.manifest_plates:
        bench_manifest_io(args.manifest_plates)
    return 0 if gated < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
