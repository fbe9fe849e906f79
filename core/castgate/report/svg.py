"""Inline SVG charts for the audit report: per-scope grouped bars with intervals and target bands.

Strings only, no I/O; every label is escaped. The look follows the seed study's Figures 3–4 (one group
of bars per job), with what the study lacked: each bar's confidence interval as a whisker and the
quota's target band as a grey strip behind it.

Example:
    >>> svg = grouped_bar_chart([{"label": "nurse", "verdict": "FAIL", "bars": [bar]}], ["female", "male"],
    ...                         title="gender")
"""

from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

# Okabe–Ito, colour-blind safe; categories take colours in their attribute's order.
# Okabe-Ito hues, the light ones darkened so every bar, dot and swatch has at least 3:1 contrast against
# the white chart background (WCAG 2.1 SC 1.4.11, graphics); tests/core/test_report_a11y.py checks it.
PALETTE = ("#0072B2", "#B87700", "#009E73", "#D55E00", "#2E86C1", "#B84D9A", "#8F7F00", "#000000",
           "#767676", "#882255")
VERDICT_COLOURS = {"PASS": "#1b7f3b", "FAIL": "#b3261e", "INSUFFICIENT": "#8a6d00", "UNDECIDED": "#8a6d00",
                   "UNAUDITABLE": "#6b3fa0",
                   "TAMPERED": "#b3261e", None: "#666666"}

_PLOT_HEIGHT = 200
_TOP = 44
_LEFT = 46
_RIGHT = 12
_BOTTOM = 96
_BAR = 18
_GAP = 28
_MAX_LABEL = 28
_CHAR = 7.0          # average width of an 11 px label character
_TILT = 0.82         # cos(35°): how far a tilted label reaches left
SHORT_VERDICTS = {"INSUFFICIENT": "INSUFF.", "UNDECIDED": "UNDEC.", "UNAUDITABLE": "UNAUDIT.", "TAMPERED": "TAMPER."}


def e(value: Any) -> str:
    """Escape any value for HTML/SVG text and attributes."""
    return escape(str(value), quote=True)


