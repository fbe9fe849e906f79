"""The report's cast-question sections: counts against their bands, the plates to review, joint cross-tables.

Pure rendering of the report dict (:mod:`castgate.report.model`); every string is escaped with
:func:`~castgate.report.svg.e`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from castgate.report.svg import VERDICT_COLOURS, e

_STRIP_WIDTH = 360
_STRIP_HEIGHT = 18
_REVIEW_CARDS = 48


def tag(verdict: str | None) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#666666")
    return f'<span class="tag" style="background:{colour}">{e(verdict or "not gated")}</span>'


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


def _band(count: Mapping[str, Any], n: int) -> str:
    if count["band_low"] > count["band_high"]:
        return f"no whole count of {n}"
    return f"{_span(count['band_low'], count['band_high'])} of {n}"


def count_strip(count: Mapping[str, Any], n: int) -> str:
    """One category as an inline SVG strip 0…n: the band (grey), the labelled count (bar), the plausible range."""
    n = max(n, 1)

    def x(value: float) -> float:
        return round(4 + (_STRIP_WIDTH - 8) * max(0.0, min(1.0, value / n)), 1)

    colour = VERDICT_COLOURS.get(count["verdict"], "#666666")
    parts = [f'<svg class="strip" width="{_STRIP_WIDTH}" height="{_STRIP_HEIGHT + 4}" role="img" '
             f'aria-label="{e(count["category"])}: {count["labelled"]} labelled, plausible '
             f'{_span(count["low"], count["high"])}, band {_band(count, n)}">',
             f'<line x1="{x(0)}" x2="{x(n)}" y1="{_STRIP_HEIGHT / 2}" y2="{_STRIP_HEIGHT / 2}" stroke="#bbb"/>']
    if count["band_low"] <= count["band_high"]:
        parts.append(f'<rect class="band" x="{x(count["band_low"] - 0.5)}" y="1" '
                     f'width="{max(2.0, x(count["band_high"] + 0.5) - x(count["band_low"] - 0.5))}" '
                     f'height="{_STRIP_HEIGHT - 2}" fill="#c9c9cf" opacity="0.7"/>')
    parts.append(f'<rect x="{x(0)}" y="5" width="{max(1.0, x(count["labelled"]) - x(0))}" '
                 f'height="{_STRIP_HEIGHT - 10}" fill="{colour}" opacity="0.85"/>')
    parts.append(f'<line x1="{x(count["low"])}" x2="{x(count["high"])}" y1="{_STRIP_HEIGHT / 2}" '
                 f'y2="{_STRIP_HEIGHT / 2}" stroke="#111" stroke-width="2"/>')
    for end in (count["low"], count["high"]):
        parts.append(f'<line x1="{x(end)}" x2="{x(end)}" y1="3" y2="{_STRIP_HEIGHT - 3}" stroke="#111" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def cast_counts(report: Mapping[str, Any]) -> str:
    """Per attribute and scope: each category's count against its band, with the plausible range."""
    gate = report["gate"]
    out = ['<section id="charts"><h2>Counts against their bands</h2>',
           '<p class="muted">The cast question counts plates: the kept plates are the whole population. Grey: the '
           'band on counts the quota allows (⌈(target − tolerance)·n⌉ to ⌊(target + tolerance)·n⌋). Bar: plates '
           'labelled with the category. Black whisker: the true counts still plausible at the quota\'s '
           'confidence, given the labeller\'s measured error and the plates that could be anyone. A category '
           'passes when the whole whisker lies in the band.</p>']
    for attribute in report["attributes"]:
        out.append(f"<h3>{e(attribute)}</h3><table><tr><th class=\"l\">scope</th><th class=\"l\">category</th>"
                   "<th>labelled</th><th>of which human</th><th>plausible</th><th>band</th>"
                   "<th class=\"l\">counts against the band</th><th class=\"l\">verdict</th></tr>")
        for scope in gate["scopes"]:
            result = next(a for a in scope["attributes"] if a["attribute"] == attribute)
            cast = result.get("cast")
            if not cast:
                continue
            label = scope["title"] if scope["kind"] == "role" else "all roles pooled"
            n = result["plate_count"]
            rows = cast["counts"]
            for i, count in enumerate(rows):
                first = (f'<td class="l" rowspan="{len(rows)}">{e(label)} <span class="muted">({n} plates)</span></td>'
                         if i == 0 else "")
                last = (f'<td class="l" rowspan="{len(rows)}">{tag(result["verdict"])} {e(result["reason"])}</td>'
                        if i == 0 else "")
                out.append(f'<tr>{first}<td class="l">{e(count["category"])}</td><td>{count["labelled"]}</td>'
                           f'<td>{count["certain"]}</td><td>{_span(count["low"], count["high"])}</td>'
                           f'<td>{e(_band(count, n))}</td><td class="l">{count_strip(count, n)}</td>{last}</tr>')
        out.append("</table>")
    out.append("</section>")
    return "".join(out)


