"""Hostile input (issue 14): property tests that requests, quotas, label tables and reviews are refused
with a CastgateError naming the file, never a traceback and never a half-written batch; and one test per
numbered finding about input validation."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from batch_factory import labelled, make_batch
from castgate.batch.journal import verify_journal
from castgate.batch.manifest import read_manifest
from castgate.batch.plan import Shard, plan
from castgate.errors import CastgateError, LabelsFileError, RequestError
from castgate.labels_table import parse_label_table
from castgate.quotas import quota_from_dict
from castgate.request import parse_request
from castgate.review import ReviewError, import_labels, parse_assignments, review_plate

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Values a hostile TOML file can hold: every TOML type, odd numbers and odd text.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "\x00", "a\n", "CON", "../x", "{role}{index}", "{index:0>300}", "{role:.1}_{index}",
                     "nurse", "a/b", " ", "1_000"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def request_like() -> st.SearchStrategy:
    role = st.fixed_dictionaries({}, optional={"id": values, "prompt": values, "count": values, "extra": values})
    return st.fixed_dictionaries({}, optional={
        "batch": st.fixed_dictionaries({}, optional={"name": values, "seed": values, "output_template": values,
                                                     "quota": values}),
        "sampling": st.dictionaries(st.sampled_from(["condition_scale", "top_k", "temperature", "batch_size",
                                                     "candidates_per_plate", "dtype", "nope"]), values, max_size=4),
        "models": st.dictionaries(st.sampled_from(["dalle", "vqgan", "root", "demo"]), values, max_size=3),
        "roles": st.one_of(values, st.lists(role, max_size=3))})


@FAST
@given(request_like())
def test_requests_are_validated_or_refused_never_a_traceback(data):
    try:
        request = parse_request(data, source="hostile.toml")
    except RequestError as exc:
        assert str(exc).startswith("hostile.toml:")
        return
    ids = [p.plate_id for p in plan(request)]  # an accepted request plans safe, unique ids
    assert len({i.casefold() for i in ids}) == len(ids)
    assert all(len(i) <= 128 and "\n" not in i and "/" not in i for i in ids)


@FAST
@given(st.dictionaries(st.sampled_from(["name", "tolerance", "confidence", "max_undetermined", "min_sample",
                                        "scope", "interval", "gender", "skin_group", "bogus"]), values, max_size=6))
def test_quotas_are_validated_or_refused_never_a_traceback(data):
    try:
        quota_from_dict(data, source="quota.toml")
    except CastgateError as exc:
        assert "quota.toml" in str(exc)


cells = st.one_of(st.sampled_from(["", "female", "male", "1_000", "1e300", "10" * 160, "-3", "NaN", "undetermined",
                                   "\x00", '"', "nurse", "I", "12"]), st.text(max_size=6))


@FAST
@given(st.lists(st.lists(cells, min_size=1, max_size=6), max_size=6))
def test_label_tables_are_validated_or_refused_never_a_traceback(rows):
    header = "prompt,role,gender,count\n"
    text = header + "\n".join(",".join(f'"{c}"' if "," in c else c for c in row) for row in rows)
    try:
        parse_label_table(text, source="labels.csv")
    except LabelsFileError as exc:
        assert "labels.csv" in str(exc)


@pytest.fixture(scope="module")
def review_batch(tmp_path_factory) -> Path:
    return make_batch(tmp_path_factory.mktemp("review") / "b", {"nurse": labelled(4, gender="female")})


@FAST
@given(st.lists(st.text(max_size=20), min_size=1, max_size=3), st.text(max_size=12), st.text(max_size=10))
def test_reviews_are_validated_or_refused_and_never_half_written(review_batch, assignments, plate_id, reviewer):
    before = (review_batch / "journal.jsonl").read_bytes()
    try:
        values = parse_assignments(assignments)
        review_plate(review_batch, plate_id, values, reviewer=reviewer)
    except CastgateError:
        assert (review_batch / "journal.jsonl").read_bytes() == before  # refused whole
    assert verify_journal(review_batch / "journal.jsonl", None).tampered == []
    read_manifest(review_batch)


@FAST
@given(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=5))
def test_review_imports_are_all_or_nothing(review_batch, rows):
    table = review_batch.parent / "import.csv"
    table.write_text("plate_id,gender,note\n" + "\n".join(",".join(r) for r in rows), encoding="utf-8")
    before = (review_batch / "journal.jsonl").read_bytes()
    try:
        import_labels(review_batch, table, reviewer="ana")
    except (LabelsFileError, ReviewError):
        assert (review_batch / "journal.jsonl").read_bytes() == before


# -- one test per finding --------------------------------------------------------------------------
def request(roles, template="{batch}_{role}_{index:04d}", **sampling):
    return {"batch": {"name": "b", "output_template": template}, "sampling": sampling,
            "roles": [{"id": r, "prompt": f"a {r}", "count": n} for r, n in roles]}


@pytest.mark.parametrize("roles, template", [([("a", 12), ("a1", 2)], "{role}{index}"),
                                             ([("nurse", 2), ("nanny", 2)], "{role:.1}_{index}")])
def test_finding_1_colliding_plate_ids_are_refused(roles, template):
    with pytest.raises(RequestError, match="same name"):
        parse_request(request(roles, template))


def test_finding_13_trailing_newlines_are_refused():
    with pytest.raises(RequestError, match="safe name"):
        parse_request(request([("nurse\n", 1)]))
    with pytest.raises(RequestError, match="output_template"):
        parse_request(request([("nurse", 1)], "{batch}_{role}_{index}\n"))


def test_finding_14_infinite_numbers_are_refused():
    with pytest.raises(RequestError) as caught:
        parse_request(request([("nurse", 1)], condition_scale=float("inf"), temperature=float("inf")))
    assert "condition_scale inf must be a finite number" in str(caught.value)
    assert "temperature inf must be a finite number" in str(caught.value)


def test_finding_15_overlong_names_are_refused_before_any_write():
    with pytest.raises(RequestError, match="keep names under 128"):
        parse_request(request([("nurse", 1)], "{role}_{index:0>300}"))


def test_finding_23_total_plates_are_capped():
    with pytest.raises(RequestError, match="above 100000"):
        parse_request(request([("a", 100_000), ("b", 100_000), ("c", 100_000)]))


def test_finding_26_huge_shard_counts_are_refused():
    with pytest.raises(CastgateError, match="i/n"):
        Shard.parse("1/" + "1" + "0" * 20)
    with pytest.raises(CastgateError, match="above"):
        Shard.parse("1/200000")


def test_finding_27_nul_in_a_prompt_is_refused():
    data = request([("nurse", 1)])
    data["roles"][0]["prompt"] = "a nurse\x00 with a hidden tail"
    with pytest.raises(RequestError, match="control character"):
        parse_request(data)


def test_finding_29_a_relative_models_root_is_resolved_against_the_request_file(tmp_path: Path, monkeypatch):
    (tmp_path / "req").mkdir()
    path = tmp_path / "req" / "request.toml"
    path.write_text('[batch]\nname = "b"\n[models]\nroot = "models"\n[[roles]]\nid = "a"\nprompt = "a"\ncount = 1\n')
    monkeypatch.chdir(tmp_path)
    from castgate.request import load_request

    assert load_request(path).models.root == str(tmp_path / "req" / "models")


def test_finding_31_a_non_text_root_says_what_it_must_be():
    data = request([("nurse", 1)])
    data["models"] = {"root": 5}
    with pytest.raises(RequestError, match="must be a folder path") as caught:
        parse_request(data)
    assert "NoneType" not in str(caught.value)


@pytest.mark.parametrize("roles", [[("CON", 1)], [("aux", 1)], [("Nurse", 1), ("nurse", 1)]])
def test_finding_32_reserved_and_case_colliding_role_ids_are_refused(roles):
    with pytest.raises(RequestError, match="reserves|used twice"):
        parse_request(request(roles))


def test_finding_30_review_of_a_folder_that_is_not_a_batch_creates_nothing(tmp_path: Path):
    with pytest.raises(CastgateError, match="not a castgate batch"):
        review_plate(tmp_path, "p", {"gender": "female"}, reviewer="ana")
    assert os.listdir(tmp_path) == []


def test_toml_parses_the_hostile_examples_we_feed():
    assert tomllib.loads('x = "a\\u0000b"')["x"] == "a\x00b"


@pytest.mark.parametrize("count", ["1_000", "1" + "0" * 300, "+5", "٣"])
def test_finding_32_label_counts_must_be_plain_digits(count):
    text = f"prompt,role,gender,count\na nurse,nurse,female,{count}\na nurse,nurse,male,3\n"
    with pytest.raises(LabelsFileError, match="whole number"):
        parse_label_table(text, source="labels.csv")


def test_finding_31_a_quota_path_that_is_a_folder_says_so(tmp_path: Path):
    from castgate.errors import QuotaFileError
    from castgate.quotas import load_quota

    (tmp_path / "quota.toml").mkdir()
    with pytest.raises(QuotaFileError, match="a folder, not a file") as caught:
        load_quota(tmp_path / "quota.toml")
    assert "UTF-8" not in str(caught.value)


def test_finding_12_a_request_that_is_a_device_is_refused_without_reading_it():
    from castgate.request import load_request

    with pytest.raises(RequestError, match="not a regular file"):
        load_request(Path("/dev/zero"))


def test_finding_31_a_csv_error_names_the_row_it_is_in():
    from castgate.review import parse_labels_csv

    text = "plate_id,gender\nb_nurse_0000,female\nb_nurse_0001," + "x" * 200_000 + "\n"  # over csv's field limit
    with pytest.raises(LabelsFileError, match="row 3: not valid CSV"):
        parse_labels_csv(text, ["b_nurse_0000", "b_nurse_0001"])
