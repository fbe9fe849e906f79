"""The tiny TOML reader/writer agrees with tomllib on the request subset and refuses the rest."""

from __future__ import annotations

import tomllib

import pytest

from castgate_nuke.request_toml import TomlSubsetError, dumps, loads

REQUEST = '''# a castgate request
[batch]
name = "office_a"   # inline comment
seed = 1_234
output_template = "{batch}_{role}_{index:04d}"
quota = 'presets/parity #1.toml'

[models]
root = "/models/dalle"
demo = false

[sampling]
condition_scale = 10.0
top_k = 64
temperature = 1e-1
tags = ["a", "b\\"c",
        "d",]

[[roles]]
id = "clerk"
prompt = "an office clerk, \\"candid\\"\\tphoto \\u00e9"
count = 4

[[roles]]
id = "nurse"
prompt = "a hospital nurse"
count = 2
'''


def test_reader_matches_tomllib_on_the_request_subset() -> None:
    assert loads(REQUEST) == tomllib.loads(REQUEST)


def test_writer_output_reads_back_identically_with_tomllib_and_ours() -> None:
    data = tomllib.loads(REQUEST)
    data["sampling"]["odd"] = "line\nbreak \\ back\x01slash"
    data["batch"]["ratio"] = float("inf")
    text = dumps(data)
    assert tomllib.loads(text) == data
    assert loads(text) == data
    assert text.index("[batch]") < text.index("[models]") < text.index("[sampling]") < text.index("[[roles]]")


@pytest.mark.parametrize("text, words", [
    ('a = """multi\nline"""', "multi-line strings"),
    ("a = {b = 1}", "inline tables"),
    ("a.b = 1", "dotted keys"),
    ("a = 1979-05-27", "dates"),
    ("a = 0x10", "hex"),
    ("a = 1\na = 2", "defined twice"),
    ('a = "open', "never closed"),
    ("[batch", "must end with ]"),
    ("a = [1, 2", "never closed"),
])
def test_unsupported_or_broken_input_names_the_line(text: str, words: str) -> None:
    with pytest.raises(TomlSubsetError) as info:
        loads(text, source="req.toml")
    assert "req.toml: line" in str(info.value) and words in str(info.value)


def test_writer_refuses_values_toml_cannot_hold() -> None:
    with pytest.raises(TomlSubsetError, match="NoneType"):
        dumps({"batch": {"name": None}})


def test_castgates_own_request_files_read_the_same() -> None:
    from plugin_paths import REPO

    files = [p for p in (REPO / "examples").rglob("*.toml")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert loads(text, source=str(path)) == tomllib.loads(text), path