def error_model(report: Mapping[str, Any]) -> str:
    """Which error table and how many reviewed plates back the automatic labels' probabilities."""
    described = report["gate"].get("error_model")
    if not described:
        return ""
    out = ['<section id="error-model"><h2>The labeller\'s error model</h2>']
    if not described.get("table"):
        out.append(f"<p>{e(described.get('note', ''))}. Human labels are certain; review the listed plates.</p>")
    else:
        out.append(f"<p>Table: <code>{e(described['table'])}</code>, made by <code>{e(described.get('made_by') or '')}"
                   f"</code> ({e(described.get('made') or 'date not recorded')}). Estimator: {e(described['estimator'])}.</p>")
        out.append('<table><tr><th class="l">attribute</th><th class="l">labeller (method)</th><th>table cases</th>'
                   '<th>reviewed plates of this batch</th></tr>')
        for attribute, method in described.get("methods", {}).items():
            out.append(f'<tr><td class="l">{e(attribute)}</td><td class="l">{e(method)}</td>'
                       f'<td>{described["table_cases"].get(attribute, 0)}</td>'
                       f'<td>{described["reviewed_plates"].get(attribute, 0)}</td></tr>')
        out.append("</table><p class=\"muted\">Automatic labels made by any other method are unmeasured: the "
                   "gate treats them as possibly any category until a person reviews them.</p>")
    out.append("</section>")
    return "".join(out)


