"""Run one castgate command in the background with QProcess, so Nuke's UI thread never waits.

A :class:`CastgateJob` turns the command's stderr progress lines into :attr:`progress` signals,
other stderr lines into :attr:`log_line`, and its exit into one :attr:`done` signal carrying a
:class:`~castgate_nuke.command.Outcome`.

Example:
    >>> job = CastgateJob("/opt/castgate/.venv/bin/castgate", gate_args("/shows/abc/castgate/office_a"))
    >>> job.done.connect(lambda outcome: print(outcome.exit_code, outcome.result))
    >>> job.start()
"""

from __future__ import annotations

import os
from typing import List, Mapping, Optional

from castgate_nuke.command import Outcome, clean_environment, log_text, parse_outcome, parse_progress_line
from castgate_nuke.qt import QtCore, Signal

KILL_AFTER_MS = 5000  # after a cancel, a command that has not stopped by then is killed


class CastgateJob(QtCore.QObject):
    """One castgate command running in a QProcess."""

    progress = Signal(object)   # command.Progress
    log_line = Signal(str)      # a stderr line that is not progress
    done = Signal(object)       # command.Outcome, exactly once

    def __init__(self, executable: str, args: List[str], parent: Optional[QtCore.QObject] = None,
                 environ: Optional[Mapping[str, str]] = None, working_dir: str = "") -> None:
        super().__init__(parent)
        self.executable = executable
        self.args = list(args)
        self._stdout = bytearray()
        self._stderr_text: List[str] = []
        self._partial = b""
        self._cancelled = False
        self._finished = False
        self._process = QtCore.QProcess(self)
        env = QtCore.QProcessEnvironment()
        for key, value in clean_environment(os.environ if environ is None else environ).items():
            env.insert(key, value)
        self._process.setProcessEnvironment(env)
        if working_dir:
            self._process.setWorkingDirectory(working_dir)
        self._process.setProgram(executable)
        self._process.setArguments(self.args)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._kill_timer = QtCore.QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._process.kill)

    @property
    def command_line(self) -> str:
        return " ".join([self.executable] + [_quote(a) for a in self.args])

    def start(self) -> None:
        """Start the command; :attr:`done` follows when it ends or cannot start."""
        self._process.start()

    def is_running(self) -> bool:
        return self._process.state() != QtCore.QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the command to stop (SIGTERM), and kill it if it has not stopped in a few seconds.

        Plates castgate already wrote stay (its writes are atomic); rerunning the same request resumes.
        """
        if not self.is_running():
            return
        self._cancelled = True
        self._process.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    # -- QProcess slots ---------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._stdout += bytes(self._process.readAllStandardOutput().data())

    def _read_stderr(self) -> None:
        data = self._partial + bytes(self._process.readAllStandardError().data())
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            self._stderr_line(raw.decode("utf-8", "replace").rstrip("\r"))

    def _stderr_line(self, line: str) -> None:
        self._stderr_text.append(line)
        progress = parse_progress_line(line)
        if progress is not None:
            self.progress.emit(progress)
        elif line.strip():
            self.log_line.emit(log_text(line))

    def _on_finished(self, exit_code: int = 0, *_status: object) -> None:
        # PySide2 may deliver finished(int) or finished(int, ExitStatus): read the status from the process.
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        if self._partial:
            self._stderr_line(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        stdout = bytes(self._stdout).decode("utf-8", "replace")
        stderr = "\n".join(self._stderr_text)
        crashed = self._process.exitStatus() == QtCore.QProcess.ExitStatus.CrashExit
        if self._cancelled:
            outcome = Outcome(exit_code, error="Cancelled. Plates already written are kept; run the same "
                                               "request again to resume.", cancelled=True, args=self.args)
        elif crashed:
            outcome = parse_outcome(-1, stdout, stderr, self.args)
            outcome.error = "castgate {} stopped unexpectedly (crashed or killed).\n{}".format(
                " ".join(self.args[:1]), outcome.log[-2000:]).strip()
        else:
            outcome = parse_outcome(exit_code, stdout, stderr, self.args)
        self._emit_done(outcome)

    def _on_error(self, error: object) -> None:
        if error != QtCore.QProcess.ProcessError.FailedToStart:
            return  # crashes also arrive through finished()
        self._emit_done(Outcome(
            -1, error="Could not start {} ({}). Check the castgate command in CastGate > Settings... or "
                      "CASTGATE_EXECUTABLE.".format(self.executable, self._process.errorString()),
            args=self.args))

    def _emit_done(self, outcome: Outcome) -> None:
        if self._finished:
            return
        self._finished = True
        self.done.emit(outcome)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=:" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"
