"""The request file (request.toml): what to generate, validated before any work starts.

Every problem is collected and reported at once, each with its key and a fix; unknown keys are
rejected (a typo must not silently fall back to a default); role ids and the batch name must be safe
folder-and-file names, so no name can leave the batch folder.

Example request::

    [batch]
    name = "hospital_extras"
    seed = 1234

    [models]
    dalle = "dalle-mini"
    vqgan = "vqgan-f16-16384"

    [sampling]
    condition_scale = 10.0

    [[roles]]
    id = "nurse"
    prompt = "a nurse administering medication at a hospital"
    count = 12
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from castgate.balance.settings import BalanceSettings, parse_balance
from castgate.batch.fileio import read_input_text
from castgate.errors import RequestError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")       # use fullmatch: `$` lets a trailing newline in
SAFE_PLATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # a plate id, from the output template
MAX_PLATE_ID = 128          # plate ids become file names (plus temp-file prefixes): keep well under 255 bytes
MAX_TOTAL_IMAGES = 100_000  # plates times candidates in one batch; split larger productions into batches
MAX_PROMPT = 1000           # characters
# Names Windows reserves for devices: a file named so cannot be opened on a studio's Windows workstations.
RESERVED_NAMES = frozenset({"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)),
                            *(f"lpt{n}" for n in range(10))})
DEFAULT_TEMPLATE = "{batch}_{role}_{index:04d}"
TEMPLATE_FIELDS = {"batch", "role", "index"}
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Role:
    id: str
    prompt: str
    count: int


@dataclass(frozen=True)
class Sampling:
    condition_scale: float = 10.0
    top_k: int = 50                  # 0: sample from all tokens; 1: greedy
    temperature: float = 1.0
    candidates_per_plate: int = 1    # > 1: generate k candidates per kept plate, keep the CLIP-best
    keep_rejected_proxies: bool = False  # keep the PNG proxies of candidates selection rejected
    batch_size: int = 4
    dtype: str = "float32"


@dataclass(frozen=True)
class Models:
    dalle: str = "dalle-mini"
    vqgan: str = "vqgan-f16-16384"
    clip: str = "clip-vit-base-patch32"
    root: str | None = None          # folder the names above are relative to
    demo: bool = False               # create tiny random-weight checkpoints on first use


@dataclass(frozen=True)
class Request:
    """A validated request. ``source`` is the file it came from (not part of the batch record)."""

    batch: str
    seed: int
    roles: tuple[Role, ...]
    sampling: Sampling = field(default_factory=Sampling)
    models: Models = field(default_factory=Models)
    output_template: str = DEFAULT_TEMPLATE
    quota: str | None = None
    balance: BalanceSettings | None = None   # the [balance] table, for `castgate balance`
    source: str | None = field(default=None, compare=False)

    def to_record(self) -> dict[str, Any]:
        """The request as stored in the manifest (same sections as the TOML file)."""
        record = {
            "batch": {"name": self.batch, "seed": self.seed, "output_template": self.output_template,
                      "quota": self.quota},
            "models": asdict(self.models),
            "sampling": asdict(self.sampling),
            "roles": [asdict(r) for r in self.roles],
        }
        if self.balance is not None:  # only when given: older records stay exactly as they were
            record["balance"] = self.balance.to_record()
        return record

    @property
    def plate_count(self) -> int:
        return sum(r.count for r in self.roles)


def plate_name(template: str, batch: str, role: str, index: int) -> str:
    """Apply the output name template, e.g. ``hospital_nurse_0003``."""
    return template.format(batch=batch, role=role, index=index)


# -- parsing -----------------------------------------------------------------------------------------
_SECTIONS = {"batch", "models", "sampling", "roles", "balance"}
_BATCH_KEYS = {"name", "seed", "output_template", "quota"}
_ROLE_KEYS = {"id", "prompt", "count"}


def load_request(path: Path) -> Request:
    """Read and validate a request file.

    Raises:
        RequestError: listing every problem found, each with its key and how to fix it.
    """
    path = Path(path)
    text = read_input_text(path, lambda problem, fix: RequestError([f"{problem}; {fix[0].lower()}{fix[1:]}"],
                                                                   path=str(path)))
    return loads_request(text, source=str(path))


def loads_request(text: str, *, source: str = "<stdin>") -> Request:
    """Validate a request given as TOML text (e.g. read from standard input).

    Relative paths in it (a quota file) are resolved against the folder of ``source``: for
    ``"<stdin>"``, the working directory.

    Raises:
        RequestError: as :func:`load_request`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequestError([f"not valid TOML: {exc}; fix the syntax at that line"], path=source) from None
    return parse_request(data, source=source)


