"""The castgate error family.

Every error a user can cause names *where* (file, field or plate), *what* was wrong and *how to fix
it*, in one message. The command line turns a :class:`CastgateError` into a clean message and exit
code 2; no user ever sees a traceback for bad input.
"""

from __future__ import annotations


class CastgateError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.where = where
        self.fix = fix
        parts = [f"{where}: {message}" if where else message]
        if fix:
            parts.append(fix)
        super().__init__(" ".join(p.rstrip(".") + "." for p in parts))


class RequestError(CastgateError):
    """The request file (request.toml) is malformed or has invalid values."""

    def __init__(self, problems: list[str], *, path: str):
        self.problems = list(problems)
        self.path = path
        lines = "\n".join(f"  - {p}" for p in self.problems)
        Exception.__init__(self, f"{path}: {len(self.problems)} problem(s) in the request:\n{lines}")


class ManifestError(CastgateError):
    """The batch manifest is missing, malformed, of an unknown schema version, or locked."""


class ModelFolderError(CastgateError):
    """A model folder is missing, incomplete, or holds weights that disagree with its config."""


class UnsupportedModelError(ModelFolderError):
    """A checkpoint uses an architecture flag castgate does not implement (refused, never run wrongly)."""


class PreparedWeightsError(CastgateError):
    """The prepared-weights cache cannot be written (read-only, full), or a folder cannot be prepared."""


class ColourError(CastgateError):
    """The OpenColorIO config cannot be loaded or lacks a needed colour space."""


class PlateError(CastgateError):
    """A plate file cannot be read or written."""


class OutputFolderError(CastgateError):
    """The batch output folder cannot be created or written."""


class QuotaFileError(CastgateError):
    """The quota file (quota.toml) is malformed or has invalid values."""


class LabelsFileError(CastgateError):
    """A label table (CSV) is malformed."""


class FarmError(CastgateError):
    """A farm job cannot be built or submitted."""


class IngestError(CastgateError):
    """A folder of plates from another generator (or its sidecar table) that ``castgate import`` cannot take."""
