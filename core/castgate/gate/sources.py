"""The edges: gate a batch folder or a CSV label table on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Sequence

from castgate.batch.checks import UNAUDITABLE, Check, Problem, ProgressCallback, default_checks, run_checks
from castgate.batch.manifest import Manifest, read_manifest, update_manifest
from castgate.errors import LabelsFileError
from castgate.gate.error_model import ErrorModel, resolve_error_table
from castgate.gate.judge import evaluate_manifest, evaluate_tallies, resolve_question, table_evidence
from castgate.gate.record import with_verdict
from castgate.gate.results import CAST, GENERATOR, GateResult
from castgate.gate.tally import tally_label_table
from castgate.labels_table import LabelTable, read_label_table
from castgate.quotas import DEFAULT_QUOTA, Quota, load_quota


def default_quota_name(manifest: Manifest) -> str:
    """The quota the request names (``[batch].quota``), else ``parity``."""
    batch = manifest.request.get("batch", {})
    name = batch.get("quota") if isinstance(batch, Mapping) else None
    return name or DEFAULT_QUOTA


def gate_batch(batch_dir: Path, quota: str | Path | Quota | None = None, *, record: bool = True,
               verify_files: bool = True, on_progress: ProgressCallback | None = None,
               question: str | None = None, error_table: Path | str | None = None) -> GateResult:
    """Gate a batch folder: read the manifest, run the checks, judge, and record the verdict.

    Args:
        batch_dir: the batch folder (holds ``manifest.json``).
        quota: a :class:`Quota`, a preset name or a quota file path; default: the request's, else parity.
        record: write the verdict into ``Manifest.verdict`` with a ``gate`` event.
        verify_files: hash every kept plate file (TAMPERED check). The gate always does; only
            benchmarks and previews turn it off.
        on_progress: ``on_progress(done, total)`` while hashing.
        question: ``"cast"`` (default for a batch) or ``"generator"``; default: the quota's, else cast.
        error_table: the labeller's error table for the cast question; default: the one shipped.

    The plate files are hashed first, without holding the batch lock. If a review or an audit landed
    meanwhile, the batch is judged again under the lock, as it is then (only files not yet hashed are
    hashed), and that verdict is recorded and returned: the verdict always belongs to the plates it is
    stored with, and reviewers and audits at work never make the gate fail.

    Raises:
        ManifestError: no or invalid manifest.
        QuotaFileError: the quota cannot be loaded.
        ErrorTableError: the error table cannot be read.

    Example:
        >>> gate_batch(Path("hospital_extras"), "parity").verdict
        'PASS'
    """
    batch_dir = Path(batch_dir)
    manifest = read_manifest(batch_dir)
    if not isinstance(quota, Quota):
        quota = load_quota(quota if quota is not None else default_quota_name(manifest))
    checks = default_checks(quota.label_attributes, verify_files=verify_files, on_progress=on_progress)
    result = gate_manifest(manifest, batch_dir, quota, question=question, error_table=error_table, checks=checks)
    if not record:
        return result
    judged = [result]

    def change(current: Manifest) -> Manifest:
        if current.plates != manifest.plates:   # a review or an audit landed: judge the batch as it is now
            judged.append(gate_manifest(current, batch_dir, quota, question=question, error_table=error_table,
                                        checks=checks))
        return with_verdict(current, judged[-1])

    try:
        update_manifest(batch_dir, change)
    except OSError as error:
        # Read-only or full storage (a farm pre-check on a published batch): the verdict was judged
        # from the files and stands; only its record is missing, and the output says so.
        return dataclasses.replace(judged[-1], unrecorded=(
            f"the verdict was not written into {batch_dir} ({error.strerror or error}); give castgate "
            "write access to the batch folder to record it, or pass --no-record"))
    return dataclasses.replace(judged[-1], recorded=True)


def gate_manifest(manifest: Manifest, batch_dir: Path | None, quota: str | Path | Quota | None = None, *,
                  verify_files: bool = True, on_progress: ProgressCallback | None = None,
                  question: str | None = None, error_table: Path | str | None = None,
                  checks: Sequence[Check] | None = None) -> GateResult:
    """Run the checks (``checks``, default :func:`default_checks`) and judge a manifest already read
    (records nothing; see :func:`gate_batch`)."""
    if not isinstance(quota, Quota):
        quota = load_quota(quota if quota is not None else default_quota_name(manifest))
    question = resolve_question(question, quota, CAST)
    model = ErrorModel.from_table(resolve_error_table(error_table), manifest.kept_plates) if question == CAST else None
    if checks is None:
        checks = default_checks(quota.label_attributes, verify_files=verify_files and batch_dir is not None,
                                on_progress=on_progress)
    problems = run_checks(checks, manifest, batch_dir)
    return evaluate_manifest(manifest, quota, problems=problems, question=question, model=model,
                             source={"kind": "batch", "path": str(batch_dir) if batch_dir else None,
                                     "name": manifest.batch})


def gate_label_table(path: Path | LabelTable, quota: str | Path | Quota | None = None, *,
                     group_by: Sequence[str] | None = None, question: str | None = None) -> GateResult:
    """Gate a CSV label table (the seed study's long format), pooling roles by ``group_by`` columns.

    Args:
        path: the CSV file, or a table already read.
        quota: as :func:`gate_batch`; default parity.
        group_by: per-role columns to pool by; default every per-role column except ``prompt``.
        question: ``"generator"`` (default for a table: the seed study is a model audit) or ``"cast"``,
            which reads the table's rows as the whole cast with people's (certain) labels.

    Raises:
        LabelsFileError: the table is invalid, or a ``group_by`` column does not describe roles.
        QuotaFileError: the quota cannot be loaded.

    Example:
        >>> result = gate_label_table(Path("labels.csv"), "parity")
        >>> result.scope("workforce_majority=male").attribute("gender").category("male").share_of_all
        0.69
    """
    table = path if isinstance(path, LabelTable) else read_label_table(Path(path))
    if not isinstance(quota, Quota):
        quota = load_quota(quota if quota is not None else DEFAULT_QUOTA)
    columns = table.group_columns if group_by is None else tuple(group_by)
    for column in columns:
        if column not in table.group_columns:
            known = ", ".join(table.group_columns) or "none"
            raise LabelsFileError(f"cannot group by {column!r}: it is not a per-role column of the table "
                                  f"(per-role columns: {known})", where=table.source,
                                  fix="Pass one of those columns to --group-by, or add the column")
    question = resolve_question(question, quota, GENERATOR)
    groups = {c: {role: table.role_values[role][c] for role in table.roles} for c in columns}
    tallies = tally_label_table(table, quota.attribute_names)
    if question == CAST:
        tallies = table_evidence(tallies, table, quota)
    problems = [Problem(check="labels_present", verdict=UNAUDITABLE,
                        message=f"the table has no {a} column, so every plate lacks a {a} label",
                        fix=f"Add a {a} column, or gate with a quota that does not judge {a}")
                for a in quota.label_attributes if a not in table.attributes]
    return evaluate_tallies(tallies, quota, problems=problems, groups=groups, question=question,
                            source={"kind": "labels", "path": table.source, "name": Path(table.source).name})

