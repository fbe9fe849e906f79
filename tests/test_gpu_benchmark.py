"""benchmarks/gpu.py: its CPU smoke mode runs every stage and writes a well-formed JSON report.

The smoke run is the same command a GPU gets, on the tiny reference architecture with two
pretend CPU devices. The assertions are about structure and arithmetic (images/s is plates over
seconds, the VQGAN share is a fraction, the FLOP count grows with the batch), never about speed.
The budget is raised above the smoke default (a ceiling: the run ends when its stages do) so that
a loaded machine still finishes every stage.

Runtime: about 30-60 s on two idle cores (six child processes, each importing JAX); measured
2026-11-29 at 2-3 minutes on two cores shared with a dozen other jobs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory, fixtures_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("gpu") / "smoke.json"
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    completed = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--smoke", "--budget", "400",
                                "--out", str(out), "--fixtures", str(fixtures_dir)],
                               capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| arch | dtype |" in completed.stdout
    return json.loads(out.read_text())


def test_the_report_is_complete_and_names_the_device(report):
    assert report["schema"] == gpu.SCHEMA and report["complete"] is True and report["smoke"] is True
    assert report["host"]["backend"] == "cpu" and report["host"]["device_count"] == 2
    assert report["host"]["peak"] is None  # a CPU has no datasheet row: the roofline fractions stay empty
    assert [stage["name"] for stage in report["stages"]] == [s.name for s in gpu.plan(True, 2)]
    assert all(stage["status"] == "done" for stage in report["stages"]), report["stages"]
    assert report["ceilings"]["matmul_bfloat16_tflops"] > 0 and report["ceilings"]["copy_tbps"] > 0


def test_generation_rows_are_consistent(report):
    rows = [row for row in report["generation"] if row["status"] == "ok"]
    assert {(row["dtype"], row["batch"]) for row in rows} >= {("bfloat16", 1), ("float16", 1)}
    for row in rows:
        total = row["sample_s"] + row["vqgan_s"]
        assert row["images_per_s"] == pytest.approx(row["batch"] / total)
        assert row["image_tokens_per_s"] == pytest.approx(row["batch"] * row["image_tokens"] / row["sample_s"])
        assert 0 < row["vqgan_share"] < 1 and row["compile_s"] > 0
        assert (row["condition_scale"], row["top_k"]) == (10.0, 50)
        line = row["roofline"]
        assert line["flops"] > row["sampler_roofline"]["flops"] > 0  # the VQGAN adds work
        assert line["achieved_tflops"] == pytest.approx(line["flops"] / total / 1e12)
        assert line["bound"] is None and line["limit_images_per_s"] is None


def test_the_batch_split_over_both_devices_is_compared_with_one(report):
    [row] = report["scaling"]
    assert row["status"] == "ok" and row["devices"] == 2 and row["batch"] == 2 * row["per_device_batch"]
    [ratio] = gpu.scaling_ratios(report)
    assert ratio["ratio"] > 0 and ratio["ideal"] == 2


def test_clip_and_audit_rates_are_recorded(report):
    assert [row["status"] for row in report["clip"]] == ["ok"]
    assert report["clip"][0]["candidates_per_s"] > 0
    assert report["audit"]["status"] == "ok" and report["audit"]["plates"] >= 1
    assert "host CPU" in report["audit"]["runs_on"]


def test_counted_costs_follow_the_architecture(reference_dir):
    from castgate.weights import checkpoints

    raw = json.loads((reference_dir / "real_configs.json").read_text())["dallebart"]["mega"]["config"]
    mega = checkpoints.dallebart_config_from_dict(raw, "mega")
    counts = gpu.dallebart_parameter_counts(mega)
    # 24 decoder layers x (self q,k,v,o + cross q,o: 6 x 2048^2; GLU 3 x 2048 x 4096) + logits 2048 x 16416
    assert counts["decoder_step"] == 24 * (6 * 2048 ** 2 + 3 * 2048 * 4096) + 2048 * 16416
    one, four = gpu.sampler_cost(mega, 1), gpu.sampler_cost(mega, 4)
    assert one.step_weight_bytes == four.step_weight_bytes == 2 * counts["decoder_step"]
    assert four.flops == pytest.approx(4 * one.flops)
    shared = gpu.sampler_cost(mega, 4, shared_unconditional=True, cache_positions_read=128.5)
    assert shared.flops < four.flops and shared.bytes < four.bytes


def test_peaks_and_out_of_memory_are_recognised():
    assert gpu.peak_for("NVIDIA H100 80GB HBM3")["memory_tbps"] == 3.35
    assert gpu.peak_for("NVIDIA H100 PCIe")["name"] == "NVIDIA H100 PCIe"
    assert gpu.peak_for("NVIDIA H200")["bfloat16_tflops"] == 989.0
    assert gpu.peak_for("cpu") is None
    assert gpu.is_out_of_memory("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB")
    assert not gpu.is_out_of_memory("INVALID_ARGUMENT: shapes differ")
    line = gpu.roofline(2e12, 1e12, 1.0, gpu.peak_for("NVIDIA H200"), "bfloat16", 4)
    assert line["bound"] == "memory" and math.isclose(line["limit_images_per_s"], 4 / (1e12 / 4.8e12))


def _walk(batches, cap, fits_up_to):
    results, order = {}, []
    while (batch := gpu.next_batch(batches, cap, results)) is not None:
        order.append(batch)
        results[batch] = "ok" if batch <= fits_up_to else "oom"
    return order


def test_batches_go_to_the_predicted_limit_first_then_fill_in():
    batches = [1, 2, 4, 8, 16, 32, 64]
    assert _walk(batches, None, 8) == [1, 2, 4, 8, 16]              # memory unknown: ascending
    assert _walk(batches, 16, 32) == [1, 16, 32, 64, 2, 4, 8]       # climbs past a cautious guess
    assert _walk(batches, 32, 8) == [1, 32, 16, 8, 2, 4]            # halves down from an optimistic one
    assert _walk(batches, 64, 0) == [1]                             # not even one plate fits
