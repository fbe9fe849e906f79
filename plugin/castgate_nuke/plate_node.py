"""CastGate > Create Plate Node: one plate of a batch, chosen by its EXR, pasted as a plate Group.

The node is the same self-contained Group the panel's import pastes (Read in the colour space the
batch records, Premult, the plate's knobs), so it renders where the plugin is not installed; an empty
gizmo instance would start with a Read in error.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from castgate_nuke import host, nodes
from castgate_nuke.batch import MANIFEST_NAME, BatchReadError, BatchView, PlateView, read_batch


def batch_of(exr: str) -> Optional[str]:
    """The batch folder a plate EXR belongs to: the nearest folder above it with a manifest.json."""
    folder = os.path.dirname(os.path.abspath(exr))
    for _ in range(3):
        if os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
            return folder
        folder = os.path.dirname(folder)
    return None


def find_plate(exr: str) -> Tuple[BatchView, PlateView]:
    """The batch and plate of a plate EXR.

    Raises:
        BatchReadError: not inside a castgate batch, or not one of its plates (the message says which).
    """
    folder = batch_of(exr)
    if folder is None:
        raise BatchReadError("{} is not inside a castgate batch (no manifest.json above it). Pick an EXR in a "
                             "batch's plates/ folder.".format(exr))
    batch = read_batch(folder)
    wanted = os.path.normcase(os.path.abspath(exr))
    for plate in batch.plates:
        if plate.exr and os.path.normcase(os.path.abspath(plate.exr)) == wanted:
            return batch, plate
    raise BatchReadError("{} is in batch {} but is not one of its plates. Pick an EXR the manifest lists "
                         "(BATCH/plates/<plate id>.exr).".format(exr, batch.name))


def create_plate_node(path: Optional[str] = None) -> List[str]:
    """Ask for a plate EXR (unless ``path`` is given) and paste its plate Group; return the pasted names."""
    exr = path if path is not None else host.ask_plate_file()
    if not exr:
        return []
    try:
        batch, plate = find_plate(exr)
    except BatchReadError as exc:
        host.message(str(exc))
        return []
    verdict = batch.verdict.name if batch.verdict else "not gated"
    text = nodes.import_script(batch, [plate], origin=host.free_origin(), verdict=verdict, backdrop=False)
    return host.paste_nodes(text, "Create castgate plate node")
