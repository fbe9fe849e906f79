"""The balance loop: generate candidates, audit them, select a cast; aim more at the short cells until the
cast passes or the budget is spent (``castgate balance REQUEST -o BATCH``; docs/balance.md).

Rounds:

1. the plain prompt, ``first_round`` candidates per kept plate for every role;
2. while no cast meets the quota: for each role with short cells, more candidates aimed at those cells —
   with the plain prompt for the first ``plain_rounds`` rounds (as many draws as the role's own share of
   the cell says it needs), then, if the request turns steering on, with the cells' phrases added to the
   prompt (two candidates per missing plate);
3. stop when a cast passes the gate's cast question (:mod:`castgate.balance.verify`), or when no role with
   short cells has budget left (``budget × count`` candidates per role): then the outcome names the short
   cells per role and what was tried. A cast that meets the bands but stays undecided because automatic
   labels may be wrong is kept with the plates to review listed (status ``review``).

Each round is recorded in ``Manifest.balance["rounds"]`` *before* it is generated (which plates, which
prompts), so a killed balance resumes the same round and skips every plate already written (files
matching their SHA-256), and the audit skips plates already audited. Every candidate records the prompt
actually used and, in ``plate.balance``, its round, aim and steering phrases.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from castgate.balance.candidates import AWAITING_BALANCE, apply_selection
from castgate.balance.generators import DalleGenerator, Generator
from castgate.balance.recast import balance_quota, balance_record, check_sizes
from castgate.balance.select import CELL_JOIN, CastSelection, short_text
from castgate.balance.settings import BalanceSettings
from castgate.balance.verify import VerifiedCast, select_verified
from castgate.batch.manifest import Manifest, manifest_path, read_manifest, update_manifest, utc_now, write_manifest
from castgate.errors import ManifestError
from castgate.quotas import Quota
from castgate.request import Request, Role, plate_name

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]   # (stage, done, total)
PASSED, REVIEW, SHORT = "passed", "review", "short"
STEERED_PER_MISSING = 2


@dataclass(frozen=True)
class BalanceOutcome:
    """What a balance run ended with."""

    batch: str
    status: str                                # "passed", "review" (a cast is kept, reviews must settle it), "short"
    sizes: Mapping[str, int]
    quota: Quota
    selection: CastSelection
    rounds: tuple[Mapping[str, Any], ...]
    verdict: str | None = None                 # the gate's cast question on the kept cast
    review: tuple[str, ...] = ()               # plates whose review would settle an undecided cast
    shortfall: Mapping[str, Mapping[str, int]] = dataclasses.field(default_factory=dict)  # role -> cell -> plates

    def short_text(self) -> str:
        """The short cells in words, e.g. ``nurse: 1 more darker``."""
        return short_text(self.shortfall)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == PASSED else 3

    def tried(self) -> str:
        """What each round generated, in words."""
        return "; ".join(describe_round(r) for r in self.rounds) or "nothing generated"

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {"batch": self.batch, "status": self.status, "exit_code": self.exit_code, "cast": dict(self.sizes),
                "quota": self.quota.name, "verdict": self.verdict, "review": list(self.review),
                "selected": list(s.selected),
                "shortfall": {r: dict(c) for r, c in self.shortfall.items()}, "rounds": [dict(r) for r in self.rounds],
                "tried": self.tried()}


def describe_round(record: Mapping[str, Any]) -> str:
    """E.g. ``round 3: nurse 4 aimed at male·darker, steered with "a man, with dark skin"``."""
    parts = []
    for item in record["items"]:
        how = ("plain prompt" if not item["steering"] else
               f"steered with \"{', '.join(item['steering'].values())}\"")
        aim = f" aimed at {item['aim']}" if item.get("aim") else ""
        parts.append(f"{item['role']} {item['count']}{aim}, {how}")
    return f"round {record['round']}: " + ", ".join(parts)


# -- planning (pure) ---------------------------------------------------------------------------------
def next_indices(manifest: Manifest) -> dict[str, int]:
    """The next free plate index of each role."""
    nxt: dict[str, int] = {role: 0 for role in manifest.roles()}
    for plate in manifest.plates:
        nxt[plate.role] = max(nxt.get(plate.role, 0), plate.index + 1)
    for record in (manifest.balance or {}).get("rounds", []):
        for item in record["items"]:
            nxt[item["role"]] = max(nxt.get(item["role"], 0), item["start"] + item["count"])
    return nxt


def plan_round(manifest: Manifest, request: Request, settings: BalanceSettings, sizes: Mapping[str, int],
               selection: CastSelection | None) -> dict[str, Any] | None:
    """The next round to generate, or None when no role with short cells has budget left (pure)."""
    rounds = list((manifest.balance or {}).get("rounds", []))
    number = len(rounds) + 1
    prompts = {r.id: r.prompt for r in request.roles}
    made = {role: 0 for role in sizes}
    for record in rounds:
        for item in record["items"]:
            made[item["role"]] = made.get(item["role"], 0) + item["count"]
    left = {role: settings.budget * size - made.get(role, 0) for role, size in sizes.items()}
    start = next_indices(manifest)
    items: list[dict[str, Any]] = []

    def add(role: str, count: int, aim: str | None, steering: Mapping[str, str], floor: int = 0) -> None:
        count = max(min(count, left[role]), floor)
        if count <= 0:
            return
        prompt = (settings.steered_prompt(prompts[role], list(steering.values())) if steering else prompts[role])
        items.append({"role": role, "start": start[role], "count": count, "aim": aim, "steering": dict(steering),
                      "prompt": prompt})
        start[role] += count
        left[role] -= count

    if number == 1:  # plain; it always holds the plates the request itself plans (the gate checks them)
        planned = {r.id: r.count * request.sampling.candidates_per_plate for r in request.roles}
        for role, size in sizes.items():
            add(role, settings.first_round * size, None, {}, floor=planned.get(role, 0))
    else:
        assert selection is not None
        steer = settings.steering and number > settings.plain_rounds
        attributes = selection.cell_attributes
        for role, cells in selection.shortfall.items():
            plain_needed = 0
            for cell, missing in cells.items():
                categories = cell.split(CELL_JOIN)
                steering = {a: settings.phrase(a, c) for a, c in zip(attributes, categories) if settings.phrase(a, c)}
                if steer and steering:
                    add(role, STEERED_PER_MISSING * missing, cell, steering)
                else:
                    share = _plain_share(manifest, role, dict(zip(attributes, categories)))
                    plain_needed = max(plain_needed, math.ceil(missing / share))
            if plain_needed:
                add(role, plain_needed, ", ".join(cells), {})
        if not selection.shortfall:  # short for a reason more plates of no particular cell would fix
            for role, size in sizes.items():
                add(role, size, None, {})
    if not items:
        return None
    kind = "steered" if any(i["steering"] for i in items) else "plain"
    return {"round": number, "kind": kind, "items": items, "complete": False}


def _plain_share(manifest: Manifest, role: str, cell: Mapping[str, str]) -> float:
    """The role's share of a cell among its unsteered candidates (Laplace-smoothed, so never 0)."""
    plain = [p for p in manifest.plates if p.role == role and not (p.balance or {}).get("steering")]
    hits = sum(1 for p in plain if all(p.label(a) == c for a, c in cell.items()))
    cells = 2 ** len(cell)
    return (hits + 1) / (len(plain) + cells)


