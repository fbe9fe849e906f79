"""The farm job as a plain list of layers, for any farm manager (pure).

A castgate farm job is five steps, each a ``castgate`` command line, each waiting for the one
before it to succeed on every frame::

    generate   frames 1-N   castgate generate REQUEST -o BATCH --shard <frame>/N   (GPU hosts)
    merge      frame 1      castgate merge BATCH
    audit      frame 1      castgate audit BATCH
    gate       frame 1      castgate gate BATCH [--quota Q]     exit != 0 holds back what follows
    publish    frame 1      the studio's --publish-cmd (optional)

``castgate`` is the absolute path of the castgate the job was submitted from (render hosts start
frames with a bare ``PATH``) unless the settings name another command. Every command is built as a
list of words and quoted once (``shlex.join``); the publish template's ``{batch}`` and ``{request}``
are put in place in one pass over its words, so a path can never become shell syntax
(:func:`publish_argv`).

:func:`job_layers` builds that list; an adapter (``castgate.farm.opencue``) turns it into the farm's
own job description, passing the farm's frame-number token (OpenCue: ``#IFRAME#``; Deadline:
``<STARTFRAME>``).

Example:
    >>> layers = job_layers(request, Path("/shows/x/batches/b1"), FarmSettings(shards=4), "#IFRAME#")
    >>> layers[0].command
    "/studio/envs/castgate/bin/castgate generate /shows/x/req.toml -o /shows/x/batches/b1 --shard '#IFRAME#/4'"
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from castgate.errors import FarmError
from castgate.farm.environment import castgate_command, frame_environment
from castgate.farm.settings import CUE_NAME, DEFAULT_SHARDS, FarmSettings, LayerResources, require_valid
from castgate.generation.generate import plan
from castgate.request import Request

log = logging.getLogger(__name__)

RENDER = "Render"   # a layer of real work
UTIL = "Util"       # a short bookkeeping step
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PUBLISH_FIELDS = ("batch", "request")
SHELL_OPERATORS = set("|&;<>()")


@dataclass(frozen=True)
class FarmLayer:
    """One step of the farm job.

    Attributes:
        name: layer name (also what later layers name in ``depends_on``).
        argv: the command's words (the frame token already in place).
        command: the same words as one shell command line, each quoted once (``shlex.join``).
        frames: frame range, ``"1-4"`` or ``"1"``.
        kind: :data:`RENDER` or :data:`UTIL`.
        depends_on: the layer whose every frame must succeed first, or None.
        resources: what each frame asks the farm for.
    """

    name: str
    argv: tuple[str, ...]
    frames: str
    kind: str
    depends_on: str | None
    resources: LayerResources

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def shard_count(request: Request, settings: FarmSettings) -> int:
    """Generate frames: ``settings.shards`` (default 4), never more than the plates planned."""
    wanted = settings.shards or DEFAULT_SHARDS
    planned = len(plan(request))
    if wanted > planned:
        log.info("%s: %d shard(s) asked for but only %d plate(s) planned; using %d", request.batch, wanted,
                 planned, planned)
    return max(1, min(wanted, planned))


def job_name(request: Request, settings: FarmSettings) -> str:
    """The job's name: ``settings.job_name`` or the batch name (Cuebot needs 3+ characters)."""
    name = settings.job_name or request.batch
    if not CUE_NAME.match(name.replace("-", "_")):
        raise FarmError(f"job name {name!r} is too short or has characters Cuebot refuses",
                        where="--job-name" if settings.job_name else f"{request.source}: [batch].name",
                        fix="Give a job name of at least 3 letters, digits, '_' or '.' with --job-name")
    return name


def job_environment(request: Request, settings: FarmSettings) -> dict[str, str]:
    """Environment for every frame (see :func:`castgate.farm.environment.frame_environment`)."""
    return frame_environment(request, settings)


