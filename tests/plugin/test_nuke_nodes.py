"""The Nuke script text the panel pastes, and the gizmo file, parsed back and checked node by node."""

from __future__ import annotations

from pathlib import Path

import nk_reader
import nkparser
import pytest
from plugin_paths import GIZMOS

from castgate_nuke import nodes
from castgate_nuke.batch import read_batch

READ_ONLY = ("batch", "batch_dir", "plate_id", "role", "gender", "skin_group", "fitzpatrick",
             "monk", "label_sources", "verdict", "import_note", "report", "castgate_version")


def check_plate_inside(group: nk_reader.NkNode) -> None:
    """Read -> Premult -> Output inside the group, the Read on the parent's plate_file, in ACEScg."""
    assert group.closed and [c.cls for c in group.children] == ["Read", "Premult", "Output"]
    read, premult, output = group.children
    assert read.raw["file"] == '"\\[value parent.plate_file]"'
    assert read.knobs["file"] == "[value parent.plate_file]"
    assert read.knobs["colorspace"] == "ACEScg" and read.knobs["inputs"] == "0"
    assert premult.inputs == [read] and output.inputs == [premult]


def test_import_script_nodes_knobs_and_nesting(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    text = nodes.import_script(batch, batch.kept_plates, origin=(100, 2000), verdict="PASS")
    script = nk_reader.parse(text)
    assert script.version == "13.2 v1"
    backdrop, *plates = script.nodes
    assert backdrop.cls == "BackdropNode" and len(plates) == len(batch.kept_plates) == 10
    assert backdrop.knobs["label"] == "castgate batch office_a\nverdict: PASS"
    assert backdrop.knobs["tile_color"] == "0x3f6e3fff"
    for node, plate in zip(plates, batch.kept_plates):
        assert node.cls == "Group" and node.name == nodes.node_name(plate.id)
        check_plate_inside(node)
        assert node.children[0].knobs["format"] == "48 64 0 0 48 64 1 "  # from the EXR header
        values = {k: node.knobs.get(k, "") for k in nodes.VALUE_KNOBS}
        assert values["plate_file"] == plate.exr and Path(values["plate_file"]).is_file()
        assert (values["batch"], values["role"], values["prompt"], values["seed"]) == (
            "office_a", plate.role, plate.prompt, str(plate.seed))
        assert (values["gender"], values["skin_group"], values["verdict"]) == (
            plate.label("gender"), plate.label("skin_group"), "PASS")
        assert values["report"].endswith("office_a/report/report.html")
        for name in READ_ONLY:
            assert "+DISABLED" in node.user_knob(name).flags, name
        assert "+DISABLED" not in node.user_knob("plate_file").flags  # relinkable after a move
        for name in nodes.COPYABLE_KNOBS:  # selectable, so prompt and seed can be copied
            assert "+DISABLED" not in node.user_knob(name).flags, name
        # only the plate EXR is a file knob: asset gatherers must not pick up the report or the folder
        assert [k.name for k in node.user_knobs if k.type == 2] == ["plate_file"]
        assert values["castgate_version"] == batch.castgate_version != ""
        for button_name, knob in (("open_report", "report"), ("open_batch_dir", "batch_dir")):
            button = node.user_knob(button_name)
            assert button.type == 22 and "nuke.thisNode()[{!r}].value()".format(knob) in button.script
            compile(button.script, button_name, "exec")  # the button's Python survives the quoting


def test_plates_sit_in_a_grid_on_the_backdrop(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    script = nk_reader.parse(nodes.import_script(batch, batch.kept_plates, origin=(-50, 300), verdict="PASS",
                                                 columns=3))
    backdrop, *plates = script.nodes
    x0, y0 = int(backdrop.knobs["xpos"]), int(backdrop.knobs["ypos"])
    width, height = int(backdrop.knobs["bdwidth"]), int(backdrop.knobs["bdheight"])
    positions = [(int(p.knobs["xpos"]), int(p.knobs["ypos"])) for p in plates]
    assert len(set(positions)) == len(positions)
    for x, y in positions:
        assert x0 < x and x + 80 <= x0 + width and y0 + nodes.HEADER <= y < y0 + height
    rows = {}
    for plate, (_x, y) in zip(batch.kept_plates, positions):
        rows.setdefault(y, set()).add(plate.role)
    assert all(len(roles) == 1 for roles in rows.values())  # a row never mixes roles
    assert len(rows) == 4  # clerk: 4 plates in rows of 3 -> 2 rows; manager: 6 -> 2 rows


def test_override_import_is_labelled_on_the_backdrop_and_plates(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    note = "imported with override by ana: client asked for this crowd"
    script = nk_reader.parse(nodes.import_script(batch, batch.kept_plates[:2], origin=(0, 0), verdict="FAIL",
                                                 note=note))
    backdrop = script.nodes[0]
    assert backdrop.knobs["label"].splitlines() == ["castgate batch office_a", "verdict: FAIL", note]
    assert backdrop.knobs["tile_color"] == "0x8e3b2fff"
    assert {n.knobs["import_note"] for n in script.nodes[1:]} == {note}


def test_hostile_text_survives_quoting() -> None:
    nasty = 'a "nurse" {in} [scrubs] $HOME \\ back\nslash\ttab }'
    text = nodes.plate_node_text({"prompt": nasty, "plate_file": "/x/y.exr"}, name="cg_x")
    group = nk_reader.parse(text).nodes[0]
    assert group.knobs["prompt"] == nasty
    check_plate_inside(group)
    assert nodes.node_name("office-a.v2_0003") == "cg_office_a_v2_0003"


def test_gizmo_file_is_the_template_and_parses(make_batch) -> None:
    path = GIZMOS / "CastgatePlate.gizmo"
    assert path.read_text() == nodes.gizmo_text(), (
        "plugin/gizmos/CastgatePlate.gizmo is out of date; regenerate it with: PYTHONPATH=plugin python -c "
        "\"import castgate_nuke.nodes as n, sys; sys.stdout.write(n.gizmo_text())\" > plugin/gizmos/CastgatePlate.gizmo")
    script = nk_reader.parse(path.read_text())
    (gizmo,) = script.nodes
    assert gizmo.cls == "Gizmo" and gizmo.knobs["inputs"] == "0"
    check_plate_inside(gizmo)
    assert [k.name for k in gizmo.user_knobs] == [k.name for k in nodes.PLATE_KNOBS]
    assert not any(k in gizmo.knobs for k in nodes.VALUE_KNOBS)  # a fresh node starts empty
    # the pasted Group carries the same knobs and inside as the gizmo
    batch = read_batch(str(make_batch()))
    group = nk_reader.parse(nodes.import_script(batch, batch.kept_plates[:1], origin=(0, 0),
                                                verdict="PASS")).nodes[1]
    assert group.user_knobs == gizmo.user_knobs
    assert [c.cls for c in group.children] == [c.cls for c in gizmo.children]


def test_image_sizes_from_file_headers(make_batch, tmp_path: Path) -> None:
    plate = read_batch(str(make_batch())).plates[0]
    assert nodes.exr_size(plate.exr) == (48, 64) and nodes.png_size(plate.png) == (48, 64)
    junk = tmp_path / "junk.exr"
    junk.write_bytes(b"not an image")
    assert nodes.image_size(str(junk), str(junk)) is None
    assert nodes.image_size(str(junk), plate.png) == (48, 64)


# -- nkparser 0.3.0: what it reads of our text, and the gaps docs/nuke.md lists -----------------------
def test_nkparser_reads_the_flat_parts(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    text = nodes.import_script(batch, batch.kept_plates[:2], origin=(0, 0), verdict="PASS")
    body = text.replace(nodes.NUKE_VERSION_LINE + "\n", "").replace("end_group\n", "")
    script = nkparser.Script.from_string(body)
    classes = [n.class_name for n in script.nodes]
    assert classes == ["BackdropNode", "Group", "Read", "Premult", "Output", "Group", "Read", "Premult", "Output"]
    backdrop, group, read = script.nodes[:3]
    assert backdrop.get("bdwidth") == nk_reader.parse(text).nodes[0].knobs["bdwidth"]
    assert read.get("colorspace") == "ACEScg" and group.name == nodes.node_name(batch.kept_plates[0].id)
    assert group.get_string("role") == batch.kept_plates[0].role


def test_nkparser_gaps_are_as_documented(make_batch) -> None:
    batch = read_batch(str(make_batch()))
    text = nodes.import_script(batch, batch.kept_plates[:1], origin=(0, 0), verdict="PASS")
    script = nkparser.Script.from_string(text)
    codes = [d.message for d in script.errors()]
    assert any("'version'" in m for m in codes)                  # version line after `set` is not a header
    assert any("'end_group'" in m for m in codes)                # end_group is not understood
    group = next(n for n in script.nodes if n.class_name == "Group")
    assert isinstance(group, nkparser.GroupNode)
    assert {c.class_name for c in group.children} == {"addUserKnob"}  # user knobs read as child nodes
    assert not any(c.class_name == "Read" for c in group.children)    # real children end up outside
    assert group.get_string("label").startswith("\\[value")          # TCL escapes are left in
    gizmo = nkparser.Script.from_string((GIZMOS / "CastgatePlate.gizmo").read_text())
    assert not isinstance(gizmo.nodes[0], nkparser.GroupNode)       # a Gizmo is not seen as a group


@pytest.mark.parametrize("columns", [1, 4, 50])
def test_grid_size_holds_every_plate(make_batch, columns: int) -> None:
    batch = read_batch(str(make_batch()))
    positions, (width, height) = nodes.grid_positions(batch.kept_plates, (0, 0), columns)
    assert max(x for x, _ in positions) + 80 <= width and max(y for _, y in positions) + 40 <= height


def test_the_read_uses_the_colour_space_the_manifest_records(make_batch, tmp_path, monkeypatch) -> None:
    """castgate names ACEScg as the compositor's config does; the pasted Read uses that name, and the panel
    can tell whether the config in $OCIO knows it."""
    import plate_batch
    from ocio_configs import linear_709_config

    from castgate_nuke import host

    folder = make_batch()
    config = linear_709_config(tmp_path / "lin709.ocio")
    manifest = plate_batch.read_manifest(folder)
    manifest["colour"].update(ocio_config=str(config), exr_colourspace="CG linear AP1")
    plate_batch.write_manifest(folder, manifest)
    batch = read_batch(str(folder))
    assert batch.exr_colourspace == "CG linear AP1"
    text = nodes.import_script(batch, batch.kept_plates, origin=(0, 0), verdict="PASS")
    reads = [child for node in nk_reader.parse(text).nodes[1:] for child in node.children if child.cls == "Read"]
    assert reads and {read.knobs["colorspace"] for read in reads} == {"CG linear AP1"}
    monkeypatch.setenv("OCIO", str(config))
    assert host.colourspace_known("CG linear AP1") is True and host.colourspace_known("ACEScg") is False
    monkeypatch.delenv("OCIO")
    assert host.colourspace_known("ACEScg") is None  # Nuke's own config: cannot be told from here
