"""Render the report dict as one self-contained HTML page.

No network and no external assets: styles are inline, charts are inline SVG, thumbnails are data URIs,
and a Content-Security-Policy forbids anything else (no scripts at all). Every string that came from
a user, a request, a manifest or a table goes through :func:`~castgate.report.svg.e`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

from castgate.report.balance_html import balance_section
from castgate.report.cast_html import cast_counts, error_model, joint_cross_tables, review_section
from castgate.report.svg import PALETTE, VERDICT_COLOURS, comparison_bars, e, grouped_bar_chart

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
:root { --fg:#1d1d1f; --muted:#5f6368; --line:#d9d9de; --bg:#ffffff; --panel:#f6f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0; padding: 0 28px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 24px 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; } p { margin: 6px 0; } .muted { color: var(--muted); }
.banner { border-radius: 8px; padding: 16px 20px; margin: 16px 0; color: #fff; }
.banner .verdict { font-size: 30px; font-weight: 700; letter-spacing: .04em; }
.banner .summary { font-size: 16px; margin-top: 4px; }
.banner dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 10px 0 0; font-size: 13px; }
.banner dt { opacity: .85; } .banner dd { margin: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: var(--panel); font-weight: 600; } td.l, th.l { text-align: left; }
td:not(.l) { white-space: nowrap; }
.tag { display: inline-block; border-radius: 4px; padding: 0 6px; color: #fff; font-size: 12px; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; overflow-x: auto; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.chart .chart-title { font-size: 13px; font-weight: 600; fill: var(--fg); }
.chart .legend, .chart .tick, .chart .group-label { font-size: 11px; fill: #333; }
.chart .verdict-tag { font-size: 10px; font-weight: 700; }
.chart .grid { stroke: #e6e6ea; } .chart .axis { stroke: #888; }
.chart .band { fill: #c9c9cf; opacity: .55; stroke: #5f6368; stroke-width: 1; } .chart .target { stroke: #333; stroke-dasharray: 3 2; }
.chart .whisker { stroke: #111; stroke-width: 1.4; fill: none; }
.why li { margin: 6px 0; } .problem { border-left: 4px solid #b3261e; background: #fbeeee; padding: 6px 10px; margin: 6px 0; }
.sheet { display: flex; flex-wrap: wrap; gap: 8px; }
.card { width: 150px; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: var(--panel); font-size: 11px; }
.card img, .card .noimg { width: 136px; height: 136px; object-fit: cover; display: block; border-radius: 3px; background: #ddd; }
.card .noimg { display: flex; align-items: center; justify-content: center; color: #555; text-align: center; }
.card .id { font-weight: 600; word-break: break-all; margin-top: 4px; }
.card .bad { color: #b3261e; font-weight: 700; }
.card ul { list-style: none; margin: 2px 0 0; padding: 0; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; }
code { background: var(--panel); padding: 0 3px; border-radius: 3px; }
.notice { border-radius: 6px; padding: 8px 12px; margin: 8px 0 0; background: #fff; color: var(--fg); }
.notice strong { color: #7a0000; }
.no-labels { border-left: 4px solid #6b3fa0; background: #f3eef9; padding: 6px 10px; margin: 6px 0; }
.denominator { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; padding: 4px 10px; font-size: 13px; }
.denominator legend { font-weight: 600; }
#charts:has(#den-all:checked) .by-determined, #charts:has(#den-determined:checked) .by-all { display: none; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5px; }
  h2 { break-after: avoid; } .chart, .card, .problem, .notice, tr { break-inside: avoid; }
  .banner, .tag, .chart, .card img { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  table { width: 100%; table-layout: auto; font-size: 9.5px; } th, td { padding: 2px 4px; }
  td:not(.l) { white-space: normal; } td, th { overflow-wrap: anywhere; }
  .charts { overflow: visible; display: block; } .chart { max-width: 100%; height: auto; margin: 4px 0; }
  details > summary { list-style: none; } details > summary::-webkit-details-marker { display: none; }
  details::details-content { content-visibility: visible; display: contents; }
}
"""

