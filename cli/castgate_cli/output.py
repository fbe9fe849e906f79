"""How commands talk: text for people, ``--json`` for machines, progress either way.

Contract for machines (the Nuke panel and farm wrappers rely on it):

* with ``--json``, the command's result is one JSON object on stdout, printed last;
* progress goes to stderr as JSON lines ``{"event": "progress", "stage": ..., "done": n, "total": m,
  "eta_s": seconds-or-null}``;
* an input error prints ``{"error": message, "type": ErrorClassName}`` on stdout and exits 2;
* stderr holds JSON lines only: log records (castgate's and every library's, Python warnings
  included) become ``{"event": "log", "level": ..., "logger": ..., "message": ...}``.
* an internal error (a bug) prints ``{"error": message, "type": "InternalError", "log": path}`` and exits
  70; the traceback is in the log file, never on the terminal.

For people: a progress bar on a terminal; when stderr is not a terminal (a farm log, a file, a
pipe), one timestamped line every :data:`LOG_LINES_PER_STAGE`-th of the work (and at least every
:data:`LOG_INTERVAL_S` seconds) with counts and the ETA, e.g.
``2026-11-29T01:30:05Z generate: 12/48 (25%), 41 s elapsed, ETA 2m03s``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from castgate.errors import CastgateError

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INPUT_ERROR = 2
EXIT_INSUFFICIENT = 3
LOG_LINES_PER_STAGE = 20
LOG_INTERVAL_S = 60.0
EXIT_INTERNAL_ERROR = 70   # a bug in castgate (sysexits' EX_SOFTWARE): never "blocked", never "input error"
EXIT_INTERRUPTED = 130
# A file-system error the user's environment causes (disk full, read-only batch, no permission): exit 2.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                       errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.ELOOP, errno.EMFILE}


@dataclass
class Settings:
    """State shared by all subcommands (``ctx.obj``)."""

    verbose: int = 0
    quiet: bool = False
    json: bool = False


class _StderrHandler(logging.StreamHandler):
    """A log handler that always writes to the current ``sys.stderr`` (test runners swap it)."""

    castgate = True

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class JsonLogFormatter(logging.Formatter):
    """A log record as one JSON line (``--json``: nothing but JSON on stderr)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"event": "log", "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_logging(settings: Settings) -> None:
    """Log to stderr: warnings by default, more per ``-v``, errors only with ``-q``; JSON under ``--json``.

    Python warnings (``warnings.warn``) and every library's log records go the same way.
    """
    if settings.quiet:
        level = logging.ERROR
    else:
        level = max(logging.DEBUG, logging.WARNING - 10 * settings.verbose)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "castgate", False)), None)
    if handler is None:
        handler = _StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonLogFormatter() if settings.json
                         else logging.Formatter("castgate: %(levelname)s: %(message)s"))
    root.setLevel(level)
    logging.captureWarnings(True)


def current_settings() -> Settings:
    """The running command's :class:`Settings` (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Settings) else Settings()


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value and isinstance(ctx.find_root().obj, Settings):
        ctx.find_root().obj.json = True
        configure_logging(ctx.find_root().obj)
    return value


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    settings = ctx.find_root().obj
    if isinstance(settings, Settings) and value:
        if param.name == "quiet":
            settings.quiet = True
        else:
            settings.verbose += int(value)
        configure_logging(settings)
    return value


def add_verbosity_options(command: click.Command) -> click.Command:
    """Give a subcommand (and a group's subcommands) ``-v/--verbose`` and ``-q/--quiet``, so they work
    after the subcommand's name too (``castgate gate BATCH -v``)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_verbosity_options(sub)
        return command
    names = {name for param in command.params for name in getattr(param, "opts", [])}
    if "--verbose" not in names:
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           callback=_set_verbosity, help="More log output on stderr (-vv for debug)."))
    if "--quiet" not in names:
        command.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                                           callback=_set_verbosity,
                                           help="Only errors on stderr: no progress, no warnings."))
    return command


def json_option(func: Callable) -> Callable:
    """Add ``--json``: print the result as one JSON object on stdout and progress as JSON lines."""
    return click.option(
        "--json", "as_json", is_flag=True, callback=_set_json, is_eager=True,
        help="Machine-readable output: the result as JSON on stdout, progress as JSON lines on stderr.",
    )(func)


def emit(result: dict[str, Any], text: str, as_json: bool) -> None:
    """Print a command's result: ``text`` for people, ``result`` as JSON for machines."""
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    elif text:
        click.echo(text)


