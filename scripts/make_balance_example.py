"""Regenerate docs/balance-example/: the worked example of docs/balance.md.

    .venv/bin/python scripts/make_balance_example.py

Runs ``castgate balance``'s loop on docs/balance-example/request.toml twice — with steering as the request
allows it, and with steering turned off — using the test suite's photo generator (real photographs
re-toned across the Monk scale, unsteered draws skewed about 3:1 towards lighter skin; tests/photo_generator.py),
audited by the real auditor. Writes balance.txt (what `castgate balance` prints for each run) and the
steered batch's report.html and report.json.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "core"), str(REPO / "cli"), str(REPO / "tests")]

from castgate.balance.loop import balance_request  # noqa: E402
from castgate.report import report_batch  # noqa: E402
from castgate.request import load_request  # noqa: E402
from castgate_cli.commands.balance import format_outcome  # noqa: E402
from photo_generator import PhotoGenerator  # noqa: E402

OUT = REPO / "docs" / "balance-example"
PHRASES = {"with dark skin": "darker", "with light skin": "lighter"}


def main() -> int:
    texts = []
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # relative paths (batch folders, request, quota), so no file names this machine
        for name in ("request.toml", "quota.toml"):
            shutil.copy(OUT / name, name)
        request = load_request(Path("request.toml"))
        for name, steering in (("ward", True), ("ward_plain", False)):
            run = dataclasses.replace(request, balance=dataclasses.replace(request.balance, steering=steering))
            outcome = balance_request(run, Path(name), generator=PhotoGenerator(PHRASES), audit_workers=1)
            flag = "" if steering else "   (with [balance].steering = false)"
            texts.append(f"$ castgate balance request.toml -o {name}{flag}\n{format_outcome(outcome, Path(name), run)}\n"
                         f"(exit {outcome.exit_code})\n")
        _, paths = report_batch(Path("ward"), Path("report"), Path("quota.toml"))
        for kind in ("html", "json"):
            shutil.copy(paths[kind], OUT / f"report.{kind}")
    (OUT / "balance.txt").write_text("\n".join(texts), encoding="utf-8")
    print(f"balance example written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
