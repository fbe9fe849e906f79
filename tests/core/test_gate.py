"""The gate: rules per attribute, scopes, integrity problems, recording, and label tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.manifest import read_manifest
from castgate.errors import LabelsFileError, ManifestError
from castgate.gate import (EXIT_CODES, Tally, evaluate_attribute, evaluate_tallies, format_result, gate_batch,
                           gate_label_table, record_verdict, worst)
from castgate.labels_table import parse_label_table
from castgate.quotas import load_quota, parse_quota

WIDE = ('question = "generator"\nmin_sample = 10\ntolerance = 0.2\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n'
        "[skin_group]\ntargets = { lighter = 0.5, darker = 0.5 }\n")


def tally(**gender: int) -> Tally:
    """A role's tally with these gender counts and no unlabelled plates."""
    return Tally(scope="nurse", kind="role", title="nurse", roles=("nurse",), plate_count=sum(gender.values()),
                 counts={"gender": dict(gender)})


def gender_quota(extra: str = "", targets="female = 0.5, male = 0.5"):
    return parse_quota(f"{extra}[gender]\ntargets = {{ {targets} }}\n").attribute("gender")


def test_pass_fail_insufficient_from_intervals():
    assert evaluate_attribute(tally(female=300, male=300), gender_quota()).verdict == "PASS"
    failed = evaluate_attribute(tally(female=80, male=20), gender_quota())
    assert failed.verdict == "FAIL" and failed.more_plates == 0
    assert "above 40–60 %" in failed.reason and "FAILs" in failed.explanation
    unsure = evaluate_attribute(tally(female=33, male=30), gender_quota())
    assert unsure.verdict == "INSUFFICIENT" and unsure.more_plates > 0
    assert f"~{unsure.more_plates} more plates" in unsure.reason


def test_shares_are_among_determined_and_of_all_plates_are_kept_beside():
    result = evaluate_attribute(tally(female=60, male=30, undetermined=10), gender_quota())
    female = result.category("female")
    assert (female.share, female.share_of_all) == (pytest.approx(60 / 90), 0.6)
    assert (result.determined, result.undetermined, result.undetermined_share) == (90, 10, 0.1)


def test_undetermined_above_the_limit_is_unauditable():
    result = evaluate_attribute(tally(female=300, male=300, undetermined=100), gender_quota())
    assert result.verdict == "UNAUDITABLE" and result.more_plates is None
    assert "limit 10.0 %" in result.reason


def test_unlabelled_plates_fail_closed():
    missing = Tally(scope="nurse", kind="role", title="nurse", roles=("nurse",), plate_count=601,
                    counts={"gender": {"female": 300, "male": 300}})
    result = evaluate_attribute(missing, gender_quota())
    assert result.verdict == "UNAUDITABLE" and result.unlabelled == 1


def test_min_sample_withholds_even_a_clear_fail():
    result = evaluate_attribute(tally(female=12, male=0), gender_quota())
    assert result.verdict == "INSUFFICIENT" and result.more_plates >= 8
    assert "minimum 20" in result.reason


def test_more_than_two_categories_use_bonferroni():
    quota = parse_quota("[fitzpatrick]\ntargets = { I = 0.1, II = 0.2, III = 0.2, IV = 0.2, V = 0.15, VI = 0.15 }\n"
                        ).attribute("fitzpatrick")
    counts = {"I": 100, "II": 200, "III": 200, "IV": 200, "V": 150, "VI": 150}
    result = evaluate_attribute(Tally("pooled", "pooled", "all", ("a",), 1000, {"fitzpatrick": counts}), quota)
    assert result.interval_confidence == pytest.approx(1 - 0.05 / 6)
    assert result.verdict == "PASS"
    assert "Bonferroni" in result.explanation


def test_non_uniform_targets():
    quota = gender_quota(targets="female = 0.7, male = 0.3")
    assert evaluate_attribute(tally(female=700, male=300), quota).verdict == "PASS"
    assert evaluate_attribute(tally(female=500, male=500), quota).verdict == "FAIL"


