"""Nuke script text for plate nodes: what the panel pastes, and the CastgatePlate gizmo itself.

Import builds ``.nk`` text (a backdrop naming the batch and its verdict, and one plate Group per
plate laid out in a grid) and the host pastes it with ``nuke.nodePaste``. Building text instead of
calling ``nuke.createNode`` keeps this module pure, so tests parse the text back without Nuke.

Pasted plates are self-contained Groups with the same inside and knobs as ``CastgatePlate.gizmo``
(``plugin/gizmos/``, written by :func:`gizmo_text`): a script with castgate plates opens and renders on
machines without the plugin (a farm node, another studio), which a gizmo instance would not.

Text rules followed (the ``.nk`` syntax Nuke writes): a node is ``Class {`` knob lines ``}``;
a Group's children follow it, indented, until ``end_group``; user knobs are
``addUserKnob {type name l label flags}`` followed by their value; quoted values escape
``\\ " [ $ { }`` and newlines (TCL would otherwise evaluate ``[...]`` and ``$name``).

Example:
    >>> text = import_script(batch, batch.kept_plates, origin=(0, 400), note="")
    >>> text.splitlines()[0]
    'set cut_paste_input [stack 0]'
"""

from __future__ import annotations

import os
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from castgate_nuke.batch import BatchView, PlateView

NUKE_VERSION_LINE = "version 13.2 v1"   # the oldest Nuke the plugin supports; newer ones read it
GIZMO_CLASS = "CastgatePlate"
PLATE_COLOUR = 0x4A6F8FFF
VERDICT_COLOURS = {"PASS": 0x3F6E3FFF, "UNDECIDED": 0x8A7430FF, "INSUFFICIENT": 0x8A7430FF}
OVERRIDE_COLOUR = 0x8E3B2FFF
CELL = (110, 90)         # DAG units per plate in the grid (a Group tile is 80 wide)
MARGIN = 30
HEADER = 100             # room for the backdrop's label
DEFAULT_COLUMNS = 6


@dataclass(frozen=True)
class KnobSpec:
    """A user knob of the plate node: Nuke knob type id, name, label, flags."""

    type: int
    name: str
    label: str = ""
    flags: str = ""
    script: str = ""      # a button's Python (PyScript_Knob ``T``)


def _open_script(knob: str, what: str, hint: str) -> str:
    """A button's Python: open the path in string knob ``knob`` with the system's viewer, else say why."""
    return "\n".join([
        "import os, pathlib, webbrowser",
        "path = nuke.thisNode()[{!r}].value()".format(knob),
        "if os.path.exists(path):",
        "    webbrowser.open(pathlib.Path(path).as_uri())",
        "else:",
        "    nuke.message('No castgate {} at ' + path + '.\\n{}')".format(what, hint),
    ])


OPEN_REPORT_SCRIPT = _open_script("report", "report", "Run castgate report on the batch or open it from the "
                                                      "CastGate panel.")
OPEN_BATCH_SCRIPT = _open_script("batch_dir", "batch", "The batch folder moved; open it from the CastGate panel.")