def _y(share: float) -> float:
    return _TOP + (1.0 - max(0.0, min(1.0, share))) * _PLOT_HEIGHT


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def grouped_bar_chart(groups: Sequence[Mapping[str, Any]], categories: Sequence[str], *, title: str,
                      confidence_label: str = "95 %", of_all: bool = False) -> str:
    """An SVG of grouped bars: one group per scope, one bar per category.

    Args:
        groups: ``[{"label", "verdict", "bars": [{"category", "share", "low", "high", "band_low",
            "band_high", "target", "count", "determined", "share_of_all"}]}]``.
        categories: category names in display order (sets the colours).
        title: chart title (escaped).
        confidence_label: how the whiskers are described in the legend.
        of_all: bars are shares of *all* plates (undetermined ones in the denominator, the seed study's
            figures) instead of shares among determined plates; the gate's intervals are about the
            latter, so no whiskers are drawn then.

    Returns:
        An ``<svg>`` element as a string.
    """
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    group_width = len(categories) * _BAR + _GAP
    first = len(_short(str(groups[0]["label"]))) if groups else 0
    left = max(_LEFT, int(first * _CHAR * _TILT - group_width / 2 + 12))   # room for the first tilted label
    legend_width = left + sum(22 + 7 * len(c) for c in categories) + 140 + 150
    width = max(left + _RIGHT + max(1, len(groups)) * group_width, legend_width, 360)
    longest = max((len(_short(str(g["label"]))) for g in groups), default=0)
    height = _TOP + _PLOT_HEIGHT + max(_BOTTOM, int(34 + longest * _CHAR * 0.58))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
           f'<title>{e(title)}</title>',
           f'<text x="{left}" y="16" class="chart-title">{e(title)}</text>']
    # legend
    x = left
    for category in categories:
        out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{colour[category]}"/>'
                   f'<text x="{x + 14}" y="33" class="legend">{e(category)}</text>')
        x += 22 + 7 * len(category)
    out.append(f'<rect x="{x}" y="24" width="14" height="10" class="band"/>'
               f'<text x="{x + 18}" y="33" class="legend">target ± tolerance</text>')
    x += 140
    if of_all:
        out.append(f'<text x="{x}" y="33" class="legend">share of all plates</text>')
    else:
        out.append(f'<line x1="{x}" y1="24" x2="{x}" y2="34" class="whisker"/>'
                   f'<text x="{x + 6}" y="33" class="legend">{e(confidence_label)} interval</text>')
    # axis and grid
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = _y(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - _RIGHT}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{int(tick * 100)} %</text>')
    # groups
    for index, group in enumerate(groups):
        gx = left + _GAP / 2 + index * group_width
        bars = {b["category"]: b for b in group.get("bars", [])}
        for position, category in enumerate(categories):
            bar = bars.get(category)
            if bar is None:
                continue
            bx = gx + position * _BAR
            band_top, band_bottom = _y(bar["band_high"]), _y(bar["band_low"])
            out.append(f'<rect x="{bx - 1:.1f}" y="{band_top:.1f}" width="{_BAR + 2}" '
                       f'height="{max(0.5, band_bottom - band_top):.1f}" class="band"/>')
            ty = _y(bar["target"])
            out.append(f'<line x1="{bx - 1:.1f}" y1="{ty:.1f}" x2="{bx + _BAR + 1:.1f}" y2="{ty:.1f}" class="target"/>')
            top = _y(bar["share_of_all"] if of_all else bar["share"])
            tip = (f'{group["label"]}: {category} {bar["count"]} of {bar["determined"]} determined = '
                   f'{100 * bar["share"]:.1f} % ({confidence_label} interval {100 * bar["low"]:.1f}–'
                   f'{100 * bar["high"]:.1f} %); {100 * bar["share_of_all"]:.1f} % of all plates')
            out.append(f'<rect x="{bx + 2:.1f}" y="{top:.1f}" width="{_BAR - 4}" '
                       f'height="{max(0.0, _TOP + _PLOT_HEIGHT - top):.1f}" fill="{colour[category]}">'
                       f'<title>{e(tip)}</title></rect>')
            if not of_all:
                low_y, high_y = _y(bar["low"]), _y(bar["high"])
                cx = bx + _BAR / 2
                out.append(f'<path d="M{cx:.1f} {high_y:.1f}V{low_y:.1f}M{cx - 4:.1f} {high_y:.1f}h8'
                           f'M{cx - 4:.1f} {low_y:.1f}h8" class="whisker"/>')
        label_x = gx + len(categories) * _BAR / 2
        label_y = _TOP + _PLOT_HEIGHT + 12
        verdict = group.get("verdict")
        out.append(f'<text x="{label_x:.1f}" y="{label_y:.1f}" class="verdict-tag" text-anchor="middle" '
                   f'fill="{VERDICT_COLOURS.get(verdict, "#666666")}"><title>{e(verdict or "not gated")}</title>'
                   f'{e(SHORT_VERDICTS.get(verdict, verdict) if verdict else "–")}</text>')
        out.append(f'<text transform="translate({label_x + 3:.1f} {label_y + 10:.1f}) rotate(-35)" '
                   f'class="group-label" text-anchor="end"><title>{e(group["label"])}</title>'
                   f'{e(_short(str(group["label"])))}</text>')
    out.append(f'<line x1="{left}" y1="{_TOP + _PLOT_HEIGHT}" x2="{width - _RIGHT}" y2="{_TOP + _PLOT_HEIGHT}" '
               'class="axis"/></svg>')
    return "".join(out)


def comparison_bars(rows: Sequence[Mapping[str, Any]], *, title: str, left: str, right: str) -> str:
    """Paired horizontal bars: for each label value, its share among ``left`` and among ``right``.

    Args:
        rows: ``[{"label", "left": share, "right": share, "left_count", "right_count"}]``.
        title, left, right: the chart title and the two series' names (escaped).
    """
    row_height = 30
    label_width = 120
    plot_width = 260
    width = label_width + plot_width + 80
    height = 40 + row_height * max(1, len(rows))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}"><title>{e(title)}</title>',
           f'<text x="0" y="14" class="chart-title">{e(title)}</text>',
           f'<rect x="{label_width}" y="20" width="10" height="8" fill="{PALETTE[0]}"/>'
           f'<text x="{label_width + 14}" y="28" class="legend">{e(left)}</text>',
           f'<rect x="{label_width + 130}" y="20" width="10" height="8" fill="{PALETTE[8]}"/>'
           f'<text x="{label_width + 144}" y="28" class="legend">{e(right)}</text>']
    for index, row in enumerate(rows):
        y = 36 + index * row_height
        out.append(f'<text x="{label_width - 6}" y="{y + 14}" class="group-label" text-anchor="end">'
                   f'{e(_short(str(row["label"])))}</text>')
        for offset, key, fill in ((0, "left", PALETTE[0]), (12, "right", PALETTE[8])):
            share = row.get(key)
            if share is None:
                continue
            w = plot_width * max(0.0, min(1.0, share))
            out.append(f'<rect x="{label_width}" y="{y + offset}" width="{w:.1f}" height="10" fill="{fill}">'
                       f'<title>{e(row["label"])}: {e(key == "left" and left or right)} '
                       f'{100 * share:.1f} % ({e(row.get(key + "_count", ""))})</title></rect>'
                       f'<text x="{label_width + w + 4:.1f}" y="{y + offset + 9}" class="tick">'
                       f'{100 * share:.1f} %</text>')
    out.append("</svg>")
    return "".join(out)
