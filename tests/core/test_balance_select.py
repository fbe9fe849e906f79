"""Cast selection: exact (checked against brute force), fail-closed on undetermined labels, with reasons."""

from __future__ import annotations

import itertools
import random

import pytest

from castgate.balance.select import Candidate, cast_bands, select_cast
from castgate.gate.cast import count_band
from castgate.quotas import load_quota, parse_quota

PARITY = load_quota("parity")
GENDER_ONLY = parse_quota('[gender]\ntargets = {female = 0.5, male = 0.5}\ntolerance = 0.1\n', source="g.toml")


def cand(pid, role, gender, skin="lighter", score=None, order=0, **kw):
    return Candidate(pid, role, {"gender": gender, "skin_group": skin}, score, order, **kw)


def test_count_band_matches_the_cast_question():
    assert count_band(0.5, 0.1, 40) == (16, 24)
    assert count_band(0.5, 0.1, 4) == (2, 2)
    assert count_band(0.5, 0.1, 3) == (2, 1)  # holds no whole count: 3 plates cannot meet 50 % ± 10


def test_done_when_case_keeps_two_and_two_per_role():
    genders = {"nurse": ["female"] * 6 + ["male"] * 2, "surgeon": ["female"] * 2 + ["male"] * 6}
    skins = ["lighter", "darker"] * 4
    cands = [cand(f"{r}_{i}", r, g, skins[i], order=i) for r, gs in genders.items() for i, g in enumerate(gs)]
    sizes = {"nurse": 4, "surgeon": 4}
    selection = select_cast(cands, cast_bands(PARITY, sizes), sizes)
    assert selection.feasible and len(selection.selected) == 8
    by_id = {c.plate_id: c for c in cands}
    for role in sizes:
        kept = [by_id[p] for p in selection.selected if by_id[p].role == role]
        assert sorted(c.labels["gender"] for c in kept) == ["female", "female", "male", "male"]
        assert sorted(c.labels["skin_group"] for c in kept) == ["darker", "darker", "lighter", "lighter"]
    dropped = [p for p in by_id if p not in selection.selected]
    assert len(dropped) == 8 and all(selection.reasons[p].startswith("not selected: ") for p in dropped)
    # the nurse has six women: the dropped ones are over quota in that cell
    nurse_f = [p for p in dropped if p.startswith("nurse") and by_id[p].labels["gender"] == "female"]
    assert nurse_f and all("the cell is full" in selection.reasons[p] or "over quota in cell" in selection.reasons[p]
                           for p in nurse_f)


def brute_force(cands, bands, sizes):
    """Best total score over every cast, counting undetermined plates as any category (the definition)."""
    best = None
    roles = list(sizes)
    per_role = [[c for c in cands if c.role == r] for r in roles]
    for combo in itertools.product(*(itertools.combinations(p, sizes[r]) for p, r in zip(per_role, roles))):
        cast = [c for part in combo for c in part]
        ok = True
        for b in bands:
            members = [c for c in cast if c.role in b.roles]
            vals = [tuple(c.labels[a] for a in b.attributes) for c in members]
            if b.is_undetermined_limit:
                n_und = sum(v[0] == "undetermined" for v in vals)
                ok &= n_und <= b.high
                continue
            sure = sum(all(x == y for x, y in zip(v, b.category)) for v in vals)
            maybe = sum(all(x in (y, "undetermined") for x, y in zip(v, b.category)) for v in vals)
            ok &= sure >= b.low and maybe <= b.high
        if ok:
            total = sum(c.score for c in cast)
            best = total if best is None else max(best, total)
    return best


