"""``-`` for standard input: a request, a label table or a review table piped into castgate.

Example:
    $ generate-request.py | castgate generate - -o /shows/x/batches/b1
    $ cat labels.csv | castgate gate --labels -
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

STDIN = "-"
STDIN_SOURCE = "<stdin>"


def is_stdin(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDIN


def read_stdin() -> str:
    """All of standard input as text (UTF-8, a byte-order mark dropped)."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"standard input is not UTF-8 text ({exc})") from None


def load_request_arg(path: Path):
    """The request in ``path``, or on standard input for ``-`` (relative paths then follow the working
    directory)."""
    from castgate.request import load_request, loads_request

    return loads_request(read_stdin(), source=STDIN_SOURCE) if is_stdin(path) else load_request(path)


def table_file(path: Path) -> Path:
    """``path``, or for ``-`` a file holding standard input (named ``standard-input.csv`` in a temporary
    folder that is removed when the command ends)."""
    if not is_stdin(path):
        return path
    folder = tempfile.TemporaryDirectory(prefix="castgate-stdin-")
    click.get_current_context().call_on_close(folder.cleanup)
    target = Path(folder.name) / "standard-input.csv"
    target.write_text(read_stdin(), encoding="utf-8")
    return target
