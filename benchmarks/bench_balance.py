"""Benchmark: cast selection over 10 000 candidates in under 1 s (docs/balance.md).

10 000 candidates (10 roles × 1 000, labels drawn with the seed study's skew: about 69 % of one gender
and 69 % lighter skin, 4 % undetermined, CLIP scores) and a cast of 100 per role against ``parity``
(per role and pooled). Timed: building the bands and solving the integer program
(:func:`castgate.balance.select.select_cast`), best of ``--repeat`` runs, beside a **baseline** in the
same process: sorting the candidates by score (the least any selection must do), as a ratio.

Run: ``python benchmarks/bench_balance.py [--candidates 10000] [--roles 10] [--cast 100]``. Exits 1 if
selection misses its budget.

``--loop MODELS_DIR`` also runs the whole balance loop on CPU with castgate's demo checkpoints (2 roles × 4,
budget 3, steering on) and prints, per round, generation time beside audit + selection time and their ratio
(the loop's own overhead). The demo models draw no people, so the cast never passes and every round up to
the budget runs; audit time on such plates is detection only (see docs/performance.md for faces).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from castgate.balance.select import Candidate, cast_bands, select_cast
from castgate.quotas import load_quota

BUDGET_S = 1.0


def candidates(count: int, roles: int, seed: int = 0) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        role = f"role{n % roles:02d}"
        gender = rng.choice(["male", "female", "undetermined"], p=[0.67, 0.29, 0.04])
        skin = rng.choice(["lighter", "darker", "undetermined"], p=[0.67, 0.29, 0.04])
        out.append(Candidate(f"p{n:06d}", role, {"gender": str(gender), "skin_group": str(skin)},
                             score=float(rng.normal(27.0, 2.0)), order=n))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--roles", type=int, default=10)
    parser.add_argument("--cast", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop", metavar="MODELS_DIR", help="also time the whole loop with the demo models here")
    args = parser.parse_args()
    cands = candidates(args.candidates, args.roles)
    sizes = {f"role{r:02d}": args.cast for r in range(args.roles)}
    quota = load_quota("parity")
    timings, baseline = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        sorted(cands, key=lambda c: -(c.score or 0.0))
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        selection = select_cast(cands, cast_bands(quota, sizes), sizes)
        timings.append(time.perf_counter() - start)
    best, base = min(timings), min(baseline)
    print(f"candidates {args.candidates}, roles {args.roles}, cast {args.cast}/role, feasible {selection.feasible}, "
          f"selected {len(selection.selected)}")
    print(f"selection: {best * 1000:.1f} ms (best of {args.repeat}); baseline sort {base * 1000:.2f} ms; "
          f"ratio {best / base:.0f}x; budget {BUDGET_S * 1000:.0f} ms")
    if args.loop:
        loop_overhead(args.loop)
    return 0 if best < BUDGET_S and selection.feasible else 1


def loop_overhead(models_root: str) -> None:
    """Run the balance loop on the demo models; print generation vs audit + selection per round."""
    import tempfile
    from pathlib import Path

    from castgate.balance.loop import balance_request
    from castgate.batch.manifest import read_manifest
    from castgate.request import parse_request

    data = {"batch": {"name": "bench", "seed": 5, "quota": "parity"}, "models": {"demo": True},
            "sampling": {"batch_size": 4},
            "roles": [{"id": "nurse", "prompt": "a nurse at a hospital", "count": 4},
                      {"id": "surgeon", "prompt": "a surgeon in an operating room", "count": 4}],
            "balance": {"budget": 3, "first_round": 1, "plain_rounds": 1, "steering": True,
                        "phrases": {"gender": {"female": "a woman", "male": "a man"}}}}
    request = parse_request(data, source="bench_balance.py")
    with tempfile.TemporaryDirectory() as folder:
        outcome = balance_request(request, Path(folder) / "batch", models_root=Path(models_root))
        rounds = read_manifest(Path(folder) / "batch").balance["rounds"]
    print(f"loop: outcome {outcome.status}, {len(rounds)} rounds")
    total_gen = total_over = 0.0
    for record in rounds:
        t = record.get("seconds", {})
        gen, over = t.get("generate", 0.0), t.get("audit", 0.0) + t.get("select", 0.0)
        total_gen += gen
        total_over += over
        print(f"  round {record['round']}: {record.get('generated', 0)} plates; generate {gen:.2f} s, audit "
              f"{t.get('audit', 0.0):.2f} s + select {t.get('select', 0.0):.3f} s; overhead ratio "
              f"{over / gen if gen else float('nan'):.2f}")
    print(f"  all rounds: generate {total_gen:.2f} s, audit + select {total_over:.2f} s, ratio "
          f"{total_over / total_gen if total_gen else float('nan'):.2f}")


if __name__ == "__main__":
    sys.exit(main())
