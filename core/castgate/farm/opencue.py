"""castgate as an OpenCue job, built with pyoutline (``opencue-pyoutline``).

Three steps, kept apart:

* :func:`build_job` turns a request, a batch folder and :class:`FarmSettings` into a pyoutline
  ``Outline`` (one ``Shell`` layer per step of :func:`castgate.farm.layers.job_layers`); nothing
  is read or written.
* :func:`job_spec` serialises it into the job specification XML Cuebot accepts, with pyoutline's own
  serialiser. Same inputs, same XML; nothing is left on disk (pyoutline's session folder lives in a
  temporary folder that is removed).
* :func:`submit` sends that XML to Cuebot (``launchSpecAndWait``, as pyoutline's own launch does),
  after checking within ``settings.timeout`` seconds that a Cuebot answers; otherwise
  :class:`FarmError`, never a hang.

Commands run directly, not through pycuerun. pyoutline's default wraps every frame in
``opencue_wrap_frame … pycuerun <session>/outline.yaml -e <frame>-<layer>``, which needs pyoutline,
its wrapper scripts and the submitter's session folder on every render host. castgate's steps are
already plain command lines, so the spec carries them as they are (``serialize_simple``,
``use_pycuerun=False``): what the wrangler reads in CueGUI is what the host runs, and a
render host needs only castgate. RQD runs the line through ``/bin/sh``; Cuebot puts the frame
number in place of ``#IFRAME#`` first.

The spec is written in the job-spec version ``settings.spec_version`` (1.13, 1.14 or 1.15; 1.15
needs a Cuebot from October 2025 or later, 1.13 has no ``<outputs>``). Its ``<user>`` and ``<uid>``
are the job owner's (:func:`castgate.farm.environment.job_owner`), never root: pyoutline itself
would write the submitting process's uid whatever user the job names.

Dependencies are layer-on-layer: a layer starts when every frame of the one before it has
SUCCEEDED. The gate exits non-zero when the batch is blocked (1) or undecided (3), so its frame
fails (after ``max_retries``) and publish never starts. ``autoeat`` stays off: an eaten frame would
satisfy the dependency on Cuebots configured with ``depend.satisfy_only_on_frame_success=false``.

Example:
    >>> request = load_request(Path("/shows/x/requests/office.toml"))
    >>> xml = job_spec(request, Path("/shows/x/batches/office_v1"), FarmSettings(shards=8))
    >>> jobs = submit(request, Path("/shows/x/batches/office_v1"), FarmSettings(shards=8))
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from xml.etree import ElementTree

from castgate.errors import FarmError
from castgate.farm.environment import job_owner
from castgate.farm.layers import UTIL, FarmLayer, job_environment, job_layers, job_name
from castgate.farm.settings import FarmSettings
from castgate.request import Request

log = logging.getLogger(__name__)

FRAME_TOKEN = "#IFRAME#"
DEFAULT_PORT = 8443


def build_job(request: Request, batch_dir: Path, settings: FarmSettings) -> Any:
    """Build the pyoutline ``Outline`` of a castgate farm job (generate, merge, audit, gate, publish).

    Args:
        request: a validated request loaded from a file farm hosts can read at the same path.
        batch_dir: the batch folder as farm hosts see it.
        settings: farm settings.

    Returns:
        An ``outline.Outline`` whose layers are ``outline.modules.shell.Shell`` layers carrying the
        castgate command lines; each depends on the previous one (layer on layer).

    Raises:
        FarmError: a setting Cuebot would refuse, or a job name it cannot take.

    Example:
        >>> ol = build_job(request, Path("/shows/x/batches/b1"), FarmSettings(shards=4))
        >>> [layer.get_name() for layer in ol.get_layers()]
        ['generate', 'merge', 'audit', 'gate']
    """
    import outline
    from outline.constants import LayerType
    from outline.modules.shell import Shell

    layers = job_layers(request, batch_dir, settings, FRAME_TOKEN)
    user, _uid = job_owner(settings)
    ol = outline.Outline(name=job_name(request, settings), show=settings.show or outline.util.get_show(),
                         shot=settings.shot or outline.util.get_shot(), user=user,
                         facility=settings.facility or outline.config.get("outline", "facility"))
    for key, value in job_environment(request, settings).items():
        ol.set_env(key, value, pre=True)  # only "pre" variables are sent to Cuebot with the job
    for farm_layer in layers:
        layer = Shell(farm_layer.name, command=farm_layer.command, range=farm_layer.frames, chunk=1,
                      type=LayerType.UTIL if farm_layer.kind == UTIL else LayerType.RENDER,
                      **_resource_args(farm_layer))
        ol.add_layer(layer)
        if farm_layer.depends_on:
            layer.depend_all(ol.get_layer(farm_layer.depends_on))
    return ol


def job_spec(request: Request, batch_dir: Path, settings: FarmSettings, *, pretty: bool = True) -> str:
    """The OpenCue job specification (XML) of :func:`build_job`'s outline, as pyoutline writes it.

    Args:
        request, batch_dir, settings: as for :func:`build_job`.
        pretty: indent the XML for people (Cuebot reads both forms alike).

    Returns:
        The XML text, starting with the ``<!DOCTYPE spec …cjsl-<version>.dtd>`` pyoutline declares.

    Raises:
        FarmError: as for :func:`build_job`.

    Example:
        >>> Path("job.xml").write_text(job_spec(request, batch, FarmSettings()))
    """
    xml = serialize(build_job(request, batch_dir, settings), settings)
    return pretty_xml(xml) if pretty else xml


def serialize(ol: Any, settings: FarmSettings) -> str:
    """Serialise an outline with pyoutline's own serialiser (commands unwrapped: no pycuerun), in
    ``settings.spec_version``, with the job owner's uid."""
    from outline.cuerun import OutlineLauncher

    _user, uid = job_owner(settings.replace(user=ol.get_user()))
    with _pyoutline_sandbox(settings.spec_version):
        xml = OutlineLauncher(ol, **_launch_flags(settings)).serialize(use_pycuerun=False)
    return _with_uid(xml, uid)


