"""The castgate command line as the panel uses it: argument lists in, parsed results out.

Pure functions only (no Qt, no Nuke), so they are tested directly. The contract
(``cli/castgate_cli/output.py``):

* with ``--json`` the result is one JSON object on stdout, printed last;
* progress lines on stderr: ``{"event": "progress", "stage", "done", "total", "eta_s"}``;
* an input error is ``{"error": message, "type": name}`` on stdout with exit code 2;
* exit codes: 0 success / PASS, 1 blocked (FAIL, UNAUDITABLE, TAMPERED), 2 input error,
  3 UNDECIDED (cast question: plates to review) or INSUFFICIENT (generator question).

Example:
    >>> run_args("/shows/abc/castgate/office.request.toml", "/shows/abc/castgate/office")
    ['run', '/shows/abc/castgate/office.request.toml', '-o', '/shows/abc/castgate/office', '--json']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INPUT_ERROR = 2
EXIT_INSUFFICIENT = 3
RESULT_EXIT_CODES = (EXIT_OK, EXIT_BLOCKED, EXIT_INSUFFICIENT)  # the command finished and has a result

# Variables Nuke sets for its own Python and libraries; castgate's Python must not inherit them.
NUKE_ONLY_VARIABLES = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONUSERBASE",
    "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FRAMEWORK_PATH",
    "QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH",
)


# -- argument lists (the exact syntaxes the castgate command documents) ---------------------------
def run_args(request: str, batch: str) -> List[str]:
    """``castgate run REQUEST -o BATCH --json``: generate, audit, gate and report."""
    return ["run", request, "-o", batch, "--json"]


def generate_args(request: str, batch: str) -> List[str]:
    """``castgate generate REQUEST -o BATCH --json``."""
    return ["generate", request, "-o", batch, "--json"]


def balance_args(request: str, batch: str) -> List[str]:
    """``castgate balance REQUEST -o BATCH --json``: generate, audit and select until the cast meets the quota."""
    return ["balance", request, "-o", batch, "--json"]


def gate_args(batch: str) -> List[str]:
    """``castgate gate BATCH --json``."""
    return ["gate", batch, "--json"]


def report_args(batch: str) -> List[str]:
    """``castgate report BATCH -o BATCH/report --json``."""
    return ["report", batch, "-o", report_dir(batch), "--json"]


def review_args(batch: str, plate_id: str, labels: Mapping[str, str], reviewer: str) -> List[str]:
    """``castgate review BATCH --plate ID --set attr=value ... --reviewer NAME --json``."""
    args = ["review", batch, "--plate", plate_id]
    for attribute in sorted(labels):
        args += ["--set", "{}={}".format(attribute, labels[attribute])]
    return args + ["--reviewer", reviewer, "--json"]


def farm_submit_args(request: str, batch: str) -> List[str]:
    """``castgate farm submit REQUEST -o BATCH --json``."""
    return ["farm", "submit", request, "-o", batch, "--json"]


def override_args(batch: str, reason: str, user: Optional[str] = None) -> List[str]:
    """``castgate override BATCH --reason TEXT [--user NAME] --json``."""
    args = ["override", batch, "--reason", reason]
    if user:
        args += ["--user", user]
    return args + ["--json"]


def report_dir(batch: str) -> str:
    """Where ``castgate report`` writes for this batch: ``BATCH/report``."""
    return os.path.join(batch, "report")


def report_html(batch: str) -> str:
    """The HTML report of a batch: ``BATCH/report/report.html``."""
    return os.path.join(report_dir(batch), "report.html")


# -- reading what the command prints --------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """One progress line: ``done`` of ``total`` in ``stage``, ``eta_s`` seconds left (None: unknown)."""

    stage: str
    done: int
    total: int
    eta_s: Optional[float] = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, max(0.0, self.done / float(self.total)))

    def describe(self) -> str:
        """``"generate 12/40, about 1 min 05 s left"``."""
        text = "{} {}/{}".format(self.stage, self.done, self.total)
        if self.eta_s is not None:
            text += ", about {} left".format(format_seconds(self.eta_s))
        return text


def format_seconds(seconds: float) -> str:
    """``65.0`` -> ``"1 min 05 s"``; ``7.2`` -> ``"7 s"``."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return "{} s".format(seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return "{} min {:02d} s".format(minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    return "{} h {:02d} min".format(hours, minutes)


def log_text(line: str) -> str:
    """A stderr line as people read it: a ``--json`` log record (``{"event": "log", "level", "message"}``)
    becomes ``castgate: WARNING: message``; any other line is returned as it is."""
    text = line.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return line
        if isinstance(data, dict) and data.get("event") == "log":
            return "castgate: {}: {}".format(str(data.get("level", "")).upper(), data.get("message", ""))
    return line


def parse_progress_line(line: str) -> Optional[Progress]:
    """A :class:`Progress` if ``line`` is a progress JSON line, else None (ordinary log text)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") != "progress":
        return None
    try:
        eta = data.get("eta_s")
        return Progress(stage=str(data.get("stage", "")), done=int(data.get("done", 0)),
                        total=int(data.get("total", 0)), eta_s=None if eta is None else float(eta))
    except (TypeError, ValueError):
        return None


def last_json_object(text: str) -> Optional[Dict[str, Any]]:
    """The JSON object printed last on stdout (the whole text, or from the last line opening one)."""
    text = text.strip()
    if not text:
        return None
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n" and text[i + 1:i + 2] == "{"]
    for start in reversed(starts):
        try:
            value = json.loads(text[start:])
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


@dataclass
class Outcome:
    """How a castgate command ended.

    ``result`` is its JSON object when it finished (exit 0, 1 or 3); ``error`` a message for people
    when it did not (exit 2, a crash, a cancel, or no JSON at all).
    """

    exit_code: int
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    error_type: Optional[str] = None
    log: str = ""
    cancelled: bool = False
    args: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None


def parse_outcome(exit_code: int, stdout: str, stderr: str, args: Optional[List[str]] = None) -> Outcome:
    """Turn exit code and output into an :class:`Outcome` (progress lines dropped from the log).

    Example:
        >>> parse_outcome(2, '{"error": "no manifest.json here", "type": "ManifestError"}', "").error
        'no manifest.json here'
    """
    log = "\n".join(line for line in stderr.splitlines() if parse_progress_line(line) is None).strip()
    data = last_json_object(stdout)
    command = " ".join(["castgate"] + list(args or [])[:2])
    if data is not None and "error" in data and exit_code not in RESULT_EXIT_CODES:
        return Outcome(exit_code, error=str(data["error"]), error_type=str(data.get("type") or ""),
                       log=log, args=list(args or []))
    if exit_code in RESULT_EXIT_CODES and data is not None:
        return Outcome(exit_code, result=data, log=log, args=list(args or []))
    tail = "\n".join(log.splitlines()[-12:])
    if exit_code in RESULT_EXIT_CODES:
        message = "{} printed no JSON result (exit code {}).".format(command, exit_code)
    else:
        message = "{} failed with exit code {}.".format(command, exit_code)
    if tail:
        message += "\n" + tail
    return Outcome(exit_code, error=message, log=log, args=list(args or []))


def clean_environment(environ: Mapping[str, str]) -> Dict[str, str]:
    """The environment for castgate: Nuke's own Python and library variables removed.

    Nuke points ``PYTHONPATH``, ``PYTHONHOME`` and the library path at its bundled Python and
    libraries; castgate's Python (another version) would load them and fail. ``OCIO`` and
    everything else is kept.
    """
    return {k: v for k, v in environ.items() if k not in NUKE_ONLY_VARIABLES}