BANNER_COLOURS = {"PASS": "#1b7f3b", "FAIL": "#b3261e", "INSUFFICIENT": "#8a6d00", "UNDECIDED": "#8a6d00",
                  "UNAUDITABLE": "#6b3fa0",
                  "TAMPERED": "#7a0000"}
CAST_WORDS = {
    "PASS": "This cast meets its quota: every plausible count lies inside its band.",
    "FAIL": "Blocked: at least one count lies outside its band, whatever the labels hide.",
    "UNDECIDED": "Blocked until reviewed: some plausible counts lie in the band and some outside; review the "
                 "plates listed below to settle it.",
}
VERDICT_WORDS = {
    "PASS": "The batch meets its quota: every judged interval lies inside its target band.",
    "FAIL": "Blocked: at least one share is outside its target band beyond doubt.",
    "INSUFFICIENT": "Blocked until more plates exist: the plates so far cannot decide the quota either way.",
    "UNAUDITABLE": "Blocked: labels are missing, stale or too often undetermined to judge the batch (fail closed).",
    "TAMPERED": "Blocked: a plate file no longer matches the hash recorded when it was made.",
}


def pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f} %"


def tag(verdict: str | None) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#666666")
    return f'<span class="tag" style="background:{colour}">{e(verdict or "not gated")}</span>'


def render_html(report: Mapping[str, Any], thumbnails: Mapping[str, str] | None = None, *,
                max_per_group: int = 48) -> str:
    """The whole page as a string.

    Args:
        report: the dict from :mod:`castgate.report.model`.
        thumbnails: plate id -> ``data:`` URI (made by :mod:`castgate.report.thumbnails`).
        max_per_group: contact-sheet cards per label group; the rest are listed by id.
    """
    thumbnails = thumbnails or {}
    gate = report["gate"]
    cast = gate.get("question") == "cast"
    sections = [
        _banner(report),
        _glance(report),
        cast_counts(report) if cast else _charts(report),
        review_section(report, thumbnails) if cast else "",
        _why(report),
        error_model(report) if cast else "",
        "" if cast else _count_tables(report),
        joint_cross_tables(report),
        _joint_table(report),
        _undetermined(report),
        _agreement(report),
        _sampling(report),
        _candidates(report),
        balance_section(report),
        _contact_sheets(report, thumbnails, max_per_group),
        _quota(gate["quota"]),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(report['title'])} — {e(gate['verdict'])}</title><style>{CSS}</style></head><body><main>"
            + "".join(s for s in sections if s) + "</main></body></html>\n")