def _with_uid(xml: str, uid: int) -> str:
    """pyoutline writes this process's uid whatever the job's user; put the owner's in its place."""
    xml, count = re.subn(r"<uid>-?\d+</uid>", f"<uid>{uid}</uid>", xml, count=1)
    if count != 1:
        raise FarmError("pyoutline wrote a job spec without <uid>", fix="Report this with your pyoutline version")
    return xml


@dataclass(frozen=True)
class Submission:
    """What :func:`submit` sent: the Cuebot it reached and the names of the jobs it created."""

    cuebot: str
    jobs: tuple[str, ...]


def submit(request: Request, batch_dir: Path, settings: FarmSettings) -> Submission:
    """Submit the job spec of :func:`job_spec` to Cuebot.

    Args:
        request, batch_dir, settings: as for :func:`build_job`; ``settings.cuebot`` and
            ``settings.timeout`` say where Cuebot is and how long to wait for it.

    Returns:
        The :class:`Submission`.

    Raises:
        FarmError: the job would be owned by root (Cuebot refuses that), no Cuebot answers within the
            timeout, or Cuebot rejects the job (its reason is in the message).

    Example:
        >>> submit(request, batch, FarmSettings(cuebot=("cuebot.studio:8443",))).jobs
        ('extras-sh010-artist_office_v1',)
    """
    spec = serialize(build_job(request, batch_dir, settings), settings)  # refuses a root owner first
    host = reachable_cuebot(settings)
    import opencue

    fix = ("Check that Cuebot runs and answers there (--cuebot HOST:PORT), or use --dry-run to write the "
           "job spec and submit it yourself")
    with _cuebot_timeout(settings.timeout):
        try:
            opencue.Cuebot.setHosts([host])  # connects and asks Cuebot for its stats, within the timeout
        except Exception as exc:  # pycue raises grpc errors and CueException subclasses alike
            _close_channel()
            raise FarmError(f"Cuebot did not answer within {settings.timeout:g} s: {_reason(exc)}",
                            where=host, fix=fix) from None
        try:
            jobs = opencue.api.launchSpecAndWait(spec)  # what pyoutline's launch sends, with our spec
        except Exception as exc:
            _close_channel()
            raise FarmError(f"Cuebot did not take the job: {_reason(exc)}", where=host, fix=fix) from None
    return Submission(cuebot=host, jobs=tuple(job.name() for job in jobs))


