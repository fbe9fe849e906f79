"""Farm settings: who submits, where commands run, and what each layer asks the farm for.

Settings come from three places, later ones winning: the defaults here, a ``farm.toml`` file
(:func:`load_farm_settings`; the request file is never touched: it says *what* to generate, this
file says *how the farm runs it*), and command-line options (:meth:`FarmSettings.replace`,
:meth:`FarmSettings.with_layer`). :func:`check_settings` lists every value Cuebot would refuse or
misread, so a bad value fails at submission, not on the farm an hour later.

Example ``farm.toml``::

    [farm]
    castgate = "/studio/envs/castgate/bin/castgate"   # what farm hosts run (default: this castgate)
    user = "artist"                                   # job owner (default: the submitting user)
    uid = 1234                                        # its uid (default: looked up from user)
    spec_version = "1.14"                             # job-spec DTD the farm's Cuebot knows
    shards = 8
    show = "extras"
    shot = "sh010"
    models = "/studio/models/castgate"                # CASTGATE_MODELS on the farm
    ocio = "/studio/ocio/config.ocio"                 # OCIO on the farm

    [farm.env]
    TMPDIR = "/local/scratch"

    [farm.layers.generate]
    tags = ["gpu"]
    gpus = 1
    gpu_memory = "16g"
    memory = "24g"

Example:
    >>> settings = load_farm_settings(Path("farm.toml")).replace(shards=4)
    >>> settings = settings.with_layer("generate", tags=("gpu", "cuda12"))
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from castgate.errors import FarmError

LAYER_NAMES = ("generate", "merge", "audit", "gate", "publish")
DEFAULT_SHARDS = 4
# Job-spec versions castgate writes (cjsl-<version>.dtd); 1.13 has no <outputs>, 1.15 needs a 2025 Cuebot.
SPEC_VERSIONS = ("1.13", "1.14", "1.15")
DEFAULT_SPEC_VERSION = "1.15"

# Cuebot's own naming rules (JobSpec): layer, shot and job-name suffixes are word characters or dots,
# at least 3 long; tags may also hold '-' (``^[\w.-]{3,}$``); memory is "<n>g", "<n>m" or a bare number
# of GB. Java's \w is ASCII, hence re.ASCII.
CUE_NAME = re.compile(r"^[\w.]{3,}$", re.ASCII)
CUE_TAG = re.compile(r"^[\w.-]{3,}$", re.ASCII)
MEMORY = re.compile(r"^(\d+[gG]|\d+(\.\d+)?[mM]|\d+)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LayerResources:
    """What one layer's frames ask the farm for (None: the service's default)."""

    tags: tuple[str, ...] = ()          # host tags, e.g. ("gpu",): frames run only on hosts with them
    cores: float | None = None          # minimum cores per frame
    memory: str | None = None           # minimum memory per frame, e.g. "16g" or "512m"
    gpus: int | None = None             # GPUs per frame
    gpu_memory: str | None = None       # minimum GPU memory per frame, e.g. "12g"
    service: str | None = None          # OpenCue service name (default "shell")
    limits: tuple[str, ...] = ()        # OpenCue limit names


# Explicit defaults, so no layer inherits the "shell" service's 3.2 GB minimum or pyoutline's 1g of GPU
# memory: generate holds DALL-E Mega (fp16) and VQGAN on one GPU; audit runs a few face/age models per core.
DEFAULT_LAYERS: Mapping[str, LayerResources] = {
    "generate": LayerResources(cores=2.0, memory="12g", gpus=1, gpu_memory="10g"),
    "merge": LayerResources(cores=1.0, memory="1g"),
    "audit": LayerResources(cores=4.0, memory="6g"),
    "gate": LayerResources(cores=1.0, memory="1g"),
    "publish": LayerResources(cores=1.0, memory="1g"),
}


@dataclass(frozen=True)
class FarmSettings:
    """How a batch runs on the farm. ``None`` means: decide from the request or the environment.

    Attributes:
        castgate: the command farm hosts run for castgate (words split like a shell would),
            e.g. ``"/studio/envs/castgate/bin/castgate"``; None: the castgate this process runs
            from, by absolute path (:func:`castgate.farm.environment.submitting_castgate`).
        shards: generate frames; default :data:`DEFAULT_SHARDS`, never more than the plates planned.
        job_name: the job's name; default the batch name.
        show, shot, user, facility: OpenCue job identity (default ``$SHOW``/``$SHOT``/the submitting
            user or pyoutline's configured defaults). Never root: Cuebot refuses root's jobs.
        uid: the job user's uid (default: looked up from ``user`` on this machine).
        spec_version: the job-spec DTD version written, one of :data:`SPEC_VERSIONS`.
        priority, max_retries, pause, email: job options.
        models: ``CASTGATE_MODELS`` for every frame (the model folders as farm hosts see them).
        ocio: ``OCIO`` for every frame.
        env: more environment variables for every frame.
        quota: passed to ``castgate gate --quota`` (default: the request's quota).
        publish_cmd: a shell command run after the gate passes; ``{batch}`` and ``{request}`` are
            replaced by the (quoted) batch folder and request file.
        cuebot: Cuebot address(es) ``host[:port]`` (default ``$CUEBOT_HOSTS``, else pycue's config).
        timeout: seconds to wait for Cuebot before giving up.
        layers: resources per layer name (see :data:`LAYER_NAMES`).
        balance_rounds: run ``castgate balance`` as this many rounds of layers (docs/farm.md); None: the
            plain generate job.
    """

    castgate: str | None = None
    shards: int | None = None
    job_name: str | None = None
    show: str | None = None
    shot: str | None = None
    user: str | None = None
    uid: int | None = None
    facility: str | None = None
    spec_version: str = DEFAULT_SPEC_VERSION
    priority: int = 1
    max_retries: int = 1
    pause: bool = False
    email: bool = False
    models: str | None = None
    ocio: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    quota: str | None = None
    publish_cmd: str | None = None
    cuebot: tuple[str, ...] = ()
    timeout: float = 10.0
    layers: Mapping[str, LayerResources] = field(default_factory=lambda: dict(DEFAULT_LAYERS))
    balance_rounds: int | None = None  # castgate balance as layers: this many rounds (None: no balance)

    def replace(self, **changes: Any) -> "FarmSettings":
        """A copy with the given fields changed; ``None`` values are ignored (option not given)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_layer(self, name: str, **changes: Any) -> "FarmSettings":
        """A copy with layer ``name``'s resources changed; ``None`` values are ignored."""
        if name not in LAYER_NAMES:
            raise FarmError(f"unknown layer {name!r}", fix=f"Use one of {', '.join(LAYER_NAMES)}")
        layers = dict(self.layers)
        current = layers.get(name, LayerResources())
        layers[name] = dataclasses.replace(current, **{k: v for k, v in changes.items() if v is not None})
        return dataclasses.replace(self, layers=layers)

    def resources(self, name: str) -> LayerResources:
        """The resources of layer ``name`` (defaults when the settings do not name it)."""
        return self.layers.get(name, LayerResources())


def check_settings(settings: FarmSettings) -> list[str]:
    """Every problem with the settings, each naming the setting and the fix (empty when fine)."""
    problems = []
    if settings.castgate is not None and not settings.castgate.strip():
        problems.append("castgate is empty; give the command farm hosts run, e.g. "
                        "\"/studio/envs/castgate/bin/castgate\", or leave it out to use this castgate")
    if settings.spec_version not in SPEC_VERSIONS:
        problems.append(f"spec_version {settings.spec_version!r} is not one castgate writes; use one of "
                        f"{', '.join(SPEC_VERSIONS)}")
    if settings.user is not None and (settings.user == "root" or not settings.user.strip()):
        problems.append(f"user {settings.user!r}: Cuebot refuses jobs owned by root; name the artist or "
                        f"a farm account")
    if settings.uid is not None and settings.uid <= 0:
        problems.append(f"uid {settings.uid}: use the job user's uid (above 0; Cuebot refuses root)")
    if settings.shards is not None and settings.shards < 1:
        problems.append(f"shards is {settings.shards}; use 1 or more")
    if settings.balance_rounds is not None and not 1 <= settings.balance_rounds <= 32:
        problems.append(f"balance_rounds is {settings.balance_rounds}; use 1 to 32 rounds")
    if settings.max_retries < 0:
        problems.append(f"max_retries is {settings.max_retries}; use 0 or more")
    if settings.timeout <= 0:
        problems.append(f"timeout is {settings.timeout}; use a number of seconds above 0")
    for key in ("show", "shot", "job_name"):
        value = getattr(settings, key)
        if value is not None and not CUE_NAME.match(value.replace("-", "_")):
            problems.append(f"{key} {value!r} is not a name Cuebot accepts; use at least 3 letters, digits, "
                            f"'_' or '.'")
    for name, value in settings.env.items():
        if not ENV_NAME.match(name):
            problems.append(f"env {name!r} is not an environment variable name; use letters, digits and '_'")
        if not isinstance(value, str):
            problems.append(f"env {name}: the value must be text")
    for name, res in settings.layers.items():
        where = f"layers.{name}"
        if name not in LAYER_NAMES:
            problems.append(f"{where}: unknown layer; use one of {', '.join(LAYER_NAMES)}")
        for tag in res.tags:
            if not CUE_TAG.match(tag):
                problems.append(f"{where}.tags: {tag!r} is not a tag Cuebot accepts; use at least 3 letters, "
                                f"digits, '_', '.' or '-'")
        for key in ("memory", "gpu_memory"):
            value = getattr(res, key)
            if value is not None and not MEMORY.match(str(value)):
                problems.append(f"{where}.{key} {value!r} is not a size; use e.g. \"16g\" or \"512m\"")
        if res.cores is not None and not res.cores > 0:
            problems.append(f"{where}.cores {res.cores} must be above 0")
        if res.gpus is not None and res.gpus < 0:
            problems.append(f"{where}.gpus {res.gpus} must be 0 or more")
        if res.service is not None and not CUE_NAME.match(res.service):
            problems.append(f"{where}.service {res.service!r} is not a service name; use at least 3 letters, "
                            f"digits, '_' or '.'")
    return problems


def require_valid(settings: FarmSettings, *, source: str = "farm settings") -> FarmSettings:
    """Return ``settings`` or raise :class:`FarmError` listing every problem."""
    problems = check_settings(settings)
    if problems:
        raise FarmError(_listing(problems), where=source, fix="Correct the values above")
    return settings


# -- farm.toml ---------------------------------------------------------------------------------------
_FARM_KEYS = {"castgate", "shards", "job_name", "show", "shot", "user", "uid", "facility", "spec_version",
              "priority", "max_retries", "pause", "email", "models", "ocio", "env", "quota", "publish_cmd",
              "cuebot", "timeout", "layers", "balance_rounds"}
_LAYER_KEYS = {f.name for f in dataclasses.fields(LayerResources)}
_TYPES: dict[str, tuple[type, ...]] = {
    "castgate": (str,), "shards": (int,), "job_name": (str,), "show": (str,), "shot": (str,), "user": (str,), "uid": (int,),
    "facility": (str,), "spec_version": (str,), "priority": (int,), "max_retries": (int,), "pause": (bool,), "email": (bool,),
    "models": (str,), "ocio": (str,), "quota": (str,), "publish_cmd": (str,), "timeout": (int, float),
    "balance_rounds": (int,),
    "cores": (int, float), "memory": (str,), "gpus": (int,), "gpu_memory": (str,), "service": (str,),
}


def load_farm_settings(path: Path, base: FarmSettings | None = None) -> FarmSettings:
    """Read a ``farm.toml`` (its ``[farm]`` table) on top of ``base`` (default: the defaults).

    Raises:
        FarmError: the file is missing or unreadable, or lists every bad key and value with the fix.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FarmError("file not found", where=str(path), fix="Check the --farm-config path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FarmError(f"cannot read the file ({exc})", where=str(path), fix="Check the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise FarmError(f"not valid TOML: {exc}", where=str(path), fix="Fix the syntax at that line") from None
    return parse_farm_settings(data, source=str(path), base=base)


def parse_farm_settings(data: Mapping[str, Any], *, source: str = "farm.toml",
                        base: FarmSettings | None = None) -> FarmSettings:
    """Validate a parsed ``farm.toml`` dict (see :func:`load_farm_settings`)."""
    base = base or FarmSettings()
    problems: list[str] = [_misplaced_top(key, data[key]) for key in sorted(set(data) - {"farm"})]
    farm = data.get("farm", {})
    if not isinstance(farm, dict):
        raise FarmError("farm must be a table: write it as [farm]", where=source, fix="See docs/farm.md")
    for key in sorted(set(farm) - _FARM_KEYS):
        if key in LAYER_NAMES:
            problems.append(f"[farm.{key}] is a layer: write it as [farm.layers.{key}]")
        elif key in _LAYER_KEYS:
            problems.append(f"[farm].{key} is a per-layer setting: put it under [farm.layers.generate] (or "
                            f"another of {', '.join(LAYER_NAMES)})")
        else:
            problems.append(f"unknown key [farm].{key}; known keys: {', '.join(sorted(_FARM_KEYS))}")

    changes: dict[str, Any] = {}
    for key, value in farm.items():
        if key in _FARM_KEYS and key in _TYPES:  # a layer key such as gpus is not a [farm] setting
            if _typed(value, _TYPES[key]):
                changes[key] = value
            else:
                problems.append(f"[farm].{key} is {value!r}; it must be {_type_name(_TYPES[key])}")
    if "cuebot" in farm:
        hosts = farm["cuebot"]
        hosts = [hosts] if isinstance(hosts, str) else hosts
        if isinstance(hosts, list) and all(isinstance(h, str) and h for h in hosts):
            changes["cuebot"] = tuple(hosts)
        else:
            problems.append("[farm].cuebot must be \"host:port\" or a list of them")
    if "env" in farm:
        env = farm["env"]
        if isinstance(env, dict) and all(isinstance(v, str) for v in env.values()):
            changes["env"] = {**base.env, **env}
        else:
            problems.append("[farm.env] must be a table of text values, e.g. TMPDIR = \"/scratch\"")

    settings = base.replace(**changes)
    layers = farm.get("layers", {})
    if not isinstance(layers, dict):
        problems.append("[farm].layers must hold tables such as [farm.layers.generate]")
        layers = {}
    for name, table in layers.items():
        where = f"[farm.layers.{name}]"
        if name not in LAYER_NAMES:
            problems.append(f"unknown layer {where}; use one of {', '.join(LAYER_NAMES)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"{where} must be a table")
            continue
        layer_changes: dict[str, Any] = {}
        for key, value in table.items():
            if key not in _LAYER_KEYS:
                problems.append(f"unknown key {where}.{key}; known keys: {', '.join(sorted(_LAYER_KEYS))}")
            elif key in ("tags", "limits"):
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    layer_changes[key] = tuple(value)
                else:
                    problems.append(f"{where}.{key} must be a list of names, e.g. [\"gpu\"]")
            elif _typed(value, _TYPES[key]):
                layer_changes[key] = value
            else:
                problems.append(f"{where}.{key} is {value!r}; it must be {_type_name(_TYPES[key])}")
        settings = settings.with_layer(name, **layer_changes)

    problems.extend(check_settings(settings) if not problems else [])
    if problems:
        raise FarmError(_listing(problems), where=source, fix="Correct the keys above (docs/farm.md lists them)")
    return settings


def _misplaced_top(key: str, value: Any) -> str:
    """Why a key outside ``[farm]`` is wrong, and where it belongs."""
    if key in LAYER_NAMES:
        return f"[{key}] is a layer outside [farm]: write it as [farm.layers.{key}]"
    if key == "layers":
        return "[layers.NAME] is outside [farm]: write it as [farm.layers.NAME]"
    if key in _LAYER_KEYS:
        return (f"{key} at the top of the file is a per-layer setting: put it under [farm.layers.generate] "
                f"(or another of {', '.join(LAYER_NAMES)})")
    if key in _FARM_KEYS:
        return f"{key} is outside [farm]: move it below the [farm] line"
    kind = "table" if isinstance(value, dict) else "key"
    return f"unknown {kind} {key!r} outside [farm]; put every setting under [farm]"


def split_tags(text: str | None) -> tuple[str, ...] | None:
    """``"gpu,cuda12"`` or ``"gpu | cuda12"`` -> ``("gpu", "cuda12")``; None stays None."""
    if text is None:
        return None
    return tuple(t.strip() for t in re.split(r"[,|\s]+", text) if t.strip())


def _typed(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _type_name(types: tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _listing(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