def parse_request(data: dict[str, Any], *, source: str = "request.toml") -> Request:
    """Validate a parsed request dict (see :func:`load_request`)."""
    problems: list[str] = []
    _unknown(data, _SECTIONS, "", problems)

    batch = _table(data, "batch", problems)
    _unknown(batch, _BATCH_KEYS, "batch.", problems)
    name = batch.get("name")
    if name is None:
        problems.append("[batch].name is missing; add e.g. name = \"hospital_extras\"")
    elif not isinstance(name, str) or not SAFE_ID.fullmatch(name) or _reserved(name):
        problems.append(f"[batch].name {name!r} is not a safe name; use letters, digits, '_' and '-' "
                        f"(at most 64), e.g. {_suggest_id(name)!r}")
    seed = batch.get("seed", 0)
    if not _is_int(seed) or not 0 <= seed < 2**31:
        problems.append(f"[batch].seed {seed!r} must be an integer from 0 to 2147483647")
    template = batch.get("output_template", DEFAULT_TEMPLATE)
    problems.extend(_template_problems(template))
    quota = batch.get("quota")
    if quota is not None and (not isinstance(quota, str) or not quota):
        problems.append("[batch].quota must be a preset name (e.g. \"parity\") or a path to a quota file")
    elif quota is not None and not Path(quota).is_absolute() and ("/" in quota or quota.endswith(".toml")):
        quota = str((Path(source).parent / quota).resolve())

    sampling = _section(data, "sampling", Sampling, problems)
    models = _section(data, "models", Models, problems)
    if sampling is not None:
        problems.extend(_sampling_problems(sampling))

    roles = _roles(data.get("roles"), problems)
    if sampling is not None and roles and not problems:
        problems.extend(_plate_id_problems(template, str(name), roles, sampling.candidates_per_plate))
    if models is not None and models.root is not None and not Path(models.root).expanduser().is_absolute():
        models = replace(models, root=str((Path(source).parent / models.root).resolve()))
    balance = parse_balance(data["balance"], source=source, problems=problems) if "balance" in data else None
    if problems:
        raise RequestError(problems, path=source)
    assert sampling is not None and models is not None
    return Request(batch=str(name), seed=int(seed), roles=roles, sampling=sampling, models=models,
                   output_template=template, quota=quota, balance=balance, source=source)


