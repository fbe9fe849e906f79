"""castgate: background-character plates, audited and gated.

The core library. No Nuke, no Qt, no click in here: the command line (``castgate_cli``) and the
Nuke plugin (``plugin/``) sit at the edges and call into it.
"""

__version__ = "0.1.0"

from castgate.moved import install as _install_moved_paths

_install_moved_paths()   # castgate.manifest & co. moved into subpackages; the old paths still import
