"""The report read by assistive technology and on paper (castgate issue 15): axe-core in headless Chromium
finds no violation, on a batch report (cast and generator questions) and on a label-table report; the
palette's contrast, the print layout and the charts' denominator switch.

axe-core comes from npm (tests/axe/package.json; ``scripts/setup.sh --tests`` installs it). The page's
Content-Security-Policy forbids scripts, so the test context bypasses it to inject axe. One browser serves
the whole module.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.manifest import update_manifest
from castgate.report import report_batch, report_label_table

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VISIBLE = "sel => [...document.querySelectorAll(sel)].map(e => e.checkVisibility())"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed: run scripts/setup.sh --tests"),
]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def axe_violations(browser, html_path: Path, *, print_media: bool = False) -> list[dict]:
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 1000})
    try:
        page = context.new_page()
        if print_media:
            page.emulate_media(media="print")
        page.goto(html_path.as_uri())
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    finally:
        context.close()
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["html"][:160] for n in v["nodes"][:3]]} for v in result["violations"]]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    roles = {"nurse": labelled(12, gender="female", skin_group="lighter") + labelled(6, gender="male", skin_group="darker")
             + labelled(1, gender="undetermined", skin_group="undetermined"),
             "clerk": labelled(9, gender="male", skin_group="lighter") + labelled(9, gender="female", skin_group="darker"),
             "porter": labelled(3, gender="undetermined", skin_group="undetermined")}
    return make_batch(tmp_path_factory.mktemp("a11y") / "b", roles,
                      rejected={"nurse": labelled(2, gender="male", skin_group="darker")})


@pytest.mark.parametrize("question", ["cast", "generator"])
def test_batch_report_has_no_axe_violations(browser, batch, tmp_path, question):
    _, paths = report_batch(batch, tmp_path / "out", "parity", question=question)
    violations = axe_violations(browser, paths["html"])
    assert violations == [], json.dumps(violations, indent=1)


def test_label_table_report_has_no_axe_violations_in_print(browser, fixtures_dir, tmp_path):
    _, paths = report_label_table(fixtures_dir / "seed-study" / "labels.csv", tmp_path / "out", "parity")
    violations = axe_violations(browser, paths["html"], print_media=True)
    assert violations == [], json.dumps(violations, indent=1)


def test_graphics_colours_have_3_to_1_contrast_on_white():
    from castgate.report.svg import PALETTE, VERDICT_COLOURS

    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for colour in [*PALETTE, *VERDICT_COLOURS.values()]:
        assert 1.05 / (luminance(colour) + 0.05) >= 3.0, colour


def test_print_layout_and_the_denominator_switch(browser, batch, tmp_path):
    """On paper (A4 at 96 dpi less margins: 718 px wide) nothing is wider than the page and the collapsed
    "what to do" list is printed; on screen the charts' denominator (determined plates, or all plates as in
    the seed study) switches without a script (the page's CSP allows none)."""
    _, paths = report_batch(batch, tmp_path / "out", "parity", question="generator")
    page = browser.new_page(viewport={"width": 718, "height": 1000})
    try:
        page.goto(paths["html"].as_uri())
        assert not any(page.evaluate(VISIBLE, "details:not([open]) li"))  # on screen: collapsed
        assert all(page.evaluate(VISIBLE, ".by-determined svg")) and not any(page.evaluate(VISIBLE, ".by-all svg"))
        page.click("label[for=den-all]")
        assert all(page.evaluate(VISIBLE, ".by-all svg")) and not any(page.evaluate(VISIBLE, ".by-determined svg"))
        assert page.evaluate("() => document.querySelectorAll('.by-all .whisker').length") == 0  # no intervals
        page.click("label[for=den-determined]")
        page.emulate_media(media="print")
        shown = page.evaluate(VISIBLE, "details:not([open]) li")
        overflow = page.evaluate("""() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > 718.5).map(e => e.tagName + '.' + e.className)""")
        pdf = page.pdf(format="A4")
    finally:
        page.close()
    assert shown and all(shown)
    assert overflow == []
    assert pdf[:4] == b"%PDF"


def test_banner_shows_overrides_demo_models_and_unreadable_scopes(batch, tmp_path):
    def mark(manifest):
        manifest = dataclasses.replace(manifest, request={**manifest.request,
                                                          "models": {**manifest.request.get("models", {}), "demo": True}})
        manifest = manifest.with_event("import-override", reason='needed for the <b>wide</b> shot', verdict="FAIL",
                                       recorded_by="ana")
        last = dataclasses.replace(manifest.events[-1], user="sup_ana")
        return dataclasses.replace(manifest, events=manifest.events[:-1] + (last,))

    folder = tmp_path / "marked"
    shutil.copytree(batch, folder)
    update_manifest(folder, mark)
    _, paths = report_batch(folder, tmp_path / "out", "parity", question="generator")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    (override,) = data["overrides"]
    assert (override["user"], override["verdict"], override["reason"]) == ("sup_ana", "FAIL",
                                                                            "needed for the <b>wide</b> shot")
    assert data["provenance"]["demo_models"] is True
    html = paths["html"].read_text(encoding="utf-8")
    banner = html[html.index('id="verdict"'):html.index("</section>", html.index('id="verdict"'))]
    assert "Imported with an override</strong> by sup_ana" in banner and "&lt;b&gt;wide&lt;/b&gt;" in banner
    assert override["time"] in banner and "Demo models:" in banner
    # the porter role has no readable label: said in words, not drawn as an empty chart
    assert "no readable labels</strong> in porter" in html
