"""How commands talk: text for people, ``--json`` for machines, progress either way.

Contract for machines (the Nuke panel and farm wrappers rely on it):

* with ``--json``, the command's result is one JSON object on stdout, printed last;
* progress goes to stderr as JSON lines ``{"event": "progress", "stage": ..., "done": n, "total": m,
  "eta_s": seconds-or-null}``;
* an input error prints ``{"error": message, "type": ErrorClassName}`` on stdout and exits 2;
* stderr holds JSON lines only: log records (castgate's and every library's, Python warnings
  included) become ``{"event": "log", "level": ..., "logger": ..., "message": ...}``.

For people: a progress bar on a terminal; when stderr is not a terminal (a farm log, a file, a
pipe), one timestamped line every :data:`LOG_LINES_PER_STAGE`-th of the work (and at least every
:data:`LOG_INTERVAL_S` seconds) with counts and the ETA, e.g.
``2026-11-29T01:30:05Z generate: 12/48 (25%), 41 s elapsed, ETA 2m03s``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import click

from castgate.errors import CastgateError

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INPUT_ERROR = 2
EXIT_INSUFFICIENT = 3
LOG_LINES_PER_STAGE = 20
LOG_INTERVAL_S = 60.0


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
    """Turn a :class:`CastgateError` into a clean message and exit code 2 (never a traceback)."""
    try:
        yield
    except CastgateError as exc:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
        if settings.json:
            click.echo(json.dumps({"error": str(exc), "type": type(exc).__name__}))
        else:
            click.echo(f"Error: {exc}", err=True)
        ctx.exit(EXIT_INPUT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished plates are kept, rerun the same command to resume.", err=True)
        ctx.exit(130)
