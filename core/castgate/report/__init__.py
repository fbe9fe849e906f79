"""The audit report: a self-contained ``report.html`` and its JSON twin ``report.json``.

* :mod:`castgate.report.model` builds one plain dict from a gate result (pure);
* :mod:`castgate.report.svg` and :mod:`castgate.report.html` render it (pure, everything escaped);
* :mod:`castgate.report.thumbnails` reads plate PNGs into ``data:`` URIs;
* :func:`write_report` writes both files atomically, after everything has been rendered.

Example:
    >>> paths = report_batch(Path("batches/office_a"), Path("batches/office_a/report"), quota="parity")
    >>> sorted(p.name for p in paths.values())
    ['report.html', 'report.json']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from castgate.batch.checks import TAMPERED
from castgate.batch.fileio import atomic_write_text
from castgate.batch.manifest import read_manifest
from castgate.errors import OutputFolderError
from castgate.gate import GateResult, gate_label_table, gate_manifest
from castgate.labels_table import read_label_table
from castgate.quotas import Quota
from castgate.report.html import render_html
from castgate.report.model import build_batch_report, build_table_report
from castgate.report.thumbnails import batch_thumbnails

HTML_NAME = "report.html"
JSON_NAME = "report.json"


def write_report(out_dir: Path, report: Mapping[str, Any], thumbnails: Mapping[str, str] | None = None, *,
                 max_per_group: int = 48) -> dict[str, Path]:
    """Render and write ``report.html`` and ``report.json`` into ``out_dir``.

    Both are rendered in memory first, then each is written atomically (temp file, fsync, rename),
    so a reader never sees half a file and a failure leaves the previous report in place.

    Raises:
        OutputFolderError: ``out_dir`` cannot be created or written.
    """
    out_dir = Path(out_dir)
    html_text = render_html(report, thumbnails, max_per_group=max_per_group)
    json_text = json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n"
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError("the report folder is a file", where=str(out_dir),
                                fix="Pass a folder to -o (it is created if missing)")
    paths = {"html": out_dir / HTML_NAME, "json": out_dir / JSON_NAME}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths["json"], json_text)
        atomic_write_text(paths["html"], html_text)
        for path in paths.values():
            os.chmod(path, 0o644)  # temp files are created private (0600); a report is for sharing
    except OSError as exc:
        raise OutputFolderError(f"cannot write the report ({exc.strerror or exc})", where=str(out_dir),
                                fix="Choose a folder you can write to") from None
    return paths


def report_batch(batch_dir: Path, out_dir: Path, quota: str | Path | Quota | None = None, *,
                 on_progress: Callable[[int, int], None] | None = None,
                 max_per_group: int = 48, question: str | None = None,
                 error_table: Path | str | None = None) -> tuple[GateResult, dict[str, Path]]:
    """Gate a batch (without recording) and write its report; return the result and the file paths."""
    batch_dir = Path(batch_dir)
    manifest = read_manifest(batch_dir)
    result = gate_manifest(manifest, batch_dir, quota, on_progress=on_progress, question=question,
                           error_table=error_table)
    tampered = [i for p in result.problems if p.verdict == TAMPERED for i in p.plate_ids]
    report = build_batch_report(manifest, result, tampered_ids=tampered)
    thumbnails = batch_thumbnails(batch_dir, [(p.id, p.files["png"].path) for p in manifest.kept_plates
                                              if "png" in p.files])
    return result, write_report(out_dir, report, thumbnails, max_per_group=max_per_group)


def report_label_table(csv_path: Path, out_dir: Path, quota: str | Path | Quota | None = None, *,
                       group_by: Sequence[str] | None = None,
                       question: str | None = None) -> tuple[GateResult, dict[str, Path]]:
    """Gate a CSV label table and write its report; return the result and the file paths."""
    table = read_label_table(Path(csv_path))
    result = gate_label_table(table, quota, group_by=group_by, question=question)
    return result, write_report(out_dir, build_table_report(table, result))


__all__ = ["write_report", "report_batch", "report_label_table", "build_batch_report", "build_table_report",
           "render_html", "HTML_NAME", "JSON_NAME"]
