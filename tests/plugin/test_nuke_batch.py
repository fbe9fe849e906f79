"""Reading a batch's manifest as plain JSON, and flattening gate verdicts for display."""

from __future__ import annotations

from pathlib import Path

import pytest
from castgate_nuke.batch import (POOLED, BatchReadError, bar_rows, filter_plates, label_filters, parse_verdict,
                                 read_batch)

import plate_batch


def test_the_test_batches_follow_castgates_manifest_schema(make_batch) -> None:
    from castgate.batch.manifest import validate_manifest_data

    folder = make_batch(verdict=None)
    validate_manifest_data(plate_batch.read_manifest(folder))  # raises if the fake drifts from the contract


def test_read_batch_gives_absolute_files_and_effective_labels(make_batch) -> None:
    folder = make_batch()
    manifest = plate_batch.read_manifest(folder)
    manifest["plates"][0]["human_labels"]["gender"] = {"value": "male", "reviewer": "ana",
                                                       "time": plate_batch.now(), "note": None}
    manifest["plates"][1]["kept"] = False
    plate_batch.write_manifest(folder, manifest)
    batch = read_batch(str(folder))
    assert batch.name == "office_a" and batch.roles == ("clerk", "manager")
    first = batch.plates[0]
    assert first.label("gender") == "male" and first.sources["gender"] == "human (ana)"
    assert first.sources["skin_group"] == "auto 0.80"
    assert Path(first.exr).is_file() and Path(first.png).is_file() and Path(first.exr).is_absolute()
    assert len(batch.kept_plates) == len(batch.plates) - 1
    assert batch.report_html == str(folder / "report" / "report.html")
    assert batch.exr_colourspace == "ACEScg"