# Knob types: 20 tab, 2 file, 1 string, 26 text/divider, 22 Python button. Only the plate EXR is a
# File_Knob (an asset a render needs); the batch folder and the report are plain strings with a button,
# so asset gatherers (e.g. Deadline's) do not attach them to render jobs. Prompt and seed are not
# disabled (a disabled knob's text cannot be selected and copied): the host marks them READ_ONLY after a
# paste (:data:`COPYABLE_KNOBS`).
PLATE_KNOBS = (
    KnobSpec(20, "castgate", "CastGate"),
    KnobSpec(2, "plate_file", "plate EXR"),
    KnobSpec(26, "castgate_divider_audit", " "),
    KnobSpec(1, "batch", "batch", "+DISABLED"),
    KnobSpec(1, "batch_dir", "batch folder", "+DISABLED"),
    KnobSpec(22, "open_batch_dir", "Open folder", "-STARTLINE", OPEN_BATCH_SCRIPT),
    KnobSpec(1, "plate_id", "plate", "+DISABLED"),
    KnobSpec(1, "role", "role", "+DISABLED"),
    KnobSpec(1, "prompt", "prompt"),
    KnobSpec(1, "seed", "seed"),   # a string: seeds may exceed a 32-bit Int_Knob
    KnobSpec(1, "gender", "gender", "+DISABLED"),
    KnobSpec(1, "skin_group", "skin group", "+DISABLED"),
    KnobSpec(1, "fitzpatrick", "Fitzpatrick", "+DISABLED"),
    KnobSpec(1, "monk", "Monk", "+DISABLED"),
    KnobSpec(1, "label_sources", "labelled by", "+DISABLED"),
    KnobSpec(1, "verdict", "verdict", "+DISABLED"),
    KnobSpec(1, "import_note", "import note", "+DISABLED"),
    KnobSpec(1, "report", "report", "+DISABLED"),
    KnobSpec(22, "open_report", "Open report", "-STARTLINE", OPEN_REPORT_SCRIPT),
    KnobSpec(1, "castgate_version", "castgate version", "+DISABLED"),
)
VALUE_KNOBS = tuple(k.name for k in PLATE_KNOBS if k.type in (1, 2))
COPYABLE_KNOBS = ("prompt", "seed")  # read-only but selectable: the host sets nuke.READ_ONLY on them
NODE_LABEL = "[value plate_id]\n[value gender] / [value skin_group]"
HELP = ("A castgate background-character plate: the plate's EXR (ACEScg) premultiplied, with the "
        "audit labels and the batch verdict it was imported under. The values are read-only; "
        "correct labels in the CastGate panel.")


