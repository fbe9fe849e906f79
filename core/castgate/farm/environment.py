"""What a farm frame needs, decided at submit time (pure but for reading this process's environment).

A stock OpenCue render host (RQD) builds every frame's environment from scratch: ``PATH`` is
``/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin``, no variable of the host or of the
submitter is inherited, and the job's ``<env>`` entries are added. So the job names castgate by
absolute path and carries in ``<env>`` everything castgate would otherwise find in the submitter's
shell:

* :func:`submitting_castgate`: the castgate this process runs from (``<venv>/bin/castgate``, else
  ``<python> -m castgate_cli``), unless ``[farm].castgate`` / ``--castgate`` names another;
* :func:`frame_environment`: ``CASTGATE_MODELS`` (the model root this submitter would use), ``OCIO``
  (when set here or in the settings), ``PYTHONPATH`` (only with the submitting castgate, when set),
  then ``[farm.env]``;
* :func:`job_owner`: the job's user and uid, never root.
"""

from __future__ import annotations

import os
import pwd
import shlex
import sys
from pathlib import Path

from castgate.errors import FarmError
from castgate.farm.settings import FarmSettings
from castgate.request import Request


def submitting_castgate() -> list[str]:
    """The castgate command of this process's environment, by absolute path.

    ``<dir of sys.executable>/castgate`` (the console script a virtual environment or conda env
    installs beside its Python), else ``[sys.executable, "-m", "castgate_cli"]``.
    """
    python = Path(sys.executable).absolute()
    script = python.parent / "castgate"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(python), "-m", "castgate_cli"]


def castgate_command(settings: FarmSettings) -> list[str]:
    """The castgate command frames run: ``settings.castgate`` split like a shell would, else this one.

    Raises:
        FarmError: ``settings.castgate`` is not a well-formed command (e.g. an unclosed quote).
    """
    if settings.castgate is None:
        return submitting_castgate()
    try:
        words = shlex.split(settings.castgate)
    except ValueError as exc:
        raise FarmError(f"castgate command {settings.castgate!r} cannot be split into words ({exc})",
                        where="[farm].castgate / --castgate", fix="Close the quote, or give a plain path") from None
    if not words:
        raise FarmError("the castgate command is empty", where="[farm].castgate / --castgate",
                        fix="Give the command farm hosts run, or leave it out to use this castgate")
    return words


def frame_environment(request: Request, settings: FarmSettings) -> dict[str, str]:
    """The ``<env>`` of the job: what castgate finds in the submitter's shell, made explicit.

    ``CASTGATE_MODELS``: ``settings.models``, else the models root this process would use (the
    request's ``[models].root`` wins on the farm as here, so it is left out then). ``OCIO``:
    ``settings.ocio``, else ``$OCIO`` when set here (else frames use castgate's pinned built-in
    config). ``PYTHONPATH``: only when frames run the submitting castgate and it is set here.
    ``settings.env`` last, so a studio can override any of them.
    """
    from castgate.generation.generate import default_models_root

    env: dict[str, str] = {}
    if settings.models:
        env["CASTGATE_MODELS"] = settings.models
    elif not request.models.root:
        env["CASTGATE_MODELS"] = str(default_models_root().expanduser().absolute())
    ocio = settings.ocio or os.environ.get("OCIO")
    if ocio:
        env["OCIO"] = ocio if "://" in ocio else str(Path(ocio).expanduser().absolute())
    if settings.castgate is None and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(str(Path(part).absolute())
                                            for part in os.environ["PYTHONPATH"].split(os.pathsep) if part)
    env.update(settings.env)
    return env


def job_owner(settings: FarmSettings) -> tuple[str, int]:
    """The job's ``(user, uid)``: from the settings, else the submitting user. Never root.

    The uid is ``settings.uid``, else the user's entry on this machine, else (for the user this
    process runs as) this process's uid.

    Raises:
        FarmError: the owner would be root, or no uid is known for the user.
    """
    user = settings.user or _login_name()
    if not user or user == "root":
        raise FarmError(f"the job would be owned by {user or 'nobody'!r}; Cuebot refuses root's jobs",
                        where="[farm].user / $USER",
                        fix="Submit as your own user, or set user and uid in farm.toml ([farm] user = ..., uid = ...)")
    uid = settings.uid
    if uid is None:
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            if _name_of_uid(os.getuid()) == user:
                uid = os.getuid()
    if uid is None:
        raise FarmError(f"no uid known for user {user!r} on this machine", where="[farm].uid",
                        fix="Set uid in farm.toml ([farm] uid = ...), the user's uid on the render hosts")
    if uid <= 0:
        raise FarmError(f"user {user!r} has uid {uid}; Cuebot refuses root's jobs", where="[farm].uid",
                        fix="Set user and uid in farm.toml to the artist's or a farm account's")
    return user, uid


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry and no $USER
        return ""


def _name_of_uid(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None
