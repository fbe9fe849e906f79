"""Explanations: the one-line reason and the plain-words explanation of an attribute's verdict."""

from __future__ import annotations

from typing import Sequence

from castgate.batch.checks import UNAUDITABLE
from castgate.gate.cast import UNDECIDED
from castgate.gate.results import AttributeResult, CategoryResult
from castgate.gate.tally import Tally
from castgate.stats import FAIL, INSUFFICIENT, PASS


def pct(share: float) -> str:
    """A share as a percentage with one decimal, the seed study's style: ``69.0 %``."""
    return f"{100 * share:.1f} %"


def _span(low: float, high: float, *, trim: bool = True) -> str:
    if not trim:
        return f"{100 * low:.1f}–{100 * high:.1f} %"
    return f"{_num(low)}–{_num(high)} %"


def _num(share: float) -> str:
    """A share in percent with one decimal, without a trailing ``.0`` (``40``, ``62.9``)."""
    text = f"{100 * share:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _decisive(result: AttributeResult, verdict: str) -> list[CategoryResult]:
    """The categories that explain a verdict, most over-represented first."""
    ordered = sorted(result.categories, key=lambda c: c.share - c.target, reverse=True)
    if verdict == FAIL:
        return [c for c in ordered if c.verdict == FAIL]
    if verdict == INSUFFICIENT:
        return [c for c in ordered if c.verdict == INSUFFICIENT] or ordered
    return ordered


def explain_generator(result: AttributeResult, verdict: str, tally: Tally) -> tuple[str, str]:
    """(one-line reason, plain-words explanation) of an attribute's verdict."""
    attribute, total = result.attribute, result.plate_count
    conf = f"{100 * result.confidence:g} %"
    where = f"{tally.title}" if tally.kind != "pooled" else "all roles pooled"
    if total == 0:
        return "no plates", f"{where}: there are no kept plates, so there is nothing to judge."
    if result.unlabelled:
        return (f"{result.unlabelled} of {total} plates have no usable {attribute} label",
                f"{result.unlabelled} of the {total} plates of {where} have no usable {attribute} label. "
                "The gate fails closed: shares over the labelled plates alone could hide anything, so "
                "the verdict is UNAUDITABLE until every plate is labelled (undetermined counts as a label).")
    und = (f"{result.undetermined} undetermined ({pct(result.undetermined_share)}, "
           f"limit {pct(result.max_undetermined)})")
    if verdict == UNAUDITABLE:
        return (f"{und}",
                f"{result.undetermined} of the {total} plates of {where} ({pct(result.undetermined_share)}) "
                f"have an undetermined {attribute}, more than the {pct(result.max_undetermined)} the quota "
                "allows. Shares among the readable plates could be skewed by which plates were unreadable, "
                "so the gate fails closed: review those plates by hand or regenerate them.")
    decisive = _decisive(result, verdict)
    head = decisive[0]
    many = len(result.categories) > 2
    pieces = []
    for c in decisive[: 3 if many else 1]:
        position = ("inside" if c.verdict == PASS else "above" if c.low > c.band_high
                    else "below" if c.high < c.band_low else "across")
        of_all = f" ({pct(c.share_of_all)} of all plates)" if result.undetermined else ""
        pieces.append(f"{c.category} {pct(c.share)} [{_span(c.low, c.high, trim=False)}] {position} "
                      f"{_span(c.band_low, c.band_high)}{of_all}")
    reason = "; ".join(pieces)
    opening = (f"Of the {total} plates of {where}, {result.determined} have a readable {attribute}"
               + (f" ({result.undetermined} undetermined, within the {pct(result.max_undetermined)} allowed). "
                  if result.undetermined else ". "))
    shares_text = ", ".join(f"{c.count} {c.category} ({pct(c.share)})" for c in result.categories)
    corrected = (f" Each of the {len(result.categories)} intervals is computed at "
                 f"{100 * result.interval_confidence:.2f} % (Bonferroni) so that all hold together at "
                 f"{conf}." if result.interval_confidence != result.confidence else "")
    interval = (f"With {conf} confidence the true {head.category} share lies between {pct(head.low)} and "
                f"{pct(head.high)}; the quota asks for {_num(head.target)} % ± {_num(result.tolerance)} "
                f"points ({_span(head.band_low, head.band_high)}).{corrected} ")
    more = result.more_plates
    if verdict == INSUFFICIENT and result.determined < result.min_sample:
        reason = f"only {result.determined} determined plates (minimum {result.min_sample})"
        tail = (f"That is fewer determined plates than the quota's minimum sample of {result.min_sample}, "
                "so no verdict is given yet")
        tail += f": about {more} more plates are needed." if more is not None else "."
        return reason + _more_words(more), opening + shares_text + ". " + tail
    if verdict == PASS:
        tail = (f"Every category's interval lies inside its band, so {attribute} PASSes here."
                if many else f"The whole interval lies inside the band, so {attribute} PASSes here.")
    elif verdict == FAIL:
        side = "above" if head.low > head.band_high else "below"
        tail = (f"The whole interval lies {side} the band, so {attribute} FAILs here: "
                "the imbalance is larger than the tolerance, not sampling noise.")
    else:
        heading = "PASS" if abs(head.share - head.target) < result.tolerance else "FAIL"
        tail = ("The interval reaches both inside and outside the band, so these plates cannot decide yet. "
                + (f"If the shares hold, about {more} more plates would decide it (it would {heading})."
                   if more is not None else "The share sits on the band's edge: more plates at this share "
                                            "would never decide it."))
        reason += _more_words(more)
    return reason, opening + shares_text + ". " + interval + tail