def cuebot_hosts(settings: FarmSettings) -> list[str]:
    """Cuebot addresses ``host:port``: ``settings.cuebot``, else ``$CUEBOT_HOSTS``, else pycue's config."""
    hosts = list(settings.cuebot)
    if not hosts and os.environ.get("CUEBOT_HOSTS"):
        hosts = [h.strip() for h in os.environ["CUEBOT_HOSTS"].split(",") if h.strip()]
    port = DEFAULT_PORT
    if not hosts:
        import opencue

        config = opencue.Cuebot.Config
        port = int(config.get("cuebot.grpc_port", DEFAULT_PORT))
        facility = os.environ.get("CUEBOT_FACILITY", config.get("cuebot.facility_default"))
        hosts = list(config.get("cuebot.facility", {}).get(facility, []))
    return [h if ":" in h else f"{h}:{port}" for h in hosts]


def reachable_cuebot(settings: FarmSettings) -> str:
    """The first Cuebot address that accepts a connection within ``settings.timeout`` seconds.

    Raises:
        FarmError: none does (each address and why is in the message).
    """
    hosts = cuebot_hosts(settings)
    failures = []
    for host in hosts:
        name, _, port = host.rpartition(":")
        try:
            with socket.create_connection((name, int(port)), timeout=settings.timeout):
                return host
        except (OSError, ValueError) as exc:
            failures.append(f"{host} ({_reason(exc)})")
    raise FarmError(f"no Cuebot reachable: {', '.join(failures) or 'no address configured'}",
                    fix="Start Cuebot or name it with --cuebot HOST:PORT (or $CUEBOT_HOSTS); "
                        "--dry-run writes the job spec without submitting")


def pretty_xml(xml: str) -> str:
    """Indent a job spec for people, keeping its XML declaration and DOCTYPE line."""
    doctype = re.search(r"<!DOCTYPE[^>]*>", xml)
    root = ElementTree.fromstring(xml)
    ElementTree.indent(root, space="  ")
    head = '<?xml version="1.0"?>\n' + (doctype.group(0) + "\n" if doctype else "")
    return head + ElementTree.tostring(root, encoding="unicode") + "\n"


# -- helpers -----------------------------------------------------------------------------------------
def _resource_args(layer: FarmLayer) -> dict[str, Any]:
    res = layer.resources
    args: dict[str, Any] = {}
    if res.tags:
        args["tags"] = list(res.tags)
    if res.cores is not None:
        args["cores"] = res.cores
    if res.memory is not None:
        args["memory"] = res.memory
    if res.gpus:
        args["gpus"] = res.gpus
    if res.gpu_memory is not None:
        args["gpu_memory"] = res.gpu_memory
    if res.service is not None:
        args["service"] = res.service
    if res.limits:
        args["limits"] = list(res.limits)
    return args


def _launch_flags(settings: FarmSettings) -> dict[str, Any]:
    return {"pause": settings.pause, "priority": settings.priority, "maxretries": settings.max_retries,
            "nomail": not settings.email, "autoeat": False}


@contextlib.contextmanager
def _pyoutline_sandbox(spec_version: str | None = None) -> Iterator[None]:
    """Give pyoutline a throwaway session folder and the spec version to write, and undo the ``$SHOT``
    it sets while launching."""
    import outline

    folder = tempfile.mkdtemp(prefix="castgate-outline-")
    previous_dir = outline.config.get("outline", "session_dir")
    previous_version = outline.config.get("outline", "spec_version")
    previous_shot = os.environ.get("SHOT")
    outline.config.set("outline", "session_dir", folder.replace("%", "%%"))
    if spec_version:
        outline.config.set("outline", "spec_version", spec_version)
    try:
        yield
    finally:
        outline.config.set("outline", "session_dir", previous_dir.replace("%", "%%"))
        outline.config.set("outline", "spec_version", previous_version)
        if previous_shot is None:
            os.environ.pop("SHOT", None)
        else:
            os.environ["SHOT"] = previous_shot
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _cuebot_timeout(seconds: float) -> Iterator[None]:
    """pycue passes ``Cuebot.Timeout`` to gRPC as seconds; hold it at ours while we talk to Cuebot."""
    import opencue

    previous = opencue.Cuebot.Timeout
    opencue.Cuebot.setTimeout(seconds)
    try:
        yield
    finally:
        opencue.Cuebot.Timeout = previous


def _close_channel() -> None:
    import opencue

    with contextlib.suppress(Exception):
        opencue.Cuebot.closeChannel()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
