"""Plate thumbnails as ``data:`` URIs, so the report needs no files beside it."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Callable, Iterable, Mapping

from PIL import Image, UnidentifiedImageError

from castgate.batch.fileio import MAX_PLATE_PIXELS, UnsafePathError, read_regular_file

log = logging.getLogger(__name__)


def thumbnail_data_uri(path: Path, size: int = 136, quality: int = 82) -> str | None:
    """A JPEG thumbnail of an image file as a ``data:image/jpeg;base64,...`` URI, or None if unreadable.

    Example:
        >>> thumbnail_data_uri(Path("proxies/b_nurse_0000.png"))[:23]
        'data:image/jpeg;base64,'
    """
    try:
        with Image.open(io.BytesIO(read_regular_file(Path(path)))) as opened:
            if opened.size[0] * opened.size[1] > MAX_PLATE_PIXELS:  # a tiny file may declare a huge image
                raise ValueError(f"{opened.size[0]}x{opened.size[1]} pixels, above the limit of {MAX_PLATE_PIXELS}")
            opened.draft("RGB", (size, size))
            image = opened.convert("RGB")
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, UnsafePathError) as exc:
        log.warning("no thumbnail for %s: %s", path, exc)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def batch_thumbnails(batch_dir: Path, plates: Iterable[tuple[str, str]], *,
                     on_progress: Callable[[int, int], None] | None = None) -> Mapping[str, str]:
    """Thumbnails for ``(plate id, PNG path relative to the batch)`` pairs; unreadable files are left out."""
    pairs = list(plates)
    found = {}
    for done, (plate_id, rel_path) in enumerate(pairs, start=1):
        uri = thumbnail_data_uri(Path(batch_dir) / rel_path)
        if uri is not None:
            found[plate_id] = uri
        if on_progress is not None:
            on_progress(done, len(pairs))
    return found