def publish_argv(template: str, values: dict[str, str]) -> list[str]:
    """The publish command's words: ``template`` split like a shell would, ``{batch}`` and ``{request}``
    replaced in one pass over each word (a replaced value is never scanned again).

    Raises:
        FarmError: the template does not split into words, names another placeholder, or holds shell
            syntax (``|``, ``&``, ``;``, redirections, ``$`` or backquotes outside quotes) that
            castgate would quote away: put such commands in a script and name the script.
    """
    where = "--publish-cmd / [farm].publish_cmd"
    try:
        words = shlex.split(template)
        lexer = shlex.shlex(template, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError as exc:
        raise FarmError(f"publish command {template!r} cannot be split into words ({exc})", where=where,
                        fix="Close the quote; castgate quotes {batch} and {request} itself") from None
    if not words:
        raise FarmError("the publish command is empty", where=where, fix="Give a command, or leave it out")
    operators = [t for t in tokens if t and set(t) <= SHELL_OPERATORS]
    unquoted = _unquoted_text(template)
    if operators or "$" in unquoted or "`" in unquoted:
        found = ", ".join(repr(t) for t in operators) or ("'$'" if "$" in unquoted else "'`'")
        raise FarmError(f"publish command {template!r} uses shell syntax ({found}), which castgate quotes "
                        f"as plain words", where=where,
                        fix="Put the pipeline in a script and name it, e.g. "
                            "--publish-cmd '/studio/bin/publish-castgate {batch}'")
    for word in words:
        for match in PLACEHOLDER.finditer(word):
            if match.group(1) not in PUBLISH_FIELDS:
                raise FarmError(f"publish command: unknown placeholder {match.group(0)!r}", where=where,
                                fix="Use {batch} (the batch folder) and {request} (the request file) only")
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)], word) for word in words]


def _unquoted_text(text: str) -> str:
    """``text`` with single- and double-quoted parts removed (what the shell would still interpret)."""
    out, quote = [], ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            elif quote == '"' and char in "$`":
                out.append(char)  # double quotes still expand $ and backquotes
        elif char in "'\"":
            quote = char
        else:
            out.append(char)
    return "".join(out)


def job_layers(request: Request, batch_dir: Path, settings: FarmSettings, frame_token: str) -> list[FarmLayer]:
    """The farm job's layers, in dependency order.

    Args:
        request: the validated request; its ``source`` file is what farm hosts read, so it must be
            on storage they see at the same path.
        batch_dir: the batch folder as farm hosts see it (made absolute here).
        settings: farm settings (checked here).
        frame_token: the farm's frame-number token, e.g. ``"#IFRAME#"``.

    Returns:
        generate, merge, audit, gate and (with ``settings.publish_cmd``) publish; with
        ``settings.balance_rounds``, the balance job's layers (:mod:`castgate.farm.balance_layers`).

    Raises:
        FarmError: the request has no source file, or a setting is invalid.
    """
    require_valid(settings)
    if not request.source:
        raise FarmError("the request has no file", fix="Load the request with load_request(path): "
                                                       "farm hosts read that file")
    request_file = str(Path(request.source).expanduser().absolute())
    batch = str(Path(batch_dir).expanduser().absolute())
    if request.models.root and settings.models:
        log.warning("%s sets [models].root = %s, which wins over CASTGATE_MODELS=%s on the farm",
                    request_file, request.models.root, settings.models)
    if settings.balance_rounds:
        from castgate.farm.balance_layers import balance_layers

        return balance_layers(request, request_file, batch, settings, frame_token)
    castgate = castgate_command(settings)
    shards = shard_count(request, settings)

    def line(*args: str) -> tuple[str, ...]:
        return (*castgate, *args)

    gate_args = ["gate", batch] + (["--quota", settings.quota] if settings.quota else [])
    layers = [
        FarmLayer("generate", line("generate", request_file, "-o", batch, "--shard", f"{frame_token}/{shards}"),
                  f"1-{shards}" if shards > 1 else "1", RENDER, None, settings.resources("generate")),
        FarmLayer("merge", line("merge", batch), "1", UTIL, "generate", settings.resources("merge")),
        FarmLayer("audit", line("audit", batch), "1", RENDER, "merge", settings.resources("audit")),
        FarmLayer("gate", line(*gate_args), "1", UTIL, "audit", settings.resources("gate")),
    ]
    if settings.publish_cmd:
        publish = publish_argv(settings.publish_cmd, {"batch": batch, "request": request_file})
        layers.append(FarmLayer("publish", tuple(publish), "1", UTIL, "gate", settings.resources("publish")))
    return layers