# -- quoting --------------------------------------------------------------------------------------
_ESCAPES = OrderedDict([("\\", "\\\\"), ('"', '\\"'), ("[", "\\["), ("$", "\\$"), ("{", "\\{"),
                        ("}", "\\}"), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")])


def nk_string(text: str) -> str:
    """``text`` as a double-quoted ``.nk`` value that Nuke reads back unchanged.

    Example:
        >>> nk_string('a "nurse" [scrubs]')
        '"a \\\\"nurse\\\\" \\\\[scrubs]"'
    """
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            continue  # other control characters have no place in a knob
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _nk_word(text: str) -> str:
    """``text`` bare when it is one plain word (as Nuke writes such values), else quoted."""
    return text if re.match(r"^[A-Za-z0-9_.:+-]+$", text) else nk_string(text)


def node_name(plate_id: str) -> str:
    """A Nuke node name for a plate: letters, digits and _ only, never starting with a digit."""
    return "cg_" + re.sub(r"[^A-Za-z0-9_]", "_", plate_id)


def _colour(value: int) -> str:
    return "0x{:08x}".format(value)


# -- the plate node ---------------------------------------------------------------------------------
def plate_node_text(values: Mapping[str, str], *, class_name: str = "Group", name: str = "",
                    position: Optional[Tuple[int, int]] = None,
                    image_size: Optional[Tuple[int, int]] = None, colourspace: str = "ACEScg") -> str:
    """The text of one plate node (``Group`` or ``Gizmo``) with its Read, Premult and Output inside.

    Args:
        values: knob name -> value for the knobs in :data:`VALUE_KNOBS`; missing ones stay empty.
        class_name: ``"Group"`` for pasted plates, ``"Gizmo"`` for the gizmo file.
        name: node name (none for the gizmo file).
        position: DAG ``(xpos, ypos)``.
        image_size: the plate's ``(width, height)``, written as the Read's format.
        colourspace: the Read's colour space: the name the batch's manifest records for the
            compositor's OCIO config (``colour.exr_colourspace``).
    """
    lines = [class_name + " {", " inputs 0"]
    if class_name == "Gizmo":
        lines.append(" help " + nk_string(HELP))
    if name:
        lines.append(" name " + name)
    lines.append(" tile_color " + _colour(PLATE_COLOUR))
    lines.append(" label " + nk_string(NODE_LABEL))
    if position is not None:
        lines += [" xpos {}".format(position[0]), " ypos {}".format(position[1])]
    for knob in PLATE_KNOBS:
        lines.append(" addUserKnob {" + _knob_definition(knob) + "}")
        if knob.name in values and values[knob.name] != "":
            lines.append(" {} {}".format(knob.name, nk_string(values[knob.name])))
    lines.append("}")
    lines += _plate_inside(image_size, colourspace)
    lines.append("end_group")
    return "\n".join(lines) + "\n"


def _knob_definition(knob: KnobSpec) -> str:
    parts = [str(knob.type), knob.name]
    if knob.label:
        parts += ["l", nk_string(knob.label)]
    if knob.script:
        parts += ["T", nk_string(knob.script)]
    if knob.flags:
        parts.append(knob.flags)
    return " ".join(parts)


def _plate_inside(image_size: Optional[Tuple[int, int]], colourspace: str) -> List[str]:
    read = [" Read {", "  inputs 0", "  file_type exr", '  file "\\[value parent.plate_file]"']
    if image_size is not None:
        width, height = image_size
        read.append('  format "{w} {h} 0 0 {w} {h} 1 "'.format(w=width, h=height))
    read += ["  first 1", "  last 1", "  origfirst 1", "  origlast 1", "  origset true",
             "  colorspace " + _nk_word(colourspace), "  name Read1", "  xpos 0", "  ypos -120", " }"]
    premult = [" Premult {", "  name Premult1", "  xpos 0", "  ypos -24", " }"]
    output = [" Output {", "  name Output1", "  xpos 0", "  ypos 72", " }"]
    return read + premult + output


def gizmo_text() -> str:
    """The content of ``plugin/gizmos/CastgatePlate.gizmo`` (empty knobs, same inside as a pasted plate)."""
    return NUKE_VERSION_LINE + "\n" + plate_node_text({}, class_name="Gizmo")


# -- import -----------------------------------------------------------------------------------------
def plate_values(batch: BatchView, plate: PlateView, verdict: str, note: str) -> Dict[str, str]:
    """Knob values for one plate."""
    sources = ", ".join("{}: {}".format(a, plate.sources[a]) for a in sorted(plate.sources))
    return {
        "plate_file": _nuke_path(plate.exr), "batch": batch.name, "batch_dir": _nuke_path(batch.folder),
        "plate_id": plate.id, "role": plate.role, "prompt": plate.prompt, "seed": str(plate.seed),
        "gender": plate.label("gender"), "skin_group": plate.label("skin_group"),
        "fitzpatrick": plate.label("fitzpatrick"), "monk": plate.label("monk"),
        "label_sources": sources, "verdict": verdict, "import_note": note,
        "report": _nuke_path(batch.report_html), "castgate_version": batch.castgate_version,
    }


def _nuke_path(path: str) -> str:
    return path.replace("\\", "/")  # Nuke wants forward slashes on every platform


def grid_positions(plates: Sequence[PlateView], origin: Tuple[int, int],
                   columns: int = DEFAULT_COLUMNS) -> Tuple[List[Tuple[int, int]], Tuple[int, int]]:
    """DAG positions for plates, one role per row (wrapping after ``columns``), and the grid's size.

    Returns:
        ``(positions, (width, height))``: a position per plate, and the backdrop size that holds them.
    """
    columns = max(1, columns)
    x0, y0 = origin
    positions = []
    row = -1
    column = columns
    last_role = None
    used_columns = 0
    for plate in plates:
        if plate.role != last_role or column >= columns:
            row += 1
            column = 0
            last_role = plate.role
        positions.append((x0 + MARGIN + column * CELL[0], y0 + HEADER + row * CELL[1]))
        column += 1
        used_columns = max(used_columns, column)
    width = 2 * MARGIN + max(1, used_columns) * CELL[0] - (CELL[0] - 80)
    height = HEADER + max(1, row + 1) * CELL[1]
    return positions, (width, height)


def backdrop_text(batch: BatchView, verdict: str, note: str, origin: Tuple[int, int],
                  size: Tuple[int, int]) -> str:
    """A BackdropNode naming the batch and its verdict (and the override, if any)."""
    label = "castgate batch {}\nverdict: {}".format(batch.name, verdict)
    if note:
        label += "\n" + (note if len(note) <= 80 else note[:77] + "...")
    colour = OVERRIDE_COLOUR if note else VERDICT_COLOURS.get(verdict, OVERRIDE_COLOUR)
    lines = ["BackdropNode {", " inputs 0", " name " + node_name(batch.name) + "_backdrop",
             " tile_color " + _colour(colour), " label " + nk_string(label), " note_font_size 22",
             " xpos {}".format(origin[0]), " ypos {}".format(origin[1]),
             " bdwidth {}".format(size[0]), " bdheight {}".format(size[1]), "}"]
    return "\n".join(lines) + "\n"


def import_script(batch: BatchView, plates: Sequence[PlateView], *, origin: Tuple[int, int], verdict: str,
                  note: str = "", columns: int = DEFAULT_COLUMNS, backdrop: bool = True) -> str:
    """Paste text: a backdrop, then one plate Group per plate in a grid on it.

    Args:
        batch: the batch read from its manifest.
        plates: the plates to import, in order (kept plates, by role).
        origin: top-left of the backdrop in the DAG.
        verdict: the gate's verdict name at import time.
        note: the override text when the verdict is not PASS ("" otherwise).
        columns: plates per row at most.
        backdrop: False for the plate nodes alone (CastGate > Create Plate Node).
    """
    positions, size = grid_positions(plates, origin, columns)
    parts = ["set cut_paste_input [stack 0]\n", NUKE_VERSION_LINE + "\n"]
    if backdrop:
        parts.append(backdrop_text(batch, verdict, note, origin, size))
    for plate, position in zip(plates, positions):
        parts.append(plate_node_text(plate_values(batch, plate, verdict, note), name=node_name(plate.id),
                                     position=position, image_size=image_size(plate.exr, plate.png),
                                     colourspace=batch.exr_colourspace))
    return "".join(parts)


# -- image sizes read from file headers (no imaging library in Nuke's Python) ------------------------
def image_size(exr: str, png: str = "") -> Optional[Tuple[int, int]]:
    """The plate's size from its EXR display window, else its PNG header, else None."""
    for reader, path in ((exr_size, exr), (png_size, png)):
        if path and os.path.isfile(path):
            try:
                size = reader(path)
            except (OSError, ValueError, struct.error):
                size = None
            if size:
                return size
    return None


def png_size(path: str) -> Optional[Tuple[int, int]]:
    """Width and height from a PNG's IHDR chunk."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def exr_size(path: str) -> Optional[Tuple[int, int]]:
    """Width and height of an OpenEXR file's displayWindow (its first part's header)."""
    with open(path, "rb") as handle:
        data = handle.read(1 << 16)
    if data[:4] != b"\x76\x2f\x31\x01":
        return None
    pos = 8
    while pos < len(data):
        end = data.index(b"\0", pos)
        name = data[pos:end]
        if not name:
            return None
        type_end = data.index(b"\0", end + 1)
        kind = data[end + 1:type_end]
        (length,) = struct.unpack("<i", data[type_end + 1:type_end + 5])
        value = data[type_end + 5:type_end + 5 + length]
        if name == b"displayWindow" and kind == b"box2i":
            xmin, ymin, xmax, ymax = struct.unpack("<iiii", value)
            return xmax - xmin + 1, ymax - ymin + 1
        pos = type_end + 5 + length
    return None
