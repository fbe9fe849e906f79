"""``castgate override``: record that someone imported plates from a batch the gate did not pass.

The Nuke panel calls this before it imports plates from a batch whose verdict is not PASS; the
manifest then holds an ``import-override`` event with who, when, why, and the verdict at that moment,
so a supervisor can later see every shot that took unapproved plates.

Example:
    $ castgate override batches/office_a --reason "client asked for this exact crowd" --json
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import click

from castgate.batch.manifest import Manifest, current_user, read_manifest, update_manifest
from castgate.errors import CastgateError
from castgate_cli.output import emit, json_option

EVENT_KIND = "import-override"


class OverrideReasonError(CastgateError):
    """An import override was asked for without a reason."""


def verdict_name(verdict: Mapping[str, Any] | None) -> str | None:
    """The verdict's name (``"PASS"``, ``"FAIL"``, ...) from a gate result dict, or None if never gated.

    Example:
        >>> verdict_name({"verdict": "FAIL", "checks": []})
        'FAIL'
    """
    if not verdict:
        return None
    for key in ("verdict", "status", "result"):
        value = verdict.get(key)
        if isinstance(value, str):
            return value
    return None


def record_override(manifest: Manifest, *, reason: str, user: str) -> Manifest:
    """Return ``manifest`` with an ``import-override`` event by ``user`` carrying the current verdict.

    Args:
        manifest: the batch as it is now.
        reason: why plates are imported anyway (already stripped, not empty).
        user: who takes responsibility; the login that ran the command is kept as ``recorded_by``.

    Returns:
        A new manifest whose last event is the override.
    """
    details = {
        "reason": reason,
        "verdict": verdict_name(manifest.verdict),
        "gate": dict(manifest.verdict) if manifest.verdict else None,
        "recorded_by": current_user(),
    }
    changed = manifest.with_event(EVENT_KIND, **details)
    last = dataclasses.replace(changed.events[-1], user=user)
    return dataclasses.replace(changed, events=changed.events[:-1] + (last,))


@click.command()
@click.argument("batch", type=click.Path(file_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why plates are imported although the gate did not pass.")
@click.option("--user", default=None, help="Who takes responsibility (default: your login name).")
@json_option
def override(batch: Path, reason: str, user: str | None, as_json: bool) -> None:
    """Record an import override on BATCH: plates are used although its verdict is not PASS.

    The event (user, time, host, reason and the verdict at that moment) is appended to the
    batch's manifest; nothing else changes.
    """
    reason = reason.strip()
    if not reason:
        raise OverrideReasonError("--reason is empty", where=str(batch),
                                  fix="Say why these plates are used anyway, e.g. "
                                      "--reason \"supervisor approved on review 2024-05-02\"")
    who = (user or "").strip() or current_user()
    read_manifest(batch)  # a clean ManifestError (exit 2) before the lock file is touched
    manifest = update_manifest(batch, lambda m: record_override(m, reason=reason, user=who))
    event = manifest.events[-1]
    name = verdict_name(manifest.verdict) or "never gated"
    result = {"batch": manifest.batch, "batch_dir": str(batch), "event": dataclasses.asdict(event),
              "verdict": verdict_name(manifest.verdict)}
    emit(result, f"Recorded an import override on {manifest.batch} (verdict {name}) by {who}: {reason}",
         as_json)