# -- sections ------------------------------------------------------------------------------------------
def _banner(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    verdict = gate["verdict"]
    quota = gate["quota"]
    source = report["source"]
    question = gate.get("question", "generator")
    rows = [("Source", f"{source.get('kind', '')} {source.get('path') or source.get('name') or ''}"),
            ("Quota", f"{quota['name']} ({quota['source']})" + (f" — {quota['description']}" if quota.get("description") else "")),
            ("Exit code", f"{gate['exit_code']} (0 PASS, 1 blocked, 3 UNDECIDED or INSUFFICIENT)"),
            ("Gated", gate["time"]), ("Report made", report["generated"]),
            ("castgate", report["castgate_version"])]
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    words = CAST_WORDS if question == "cast" else VERDICT_WORDS
    notices = _notices(report)
    return (f"<h1>{e(report['title'])}</h1>"
            f'<section class="banner" style="background:{BANNER_COLOURS.get(verdict, "#444")}" id="verdict">'
            f'<div class="verdict">{e(verdict)}</div><div class="summary question">{e(question)} question: '
            f'{e(gate.get("question_words", ""))}</div>'
            f'<div class="summary">{e(words.get(verdict, VERDICT_WORDS.get(verdict, "")))}</div>'
            f'<div class="summary">{e(gate["summary"])}</div><dl>{items}</dl>{notices}</section>')


def _notices(report: Mapping[str, Any]) -> str:
    """Inside the banner: import overrides (who, when, why), demo models, plates from another generator."""
    out = []
    for override in report.get("overrides") or []:
        out.append(f'<p class="notice override"><strong>Imported with an override</strong> by {e(override["user"])} '
                   f'on {e(override["time"])} at verdict {e(override.get("verdict") or "not gated")}: '
                   f'&ldquo;{e(override.get("reason") or "")}&rdquo;</p>')
    provenance = report.get("provenance") or {}
    if provenance.get("demo_models"):
        out.append('<p class="notice demo"><strong>Demo models:</strong> these plates come from castgate\'s '
                   'random-weight demo checkpoints. They draw noise, not people, so this report shows how '
                   'castgate works, not a real cast.</p>')
    imported = provenance.get("imported")
    if imported:
        names = ", ".join(imported.get("generators") or []) or "not named"
        out.append(f'<p class="notice imported"><strong>Not made by castgate:</strong> {e(imported.get("images", ""))} '
                   f'image(s) imported from {e(imported.get("folder", ""))} ({e(imported.get("mode", ""))}); '
                   f'generator: {e(names)}.</p>')
    return "".join(out)


def _glance(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    attributes = report["attributes"]
    head = "".join(f'<th class="l">{e(a)}</th>' for a in attributes)
    out = ['<section id="glance"><h2>At a glance</h2>',
           f'<table><tr><th class="l">scope</th><th>plates</th><th class="l">verdict</th>{head}</tr>']
    for scope in gate["scopes"]:
        cells = []
        for a in scope["attributes"]:
            cells.append(f'<td class="l">{tag(a["verdict"])} {e(a["reason"])}</td>' if a["gated"]
                         else '<td class="l muted">not gated here</td>')
        label = scope["title"] if scope["kind"] == "role" else _scope_label(scope)
        out.append(f'<tr><td class="l">{e(label)}</td><td>{scope["plate_count"]}</td>'
                   f'<td class="l">{tag(scope["verdict"])}</td>{"".join(cells)}</tr>')
    out.append("</table></section>")
    return "".join(out)


def _why(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    out = ['<section id="why"><h2>Why, in plain words</h2>']
    integrity = [p for p in gate["problems"] if p.get("scope") is None]
    for problem in integrity:
        ids = problem["plate_ids"]
        listed = (f" Plates: {e(', '.join(ids[:20]))}" + (f" and {problem['plate_count'] - 20} more." if problem["plate_count"] > 20 else ".")
                  if ids else "")
        out.append(f'<div class="problem">{tag(problem["verdict"])} {e(problem["message"])}.{listed}'
                   f'<br><b>Fix:</b> {e(problem["fix"])}'
                   + (f' (<code>{e(problem["repair"])}</code>)' if problem.get("repair") else "") + "</div>")
    out.append('<ul class="why">')
    for scope in gate["scopes"]:
        gated = [a for a in scope["attributes"] if a["gated"]]
        if not gated:
            continue
        inner = "".join(f"<li>{tag(a['verdict'])} <b>{e(a['attribute'])}</b>: {e(a['explanation'])}</li>" for a in gated)
        out.append(f"<li>{tag(scope['verdict'])} <b>{e(scope['title'])}</b><ul>{inner}</ul></li>")
    out.append("</ul>")
    fixes = [p for p in gate["problems"] if p.get("scope") is not None]
    if fixes:
        out.append("<details><summary>What to do, scope by scope</summary><ul>")
        out.extend(f"<li>{tag(p['verdict'])} {e(p['message'])}. <b>Fix:</b> {e(p['fix'])}</li>" for p in fixes)
        out.append("</ul></details>")
    out.append("</section>")
    return "".join(out)


def _bars(attribute_result: Mapping[str, Any]) -> list[dict[str, Any]]:
    determined = attribute_result["determined"]
    return [dict(c, determined=determined) for c in attribute_result["categories"]]


def _charts(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    out = ['<section id="charts"><h2>Shares with intervals and target bands</h2>',
           '<p class="muted">Bars: share among plates with a determined label. Whiskers: the confidence '
           'interval the gate judges (simultaneous over all categories when there are more than two). '
           'Grey strip: target ± tolerance; dashed line: target. A bar passes when its whole whisker '
           'lies in the strip and fails when the whole whisker lies outside it. Hover a bar for counts.</p>',
           '<fieldset class="denominator"><legend>Bars show</legend>'
           '<input type="radio" name="denominator" id="den-determined" checked>'
           '<label for="den-determined">shares among plates with a determined label (what the gate judges)</label> '
           '<input type="radio" name="denominator" id="den-all">'
           '<label for="den-all">shares of all plates, undetermined included (the seed study\'s denominator; '
           'no intervals)</label></fieldset>']
    for attribute in report["attributes"]:
        categories = report["categories"][attribute]
        per_kind: dict[str, list[dict[str, Any]]] = {"role": [], "other": []}
        confidence = None
        unreadable = []
        for scope in gate["scopes"]:
            result = next(a for a in scope["attributes"] if a["attribute"] == attribute)
            confidence = confidence or result["confidence"]
            name = scope["title"] if scope["kind"] == "role" else _scope_label(scope)
            if not result.get("determined"):  # nothing to draw: an empty axis would look like 0 %
                unreadable.append(name)
                continue
            group = {"label": name, "verdict": result["verdict"], "bars": _bars(result)}
            per_kind["role" if scope["kind"] == "role" else "other"].append(group)
        label = f"{100 * (confidence or 0.95):g} %"
        for of_all, css in ((False, "by-determined"), (True, "by-all")):
            out.append(f'<div class="charts {css}">')
            for kind, title in (("role", f"{attribute} per role"), ("other", f"{attribute} pooled")):
                if per_kind[kind]:
                    suffix = ", share of all plates" if of_all else ""
                    out.append(grouped_bar_chart(per_kind[kind], categories, title=title + suffix,
                                                 confidence_label=label, of_all=of_all))
            out.append("</div>")
        if unreadable:
            out.append(f'<p class="no-labels"><strong>{e(attribute)}: no readable labels</strong> in '
                       f'{e(", ".join(unreadable))}: no plate there has a determined {e(attribute)} label, so '
                       f'there is no share to draw (UNAUDITABLE). Review those plates by hand or regenerate them.</p>')
    out.append("</section>")
    return "".join(out)


def _scope_label(scope: Mapping[str, Any]) -> str:
    if scope["kind"] == "pooled":
        return "all roles pooled"
    return scope["scope"].replace("=", ": ")


def _count_tables(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    out = ['<section id="counts"><h2>Counts</h2>',
           '<p class="muted">“of determined” is the share the gate judges; “of all” uses every plate as the '
           'denominator, undetermined included (the seed study reported its figures that way).</p>']
    for attribute in report["attributes"]:
        categories = report["categories"][attribute]
        head = "".join(f'<th colspan="4">{e(c)}</th>' for c in categories)
        sub = "".join("<th>n</th><th>of determined</th><th>of all</th><th>interval</th>" for _ in categories)
        out.append(f"<h3>{e(attribute)}</h3><table><tr><th class=\"l\" rowspan=\"2\">scope</th>"
                   f"<th rowspan=\"2\">plates</th>{head}<th colspan=\"2\">undetermined</th>"
                   f"<th rowspan=\"2\">verdict</th><th rowspan=\"2\">more plates to decide</th></tr>"
                   f"<tr>{sub}<th>n</th><th>of all</th></tr>")
        for scope in gate["scopes"]:
            a = next(x for x in scope["attributes"] if x["attribute"] == attribute)
            cells = "".join(f"<td>{c['count']}</td><td>{pct(c['share'])}</td><td>{pct(c['share_of_all'])}</td>"
                            f"<td>{100 * c['low']:.1f}–{100 * c['high']:.1f}</td>" for c in a["categories"])
            more = "–" if a["verdict"] in ("PASS", "FAIL") else ("never at this share" if a["more_plates"] is None
                                                                   else str(a["more_plates"]))
            if not a["gated"]:
                more = "–"
            label = scope["title"] if scope["kind"] == "role" else _scope_label(scope)
            out.append(f'<tr><td class="l">{e(label)}</td><td>{a["plate_count"]}</td>{cells}'
                       f'<td>{a["undetermined"]}</td><td>{pct(a["undetermined_share"])}</td>'
                       f'<td class="l">{tag(a["verdict"])}</td><td>{e(more)}</td></tr>')
        out.append("</table>")
    out.append("</section>")
    return "".join(out)


def _joint_table(report: Mapping[str, Any]) -> str:
    joint = report.get("joint_counts") or {}
    attributes = joint.get("attributes") or []
    roles = joint.get("roles") or {}
    if len(attributes) < 2 or not roles:
        return ""
    combos: "OrderedDict[tuple, None]" = OrderedDict()
    for rows in roles.values():
        for row in rows:
            combos[tuple(row["labels"][a] for a in attributes)] = None
    rank = {a: {c: i for i, c in enumerate((report.get("categories") or {}).get(a, []))} for a in attributes}
    combos_list = sorted(combos, key=lambda combo: [rank.get(a, {}).get(v, 99) for a, v in zip(attributes, combo)])
    head = "".join(f"<th>{e(' · '.join(c))}</th>" for c in combos_list)
    out = ['<section id="combinations"><h2>Label combinations</h2>',
           f'<p class="muted">Plates per role by {e(" × ".join(attributes))}.</p>',
           f'<table><tr><th class="l">role</th>{head}<th>total</th></tr>']
    for role, rows in roles.items():
        found = {tuple(r["labels"][a] for a in attributes): r["count"] for r in rows}
        cells = "".join(f"<td>{found.get(c, 0)}</td>" for c in combos_list)
        out.append(f'<tr><td class="l">{e(role)}</td>{cells}<td>{sum(found.values())}</td></tr>')
    out.append("</table></section>")
    return "".join(out)


def _undetermined(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    out = ['<section id="undetermined"><h2>Undetermined labels and why</h2>',
           '<p class="muted">Plates whose label could not be read are reported, never forced into a class. '
           'The quota caps their share; above it the scope is UNAUDITABLE.</p>',
           '<table><tr><th class="l">scope</th><th class="l">attribute</th><th>undetermined</th><th>of all</th>'
           '<th>limit</th><th class="l">reasons</th></tr>']
    for scope in gate["scopes"]:
        for a in scope["attributes"]:
            reasons = a.get("undetermined_reasons") or {}
            text = "; ".join(f"{r}: {n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
            if not text:
                text = "no reasons recorded (label table)" if report["kind"] == "labels" and a["undetermined"] else "–"
            label = scope["title"] if scope["kind"] == "role" else _scope_label(scope)
            out.append(f'<tr><td class="l">{e(label)}</td><td class="l">{e(a["attribute"])}</td>'
                       f'<td>{a["undetermined"]}</td><td>{pct(a["undetermined_share"])}</td>'
                       f'<td>{pct(a["max_undetermined"])}</td><td class="l">{e(text)}</td></tr>')
    out.append("</table></section>")
    return "".join(out)


def _agreement(report: Mapping[str, Any]) -> str:
    agreement = report.get("agreement") or {}
    out = ['<section id="agreement"><h2>Automatic vs human labels</h2>', f'<p>{e(report["agreement_note"])}</p>']
    if not agreement:
        why = ("A label table has no automatic labels to compare." if report["kind"] == "labels"
               else "No plate has both a human and an automatic label yet (castgate review adds human labels).")
        out.append(f'<p class="muted">{e(why)}</p></section>')
        return "".join(out)
    for attribute, data in agreement.items():
        if not isinstance(data, Mapping):
            continue
        kappa = data.get("kappa")
        out.append(f"<h3>{e(attribute)}</h3><p>{e(data.get('n', 0))} plates with both labels; observed agreement "
                   f"{pct(data.get('observed'))}; Cohen's κ {e('–' if kappa is None else f'{kappa:.2f}')}.</p>")
        labels = data.get("labels") or []
        confusion = data.get("confusion") or []
        if labels and confusion:
            head = "".join(f"<th>{e(l)}</th>" for l in labels)
            out.append(f'<table><tr><th class="l">human ↓ / automatic →</th>{head}</tr>')
            for label, row in zip(labels, confusion):
                out.append(f'<tr><th class="l">{e(label)}</th>' + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>")
            out.append("</table>")
    out.append("</section>")
    return "".join(out)


def _sampling(report: Mapping[str, Any]) -> str:
    sampling = report.get("sampling")
    out = ['<section id="sampling"><h2>Sampling settings</h2>']
    if not sampling:
        out.append('<p class="muted">Not recorded: a label table carries no sampling settings.</p>')
    else:
        out.append('<table>' + "".join(f'<tr><th class="l">{e(k)}</th><td class="l">{e(v)}</td></tr>'
                                       for k, v in sampling.items()) + "</table>")
        models = report.get("models") or {}
        if models:
            out.append('<table><tr><th class="l">model</th><th class="l">name</th><th class="l">folder</th></tr>'
                       + "".join(f'<tr><td class="l">{e(k)}</td><td class="l">{e(v.get("name"))}</td>'
                                 f'<td class="l">{e(v.get("folder") or "")}</td></tr>' for k, v in models.items())
                       + "</table>")
    out.append(f'<p><b>Note:</b> {e(report["sampling_note"])}</p></section>')
    return "".join(out)


def _candidates(report: Mapping[str, Any]) -> str:
    data = report.get("candidates")
    out = ['<section id="candidates"><h2>All candidates vs kept plates</h2>',
           '<p class="muted">CLIP selection keeps the candidates that best match the prompt. If the kept '
           'plates’ labels differ from those of all candidates, selection itself shifted the mix.</p>']
    if not data:
        why = ("A label table holds kept plates only." if report["kind"] == "labels"
               else "This batch has no rejected candidates (one candidate per plate, or selection kept all).")
        out.append(f'<p class="muted">{e(why)}</p></section>')
        return "".join(out)
    pooled = data["pooled"]
    out.append(f'<p>{pooled["kept_count"]} kept of {pooled["all_count"]} candidates '
               f'({pooled["rejected_count"]} rejected; {data["audited_rejected"]} rejected candidates audited).</p>')
    out.append('<div class="charts">')
    for attribute in report["attributes"]:
        block = pooled["attributes"][attribute]
        kept_total = sum(block["kept"].values()) or 1
        all_total = sum(block["all"].values()) or 1
        rows = [{"label": v, "left": block["kept"].get(v, 0) / kept_total, "right": n / all_total,
                 "left_count": block["kept"].get(v, 0), "right_count": n} for v, n in block["all"].items()]
        out.append(comparison_bars(rows, title=f"{attribute}: kept vs all candidates", left="kept",
                                   right="all candidates"))
    out.append("</div>")
    for attribute in report["attributes"]:
        out.append(f"<h3>{e(attribute)}</h3>")
        out.append(_candidate_table({"all roles": pooled} | data["roles"], attribute))
    out.append("</section>")
    return "".join(out)


def _candidate_table(blocks: Mapping[str, Any], attribute: str) -> str:
    values: list[str] = []
    for block in blocks.values():
        for v in block["attributes"][attribute]["all"]:
            if v not in values:
                values.append(v)
    head = "".join(f'<th colspan="3">{e(v)}</th>' for v in values)
    sub = "".join("<th>kept</th><th>all</th><th>shift</th>" for _ in values)
    rows = [f'<table><tr><th class="l" rowspan="2">scope</th>{head}</tr><tr>{sub}</tr>']
    for name, block in blocks.items():
        a = block["attributes"][attribute]
        kept_total = sum(a["kept"].values()) or 1
        all_total = sum(a["all"].values()) or 1
        cells = []
        for v in values:
            k, n = a["kept"].get(v, 0), a["all"].get(v, 0)
            shift = 100 * (k / kept_total - n / all_total)
            cells.append(f"<td>{k} ({pct(k / kept_total)})</td><td>{n} ({pct(n / all_total)})</td>"
                         f"<td>{shift:+.1f} pt</td>")
        rows.append(f'<tr><td class="l">{e(name)}</td>{"".join(cells)}</tr>')
    rows.append("</table>")
    return "".join(rows)


def _contact_sheets(report: Mapping[str, Any], thumbnails: Mapping[str, str], max_per_group: int) -> str:
    plates = [p for p in report.get("plates", []) if p["kept"]]
    out = ['<section id="plates"><h2>Contact sheets</h2>']
    if not plates:
        out.append('<p class="muted">No plates to show: a label table has counts, not images.</p></section>'
                   if report["kind"] == "labels" else '<p class="muted">The batch has no kept plates.</p></section>')
        return "".join(out)
    attributes = report["attributes"]
    tampered = set(report.get("tampered_plate_ids") or ())
    out.append('<p class="muted">Kept plates per role, grouped by their labels. Each card lists every label '
               'with its source: a person’s name, or the automatic labeller’s confidence.</p>')
    by_role: "OrderedDict[str, OrderedDict[tuple, list]]" = OrderedDict()
    order = {a: {c: i for i, c in enumerate(report["categories"][a])} for a in attributes}
    for plate in plates:
        combo = tuple(plate["labels"].get(a, {}).get("value") or "not labelled" for a in attributes)
        by_role.setdefault(plate["role"], OrderedDict()).setdefault(combo, []).append(plate)
    for role, groups in by_role.items():
        total = sum(len(g) for g in groups.values())
        out.append(f"<h3>{e(role)} <span class=\"muted\">({total} plates)</span></h3>")
        for combo in sorted(groups, key=lambda c: [order[a].get(v, 99) for a, v in zip(attributes, c)]):
            members = groups[combo]
            title = " · ".join(f"{a} {v}" for a, v in zip(attributes, combo))
            out.append(f"<details open><summary>{e(title)} — {len(members)}</summary><div class=\"sheet\">")
            for plate in members[:max_per_group]:
                out.append(_card(plate, thumbnails.get(plate["id"]), plate["id"] in tampered))
            out.append("</div>")
            if len(members) > max_per_group:
                rest = ", ".join(p["id"] for p in members[max_per_group:])
                out.append(f'<p class="muted">and {len(members) - max_per_group} more: {e(rest)}</p>')
            out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _card(plate: Mapping[str, Any], uri: str | None, tampered: bool) -> str:
    if uri:
        image = f'<img src="{e(uri)}" alt="{e(plate["id"])}" width="136" height="136">'
    else:
        image = f'<div class="noimg">{e("image missing" if plate.get("png") else "no PNG recorded")}</div>'
    items = []
    for attribute, label in plate["labels"].items():
        value = label.get("value")
        if value is None:
            items.append(f"<li>{e(attribute)}: <span class=\"bad\">not labelled</span></li>")
            continue
        if label.get("source") == "human":
            how = f"by {label.get('reviewer')}"
            if label.get("auto_value") and label.get("auto_value") != value:
                how += f"; auto said {label['auto_value']}"
        else:
            conf = label.get("confidence")
            how = f"auto {conf:.2f}" if isinstance(conf, (int, float)) else "auto"
            if value == "undetermined" and label.get("reason"):
                how += f": {label['reason']}"
        items.append(f"<li>{e(attribute)}: <b>{e(value)}</b> <span class=\"muted\">({e(how)})</span></li>")
    flags = '<div class="bad">file changed since made</div>' if tampered else ""
    if plate.get("audit_error"):
        flags += f'<div class="bad">audit error: {e(plate["audit_error"])}</div>'
    return (f'<div class="card">{image}<div class="id">{e(plate["id"])}</div>{flags}'
            f'<ul>{"".join(items)}</ul></div>')


def _quota(quota: Mapping[str, Any]) -> str:
    out = ['<section id="quota"><h2>Quota</h2>',
           f'<p><b>{e(quota["name"])}</b> <span class="muted">({e(quota["source"])})</span></p>']
    if quota.get("description"):
        out.append(f"<p>{e(quota['description'])}</p>")
    out.append('<table><tr><th class="l">attribute</th><th class="l">targets</th><th>tolerance</th>'
               '<th>confidence</th><th>max undetermined</th><th>min sample</th><th class="l">scope</th>'
               '<th class="l">interval</th></tr>')
    for a in quota["attributes"]:
        targets = ", ".join(f"{k} {100 * v:g} %" for k, v in a["targets"].items())
        out.append(f'<tr><td class="l">{e(a["attribute"])}</td><td class="l">{e(targets)}</td>'
                   f'<td>± {100 * a["tolerance"]:g} pt</td><td>{100 * a["confidence"]:g} %</td>'
                   f'<td>{100 * a["max_undetermined"]:g} %</td><td>{a["min_sample"]}</td>'
                   f'<td class="l">{e(a["scope"])}</td><td class="l">{e(a["interval"])} '
                   f'({e(a["simultaneous"])})</td></tr>')
    out.append("</table></section>")
    return "".join(out)


__all__ = ["render_html", "CSP", "PALETTE"]