def test_scope_setting_gates_roles_or_pooled_only():
    quota = parse_quota('scope = "pooled"\n[gender]\ntargets = { female = 0.5, male = 0.5 }\n')
    roles = [Tally(r, "role", r, (r,), 100, {"gender": {"female": 90, "male": 10}}) for r in ("a", "b")]
    roles.append(Tally("c", "role", "c", ("c",), 100, {"gender": {"female": 10, "male": 90}}))
    result = evaluate_tallies(roles, quota)
    assert [s.verdict for s in result.scopes if s.kind == "role"] == [None, None, None]
    assert not result.scope("a").attribute("gender").gated
    assert result.scope("pooled").verdict == "INSUFFICIENT"  # 190 of 300 female: undecided at 95 %


def test_worst_verdict_order():
    assert worst(["PASS", "INSUFFICIENT", "FAIL"]) == "FAIL"
    assert worst(["FAIL", "UNAUDITABLE"]) == "UNAUDITABLE"
    assert worst(["UNAUDITABLE", "TAMPERED", None]) == "TAMPERED"
    assert worst([None]) is None
    assert EXIT_CODES == {"PASS": 0, "UNDECIDED": 3, "INSUFFICIENT": 3, "FAIL": 1, "UNAUDITABLE": 1, "TAMPERED": 1}


