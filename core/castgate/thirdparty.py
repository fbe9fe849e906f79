"""Third-party imports that would otherwise print banners into every log.

castgate uses only the tokenizers of ``transformers``. Importing it without PyTorch prints "PyTorch was
not found. Models won't be available ..." on stderr, once per process: noise in every farm log, and a
plain line among the JSON lines of ``--json``. transformers prints it through its "advisory" warnings,
which it skips while ``TRANSFORMERS_NO_ADVISORY_WARNINGS`` is set; :func:`transformers_module` sets it
for the import only, so the user's own setting and later warnings stay as they are.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

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
