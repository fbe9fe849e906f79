"""CSV label tables: the seed study's format, normalisation, and errors that name the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from castgate.errors import LabelsFileError
from castgate.labels_table import parse_label_table, read_label_table

HEADER = "role,prompt,workforce_majority,gender,skin_group,count\n"


def test_reads_the_seed_study(seed_study_csv: Path):
    table = read_label_table(seed_study_csv)
    assert len(table.roles) == 10
    assert table.attributes == ("gender", "skin_group")
    assert table.group_columns == ("workforce_majority",)
    assert all(table.role_total(r) == 100 for r in table.roles)
    assert table.role_counts("mechanical_engineer", "gender") == {"male": 79, "female": 16, "undetermined": 5}
    assert table.prompt("farmer") == "A farmer holding a sickle"
    assert table.role_values["nurse"]["workforce_majority"] == "female"


def test_case_whitespace_bom_and_blank_lines_are_forgiven():
    text = "\ufeffrole , gender ,fitzpatrick, count\n nurse , Female , iv , 3 \n\nnurse,UNDETERMINED,I,1\n"
    table = parse_label_table(text)
    assert table.role_counts("nurse", "gender") == {"female": 3, "undetermined": 1}
    assert table.role_counts("nurse", "fitzpatrick") == {"IV": 3, "I": 1}
    assert table.joint_counts() == {("female", "IV"): 3, ("undetermined", "I"): 1}


@pytest.mark.parametrize("rows,expected", [
    ("nurse,p,female,female,lighter,x\n", r"row 1 \(line 2\): count 'x' is not a whole number"),
    ("nurse,p,female,female,lighter,-2\n", r"row 1 \(line 2\): count is -2"),
    ("nurse,p,female,fmale,lighter,2\n", r"row 1 \(line 2\): gender 'fmale' is not a category; use one of female, male, undetermined"),
    ("nurse,p,female,female,lighter,2\nnurse,q,female,male,lighter,1\n",
     r"row 2 \(line 3\): prompt is 'q' but row 1 of role 'nurse' says 'p'"),
    ("nurse,p,female,female,lighter,2\nnurse,p,female,female,lighter,1\n", r"row 2 \(line 3\): repeats row 1"),
    ("nurse,p,female,female,2\n", r"row 1 \(line 2\): 5 fields, the header has 6"),
    (",p,female,female,lighter,2\n", r"row 1 \(line 2\): role is empty"),
    ("", r"no data rows below the header"),
])
def test_row_errors_name_row_and_line(rows, expected):
    with pytest.raises(LabelsFileError, match=expected):
        parse_label_table(HEADER + rows, source="labels.csv")


def test_blank_lines_do_not_shift_row_numbers_away_from_lines():
    with pytest.raises(LabelsFileError, match=r"row 2 \(line 4\): count 'x'"):
        parse_label_table(HEADER + "nurse,p,female,female,lighter,1\n\nnurse,p,female,male,lighter,x\n")


def test_all_row_problems_are_listed():
    with pytest.raises(LabelsFileError) as info:
        parse_label_table(HEADER + "a,p,m,x,lighter,1\nb,p,m,male,y,z\n", source="t.csv")
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("t.csv: 3 problems:")


@pytest.mark.parametrize("header,expected", [
    ("role,gender\n", r"line 1: the header has no 'count' column"),
    ("role,prompt,count\n", r"no label column"),
    ("role,gender,gender,count\n", r"repeats 'gender'"),
])
def test_header_errors(header, expected):
    with pytest.raises(LabelsFileError, match=expected):
        parse_label_table(header + "x\n")


def test_empty_and_missing_files(tmp_path: Path):
    with pytest.raises(LabelsFileError, match="the file is empty"):
        parse_label_table("")
    with pytest.raises(LabelsFileError, match="file not found"):
        read_label_table(tmp_path / "nope.csv")