def _roles(raw: Any, problems: list[str]) -> tuple[Role, ...]:
    if raw is None:
        problems.append("no [[roles]]; add at least one with id, prompt and count")
        return ()
    if not isinstance(raw, list):
        problems.append("roles must be an array of tables: write each role as [[roles]]")
        return ()
    roles: list[Role] = []
    seen: set[str] = set()
    for n, role in enumerate(raw, start=1):
        where = f"[[roles]] #{n}"
        if not isinstance(role, dict):
            problems.append(f"{where} must be a table with id, prompt and count")
            continue
        _unknown(role, _ROLE_KEYS, f"{where} ", problems)
        role_id, prompt, count = role.get("id"), role.get("prompt"), role.get("count")
        if role_id is None:
            problems.append(f"{where}: id is missing; add e.g. id = \"nurse\"")
        elif not isinstance(role_id, str) or not SAFE_ID.fullmatch(role_id):
            problems.append(f"{where}: id {role_id!r} is not a safe name (it becomes part of file names "
                            f"and must not leave the batch folder); use letters, digits, '_' and '-', "
                            f"e.g. {_suggest_id(role_id)!r}")
        elif _reserved(role_id):
            problems.append(f"{where}: id {role_id!r} is a name Windows reserves for a device; use e.g. "
                            f"{role_id + '_role'!r}")
        elif role_id.casefold() in seen:
            problems.append(f"{where}: id {role_id!r} is used twice (ids differing only in case count as the "
                            "same: file systems on Windows and macOS do not tell them apart); give each role its "
                            "own id")
        else:
            seen.add(role_id.casefold())
        where_id = f"role {role_id!r}" if isinstance(role_id, str) else where
        if prompt is None:
            problems.append(f"{where_id}: prompt is missing; add e.g. prompt = \"a nurse at a hospital\"")
        elif not isinstance(prompt, str) or not prompt.strip():
            problems.append(f"{where_id}: prompt must be non-empty text")
        elif _control(prompt):
            problems.append(f"{where_id}: prompt holds a control character ({_control(prompt)}); plate metadata "
                            "cannot carry it, so write the prompt as plain text")
        elif len(prompt) > MAX_PROMPT:
            problems.append(f"{where_id}: prompt is {len(prompt)} characters; keep it under {MAX_PROMPT} (the "
                            "model reads only its first 64 tokens)")
        if count is None:
            problems.append(f"{where_id}: count is missing; add e.g. count = 12")
        elif not _is_int(count) or count < 1:
            problems.append(f"{where_id}: count {count!r} must be a whole number of at least 1")
        elif count > 100_000:
            problems.append(f"{where_id}: count {count} is above 100000; split the role across batches")
        if all(isinstance(v, t) for v, t in ((role_id, str), (prompt, str), (count, int))):
            roles.append(Role(id=role_id, prompt=prompt.strip(), count=count))
    return tuple(roles)


def _reserved(name: str) -> bool:
    return name.split(".")[0].casefold() in RESERVED_NAMES


def _control(text: str) -> str | None:
    """The first control character in ``text`` (tab and newline allowed), as ``U+0000``; None when clean."""
    for char in text:
        if (ord(char) < 32 and char not in "\t\n") or 127 <= ord(char) < 160:
            return f"U+{ord(char):04X}"
    return None


def _plate_id_problems(template: str, batch: str, roles: tuple[Role, ...], per_plate: int) -> list[str]:
    """Check the id every planned plate gets: safe, bounded, not reserved, unique ignoring case.

    Every plate is checked, not an example: ``{role}{index}`` with roles ``a`` and ``a1`` collides only
    at some indices (finding 1 of issue 14).
    """
    total = sum(r.count for r in roles) * per_plate
    if total > MAX_TOTAL_IMAGES:
        return [f"the request plans {total} images (plates times [sampling].candidates_per_plate), above "
                f"{MAX_TOTAL_IMAGES}; split it into several batches"]
    seen: dict[str, tuple[str, int]] = {}
    for role in roles:
        for index in range(role.count * per_plate):
            try:
                plate_id = plate_name(template, batch, role.id, index)
            except (ValueError, KeyError, IndexError) as exc:
                return [f"[batch].output_template {template!r} fails for role {role.id!r} ({exc})"]
            if len(plate_id) > MAX_PLATE_ID:
                return [f"[batch].output_template gives role {role.id!r} a name of {len(plate_id)} characters "
                        f"at index {index}; keep names under {MAX_PLATE_ID}"]
            if not SAFE_PLATE_ID.fullmatch(plate_id):
                return [f"[batch].output_template gives role {role.id!r} the name {plate_id!r} at index {index}; "
                        "keep to letters, digits, '_', '-' and '.' (no '/', no spaces or line breaks)"]
            if _reserved(plate_id):
                return [f"[batch].output_template gives role {role.id!r} the name {plate_id!r}, which Windows "
                        "reserves for a device; add the batch or a prefix to the template"]
            key = plate_id.casefold()
            if key in seen:
                other_role, other_index = seen[key]
                return [f"[batch].output_template gives two plates the same name {plate_id!r} (role "
                        f"{other_role!r} index {other_index} and role {role.id!r} index {index}; names differing "
                        "only in case count as the same); use a template such as \"{batch}_{role}_{index:04d}\" "
                        "that keeps role and index apart"]
            seen[key] = (role.id, index)
    return []


