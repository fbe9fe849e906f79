"""Third-party code that would otherwise print banners into every log.

castgate uses only the tokenizers of ``transformers``. Importing it without PyTorch prints "PyTorch was
not found. Models won't be available ..." on stderr, once per process: noise in every farm log, and a
plain line among the JSON lines of ``--json``. transformers prints it through its "advisory" warnings,
which it skips while ``TRANSFORMERS_NO_ADVISORY_WARNINGS`` is set; :func:`transformers_module` sets it
for the import only, so the user's own setting and later warnings stay as they are.

Native libraries print straight to file descriptor 2, past Python's logging: LiteRT (the face
detector's runtime) prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." whatever
``TF_CPP_MIN_LOG_LEVEL`` says. :func:`native_stderr_to_log` catches fd 2 around such a call and passes
the lines to a Python logger (DEBUG), so they show with ``-vv`` and never break ``--json``'s JSON lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from types import ModuleType
from typing import Iterator

ADVISORY = "TRANSFORMERS_NO_ADVISORY_WARNINGS"


def transformers_module() -> ModuleType:
    """``import transformers``, without its import-time advice banner."""
    module = sys.modules.get("transformers")
    if module is not None:
        return module
    previous = os.environ.get(ADVISORY)
    os.environ[ADVISORY] = "1"
    try:
        import transformers
    finally:
        if previous is None:
            os.environ.pop(ADVISORY, None)
        else:
            os.environ[ADVISORY] = previous
    return transformers


@contextlib.contextmanager
def native_stderr_to_log(logger: logging.Logger, level: int = logging.DEBUG) -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 inside the block; log it line by line."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (an embedded interpreter): nothing to catch
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    logger.log(level, "%s", line.strip())