def planned_plates(record: Mapping[str, Any], request: Request) -> list[tuple[dict, int, str, int]]:
    """(item, index, plate id, seed) for every candidate a round record asks for."""
    from castgate.generation.generate import plate_seed

    out = []
    for item in record["items"]:
        for index in range(item["start"], item["start"] + item["count"]):
            out.append((item, index, plate_name(request.output_template, request.batch, item["role"], index),
                        plate_seed(request.seed, item["role"], index)))
    return out


# -- the loop (I/O) ----------------------------------------------------------------------------------
def balance_request(request: Request, batch_dir: Path, *, generator: Generator | None = None,
                    models_root: Path | None = None, ocio_config: str | None = None,
                    quota: str | Path | Quota | None = None, cast: int | None = None,
                    audit_workers: int | None = None, on_progress: Progress | None = None,
                    clip_folder: Path | None = None) -> BalanceOutcome:
    """Generate, audit and select until a cast meets the quota or the budget is spent (resumable).

    Args:
        request: a validated request; its ``[balance]`` table (or the defaults) drives the loop.
        batch_dir: the batch folder (created; rerun with the same folder to resume).
        generator: the image generator (default: DALL·E from the request's models). Only code can pass
            another; a request cannot name one.
        models_root, ocio_config: as ``castgate generate``.
        quota: default: ``[balance].quota``, else ``[batch].quota``, else parity.
        cast: plates per role (default: each role's count).
        audit_workers: processes for the audit (default: every core).
        on_progress: ``(stage, done, total)`` for "generate" and "audit".
        clip_folder: a CLIP checkpoint: every candidate is scored against its role's plain prompt and the
            cast is the best-scoring among those that pass (default: the documented order).

    Returns:
        A :class:`BalanceOutcome` (``exit_code`` 0 passed, 3 short).

    Raises:
        BalanceError: a cast size the quota cannot meet (before anything is written).
        ManifestError: the folder holds a batch from another request or generator.
    """
    batch_dir = Path(batch_dir)
    settings, quota, sizes, colour = run_settings(request, quota, cast, ocio_config)
    generator = generator or DalleGenerator.load(request, models_root)
    prepare_batch(batch_dir, request, generator, colour)
    scorer = None
    if clip_folder is not None:
        from castgate.generation.rerank import ClipScorer

        scorer = ClipScorer.load(clip_folder)
    while True:
        step = advance(batch_dir, request, settings, sizes, quota)
        if isinstance(step, BalanceOutcome):
            return step
        generate_round(batch_dir, request, step, generator, colour, on_progress=on_progress)
        complete_round(batch_dir, request, step, audit_workers=audit_workers, on_progress=on_progress,
                       scorer=scorer)


