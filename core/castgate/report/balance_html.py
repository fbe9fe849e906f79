"""The report's before/after section for a balanced batch: what the generator drew on its own (the
generator question, with intervals) beside the cast that was kept (the cast question), and the steering
used per role. Pure rendering of ``report["balance"]`` (:mod:`castgate.balance.before_after`)."""

from __future__ import annotations

from typing import Any, Mapping

from castgate.report.cast_html import tag
from castgate.report.svg import comparison_bars, e


def _pct(share: float) -> str:
    return f"{100 * share:.1f} %"


def _pooled_steering(per_role: Mapping[str, Any]) -> dict[str, Any]:
    phrases: dict[str, dict[str, int]] = {}
    for steer in per_role.values():
        for phrase, n in steer["phrases"].items():
            entry = phrases.setdefault(phrase, {"candidates": 0, "kept": 0})
            entry["candidates"] += n["candidates"]
            entry["kept"] += n["kept"]
    return {"steered": sum(s["steered"] for s in per_role.values()), "phrases": phrases}


def balance_section(report: Mapping[str, Any]) -> str:
    data = report.get("balance")
    if not data:
        return ""
    out = ['<section id="balance"><h2>Before and after balancing</h2>',
           '<p>Left: what the generator drew <b>on its own</b> — the candidates made with the plain prompt, '
           'judged as a sample of the model (the generator question, with intervals). Right: the cast that was '
           'kept, judged as the plates that go into the shot (the cast question). Steering, when the request '
           'allowed it, is listed per role; every steered plate records the prompt actually used.</p>']
    if data.get("rounds"):
        out.append("<ol>" + "".join(f"<li>{e(r)}</li>" for r in data["rounds"]) + "</ol>")
    pooled_before = data["before"].get("pooled")
    pooled_after = data["after"].get("pooled")
    if pooled_before and pooled_after:
        out.append('<div class="charts">')
        for attribute in data["attributes"]:
            before = {c["category"]: c for c in pooled_before["attributes"][attribute]["categories"]}
            after = pooled_after["attributes"][attribute]["counts"]
            before_total = sum(c["count"] for c in before.values()) or 1
            after_total = sum(after.values()) or 1
            rows = [{"label": c, "left": before[c]["count"] / before_total, "right": after.get(c, 0) / after_total,
                     "left_count": before[c]["count"], "right_count": after.get(c, 0)} for c in before]
            out.append(comparison_bars(rows, title=f"{attribute}: generator on its own vs the cast",
                                       left="generator", right="cast"))
        out.append("</div>")
    for attribute in data["attributes"]:
        out.append(f"<h3>{e(attribute)}</h3><table><tr><th class=\"l\">scope</th>"
                   "<th class=\"l\">generator on its own (plain prompt)</th><th class=\"l\">cast</th>"
                   "<th class=\"l\">steering</th></tr>")
        for scope, before in data["before"].items():
            item = before["attributes"][attribute]
            shares = "; ".join(f"{c['category']} {c['count']} = {_pct(c['share'])} [{_pct(c['low'])}–{_pct(c['high'])}]"
                               for c in item["categories"])
            after = data["after"].get(scope, {"attributes": {attribute: {"counts": {}, "verdict": None}}, "plates": 0})
            cast = after["attributes"][attribute]
            counts = ", ".join(f"{c} {n}" for c, n in cast["counts"].items())
            steer = data["steering"].get(scope) or _pooled_steering(data["steering"])
            if not steer["steered"]:
                steer_text = "none" + ("" if data["steering_allowed"] else " (steering off)")
            else:
                steer_text = "; ".join(f"“{phrase}”: {n['candidates']} candidates, {n['kept']} kept"
                                       for phrase, n in steer["phrases"].items())
            out.append(f"<tr><td class=\"l\">{e(scope)}</td><td class=\"l\">{tag(item['verdict'])} "
                       f"{e(shares)} <span class=\"muted\">of {item['determined']} readable"
                       f" at {_pct(item['confidence'])}</span></td>"
                       f"<td class=\"l\">{tag(cast['verdict'])} {e(counts)} <span class=\"muted\">of "
                       f"{after['plates']}</span></td><td class=\"l\">{e(steer_text)}</td></tr>")
        out.append("</table>")
    out.append("</section>")
    return "".join(out)
