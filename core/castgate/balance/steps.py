"""The balance loop cut into steps a farm job can run as layers (docs/farm.md, "Balance on the farm").

* ``plan`` (a cheap frame): create or check the batch, then select and verify the cast: finish it when it
  passes, else record the next round (which candidates, which prompts);
* ``generate`` (GPU frames, ``--shard i/n``): generate this shard's part of the unfinished round, each
  chunk recorded under the manifest lock; a frame with nothing to do exits at once;
* ``select`` (a cheap frame): audit the round, mark it complete, then as ``plan``; with ``last`` no further
  round is planned and the balance finishes with what there is.

Each step reads the state from the manifest, so any step can be rerun (a retried frame redoes nothing that
is finished). The steps are the same functions :func:`castgate.balance.loop.balance_request` loops over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from castgate.balance.generators import DalleGenerator, Generator
from castgate.balance.loop import (BalanceOutcome, advance, complete_round, describe_round, generate_round,
                                   prepare_batch, run_settings)
from castgate.batch.manifest import read_manifest
from castgate.errors import CastgateError
from castgate.quotas import Quota
from castgate.request import Request

STEPS = ("plan", "generate", "select")


def run_step(step: str, request: Request, batch_dir: Path, *, shard: tuple[int, int] = (1, 1), last: bool = False,
             generator: Generator | None = None, models_root: Path | None = None, ocio_config: str | None = None,
             quota: str | Path | Quota | None = None, cast: int | None = None,
             audit_workers: int | None = None) -> dict[str, Any]:
    """Run one step; return what it did (for ``--json``).

    Raises:
        CastgateError: an unknown step; ManifestError: ``select`` before every generate frame finished.
    """
    if step not in STEPS:
        raise CastgateError(f"--step {step!r} is not a balance step", fix=f"Use one of {', '.join(STEPS)}")
    batch_dir = Path(batch_dir)
    settings, quota, sizes, colour = run_settings(request, quota, cast, ocio_config)
    out: dict[str, Any] = {"step": step, "batch_dir": str(batch_dir)}
    if step == "plan":
        prepare_batch(batch_dir, request, generator or DalleGenerator.load(request, models_root), colour)
        return {**out, **_state(advance(batch_dir, request, settings, sizes, quota, last=last))}
    rounds = list((read_manifest(batch_dir).balance or {}).get("rounds", []))
    unfinished = rounds[-1] if rounds and not rounds[-1]["complete"] else None
    if step == "generate":
        if unfinished is None:
            return {**out, "generated": 0, "state": "no round to generate"}
        made = generate_round(batch_dir, request, unfinished, generator or DalleGenerator.load(request, models_root),
                              colour, shard=shard)
        return {**out, "generated": made, "round": unfinished["round"], "shard": f"{shard[0]}/{shard[1]}"}
    if unfinished is not None:
        complete_round(batch_dir, request, unfinished, audit_workers=audit_workers)
    return {**out, **_state(advance(batch_dir, request, settings, sizes, quota, last=last))}


def _state(result: Any) -> dict[str, Any]:
    if isinstance(result, BalanceOutcome):
        return {"state": result.status, "outcome": result.to_dict()}
    return {"state": "round planned", "round": result["round"], "planned": describe_round(result)}
