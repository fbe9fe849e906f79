"""Recording: the verdict stored in the manifest, with a ``gate`` event, under the manifest lock."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from castgate.batch.manifest import Manifest, update_manifest
from castgate.errors import ManifestError
from castgate.gate.results import GateResult

_RECORDED_PLATE_IDS = 50  # per problem, in the manifest's verdict record


class BatchChanged(ManifestError):
    """The plates changed between reading the batch and recording its verdict (a review or an audit
    landed meanwhile): the verdict would be stale."""


def record_verdict(batch_dir: Path, result: GateResult, *, gated: Manifest) -> Manifest:
    """Store the verdict in ``Manifest.verdict`` and add a ``gate`` event, under the manifest lock.

    Raises:
        BatchChanged: the plates changed since ``gated`` was read (the verdict would be stale).
    """
    def change(current: Manifest) -> Manifest:
        if current.plates != gated.plates:
            raise BatchChanged("the batch changed while it was being gated", where=str(batch_dir),
                               fix="Run castgate gate again")
        return with_verdict(current, result)

    return update_manifest(batch_dir, change)


def with_verdict(manifest: Manifest, result: GateResult) -> Manifest:
    """The manifest with ``result`` as its verdict and a ``gate`` event."""
    return dataclasses.replace(manifest, verdict=verdict_record(result)).with_event(
        "gate", verdict=result.verdict, exit_code=result.exit_code, question=result.question,
        quota=result.quota.name, quota_source=result.quota.source, summary=result.summary)


def verdict_record(result: GateResult) -> dict[str, Any]:
    """The compact form of a result stored in ``Manifest.verdict``: verdicts and reasons, not intervals."""
    return {
        "verdict": result.verdict, "exit_code": result.exit_code, "time": result.time,
        "question": result.question, "review": list(result.review[:_RECORDED_PLATE_IDS]),
        "summary": result.summary, "castgate_version": result.castgate_version,
        "quota": {"name": result.quota.name, "source": result.quota.source},
        "scopes": [{"scope": s.scope, "kind": s.kind, "verdict": s.verdict,
                    "attributes": {a.attribute: {"verdict": a.verdict, "reason": a.reason}
                                   for a in s.attributes if a.gated}}
                   for s in result.scopes],
        "problems": [p.to_dict(_RECORDED_PLATE_IDS) for p in result.problems],
    }