# -- batches on disk ------------------------------------------------------------------------------------
def balanced(n: int) -> list[dict]:
    half = n // 2
    return (labelled(half // 2, gender="female", skin_group="lighter") + labelled(half - half // 2, gender="female", skin_group="darker")
            + labelled(half // 2, gender="male", skin_group="darker") + labelled(half - half // 2, gender="male", skin_group="lighter"))


@pytest.fixture()
def wide_quota(tmp_path: Path) -> Path:
    path = tmp_path / "wide.toml"
    path.write_text(WIDE, encoding="utf-8")
    return path


def test_a_balanced_batch_passes_and_the_verdict_is_recorded(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40), "clerk": balanced(40)}, quota=str(wide_quota))
    result = gate_batch(batch)  # the request's quota
    assert (result.verdict, result.exit_code) == ("PASS", 0)
    assert result.quota.name == "wide"
    manifest = read_manifest(batch)
    assert manifest.verdict["verdict"] == "PASS"
    assert manifest.verdict["scopes"][0]["attributes"]["gender"]["verdict"] == "PASS"
    assert manifest.events[-1].kind == "gate" and manifest.events[-1].details["verdict"] == "PASS"
    json.dumps(result.to_dict())  # plain data all the way down


def test_no_record_leaves_the_manifest_alone(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    before = (batch / "manifest.json").read_bytes()
    assert gate_batch(batch, wide_quota, record=False).verdict == "PASS"
    assert (batch / "manifest.json").read_bytes() == before


def test_default_quota_is_parity_and_small_batches_are_insufficient(tmp_path: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    result = gate_batch(batch, record=False, question="generator")
    assert result.quota.name == "parity"
    assert (result.verdict, result.exit_code) == ("INSUFFICIENT", 3)


def test_a_batch_is_judged_as_a_cast_by_default(tmp_path: Path):
    """Unmeasured automatic labels (no error table) could be anything: the cast is UNDECIDED, not PASS."""
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    result = gate_batch(batch, record=False)
    assert (result.question, result.verdict, result.exit_code) == ("cast", "UNDECIDED", 3)
    assert len(result.review) == 40 and result.to_dict()["review"] == list(result.review)
    assert read_manifest(batch).verdict is None


def test_an_edited_plate_makes_the_batch_tampered(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    manifest = read_manifest(batch)
    (batch / manifest.plates[3].files["png"].path).write_bytes(b"edited")
    result = gate_batch(batch, wide_quota)
    assert (result.verdict, result.exit_code) == ("TAMPERED", 1)
    assert result.summary.startswith("TAMPERED: 1 plate file(s) changed")
    assert read_manifest(batch).verdict["problems"][0]["plate_ids"] == [manifest.plates[3].id]


def test_missing_labels_make_the_batch_unauditable(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(38) + labelled(2, gender=None, skin_group="lighter")})
    result = gate_batch(batch, wide_quota, record=False)
    assert result.verdict == "UNAUDITABLE"
    assert any(p.check == "labels_present" for p in result.problems)


def test_human_labels_override_automatic_ones(tmp_path: Path, wide_quota: Path):
    roles = {"nurse": labelled(20, gender="female", skin_group="lighter") + labelled(20, gender="female", skin_group="darker")}
    human = {i: {"gender": "male"} for i in range(20)}
    result = gate_batch(make_batch(tmp_path / "b", roles, human=human), wide_quota, record=False)
    assert result.scope("nurse").attribute("gender").category("male").count == 20


def test_recording_refuses_a_stale_verdict(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    result = gate_batch(batch, wide_quota, record=False)
    gated = read_manifest(batch)
    older = dataclasses.replace(gated, plates=gated.plates[:-1])
    with pytest.raises(ManifestError, match="changed while it was being gated"):
        record_verdict(batch, result, gated=older)


def test_a_review_landing_while_gating_is_judged_again_under_the_lock(tmp_path: Path, wide_quota: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    """A reviewer at work must not make the farm's pre-check fail, nor leave a stale verdict: when the
    plates changed while the files were hashed, the batch is judged again as it is, under the lock, and
    that verdict is recorded and returned; the files already verified are not hashed again."""
    from castgate.batch import checks as checks_mod
    from castgate.gate import sources
    from castgate.review import review_plate

    batch = make_batch(tmp_path / "b", {"nurse": balanced(40)})
    judged, hashed = sources.gate_manifest, []
    calls = []
    real_hash = checks_mod.sha256_regular_file

    def counting_hash(path):
        hashed.append(path)
        return real_hash(path)

    def review_meanwhile(manifest, *args, **kwargs):
        calls.append(manifest)
        if len(calls) == 1:   # a reviewer changes the batch while it is being gated
            review_plate(batch, "b_nurse_0000", {"gender": "male"}, reviewer="ana")
        return judged(manifest, *args, **kwargs)

    monkeypatch.setattr(checks_mod, "sha256_regular_file", counting_hash)
    monkeypatch.setattr(sources, "gate_manifest", review_meanwhile)
    result = gate_batch(batch, wide_quota)
    assert result.recorded and len(calls) == 2
    assert calls[1].plate("b_nurse_0000").human_labels["gender"].value == "male"
    assert result.scope("nurse").attribute("gender").category("male").count == 21   # 20 of 40, plus the review
    recorded = read_manifest(batch)
    assert recorded.verdict["verdict"] == result.verdict and recorded.events[-1].kind == "gate"
    assert len(hashed) == len(set(hashed)) == sum(len(p.files) for p in recorded.kept_plates)


def test_format_has_a_line_per_role_and_pooled(tmp_path: Path, wide_quota: Path):
    batch = make_batch(tmp_path / "b", {"nurse": balanced(40), "clerk": balanced(40)})
    text = format_result(gate_batch(batch, wide_quota, record=False))
    lines = text.splitlines()
    assert any(l.strip().startswith("nurse") and "PASS" in l for l in lines)
    assert any(l.strip().startswith("clerk") for l in lines)
    assert any(l.strip().startswith("all roles pooled") for l in lines)
    assert lines[-1].startswith("Verdict: PASS (exit 0)")


# -- label tables -----------------------------------------------------------------------------------------
TABLE = ("role,team,gender,count\n"
         "a,x,female,50\na,x,male,50\nb,x,female,90\nb,x,male,10\nc,y,female,10\nc,y,male,90\n")


def test_tables_pool_by_per_role_columns():
    result = gate_label_table(parse_label_table(TABLE), "parity")
    assert [s.scope for s in result.scopes] == ["a", "b", "c", "team=x", "team=y", "pooled"]
    assert result.scope("team=x").attribute("gender").category("female").count == 140
    assert [s.scope for s in gate_label_table(parse_label_table(TABLE), "parity", group_by=[]).scopes][-1] == "pooled"


def test_group_by_an_unknown_column_is_an_input_error():
    with pytest.raises(LabelsFileError, match="cannot group by 'sector'.*per-role columns: team"):
        gate_label_table(parse_label_table(TABLE), "parity", group_by=["sector"])


def test_a_table_without_a_quota_attribute_is_unauditable():
    result = gate_label_table(parse_label_table(TABLE), load_quota("parity"))
    assert result.verdict == "UNAUDITABLE"
    assert any("no skin_group column" in p.message for p in result.problems)