def _more_words(more: int | None) -> str:
    if more is None:
        return "; undecidable at this share"
    return f"; ~{more} more plates to decide"



# -- the cast question ---------------------------------------------------------------------------------
def count_span(low: int, high: int) -> str:
    """``20`` or ``18–23``."""
    return str(low) if low == high else f"{low}–{high}"


def band_text(band_low: int, band_high: int, n: int) -> str:
    """The band on counts in words: ``16–24 of 40`` (or ``none of 3`` when it holds no whole count)."""
    if band_low > band_high:
        return f"no whole count of {n}"
    return f"{count_span(band_low, band_high)} of {n}"


def sizes_words(sizes: Sequence[int], shown: int = 6) -> str:
    if not sizes:
        return "none nearby"
    return ", ".join(str(s) for s in sizes[:shown]) + (", …" if len(sizes) > shown else "")


def explain_cast(result: AttributeResult, verdict: str, tally: Tally) -> tuple[str, str]:
    """(one-line reason, plain-words explanation) of an attribute's verdict under the cast question."""
    judgement = result.cast
    assert judgement is not None
    attribute, total = result.attribute, result.plate_count
    where = tally.title if tally.kind != "pooled" else "all roles pooled"
    conf = f"{100 * result.confidence:g} %"
    if total == 0:
        return "no plates", f"{where}: there are no kept plates, so there is nothing to judge."
    if verdict == UNAUDITABLE:
        return (f"{result.unlabelled} of {total} plates have no usable {attribute} label",
                f"{result.unlabelled} of the {total} plates of {where} have no usable {attribute} label. "
                "The gate fails closed: audit them (castgate audit) or label them by hand (castgate review).")
    if verdict == UNDECIDED and judgement.verdict == PASS:
        share = result.undetermined_share
        return (f"{result.undetermined} undetermined ({pct(share)}, limit {pct(result.max_undetermined)}); "
                f"{len(judgement.review_ids)} plates to review",
                f"Every plausible count of {where} lies in its band, but {result.undetermined} of its {total} plates "
                f"({pct(share)}) have an undetermined {attribute}, more than the {pct(result.max_undetermined)} "
                "the quota allows, so the cast is UNDECIDED until they are reviewed or replaced.")
    counts = judgement.counts
    if judgement.cannot_meet:
        first = next((c for c in counts if c.band_empty), counts[0])
        reason = (f"a cast of {total} plates cannot meet {_num(first.target)} % ± {_num(result.tolerance)} points "
                  f"({first.category}: no whole count in {(first.target - result.tolerance) * total:.3g}–"
                  f"{(first.target + result.tolerance) * total:.3g} of {total}); sizes that can: "
                  f"{sizes_words(judgement.sizes_that_can)}")
        return reason, (f"{where} has {total} plates. " + reason[0].upper() + reason[1:] +
                        ". Add or remove plates to reach one of those sizes.")
    pieces = []
    for c in counts:
        position = ("in" if c.verdict == PASS else "above" if c.low > c.band_high
                    else "below" if c.high < c.band_low else "across")
        pieces.append(f"{c.category} {count_span(c.low, c.high)} {position} {band_text(c.band_low, c.band_high, total)}")
    reason = "; ".join(pieces if len(counts) <= 3 else [p for p, c in zip(pieces, counts) if c.verdict != PASS]
                       or pieces[:3])
    labelled = ", ".join(f"{c.labelled} {c.category}" for c in counts)
    opening = (f"The {total} plates of {where} are the cast itself, so the question is a count: labelled "
               f"{labelled}" + (f", {result.undetermined} undetermined" if result.undetermined else "") + ". ")
    exact = all(c.low == c.high for c in counts)
    human = all(c.certain == c.labelled for c in counts) and not result.undetermined
    certainty = ("Every label is a human one, so these counts are exact. " if exact and human else
        f"The labeller's measured error is too small to move any count at {conf} confidence, so these "
        f"counts stand. " if exact else
        f"Counting what the labels could hide (automatic labels by the labeller's measured error, plates "
        f"that could be anyone as anyone), at {conf} confidence the true counts are "
        + ", ".join(f"{c.category} {count_span(c.low, c.high)}" for c in counts) + ". ")
    band = ("The quota's band on counts is " + ", ".join(
        f"{c.category} {band_text(c.band_low, c.band_high, total)}" for c in counts) + ". ")
    if verdict == PASS:
        tail = f"Every plausible count lies in its band, so {attribute} PASSes here."
    elif verdict == FAIL:
        tail = f"No plausible count of {', '.join(c.category for c in counts if c.verdict == FAIL)} lies in its band, so {attribute} FAILs here."
    else:
        review = judgement.review_ids
        tail = (f"Some plausible counts lie in the band and some outside, so the cast is UNDECIDED until "
                f"plates are reviewed: {len(review)} plate{'s' if len(review) != 1 else ''} to review, most decisive "
                "first" + (f" ({', '.join(review[:5])}{', …' if len(review) > 5 else ''})" if review else "")
                + ".")
        if judgement.settled_by is not None:
            tail += (f" If the reviews confirm the labels, the first {judgement.settled_by} settle it.")
        if not review and judgement.unreadable:
            tail = ("Some plausible counts lie outside the band because of plates reviewers found unreadable "
                    f"({', '.join(judgement.unreadable[:5])}); replace them.")
        reason += f"; {len(review)} plate{'s' if len(review) != 1 else ''} to review" if review else "; unreadable plates could tip it"
    return reason, opening + certainty + band + tail