def review_section(report: Mapping[str, Any], thumbnails: Mapping[str, str]) -> str:
    """The plates whose review would settle the verdict, most decisive first, with the exact command."""
    gate = report["gate"]
    ids: Sequence[str] = gate.get("review") or []
    if not ids:
        return ""
    plates = {p["id"]: p for p in report.get("plates", [])}
    why: dict[str, list[str]] = {}
    attributes_of: dict[str, list[str]] = {}
    for scope in gate["scopes"]:
        for result in scope["attributes"]:
            cast = result.get("cast")
            if not cast or not result["gated"]:
                continue
            for item in cast["review"]:
                outcomes = ", ".join(f"{answer} → {verdict}" for answer, verdict in item["outcomes"].items())
                text = f"{result['attribute']} in {scope['title']}: {item['why']}" + (
                    f"; if a reviewer says {outcomes}" if outcomes else "")
                why.setdefault(item["plate_id"], [])
                if text not in why[item["plate_id"]] and len(why[item["plate_id"]]) < 4:
                    why[item["plate_id"]].append(text)
                for part in result["attribute"].split("×"):
                    if part not in attributes_of.setdefault(item["plate_id"], []):
                        attributes_of[item["plate_id"]].append(part)
    batch = report["source"].get("path") or report["source"].get("name") or "BATCH"
    out = ['<section id="review"><h2>Review these plates</h2>',
           f'<p>{len(ids)} plate{"s" if len(ids) != 1 else ""} could change the verdict, most decisive first. '
           'A human label is certain, so reviewing them settles the counts. Set labels one plate at a time '
           'with the command under each card, or all at once from a CSV (plate_id plus attribute columns) with '
           f'<code>castgate review {e(batch)} --import labels.csv --reviewer &lt;your name&gt;</code>.</p>',
           '<div class="sheet">']
    for plate_id in ids[:_REVIEW_CARDS]:
        plate = plates.get(plate_id, {"id": plate_id, "labels": {}})
        uri = thumbnails.get(plate_id)
        image = (f'<img src="{e(uri)}" alt="{e(plate_id)}" width="136" height="136">' if uri
                 else '<div class="noimg">no image</div>')
        labels = "".join(f"<li>{e(a)}: <b>{e(l.get('value'))}</b> <span class=\"muted\">({e(l.get('source') or 'none')})"
                         "</span></li>" for a, l in plate.get("labels", {}).items() if a in attributes_of.get(plate_id, []))
        reasons = "".join(f"<li>{e(t)}</li>" for t in why.get(plate_id, []))
        sets = " ".join(f"--set {a}=…" for a in attributes_of.get(plate_id, []))
        command = f"castgate review {batch} --plate {plate_id} {sets} --reviewer <your name>"
        out.append(f'<div class="card review">{image}<div class="id">{e(plate_id)}</div><ul>{labels}</ul>'
                   f'<ul class="muted">{reasons}</ul><code>{e(command)}</code></div>')
    out.append("</div>")
    if len(ids) > _REVIEW_CARDS:
        out.append(f'<p class="muted">And {len(ids) - _REVIEW_CARDS} more: {e(", ".join(ids[_REVIEW_CARDS:]))}</p>')
    out.append("</section>")
    return "".join(out)


def joint_cross_tables(report: Mapping[str, Any]) -> str:
    """Joint (intersectional) quotas as cross-tables: each cell's count or share against its band."""
    gate = report["gate"]
    joints = [a for a in gate["quota"]["attributes"] if a.get("parts")]
    if not joints:
        return ""
    out = ['<section id="joint"><h2>Joint quotas (cross-tables)</h2>']
    for quota in joints:
        first, second = quota["parts"]
        name = quota["attribute"]
        rows = list(dict.fromkeys(c.split("·")[0] for c in quota["targets"]))
        cols = list(dict.fromkeys(c.split("·")[1] for c in quota["targets"]))
        for scope in gate["scopes"]:
            result = next((a for a in scope["attributes"] if a["attribute"] == name), None)
            if result is None:
                continue
            n = result["plate_count"]
            label = scope["title"] if scope["kind"] == "role" else "all roles pooled"
            cells = {c["category"]: c for c in result["categories"]}
            counts = {c["category"]: c for c in (result.get("cast") or {}).get("counts", [])}
            out.append(f'<h3>{e(name)} — {e(label)} {tag(result["verdict"])}</h3>'
                       f'<table><tr><th class="l">{e(first)} \\ {e(second)}</th>'
                       + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
            for r in rows:
                out.append(f'<tr><th class="l">{e(r)}</th>')
                for c in cols:
                    cell = f"{r}·{c}"
                    if cell in counts:
                        k = counts[cell]
                        text = (f"{_span(k['low'], k['high'])} (band {_band(k, n)})")
                        colour = VERDICT_COLOURS.get(k["verdict"], "#666")
                    else:
                        k = cells.get(cell, {})
                        text = (f"{100 * k.get('share', 0):.1f} % [{100 * k.get('low', 0):.1f}–{100 * k.get('high', 1):.1f}] "
                                f"(band {100 * k.get('band_low', 0):.0f}–{100 * k.get('band_high', 1):.0f} %)")
                        colour = VERDICT_COLOURS.get(k.get("verdict"), "#666")
                    out.append(f'<td style="border-left:4px solid {colour}">{e(text)}</td>')
                out.append("</tr>")
            out.append("</table>")
    out.append("</section>")
    return "".join(out)