def run_settings(request: Request, quota: str | Path | Quota | None, cast: int | None,
              ocio_config: str | None) -> tuple[BalanceSettings, Quota, dict[str, int], Any]:
    """The balance settings, quota, cast sizes and colour pipeline of a run; refuses impossible sizes."""
    from castgate.colour import ColourPipeline

    settings = request.balance or BalanceSettings()
    probe = Manifest(batch=request.batch, created=utc_now(), request=request.to_record(), models={}, sampling={},
                     colour={})
    quota = balance_quota(probe, quota)
    sizes = {role.id: cast if cast is not None else role.count for role in request.roles}
    check_sizes(probe, sizes, quota, can_generate=True)
    return settings, quota, sizes, ColourPipeline.open(ocio_config)


def prepare_batch(batch_dir: Path, request: Request, generator: Generator, colour: Any) -> None:
    """Create the batch folder and manifest, or check that an existing one is this request's."""
    from castgate.generation.generate import prepare_output

    prepare_output(batch_dir)
    _start_or_resume(batch_dir, request, generator, colour)


def advance(batch_dir: Path, request: Request, settings: BalanceSettings, sizes: Mapping[str, int], quota: Quota,
            *, last: bool = False) -> "BalanceOutcome | Mapping[str, Any]":
    """One decision of the loop: the unfinished round to run, or select and verify the cast and then
    finish (passed, review, short) or plan and record the next round. ``last``: no more rounds may run
    (the farm job's last select frame), so finish with what there is."""
    manifest = read_manifest(batch_dir)
    rounds = list((manifest.balance or {}).get("rounds", []))
    if rounds and not rounds[-1]["complete"]:
        return rounds[-1]
    verified = None
    if manifest.plates:  # an existing batch's plates count too
        started = time.monotonic()
        verified = select_verified(manifest, sizes, quota)
        if rounds and "select" not in rounds[-1].get("seconds", {}):  # once per round: reruns change nothing
            _add_seconds(batch_dir, len(rounds), "select", time.monotonic() - started)
        if verified.passed:
            return _finish(batch_dir, sizes, quota, verified, PASSED)
        if verified.selection.feasible and not verified.tighter_shortfall:
            return _finish(batch_dir, sizes, quota, verified, REVIEW)  # only reviews can settle it
    record = None
    if not last:
        aim = None
        if verified is not None:
            aim = (verified.selection if not verified.selection.feasible
                   else dataclasses.replace(verified.selection, shortfall=verified.tighter_shortfall))
        record = plan_round(manifest, request, settings, sizes, aim)
    if record is None:
        assert verified is not None, "a batch with no plates always has a first round to plan"
        return _finish(batch_dir, sizes, quota, verified, REVIEW if verified.selection.feasible else SHORT)
    update_manifest(batch_dir, lambda m: _with_round(m, record))
    log.info("%s: %s", request.batch, describe_round(record))
    return record