@pytest.mark.parametrize("seed", range(25))
def test_selection_is_exact_against_brute_force(seed):
    rng = random.Random(seed)
    quota = parse_quota("tolerance = 0.25\nmax_undetermined = 0.34\n[gender]\ntargets = {female = 0.5, male = 0.5}\n"
                        "[skin_group]\ntargets = {lighter = 0.5, darker = 0.5}\n", source="q.toml")
    sizes = {"a": rng.choice([2, 3, 4]), "b": rng.choice([2, 3])}
    cands = [cand(f"{r}{i}", r, rng.choice(["female", "male", "male", "undetermined"]),
                  rng.choice(["lighter", "lighter", "darker", "undetermined"]), score=round(rng.uniform(20, 30), 3),
                  order=i)
             for r in sizes for i in range(rng.randint(sizes[r], 7))]
    bands = cast_bands(quota, sizes)
    selection = select_cast(cands, bands, sizes)
    expected = brute_force(cands, bands, sizes)
    assert selection.feasible == (expected is not None)
    if expected is not None:
        assert selection.total_score == pytest.approx(expected, abs=1e-6)
    else:
        assert selection.shortfall  # and it names what is short


def test_undetermined_plates_are_counted_against_every_band_they_could_tip():
    sizes = {"r": 2}
    cands = [cand("f", "r", "female"), cand("u", "r", "undetermined"), cand("m", "r", "male", order=5)]
    selection = select_cast(cands, cast_bands(GENDER_ONLY, sizes), sizes)
    assert selection.feasible and set(selection.selected) == {"f", "m"}
    assert "over quota in cell undetermined gender" in selection.reasons["u"]


def test_excluded_and_unlabelled_candidates_keep_their_reason():
    sizes = {"r": 2}
    cands = [cand("f", "r", "female"), cand("m", "r", "male"),
             cand("x", "r", "female", excluded="rejected: no person detected"),
             Candidate("n", "r", {"gender": None})]
    selection = select_cast(cands, cast_bands(GENDER_ONLY, sizes), sizes)
    assert selection.reasons["x"] == "rejected: no person detected"
    assert selection.reasons["n"].startswith("not audited: no gender label")


def test_clip_score_chooses_among_qualifying_casts_and_order_breaks_no_score_ties():
    sizes = {"r": 2}
    cands = [cand("f1", "r", "female", score=20.0), cand("f2", "r", "female", score=29.0),
             cand("m1", "r", "male", score=25.0), cand("m2", "r", "male", score=21.0)]
    selection = select_cast(cands, cast_bands(GENDER_ONLY, sizes), sizes)
    assert selection.objective == "clip" and set(selection.selected) == {"f2", "m1"}
    assert "lower CLIP score (20.00)" in selection.reasons["f1"]
    plain = [cand(p.plate_id, "r", p.labels["gender"], order=n) for n, p in enumerate(cands)]
    plain[3] = cand("m2", "r", "male", order=3, certain=True)  # human-labelled plates come first
    selection = select_cast(plain, cast_bands(GENDER_ONLY, sizes), sizes)
    assert selection.objective == "order" and set(selection.selected) == {"f1", "m2"}


def test_shortfall_names_the_short_cells_per_role():
    sizes = {"nurse": 4, "surgeon": 2}
    cands = ([cand(f"n{i}", "nurse", "female", "lighter" if i % 2 else "darker") for i in range(6)]
             + [cand("n6", "nurse", "male", "darker")]
             + [cand(f"s{i}", "surgeon", "male", "lighter" if i % 2 else "darker") for i in range(4)])
    selection = select_cast(cands, cast_bands(PARITY, sizes), sizes)
    assert not selection.feasible and selection.selected == ()
    assert sum(selection.shortfall["nurse"].values()) == 1 and "male·lighter" in selection.shortfall["nurse"]
    assert sum(selection.shortfall["surgeon"].values()) == 1
    assert next(iter(selection.shortfall["surgeon"])).startswith("female")
    assert "nurse: 1 more male·lighter" in selection.short_text()


def test_a_size_no_band_allows_gives_no_cast_and_no_false_shortfall():
    sizes = {"r": 3}
    cands = [cand(f"p{i}", "r", g) for i, g in enumerate(["female", "male"] * 3)]
    selection = select_cast(cands, cast_bands(GENDER_ONLY, sizes), sizes)
    assert not selection.feasible and selection.shortfall == {}