def test_unreadable_batches_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BatchReadError, match="no manifest.json"):
        read_batch(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(BatchReadError, match="castgate gate"):
        read_batch(str(tmp_path))
    (tmp_path / "manifest.json").write_text('{"batch": "x"}')
    with pytest.raises(BatchReadError, match="plates"):
        read_batch(str(tmp_path))


def test_gate_result_shape(make_batch) -> None:
    folder = make_batch()
    verdict = parse_verdict(plate_batch.gate_result(plate_batch.read_manifest(folder)))
    assert verdict.name == "FAIL" and verdict.quota == "parity" and verdict.summary.startswith("FAIL")
    assert verdict.problems == ("manager: gender is outside its band. Generate more plates for manager "
                                "(castgate balance)",)
    manager = [b for b in verdict.bars if b.scope == "manager" and b.attribute == "gender"]
    assert [b.category for b in manager] == ["female", "male"]
    bar = manager[0]
    assert (bar.observed, bar.band, bar.target, bar.verdict, bar.n) == (0.0, (0.4, 0.6), 0.5, "FAIL", 6)
    assert bar.ci is not None and bar.ci[1] < 0.4 and bar.reason == "0 of 6 female"
    assert {b.scope for b in verdict.bars} == {"clerk", "manager", POOLED}
    assert [(b.scope, b.attribute, b.category) for b in bar_rows(verdict)][:2] == [
        ("clerk", "gender", "female"), ("clerk", "skin_group", "lighter")]  # male/darker are 1 - these


def test_the_manifests_compact_record(make_batch) -> None:
    folder = make_batch()
    record = plate_batch.verdict_record(plate_batch.gate_result(plate_batch.read_manifest(folder)))
    verdict = parse_verdict(record)
    assert verdict.name == "FAIL" and verdict.quota == "parity"
    rows = bar_rows(verdict)
    assert len(rows) == 6 and all(b.observed is None and b.band is None for b in rows)
    manager = [b for b in rows if b.scope == "manager" and b.attribute == "gender"]
    assert manager[0].verdict == "FAIL" and manager[0].reason == "0 of 6 female"


def test_variant_verdict_shapes_are_understood() -> None:
    flat = parse_verdict({"status": "insufficient", "quota": {"name": "studio"}, "checks": [
        {"role": "nurse", "attribute": "gender", "category": "female", "status": "INSUFFICIENT",
         "observed": 0.5, "ci_low": 0.2, "ci_high": 0.8, "target": 0.5, "tolerance": 0.1, "needed": 12},
        {"scope": "pooled", "attribute": "skin_group", "verdict": "PASS",
         "categories": {"lighter": {"observed": 0.5, "interval": {"low": 0.45, "high": 0.55},
                                    "target": 0.5, "band": [0.4, 0.6]},
                        "darker": {"observed": 0.5, "target": 0.5}}},
    ]})
    assert flat.name == "INSUFFICIENT" and flat.quota == "studio"
    nurse, lighter, darker = flat.bars
    assert (nurse.scope, nurse.ci, nurse.band, nurse.needed) == ("nurse", (0.2, 0.8), (0.4, 0.6), 12)
    assert (lighter.scope, lighter.ci, lighter.verdict) == (POOLED, (0.45, 0.55), "PASS")
    assert [b.category for b in bar_rows(flat)] == ["female", "lighter"]
    wrapped = parse_verdict({"batch": "a", "verdict": {"verdict": "PASS", "scopes": {"clerk": {
        "kind": "role", "attributes": {"gender": {"verdict": "PASS", "categories": [
            {"category": "female", "share": 0.5}]}}}}}})
    assert wrapped.name == "PASS" and wrapped.bars[0].scope == "clerk" and wrapped.bars[0].observed == 0.5
    not_gated = parse_verdict({"verdict": "PASS", "scopes": [{"scope": "clerk", "kind": "role", "attributes": [
        {"attribute": "fitzpatrick", "gated": False, "verdict": None}]}]})
    assert not_gated.bars == ()
    run_result = parse_verdict({"batch": "a", "verdict": "FAIL", "exit_code": 1, "gate": {
        "verdict": "FAIL", "scopes": [{"scope": "pooled", "kind": "pooled", "attributes": [
            {"attribute": "gender", "verdict": "FAIL", "categories": [{"category": "female", "share": 0.1}]}]}]}})
    assert run_result.name == "FAIL" and run_result.bars[0].scope == POOLED  # `castgate run --json`
    assert parse_verdict({}).name == "UNKNOWN"


def test_filters_by_role_and_label(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    assert [p.role for p in filter_plates(batch.plates, "manager")] == ["manager"] * 6
    females = filter_plates(batch.plates, None, ("gender", "female"))
    assert len(females) == 2 and all(p.label("gender") == "female" for p in females)
    assert ("skin_group", "darker") in label_filters(batch.plates)
    assert ("gender", "undetermined") not in label_filters(batch.plates)


def test_cast_question_bars_show_counts_from_the_real_gate() -> None:
    """Under the cast question the Audit tab draws counts (labelled, plausible, band), not interval shares."""
    from castgate_nuke.widgets import bar_text, bar_tooltip

    from castgate.batch.manifest import HumanLabel, Plate
    from castgate.gate import evaluate_cast
    from castgate.quotas import load_quota

    def plate(index: int, gender: str) -> Plate:
        labels = {"gender": HumanLabel(gender, "ana", "2026-11-29T00:00:00Z"),
                  "skin_group": HumanLabel("lighter" if index % 2 else "darker", "ana", "2026-11-29T00:00:00Z")}
        return Plate(id="b_clerk_{:04d}".format(index), role="clerk", index=index, prompt="a clerk", seed=index,
                     human_labels=labels)

    plates = [plate(i, "female" if i < 3 else "male") for i in range(10)]  # 3 of 10 female: outside 4-6
    verdict = parse_verdict(evaluate_cast(plates, load_quota("parity")).to_dict())
    assert verdict.name == "FAIL"
    female = [b for b in verdict.bars if b.scope == "clerk" and b.attribute == "gender" and b.category == "female"]
    assert len(female) == 1
    bar = female[0]
    assert bar.counts is not None and (bar.counts.labelled, bar.counts.low, bar.counts.high) == (3, 3, 3)
    assert (bar.counts.band_low, bar.counts.band_high, bar.counts.plates) == (4, 6, 10)
    assert bar.observed == 0.3 and bar.band == (0.4, 0.6) and bar.verdict == "FAIL"
    assert bar_text(bar) == "3 of 10 FAIL"
    assert "the quota allows 4–6 of 10" in bar_tooltip(bar)