@contextlib.contextmanager
def progress(stage: str, as_json: bool, label: str | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield an ``on_progress(done, total)`` callback that drives a bar (or JSON lines).

    The core reports progress through such callbacks and never prints.
    """
    start = time.monotonic()
    bar = None
    shown = 0
    logged = {"done": -1, "at": start}
    as_lines = not as_json and not _is_terminal(sys.stderr)
    quiet = current_settings().quiet and not as_json

    def on_progress(done: int, total: int) -> None:
        nonlocal bar, shown
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else None
        if as_json:
            line = {"event": "progress", "stage": stage, "done": done, "total": total,
                    "eta_s": None if eta is None else round(eta, 1)}
            sys.stderr.write(json.dumps(line) + "\n")
            sys.stderr.flush()
            return
        if quiet:
            return
        if as_lines:
            step = max(1, -(-total // LOG_LINES_PER_STAGE))
            now = time.monotonic()
            if done >= total or done - logged["done"] >= step or now - logged["at"] >= LOG_INTERVAL_S:
                logged.update(done=done, at=now)
                sys.stderr.write(progress_line(stage, done, total, elapsed, eta) + "\n")
                sys.stderr.flush()
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label or stage, show_eta=True,
                                    show_pos=True, file=sys.stderr)
            bar.__enter__()
        bar.update(done - shown)
        shown = done

    try:
        yield on_progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def progress_line(stage: str, done: int, total: int, elapsed: float, eta: float | None) -> str:
    """One progress line for logs: UTC time, stage, counts, percentage, elapsed time and ETA."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    percent = f" ({100 * done // total}%)" if total else ""
    rest = "done" if done >= total else f"ETA {_duration(eta)}" if eta is not None else "ETA unknown"
    return f"{stamp} {stage}: {done}/{total}{percent}, {_duration(elapsed)} elapsed, {rest}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def handle_errors(ctx: click.Context) -> Iterator[None]:
    """Turn every error into a clean message and a documented exit code (never a traceback).

    A :class:`CastgateError` (bad input) or an environment error (disk full, read-only batch) exits 2;
    anything else is a bug in castgate: its traceback goes to a log file and the command exits 70.
    """
    try:
        yield
    except CastgateError as exc:
        _report(ctx, str(exc), type(exc).__name__)
        ctx.exit(EXIT_INPUT_ERROR)
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            _internal(ctx, exc)
        where = exc.filename or "a batch file"
        _report(ctx, f"{where}: {exc.strerror or exc}. " + _os_fix(exc.errno), "FileSystemError")
        ctx.exit(EXIT_INPUT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished plates are kept, rerun the same command to resume.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
        raise
    except RecursionError as exc:
        _report(ctx, f"the input is nested too deeply to read ({exc})", "InputTooDeepError")
        ctx.exit(EXIT_INPUT_ERROR)
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a clean exit code
        _internal(ctx, exc)


def _report(ctx: click.Context, message: str, kind: str, **extra: Any) -> None:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    if settings.json:
        click.echo(json.dumps({"error": message, "type": kind, **extra}))
    else:
        click.echo(f"Error: {message}", err=True)


def _os_fix(code: int | None) -> str:
    return {errno.ENOSPC: "Free space on that disk (or choose another folder) and rerun; nothing half-written "
                          "is kept",
            errno.EFBIG: "The file system refused a file this large; choose another folder and rerun",
            errno.EDQUOT: "Your disk quota is used up; free space and rerun",
            errno.EROFS: "The folder is read-only; copy the batch somewhere writable (or mount it writable)",
            errno.EACCES: "Fix the permissions, or run as a user who may write there",
            errno.EPERM: "Fix the permissions, or run as a user who may write there",
            errno.ENAMETOOLONG: "Use a shorter folder path or output template"}.get(code or 0, "Check the path")


def _internal(ctx: click.Context, exc: BaseException) -> None:
    """Log a bug's traceback to a file, say where, and exit 70."""
    log_path = crash_log_path()
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as handle:
            handle.write(f"castgate {' '.join(sys.argv[1:])}\n")
            traceback.print_exception(exc, file=handle)
        where = str(log_path)
    except OSError:
        where = "(could not write a log; rerun with -vv)"
    _report(ctx, f"internal error in castgate ({type(exc).__name__}: {exc}); this is a bug, not a problem with "
                 f"the batch. The details are in {where}; please report it with that file",
            "InternalError", log=where)
    ctx.exit(EXIT_INTERNAL_ERROR)


def crash_log_path() -> Path:
    """Where a crash's traceback goes: ``$CASTGATE_LOG_DIR``, else ``$XDG_STATE_HOME/castgate/logs``
    (``~/.local/state/castgate/logs``), else the temp folder; one file per crash."""
    folder = os.environ.get("CASTGATE_LOG_DIR") or \
        Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "castgate" / "logs"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = Path(folder) / f"crash-{stamp}-{os.getpid()}.log"
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.gettempdir()) / path.name