def _sampling_problems(s: Sampling) -> list[str]:
    problems = []
    for key in ("condition_scale", "temperature"):
        value = getattr(s, key)
        if not math.isfinite(value):
            problems.append(f"[sampling].{key} {value} must be a finite number")
    if not s.condition_scale >= 1.0:
        problems.append(f"[sampling].condition_scale {s.condition_scale} must be at least 1 (1 = no guidance)")
    if s.top_k < 0:
        problems.append(f"[sampling].top_k {s.top_k} must be 0 (all tokens) or more")
    if not s.temperature > 0:
        problems.append(f"[sampling].temperature {s.temperature} must be above 0")
    if not 1 <= s.candidates_per_plate <= 64:
        problems.append(f"[sampling].candidates_per_plate {s.candidates_per_plate} must be from 1 to 64")
    if not 1 <= s.batch_size <= 1024:
        problems.append(f"[sampling].batch_size {s.batch_size} must be from 1 to 1024")
    if s.dtype not in DTYPES:
        problems.append(f"[sampling].dtype {s.dtype!r} must be one of {', '.join(DTYPES)}")
    return problems


def _template_problems(template: Any) -> list[str]:
    if not isinstance(template, str):
        return ["[batch].output_template must be text like \"{batch}_{role}_{index:04d}\""]
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        example = plate_name(template, "batch", "role", 7)
    except (ValueError, KeyError, IndexError) as exc:
        return [f"[batch].output_template {template!r} is not a valid template ({exc}); "
                f"use the fields {{batch}}, {{role}} and {{index}}"]
    problems = []
    if fields - TEMPLATE_FIELDS:
        problems.append(f"[batch].output_template uses unknown field(s) {sorted(fields - TEMPLATE_FIELDS)}; "
                        f"only {{batch}}, {{role}} and {{index}} exist")
    elif "index" not in fields or "role" not in fields:
        problems.append("[batch].output_template must contain {role} and {index} so every plate gets its own name")
    elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", example):
        problems.append(f"[batch].output_template gives names like {example!r}; "
                        "keep to letters, digits, '_', '-' and '.' (no '/')")
    elif len(example) > MAX_PLATE_ID:
        problems.append(f"[batch].output_template gives names of {len(example)} characters; keep names under "
                        f"{MAX_PLATE_ID}")
    return problems


def _section(data: dict, name: str, cls: type, problems: list[str]) -> Any:
    table = _table(data, name, problems)
    defaults = cls()
    known = {f for f in asdict(defaults)}
    _unknown(table, known, f"{name}.", problems)
    values = {}
    for key in known & table.keys():
        expected = type(getattr(defaults, key))
        value = table[key]
        if key == "root" and (value is None or isinstance(value, str) and value.strip() and "\x00" not in value):
            values[key] = value
        elif key == "root" and value is not None:
            problems.append(f"[{name}].root is {value!r}; it must be a folder path (text), relative to the "
                            "request file or absolute")
        elif expected is float and _is_int(value) and abs(value) < 2 ** 63:
            values[key] = float(value)
        elif isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
            values[key] = value
        else:
            problems.append(f"[{name}].{key} is {value!r}; it must be {_type_name(expected)}")
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        problems.append(f"[{name}]: {exc}")
        return None


def _table(data: dict, name: str, problems: list[str]) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"{name} must be a table: write it as [{name}]")
        return {}
    return table


def _unknown(table: dict, known: set[str], prefix: str, problems: list[str]) -> None:
    for key in sorted(set(table) - known):
        hint = f"; known keys: {', '.join(sorted(known))}"
        problems.append(f"unknown key {prefix}{key}{hint}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(t: type) -> str:
    return {float: "a number", int: "a whole number", bool: "true or false", str: "text"}.get(t, t.__name__)


def _suggest_id(value: Any) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", str(value)).strip("_-") or "role"
    return cleaned[:64]
