"""How generation scales over the devices of one host: all local devices against one, as a ratio.

Both runs happen in this process, on the same engine and the same plates (prompts and seeds): first on
one device, then split over every device JAX sees. Compilation is done before timing. The script prints
plates per second for each and the speed-up (all devices / one device).

    python benchmarks/bench_devices.py                      # demo checkpoints (made on first use)
    python benchmarks/bench_devices.py --dalle /models/dalle-mini --vqgan /models/vqgan-f16-16384
    XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu python benchmarks/bench_devices.py

On CPU, forced host devices share the same cores, so expect about 1x there. The number that matters
is the one measured on a multi-GPU host.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="models root for the demo checkpoints "
                                                    "[default: $CASTGATE_MODELS or ~/.cache/castgate/models]")
    parser.add_argument("--dalle", type=Path, help="DalleBart folder (with --vqgan) instead of the demo")
    parser.add_argument("--vqgan", type=Path, help="VQGAN folder (with --dalle)")
    parser.add_argument("--plates", type=int, default=16, help="plates per timed run [16]")
    parser.add_argument("--batch-size", type=int, default=8, help="plates per model call [8]; rounded up to a "
                                                                    "multiple of the device count")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per device count; the best is kept [2]")
    args = parser.parse_args()

    import jax

    from castgate.generation.engine import SamplingSettings, TextToImage
    from castgate.generation.generate import default_models_root

    if args.dalle and args.vqgan:
        dalle, vqgan = args.dalle, args.vqgan
    else:
        from castgate.weights.demo_models import ensure_demo_models

        dalle, vqgan = ensure_demo_models(args.models or default_models_root())
    engine = TextToImage.load(dalle, vqgan, dtype=args.dtype)
    settings = SamplingSettings(dtype=args.dtype)
    devices = jax.local_devices()
    all_count = len(devices)
    batch = -(-args.batch_size // all_count) * all_count  # the same batch shape for both runs
    prompts = [f"a background extra, portrait {n}" for n in range(args.plates)]
    seeds = list(range(1000, 1000 + args.plates))

    def run(device_count: int) -> float:
        start = time.perf_counter()
        for first in range(0, args.plates, batch):
            p, s = prompts[first:first + batch], seeds[first:first + batch]
            p, s = p + [p[-1]] * (batch - len(p)), s + [s[-1]] * (batch - len(s))
            engine.decode_tokens(engine.sample_tokens(p, s, settings, device_count), device_count)
        return time.perf_counter() - start

    print(f"devices: {all_count} x {devices[0].device_kind} ({devices[0].platform}); checkpoint {dalle.name}; "
          f"{args.plates} plates, batch {batch}, {args.dtype}")
    counts = [1] if all_count == 1 else [1, all_count]
    best = {}
    for count in counts:
        run(count)  # compile and warm up
        best[count] = min(run(count) for _ in range(args.repeats))
        print(f"  {count} device(s): {best[count]:.2f} s, {args.plates / best[count]:.2f} plates/s")
    if all_count == 1:
        print("only one device: nothing to compare (on CPU, try "
              "XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu)")
        return
    print(f"speed-up, {all_count} devices / 1 device: {best[1] / best[all_count]:.2f}x "
          f"(ideal {all_count:.2f}x)")


if __name__ == "__main__":
    main()
