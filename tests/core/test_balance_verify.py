"""Verified selection: a cast that only meets the bands on its automatic labels is tightened until the
labeller's measured error cannot tip it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from batch_factory import erring_error_table, labelled, make_batch
from castgate.balance.candidates import candidates_of
from castgate.balance.select import cast_bands, select_cast
from castgate.balance.verify import select_verified
from castgate.batch.manifest import read_manifest
from castgate.quotas import parse_quota

TABLE = Path(__file__).resolve().parents[2] / "core" / "castgate" / "data" / "labeller-error.json"
QUOTA = parse_quota("tolerance = 0.25\n[skin_group]\ntargets = {lighter = 0.5, darker = 0.5}\n", source="q.toml")


def measured(manifest):
    """Give the plates' automatic skin labels the method the shipped error table measured."""
    method = json.loads(TABLE.read_text())["methods"]["skin_group"]
    plates = [dataclasses.replace(p, labels={a: dataclasses.replace(l, method=method) for a, l in p.labels.items()})
              for p in manifest.plates]
    return dataclasses.replace(manifest, plates=tuple(plates))


def test_a_cast_the_error_could_tip_is_tightened_until_it_passes(tmp_path):
    skins = ["lighter", "lighter", "lighter", "darker", "darker", "lighter", "darker", "lighter"]
    batch = make_batch(tmp_path / "b", {"extra": [{"skin_group": s} for s in skins]})
    manifest = measured(read_manifest(batch))
    sizes = {"extra": 4}
    plain = select_cast(candidates_of(manifest, ("skin_group",)), cast_bands(QUOTA, sizes), sizes)
    plain_skins = sorted(manifest.plate(p).label("skin_group") for p in plain.selected)
    assert plain_skins == ["darker", "lighter", "lighter", "lighter"]  # 1 darker: inside 1–3 on its labels
    verified = select_verified(manifest, sizes, QUOTA, error_table=erring_error_table(tmp_path))
    assert verified.passed and verified.tightenings >= 1
    assert sorted(manifest.plate(p).label("skin_group") for p in verified.selection.selected) == \
        ["darker", "darker", "lighter", "lighter"]


def test_unmeasured_labels_stay_undecided_and_name_the_plates_to_review(tmp_path):
    batch = make_batch(tmp_path / "b", {"extra": labelled(2, skin_group="lighter") + labelled(2, skin_group="darker")})
    manifest = read_manifest(batch)  # the test labeller is not the one the table measured: unmeasured
    verified = select_verified(manifest, {"extra": 4}, QUOTA, error_table=TABLE)
    assert verified.selection.feasible and not verified.passed and verified.verdict == "UNDECIDED"
    assert set(verified.review) <= {p.id for p in manifest.plates} and verified.review
