"""The balance loop as farm steps (plan, sharded generate, select): the same cast as the loop in one process,
and a select frame that runs before every generate frame finished is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_factory import erring_error_table
from castgate.balance.loop import balance_request
from castgate.balance.steps import run_step
from castgate.batch.manifest import read_manifest
from castgate.errors import ManifestError
from castgate.request import parse_request
from photo_generator import PhotoGenerator

PHRASES = {"with dark skin": "darker", "with light skin": "lighter"}


@pytest.fixture(autouse=True)
def exact_labeller(tmp_path, monkeypatch):
    """The steps must give the loop's cast: verify with a labeller measured to make no skin-group error, so
    that four plates can pass, not with the shipped table (whose figures change when the auditor does)."""
    from castgate.gate import error_model

    monkeypatch.setattr(error_model, "SHIPPED_TABLE", erring_error_table(tmp_path, error_rate_cases=0))


def make_request(tmp_path: Path):
    (tmp_path / "skin.toml").write_text('tolerance = 0.1\nscope = "per_role"\n'
                                        '[skin_group]\ntargets = {lighter = 0.5, darker = 0.5}\n')
    data = {"batch": {"name": "ward", "seed": 1},
            "roles": [{"id": "nurse", "prompt": "a nurse at a hospital", "count": 4}],
            "balance": {"budget": 2, "first_round": 1, "plain_rounds": 1, "steering": True, "quota": "skin.toml",
                        "phrases": {"skin_group": {"darker": "with dark skin"}}}}
    return parse_request(data, source=str(tmp_path / "request.toml"))


def test_steps_give_the_loops_cast(tmp_path):
    request = make_request(tmp_path)
    generator = PhotoGenerator(PHRASES)
    farm, local = tmp_path / "farm", tmp_path / "local"
    steps = [run_step("plan", request, farm, generator=generator)]
    for _ in range(3):  # three rounds at most, as a job with balance_rounds = 3
        for shard in ((1, 2), (2, 2)):
            steps.append(run_step("generate", request, farm, shard=shard, generator=generator))
        steps.append(run_step("select", request, farm, generator=generator, audit_workers=1))
    assert steps[0]["state"] == "round planned" and steps[1]["generated"] + steps[2]["generated"] == 4
    assert any(s["step"] == "select" and s["state"] == "passed" for s in steps)
    assert steps[-2] == {"step": "generate", "batch_dir": str(farm), "generated": 0, "state": "no round to generate"}

    outcome = balance_request(request, local, generator=generator, audit_workers=1)
    assert outcome.status == "passed"
    kept = lambda folder: sorted(p.id for p in read_manifest(folder).kept_plates)  # noqa: E731
    assert kept(farm) == kept(local)


def test_select_before_the_generate_frames_finish_is_refused(tmp_path):
    request = make_request(tmp_path)
    generator = PhotoGenerator(PHRASES)
    run_step("plan", request, tmp_path / "b", generator=generator)
    run_step("generate", request, tmp_path / "b", shard=(1, 2), generator=generator)
    with pytest.raises(ManifestError, match="not generated yet"):
        run_step("select", request, tmp_path / "b", generator=generator, audit_workers=1)
