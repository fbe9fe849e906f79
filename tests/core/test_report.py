"""The audit report: self-contained, escaped, atomic, consistent with its JSON twin, and it renders."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import castgate.report as report_module
from batch_factory import labelled, make_batch
from castgate.batch.manifest import AutoLabel, HumanLabel, update_manifest
from castgate.errors import OutputFolderError
from castgate.report import report_batch, report_label_table, write_report

HOSTILE = '<script>alert("x")</script>'
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    roles = {"nurse": labelled(12, gender="female", skin_group="lighter") + labelled(6, gender="male", skin_group="darker")
             + labelled(1, gender="undetermined", skin_group="undetermined"),
             "clerk": labelled(9, gender="male", skin_group="lighter") + labelled(9, gender="female", skin_group="darker")}
    agreement = {"gender": {"n": 4, "observed": 0.75, "kappa": 0.5, "labels": ["female", "male"],
                            "confusion": [[2, 1], [0, 1]]}}
    folder = make_batch(tmp_path / "b", roles, rejected={"nurse": labelled(5, gender="male", skin_group="darker")},
                        human={0: {"gender": "male"}}, agreement=agreement)

    def hostile(manifest):
        first = manifest.plates[0]
        undetermined = next(p for p in manifest.plates if p.label("gender") == "undetermined")
        return manifest.with_plates([
            dataclasses.replace(first, prompt=HOSTILE, human_labels={
                "gender": HumanLabel("male", "<b>eve</b>", "2026-01-01T00:00:00Z", note=HOSTILE)}),
            dataclasses.replace(undetermined, labels=dict(undetermined.labels, gender=AutoLabel(
                "undetermined", "m", "x", "1", reason='two faces "><img src=x onerror=alert(1)>'))),
        ])

    update_manifest(folder, hostile)
    return folder


def external_references(html: str) -> list[str]:
    """Every URL the page could fetch: src/href attributes and CSS url() that are not data: URIs."""
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    return [r for r in refs if not r.startswith("data:")]


def test_batch_report_is_self_contained_and_escaped(batch: Path, tmp_path: Path):
    result, paths = report_batch(batch, tmp_path / "out", "parity")
    html = paths["html"].read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # text, never markup
    assert "&lt;b&gt;eve&lt;/b&gt;" in html and "<b>eve</b>" not in html
    assert "Content-Security-Policy" in html
    # one thumbnail per kept plate, and one per plate listed for review (the cast is UNDECIDED: no error table)
    assert html.count('src="data:image/jpeg;base64,') == 37 + min(len(result.review), 48)
    assert result.verdict in html


def test_json_twin_matches_the_page(batch: Path, tmp_path: Path):
    result, paths = report_batch(batch, tmp_path / "out", "parity")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["gate"]["verdict"] == result.verdict
    assert [s["scope"] for s in data["gate"]["scopes"]] == ["nurse", "clerk", "pooled"]
    nurse = data["gate"]["scopes"][0]["attributes"][0]
    assert nurse["undetermined_reasons"] == {'two faces "><img src=x onerror=alert(1)>': 1}
    candidates = data["candidates"]["pooled"]
    assert (candidates["kept_count"], candidates["rejected_count"]) == (37, 5)
    assert candidates["attributes"]["gender"]["rejected"]["male"] == 5
    plate = next(p for p in data["plates"] if p["id"] == "b_nurse_0000")
    assert plate["labels"]["gender"]["source"] == "human" and plate["labels"]["gender"]["auto_value"] == "female"
    assert data["agreement"]["gender"]["kappa"] == 0.5
    assert data["sampling"]["condition_scale"] == 10.0 and "narrows their variety" in data["sampling_note"]
    assert paths["html"].stat().st_mode & 0o777 == 0o644


def test_a_failed_render_leaves_the_previous_report(batch: Path, tmp_path: Path, monkeypatch):
    _, paths = report_batch(batch, tmp_path / "out", "parity")
    before = {k: p.read_bytes() for k, p in paths.items()}

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_module, "render_html", broken)
    with pytest.raises(RuntimeError):
        report_batch(batch, tmp_path / "out", "parity")
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json"]  # no temp files


def test_output_path_that_is_a_file(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        write_report(tmp_path / "file", {"title": "t"} | _minimal())


def _minimal() -> dict:
    from castgate.gate import gate_label_table
    from castgate.labels_table import parse_label_table
    from castgate.report.model import build_table_report

    table = parse_label_table("role,gender,count\na,female,5\na,male,5\n")
    return build_table_report(table, gate_label_table(table, "parity"))


def test_label_table_report_escapes_role_names(tmp_path: Path):
    csv = tmp_path / "t.csv"
    csv.write_text(f"role,gender,skin_group,count\n\"{HOSTILE}\",female,lighter,5\n\"{HOSTILE}\",male,darker,5\n",
                   encoding="utf-8")
    _, paths = report_label_table(csv, tmp_path / "out", "parity")
    html = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert external_references(html) == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed at /usr/bin/chromium")
def test_report_renders_in_headless_chromium(batch: Path, tmp_path: Path):
    playwright = pytest.importorskip("playwright.sync_api")
    result, paths = report_batch(batch, tmp_path / "out", "parity")
    shot = tmp_path / "report.png"
    errors: list[str] = []
    fetched: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(paths["html"].as_uri())
            page.wait_for_load_state("load")
            assert page.inner_text("#verdict .verdict") == result.verdict
            assert page.locator("svg.strip").count() >= 4  # the cast question: counts against bands
            images = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            assert images and all(images)  # every thumbnail decoded
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20  # not blank