def _start_or_resume(batch_dir: Path, request: Request, generator: Generator, colour: Any) -> None:
    fresh = Manifest(batch=request.batch, created=utc_now(), request=request.to_record(),
                     models=dict(generator.identity), sampling=dataclasses.asdict(request.sampling),
                     colour=colour.record(), balance={"rounds": []})
    if not manifest_path(batch_dir).is_file():
        write_manifest(batch_dir, fresh)
        return
    existing = read_manifest(batch_dir)
    if existing.request != fresh.request:
        raise ManifestError("this batch folder holds a batch made from a different request",
                            where=str(batch_dir), fix="Use another output folder with -o, or delete this batch")
    if {k: existing.models.get(k) for k in fresh.models} != dict(fresh.models):  # CLIP may be recorded too
        raise ManifestError("this batch was generated with different models", where=str(batch_dir),
                            fix="Use the same --model folders as before, or another output folder")


def _with_round(manifest: Manifest, record: Mapping[str, Any]) -> Manifest:
    balance = dict(manifest.balance or {})
    balance["rounds"] = list(balance.get("rounds", [])) + [dict(record)]
    return dataclasses.replace(manifest, balance=balance)


def _set_round(batch_dir: Path, number: int, **changes: Any) -> None:
    def change(manifest: Manifest) -> Manifest:
        balance = dict(manifest.balance or {})
        balance["rounds"] = [dict(r, **changes) if r["round"] == number else r for r in balance.get("rounds", [])]
        return dataclasses.replace(manifest, balance=balance)

    update_manifest(batch_dir, change)


def _add_seconds(batch_dir: Path, number: int, stage: str, seconds: float) -> None:
    """Add to a round's time for a stage, under the manifest lock (shards add theirs side by side)."""
    def change(manifest: Manifest) -> Manifest:
        balance = dict(manifest.balance or {})
        rounds = []
        for r in balance.get("rounds", []):
            if r["round"] == number:
                timings = dict(r.get("seconds", {}))
                timings[stage] = round(timings.get(stage, 0.0) + seconds, 4)
                r = dict(r, seconds=timings)
            rounds.append(r)
        balance["rounds"] = rounds
        return dataclasses.replace(manifest, balance=balance)

    update_manifest(batch_dir, change)


def generate_round(batch_dir: Path, request: Request, record: Mapping[str, Any], generator: Generator,
                   colour: Any, *, shard: tuple[int, int] = (1, 1), on_progress: Progress | None = None) -> int:
    """Generate the round's candidates that are not written yet (shard ``(i, n)``: every n-th from the i-th),
    recording each chunk under the manifest lock. Returns how many were generated."""
    from castgate.generation.generate import PlannedPlate, _finished_ids, write_plate

    index, count = shard
    mine = planned_plates(record, request)[index - 1::count]
    finished = _finished_ids(batch_dir, read_manifest(batch_dir))
    todo = [p for p in mine if p[2] not in finished]
    total, done = len(mine), len(mine) - len(todo)
    started = time.monotonic()
    counts = {r.id: r.count for r in request.roles}
    chunk = request.sampling.batch_size
    for begin in range(0, len(todo), chunk):
        part = todo[begin:begin + chunk]
        images = generator.generate([item["prompt"] for item, *_ in part], [seed for *_, seed in part])
        plates = []
        for (item, plate_index, plate_id, seed), image in zip(part, images):
            planned = PlannedPlate(Role(item["role"], item["prompt"], counts[item["role"]]), plate_index, plate_id,
                                   seed)
            plate = write_plate(batch_dir, request, planned, image, colour, generator.model_hash)
            plates.append(dataclasses.replace(
                plate, kept=False, rejected_reason=AWAITING_BALANCE,
                balance={"round": record["round"], "aim": item.get("aim"), "steering": dict(item["steering"])}))
        update_manifest(batch_dir, lambda m, new=plates: m.with_plates(new))
        done += len(part)
        if on_progress:
            on_progress("generate", done, total)
    if todo:
        _add_seconds(batch_dir, record["round"], "generate", time.monotonic() - started)
    return len(todo)


