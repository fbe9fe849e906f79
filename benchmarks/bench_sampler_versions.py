"""castgate's sampler now against an earlier commit's, in the same process (not a test).

The earlier ``core/castgate/models/dalle_bart.py`` and ``core/castgate/generation/sampling.py`` are read from
git (``--before``, default: the commit before the unconditional row was shared) and loaded beside
today's modules under other names, so both run on the same weights, inputs, machine and minute.
Two things are timed, in turns (before, now, before, now, ...), keeping each one's best:

* ``text``: encoding the text rows and projecting the cross-attention keys/values, the part of a
  batch the change touches (before: two rows per plate; now: one per plate plus one empty text);
* ``sample``: the whole jitted sampler (256 image tokens per plate with super-conditioning, top-k 50).

It also says whether both drew the same tokens (same seeds; they should, up to float rounding)::

    python benchmarks/bench_sampler_versions.py                       # mini, batch 4, float32
    python benchmarks/bench_sampler_versions.py --arch tiny --batch 1,4,16 --repeat 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "core"))
sys.path.insert(0, str(HERE))

BEFORE = "4e792e6"  # the sampler with the empty text shared (2026-11-29; slower on CPU, reverted)


def module_from_git(revision: str, path: str, name: str, replace: dict[str, str]) -> types.ModuleType:
    """Load ``path`` as it was at ``revision`` as module ``name`` (imports renamed by ``replace``)."""
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout
    for old, new in replace.items():
        source = source.replace(old, new)
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own file from git
    return module


def versions(revision: str) -> dict[str, tuple[types.ModuleType, types.ModuleType]]:
    from castgate.generation import sampling
    from castgate.models import dalle_bart

    old_model = module_from_git(revision, "core/castgate/models/dalle_bart.py", "castgate_before_dalle_bart", {})
    old_sampling = module_from_git(revision, "core/castgate/generation/sampling.py", "castgate_before_sampling",
                                   {"castgate.models.dalle_bart": "castgate_before_dalle_bart"})
    return {"before": (old_model, old_sampling), "now": (dalle_bart, sampling)}


def text_stage(model_module, model, rows_shared: bool):
    """A jitted ``(params, tokens, mask) -> cross keys/values`` as that version's sampler does it."""
    import jax

    def run(params, tokens, mask):
        variables = {"params": params}
        if rows_shared:
            texts, masks = model_module.shared_text_rows(tokens, mask)
        else:
            texts, masks = tokens.reshape(-1, tokens.shape[-1]), mask.reshape(-1, mask.shape[-1])
        state = model.apply(variables, texts, masks, method=type(model).encode)
        return model.apply(variables, state, method=type(model).cross_keys_values)

    return jax.jit(run)


def best_of(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"git revision to compare with [{BEFORE}]")
    parser.add_argument("--arch", default="mini", help="tiny, mini or mega [mini]")
    parser.add_argument("--batch", default="4", help="comma list of plates per batch [4]")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeat", type=int, default=2, help="timed turns each (best kept) [2]")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    from bench_sampler import dalle_config, random_params, text_inputs
    from castgate.weights import checkpoints

    config = dalle_config(args.arch, 256)
    params = random_params(checkpoints.dallebart_module_shapes(config), dtype=args.dtype)
    loaded = versions(args.before)
    print(f"# {jax.devices()[0].device_kind}, jax {jax.__version__}; before = {args.before}; "
          f"command: {' '.join(sys.argv)}", flush=True)
    print("| arch | dtype | batch | stage | before s | now s | before / now | same tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in [int(b) for b in args.batch.split(",")]:
        tokens, mask = text_inputs(batch)
        seeds = np.arange(batch, dtype=np.uint32)
        runs, outputs = {}, {}
        for name, (model_module, sampling_module) in loaded.items():
            model = model_module.DalleBart(config, jnp.dtype(args.dtype))
            texts = text_stage(model_module, model, rows_shared=hasattr(model_module, "shared_text_rows"))
            sampler = jax.jit(functools.partial(sampling_module.sample_image_tokens, model, top_k=50,
                                                token_limit=16384))
            call = (params, tokens, mask, seeds, np.float32(10.0), np.float32(1.0))
            jax.block_until_ready(texts(params, tokens, mask))  # compile both before timing
            outputs[name] = np.asarray(sampler(*call))
            runs[name] = {"text": lambda t=texts: jax.block_until_ready(t(params, tokens, mask)),
                          "sample": lambda s=sampler, c=call: jax.block_until_ready(s(*c))}
        best = {(name, stage): float("inf") for name in runs for stage in ("text", "sample")}
        for _ in range(args.repeat):
            for stage in ("text", "sample"):
                for name in runs:
                    best[name, stage] = min(best[name, stage], best_of(runs[name][stage], 1))
        differing = int((outputs["before"] != outputs["now"]).sum())
        same = "yes" if differing == 0 else f"no ({differing} of {outputs['now'].size} differ)"
        for stage in ("text", "sample"):
            before, now = best["before", stage], best["now", stage]
            print(f"| {args.arch} | {args.dtype} | {batch} | {stage} | {before:.3f} | {now:.3f} | "
                  f"{before / now:.2f}x | {same if stage == 'sample' else ''} |", flush=True)


if __name__ == "__main__":
    main()
