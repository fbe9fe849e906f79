"""The balance loop end to end: real photographs through the real auditor, a generator skewed 3:1 towards
lighter skin, steering that shifts the draw; a passing cast with steering, exit 3 naming the short cells
without it; a killed run resumes without redoing finished plates; a rerun changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from batch_factory import erring_error_table
from castgate.balance.loop import balance_request
from castgate.batch.manifest import manifest_path, read_manifest
from castgate.gate import gate_batch
from castgate.report import report_batch
from castgate.request import parse_request
from photo_generator import PhotoGenerator

PHRASES = {"with dark skin": "darker", "with light skin": "lighter"}
# Within ±25 points: a cast of 4 may hold 1–3 darker plates, so a cast can pass the cast question with the
# labeller's measured error (an exact 2-of-4 band cannot pass on automatic labels alone: see docs/balance.md).
QUOTA = 'name = "skin parity"\ntolerance = 0.25\n[skin_group]\ntargets = {lighter = 0.5, darker = 0.5}\n'


@pytest.fixture(autouse=True)
def labeller_with_errors(tmp_path, monkeypatch):
    """The loop verifies with the shipped error table: give it one whose skin-group error can tip a cast."""
    from castgate.gate import error_model

    monkeypatch.setattr(error_model, "SHIPPED_TABLE", erring_error_table(tmp_path))


def make_request(tmp_path: Path, steering: bool, seed: int = 1):
    """Two roles of 4; a budget of 2 candidates per kept plate; the first round 1 per plate, plain."""
    (tmp_path / "skin.toml").write_text(QUOTA)
    data = {"batch": {"name": "ward", "seed": seed},
            "roles": [{"id": "nurse", "prompt": "a nurse at a hospital", "count": 4},
                      {"id": "surgeon", "prompt": "a surgeon in an operating room", "count": 4}],
            "balance": {"budget": 2, "first_round": 1, "plain_rounds": 1, "steering": steering, "quota": "skin.toml",
                        "phrases": {"skin_group": {"darker": "with dark skin", "lighter": "with light skin"}}}}
    return parse_request(data, source=str(tmp_path / "request.toml"))


class Counting(PhotoGenerator):
    """The photo generator, counting the images it makes and optionally dying after ``die_after`` of them."""

    def __init__(self, die_after: int | None = None):
        super().__init__(PHRASES)
        self.made: list[tuple[str, int]] = []
        self.die_after = die_after

    def generate(self, prompts, seeds):
        if self.die_after is not None and len(self.made) + len(prompts) > self.die_after:
            raise KeyboardInterrupt("killed")
        self.made += list(zip(prompts, seeds))
        return super().generate(prompts, seeds)


def test_unsteered_draws_are_skewed_about_three_to_one_and_steering_shifts_them():
    generator = PhotoGenerator(PHRASES)
    plain = [generator.group_for("a nurse", seed) for seed in range(4000)]
    steered = [generator.group_for("a nurse, with dark skin", seed) for seed in range(4000)]
    assert plain.count("darker") / 4000 == pytest.approx(0.25, abs=0.02)
    assert steered.count("darker") / 4000 == pytest.approx(0.9, abs=0.02)
    image = generator.generate(["a nurse"], [3])[0]
    assert image.shape == (256, 256, 3) and 0.0 <= image.min() and image.max() <= 1.0


def test_steering_reaches_a_passing_cast_and_a_killed_run_resumes(tmp_path):
    request = make_request(tmp_path, steering=True)
    batch = tmp_path / "batch"
    killed = Counting(die_after=6)
    with pytest.raises(KeyboardInterrupt):
        balance_request(request, batch, generator=killed, audit_workers=1)
    written = {p.id for p in read_manifest(batch).plates}
    assert len(written) == 4  # the first chunk (batch_size 4) was written before the kill

    resumed = Counting()
    outcome = balance_request(request, batch, generator=resumed, audit_workers=1)
    assert outcome.status == "passed" and outcome.exit_code == 0, outcome.to_dict()
    manifest = read_manifest(batch)
    assert not written & {plate_id for plate_id in _ids(manifest, resumed)}  # finished plates not redone
    for role in ("nurse", "surgeon"):  # the verified cast: two of each, so the labeller's error cannot tip it
        kept = [p for p in manifest.kept_plates if p.role == role]
        assert sorted(p.label("skin_group") for p in kept) == ["darker", "darker", "lighter", "lighter"]
    steered = [p for p in manifest.plates if p.balance["steering"]]
    assert steered and all(p.prompt.endswith(", with dark skin") for p in steered)
    assert all(p.balance["steering"] == {"skin_group": "with dark skin"} for p in steered)
    assert all(p.kept or p.rejected_reason.startswith(("not selected: ", "rejected: ")) for p in manifest.plates)
    per_role = {r: sum(1 for p in manifest.plates if p.role == r) for r in ("nurse", "surgeon")}
    assert max(per_role.values()) <= 8  # the budget: 2 candidates per kept plate
    assert manifest.balance["outcome"] == "passed" and all(r["complete"] for r in manifest.balance["rounds"])
    assert outcome.verdict == "PASS" and manifest.balance["verdict"] == "PASS"
    assert gate_batch(batch, tmp_path / "skin.toml", record=False).verdict == "PASS"  # with its file checks

    _, paths = report_batch(batch, tmp_path / "report", tmp_path / "skin.toml")
    view = json.loads(paths["json"].read_text(encoding="utf-8"))["balance"]
    plain_skins = [p.label("skin_group") for p in manifest.plates if not p.balance["steering"]]
    pooled_before = {c["category"]: c["count"] for c in view["before"]["pooled"]["attributes"]["skin_group"]["categories"]}
    assert pooled_before == {"lighter": plain_skins.count("lighter"), "darker": plain_skins.count("darker")}
    assert view["after"]["pooled"]["attributes"]["skin_group"] == {"counts": {"lighter": 4, "darker": 4}, "verdict": "PASS"}
    assert view["steering"]["nurse"]["phrases"] or view["steering"]["surgeon"]["phrases"]
    html = paths["html"].read_text(encoding="utf-8")
    assert "Before and after balancing" in html and "with dark skin" in html

    before = manifest_path(batch).read_bytes()
    again = Counting()
    assert balance_request(request, batch, generator=again, audit_workers=1).status == "passed"
    assert again.made == [] and manifest_path(batch).read_bytes() == before  # idempotent


def _ids(manifest, generator) -> list[str]:
    seeds = {seed for _, seed in generator.made}
    return [p.id for p in manifest.plates if p.seed in seeds]


def test_without_steering_the_spent_budget_exits_3_naming_the_short_cells(tmp_path):
    request = make_request(tmp_path, steering=False)
    generator = Counting()
    outcome = balance_request(request, tmp_path / "batch", generator=generator, audit_workers=1)
    assert outcome.status in ("short", "review") and outcome.exit_code == 3, outcome.to_dict()
    assert outcome.verdict != "PASS" and outcome.shortfall and "more darker" in outcome.short_text()
    assert "steered" not in outcome.tried() and "plain prompt" in outcome.tried()
    assert all(prompt in ("a nurse at a hospital", "a surgeon in an operating room") for prompt, _ in generator.made)
    manifest = read_manifest(tmp_path / "batch")
    short_roles = set(outcome.shortfall)
    assert all(sum(1 for p in manifest.plates if p.role == role) == 8 for role in short_roles)  # budget spent
    assert manifest.balance["shortfall"] == {r: dict(c) for r, c in outcome.shortfall.items()}
    assert manifest.balance["outcome"] == outcome.status
    # the generator's own skew shows in its unsteered candidates: lighter outnumbers darker
    skins = [p.label("skin_group") for p in manifest.plates]
    assert skins.count("lighter") > 2 * skins.count("darker"), skins
    assert np.isfinite(manifest.balance["rounds"][0]["seconds"]["generate"])


def test_with_a_clip_model_every_candidate_is_scored_and_the_cast_is_chosen_by_score(tmp_path, clip_tiny):
    request = make_request(tmp_path, steering=True)
    outcome = balance_request(request, tmp_path / "batch", generator=Counting(), audit_workers=1,
                              clip_folder=clip_tiny)
    manifest = read_manifest(tmp_path / "batch")
    assert all("clip" in p.scores for p in manifest.plates)
    assert manifest.balance["objective"] == "clip" and outcome.selection.objective == "clip"
    plain = {"nurse": "a nurse at a hospital", "surgeon": "a surgeon in an operating room"}
    assert all(p.prompt.startswith(plain[p.role]) for p in manifest.plates)  # scored against the plain prompt
    if outcome.status == "passed":
        dropped = [p for p in manifest.plates if not p.kept and p.rejected_reason.startswith("not selected")]
        assert all("CLIP score" in p.rejected_reason or "over quota" in p.rejected_reason for p in dropped)