def complete_round(batch_dir: Path, request: Request, record: Mapping[str, Any], *,
                   audit_workers: int | None = None, on_progress: Progress | None = None,
                   scorer: Any = None) -> None:
    """Audit the round's candidates (and score them with ``scorer``, a CLIP scorer) and mark it complete.

    Raises:
        ManifestError: some of the round's candidates are not written yet (a generate frame has not finished).
    """
    from castgate.audit.batch import audit_batch

    present = {p.id for p in read_manifest(batch_dir).plates}
    missing = [plate_id for _, _, plate_id, _ in planned_plates(record, request) if plate_id not in present]
    if missing:
        raise ManifestError(f"round {record['round']}: {len(missing)} candidate(s) are not generated yet "
                            f"(e.g. {missing[0]})", where=str(batch_dir),
                            fix="Let every generate frame of the round finish (or rerun the failed ones), then "
                                "run this step again")
    started = time.monotonic()
    audit_batch(batch_dir, workers=audit_workers,
                on_progress=(lambda d, t: on_progress("audit", d, t)) if on_progress else None)
    _add_seconds(batch_dir, record["round"], "audit", time.monotonic() - started)
    if scorer is not None:
        score_candidates(batch_dir, request, scorer)
    _set_round(batch_dir, record["round"], complete=True, generated=len(planned_plates(record, request)))


def score_candidates(batch_dir: Path, request: Request, scorer: Any) -> int:
    """CLIP-score every candidate that has no score yet, against its role's *plain* prompt (how well it shows
    the role, whatever phrase steered it); return how many were scored."""
    from PIL import Image

    from castgate.generation.rerank import SCORE_KEY

    prompts = {r.id: r.prompt for r in request.roles}
    todo = [p for p in read_manifest(batch_dir).plates
            if SCORE_KEY not in p.scores and "png" in p.files and p.role in prompts]
    if not todo:
        return 0
    images = []
    for plate in todo:
        with Image.open(batch_dir / plate.files["png"].path) as image:
            images.append(image.convert("RGB").copy())
    scores = scorer.score(images, [prompts[p.role] for p in todo])
    by_id = {p.id: float(s) for p, s in zip(todo, scores)}

    def change(manifest: Manifest) -> Manifest:
        return manifest.with_plates([dataclasses.replace(p, scores={**p.scores, SCORE_KEY: by_id[p.id]})
                                     for p in manifest.plates if p.id in by_id])

    update_manifest(batch_dir, change)
    return len(todo)


def _finish(batch_dir: Path, sizes: Mapping[str, int], quota: Quota, verified: VerifiedCast,
            status: str) -> BalanceOutcome:
    from castgate.generation.generate import write_contact_sheets

    selection = verified.selection

    def change(manifest: Manifest) -> Manifest:
        record = balance_record(sizes, quota, selection, manifest.balance, verified)
        record["outcome"] = status
        updated = apply_selection(manifest, selection, record)
        if updated != manifest:
            updated = updated.with_event("balance", cast=dict(sizes), quota=quota.name, outcome=status,
                                         verdict=verified.verdict, kept=len(selection.selected),
                                         candidates=len(manifest.plates), rounds=len(record.get("rounds", [])))
        return updated

    manifest = update_manifest(batch_dir, change)
    write_contact_sheets(batch_dir, manifest)
    return BalanceOutcome(manifest.batch, status, dict(sizes), quota, selection,
                          tuple(manifest.balance.get("rounds", [])), verified.verdict, verified.review,
                          verified.shortfall)


__all__ = ["BalanceOutcome", "balance_request", "plan_round", "describe_round"]
