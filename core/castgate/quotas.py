"""Quota files (TOML): the target distribution a batch is gated against, validated before use.

A quota names, per label attribute, the target share of each category (any distribution, not only
parity), and how strictly to judge it: a tolerance, a confidence level, a maximum undetermined share, a
minimum sample and a scope (per role, pooled, or both). Top-level values are defaults that each
attribute table may override. docs/quotas.md describes the format; presets ship in
``castgate/presets/*.toml`` and are named by file stem (``--quota parity``).

Example file::

    name = "parity"
    tolerance = 0.10          # ± 10 points around each target share
    confidence = 0.95
    max_undetermined = 0.10   # at most 10 % of plates may have an unreadable label
    min_sample = 20           # no verdict from fewer determined plates than this
    scope = "both"            # "per_role", "pooled" or "both"

    [gender]
    targets = { female = 0.5, male = 0.5 }

Every problem in a file is reported at once, each naming its key and the fix, e.g.
``quota.toml: [gender].tolerance is 1.5; use 0–1.``

Example:
    >>> quota = load_quota("parity")
    >>> quota.attribute("gender").targets
    {'female': 0.5, 'male': 0.5}
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from castgate.batch.fileio import read_input_text
from castgate.batch.manifest import ATTRIBUTES, UNDETERMINED
from castgate.errors import QuotaFileError
from castgate.stats import CORRECTIONS, METHODS

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_QUOTA = "parity"
SCOPES = ("per_role", "pooled", "both")
QUESTIONS = ("cast", "generator")   # docs/gate.md: the set of plates, or the model behind them
JOINT_SEPARATOR = "×"                # "gender×skin_group"
CELL_SEPARATOR = "·"                 # "female·darker"

# Keys an attribute table (and, as defaults, the top level) may set, with their defaults.
DEFAULTS: dict[str, Any] = {
    "tolerance": 0.10,
    "confidence": 0.95,
    "max_undetermined": 0.10,
    "min_sample": 20,
    "scope": "both",
    "interval": "clopper-pearson",
    "simultaneous": "bonferroni",
}
_TOP_KEYS = {"name", "description", "question", "joint"} | set(DEFAULTS)
_ATTRIBUTE_KEYS = {"targets"} | set(DEFAULTS)
_JOINT_KEYS = {"attributes"} | _ATTRIBUTE_KEYS
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class AttributeQuota:
    """The target for one attribute, with how strictly it is judged."""

    attribute: str
    targets: Mapping[str, float]      # category -> share; the shares sum to 1
    tolerance: float                  # the band is target ± tolerance (a share, 0.1 = ±10 points)
    confidence: float                 # for all of this attribute's intervals together
    max_undetermined: float           # a larger undetermined share makes the scope UNAUDITABLE
    min_sample: int                   # fewer determined plates than this: INSUFFICIENT
    scope: str                        # "per_role", "pooled" or "both"
    interval: str = "clopper-pearson"  # or "wilson"
    simultaneous: str = "bonferroni"   # or "none"
    parts: tuple[str, ...] = ()        # a joint quota's attributes, e.g. ("gender", "skin_group")

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.targets)

    @property
    def is_joint(self) -> bool:
        return bool(self.parts)

    def applies_to(self, kind: str) -> bool:
        """Whether this attribute is gated for a scope kind: ``"role"``, ``"group"`` or ``"pooled"``."""
        if self.scope == "both":
            return True
        return (kind == "role") == (self.scope == "per_role")


@dataclass(frozen=True)
class Quota:
    """A validated quota file: one :class:`AttributeQuota` per gated attribute."""

    name: str
    source: str                       # the preset name or the file it came from
    description: str
    attributes: tuple[AttributeQuota, ...]     # single attributes, then joint quotas
    question: str | None = None                # "cast" or "generator"; None: the default for the source

    def attribute(self, name: str) -> AttributeQuota:
        for item in self.attributes:
            if item.attribute == name:
                return item
        raise KeyError(name)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Every judged name: single attributes and joint ones (``gender×skin_group``)."""
        return tuple(a.attribute for a in self.attributes)

    @property
    def label_attributes(self) -> tuple[str, ...]:
        """The plate label attributes the quota needs (joint quotas' parts included)."""
        names = [a.attribute for a in self.attributes if not a.is_joint]
        names += [p for a in self.attributes for p in a.parts]
        return tuple(dict.fromkeys(names))

    @property
    def joints(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """``{joint name: (attributes, cells)}``."""
        return {a.attribute: (a.parts, a.categories) for a in self.attributes if a.is_joint}

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON output and the manifest's verdict record."""
        return {"name": self.name, "source": self.source, "description": self.description,
                "question": self.question,
                "attributes": [dict(asdict(a), targets=dict(a.targets)) for a in self.attributes]}


# -- finding and reading -----------------------------------------------------------------------------
def preset_names() -> list[str]:
    """Names of the quota presets shipped with castgate."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def is_quota_path(name_or_path: str) -> bool:
    """A quota argument is a path when it has a folder separator or ends in ``.toml``, else a preset name."""
    return "/" in name_or_path or "\\" in name_or_path or name_or_path.endswith(".toml")


def load_quota(name_or_path: str | Path) -> Quota:
    """Load a preset by name or a quota file by path, and validate it.

    Raises:
        QuotaFileError: unknown preset, unreadable file, invalid TOML, or invalid values (all listed).

    Example:
        >>> load_quota("parity").name
        'parity'
    """
    text_arg = str(name_or_path)
    if isinstance(name_or_path, Path) or is_quota_path(text_arg):
        path, source = Path(text_arg), text_arg
    else:
        path, source = PRESETS_DIR / f"{text_arg}.toml", text_arg
        if not path.is_file():
            near = difflib.get_close_matches(text_arg, preset_names(), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise QuotaFileError(
                f"no quota preset named {text_arg!r}; {hint}presets: {', '.join(preset_names())}",
                fix="Pass a preset name or the path of a quota .toml file")
    text = read_input_text(path, lambda problem, fix: QuotaFileError(problem, where=source, fix=fix))
    return parse_quota(text, source=source)


def parse_quota(text: str, *, source: str = "quota.toml") -> Quota:
    """Parse and validate the text of a quota file (pure; see :func:`load_quota`).

    Raises:
        QuotaFileError: listing every problem, e.g. ``quota.toml: [gender].tolerance is 1.5; use 0–1.``

    Example:
        >>> parse_quota('[skin_group]\\ntargets = {lighter = 0.6, darker = 0.4}').attribute("skin_group").targets
        {'lighter': 0.6, 'darker': 0.4}
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QuotaFileError(f"not valid TOML ({exc}); fix the syntax there", where=source) from None
    return quota_from_dict(data, source=source)


def quota_from_dict(data: Mapping[str, Any], *, source: str = "quota.toml") -> Quota:
    """Validate a parsed quota table (see :func:`parse_quota`)."""
    problems: list[str] = []
    attributes_present = [k for k in data if k in ATTRIBUTES]
    for key in data:
        if key not in _TOP_KEYS and key not in ATTRIBUTES:
            problems.append(_unknown_key(key, "", sorted(_TOP_KEYS) + list(ATTRIBUTES)))
    name = data.get("name", Path(source).stem if is_quota_path(source) else source)
    if not isinstance(name, str) or not name:
        problems.append(f"name is {name!r}; use a non-empty string")
        name = str(name)
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("description must be a string")
        description = str(description)
    question = data.get("question")
    if question is not None and question not in QUESTIONS:
        problems.append(f"question is {question!r}; use one of {', '.join(repr(q) for q in QUESTIONS)}")
        question = None
    defaults = dict(DEFAULTS)
    defaults.update(_settings(data, "", problems))
    joints_raw = data.get("joint", [])
    if not isinstance(joints_raw, list):
        problems.append("joint must be an array of tables: write [[joint]] with attributes = [...] and targets")
        joints_raw = []
    if not attributes_present and not joints_raw:
        problems.append(f"no attribute table; add at least one of {', '.join(f'[{a}]' for a in ATTRIBUTES)} "
                        "with targets = {category = share, ...}")
    attributes = []
    for attribute in attributes_present:
        table = data[attribute]
        if not isinstance(table, dict):
            problems.append(f"{attribute} must be a table ([{attribute}] with targets = {{...}})")
            continue
        item = _attribute_quota(attribute, table, defaults, problems)
        if item is not None:
            attributes.append(item)
    for position, table in enumerate(joints_raw, start=1):
        item = _joint_quota(position, table, defaults, problems)
        if item is not None:
            attributes.append(item)
    if problems:
        _raise(problems, source)
    return Quota(name=name, source=source, description=description, attributes=tuple(attributes),
                 question=question)


# -- validation helpers ------------------------------------------------------------------------------
def _raise(problems: list[str], source: str) -> None:
    if len(problems) == 1:
        error = QuotaFileError(problems[0], where=source)
    else:
        listed = "\n".join(f"  - {p}" for p in problems)
        error = QuotaFileError(f"{len(problems)} problems:\n{listed}", where=source)
    error.problems = list(problems)  # type: ignore[attr-defined]
    raise error


def _unknown_key(key: str, prefix: str, known: list[str]) -> str:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(known)}"
    return f"{prefix}{key} is not a known key; {hint}"


def _settings(table: Mapping[str, Any], prefix: str, problems: list[str]) -> dict[str, Any]:
    """Check the strictness keys present in ``table``; return the valid ones."""
    found: dict[str, Any] = {}
    for key in DEFAULTS:
        if key not in table:
            continue
        value = table[key]
        where = f"{prefix}{key}"
        if key in ("tolerance", "max_undetermined"):
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                hint = " (a share: 0.1 means 10 points)" if _is_number(value) and 2 <= value <= 100 else ""
                problems.append(f"{where} is {value!r}; use 0–1{hint}")
                continue
            value = float(value)
        elif key == "confidence":
            if not _is_number(value) or not 0.0 < value < 1.0:
                hint = " (a share: 95 % is 0.95)" if _is_number(value) and 1 < value < 100 else ""
                problems.append(f"{where} is {value!r}; use a value strictly between 0 and 1{hint}")
                continue
            value = float(value)
        elif key == "min_sample":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{where} is {value!r}; use a whole number ≥ 0")
                continue
        elif key == "scope" and value not in SCOPES:
            problems.append(f"{where} is {value!r}; use one of {', '.join(repr(s) for s in SCOPES)}")
            continue
        elif key == "interval" and value not in METHODS:
            problems.append(f"{where} is {value!r}; use one of {', '.join(repr(m) for m in METHODS)}")
            continue
        elif key == "simultaneous" and value not in CORRECTIONS:
            problems.append(f"{where} is {value!r}; use one of {', '.join(repr(c) for c in CORRECTIONS)}")
            continue
        found[key] = value
    return found


def _attribute_quota(attribute: str, table: Mapping[str, Any], defaults: Mapping[str, Any],
                     problems: list[str]) -> AttributeQuota | None:
    prefix = f"[{attribute}]."
    start = len(problems)
    for key in table:
        if key not in _ATTRIBUTE_KEYS:
            problems.append(_unknown_key(key, prefix, sorted(_ATTRIBUTE_KEYS)))
    settings = dict(defaults)
    settings.update(_settings(table, prefix, problems))
    categories = ATTRIBUTES[attribute]
    targets_raw = table.get("targets")
    targets: dict[str, float] = {}
    if targets_raw is None:
        example = ", ".join(f"{c} = {1 / len(categories):.3g}" for c in categories)
        problems.append(f"{prefix}targets is missing; add targets = {{ {example} }}")
    elif not isinstance(targets_raw, dict):
        problems.append(f"{prefix}targets must be a table of category = share")
    else:
        for category, share in targets_raw.items():
            if category == UNDETERMINED:
                problems.append(f"{prefix}targets.{category}: undetermined is not a target category; "
                                "limit it with max_undetermined instead")
            elif category not in categories:
                near = difflib.get_close_matches(category, categories, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                problems.append(f"{prefix}targets.{category} is not a category of {attribute}; {hint}"
                                f"use {', '.join(categories)}")
            elif not _is_number(share) or not 0.0 <= share <= 1.0:
                problems.append(f"{prefix}targets.{category} is {share!r}; use a share 0–1")
            else:
                targets[category] = float(share)
        missing = [c for c in categories if c not in targets_raw]
        if missing:
            problems.append(f"{prefix}targets has no share for {', '.join(missing)}; list every category "
                            f"({', '.join(categories)}), with 0.0 for any that should not appear")
        if targets and not missing and len(targets) == len(targets_raw):
            total = sum(targets.values())
            if abs(total - 1.0) > _SUM_TOLERANCE:
                hint = " (shares are fractions: write 0.5, not 50)" if total > 1.5 else ""
                problems.append(f"{prefix}targets sum to {total:.6g}; make the shares sum to 1{hint}")
    if len(problems) > start:
        return None
    return AttributeQuota(attribute=attribute, targets={c: targets[c] for c in categories}, **settings)


def _joint_quota(position: int, table: Any, defaults: Mapping[str, Any],
                 problems: list[str]) -> AttributeQuota | None:
    """A ``[[joint]]`` table: targets over the cells of two attributes, e.g. female·darker."""
    prefix = f"[[joint]] {position}: "
    if not isinstance(table, dict):
        problems.append(f"{prefix}must be a table with attributes = [...] and targets")
        return None
    start = len(problems)
    for key in table:
        if key not in _JOINT_KEYS:
            problems.append(_unknown_key(key, prefix, sorted(_JOINT_KEYS)))
    parts = table.get("attributes")
    if (not isinstance(parts, list) or len(parts) != 2 or len(set(parts)) != 2
            or not all(p in ATTRIBUTES for p in parts)):
        problems.append(f"{prefix}attributes is {parts!r}; name two different attributes, e.g. "
                        f'attributes = ["gender", "skin_group"] (known: {", ".join(ATTRIBUTES)})')
        return None
    first, second = parts
    settings = dict(defaults)
    settings.update(_settings(table, prefix, problems))
    targets: dict[str, float] = {}
    raw = table.get("targets")
    example = (f"targets = {{ {ATTRIBUTES[first][0]} = {{ {ATTRIBUTES[second][0]} = 0.25, ... }}, ... }}")
    if not isinstance(raw, dict):
        problems.append(f"{prefix}targets must be a table of {first} -> {{{second} -> share}}, e.g. {example}")
        return None
    for a in raw:
        if a not in ATTRIBUTES[first]:
            problems.append(f"{prefix}targets.{a} is not a category of {first}; use {', '.join(ATTRIBUTES[first])}")
    for a in ATTRIBUTES[first]:
        row = raw.get(a)
        if not isinstance(row, dict):
            problems.append(f"{prefix}targets.{a} is missing or not a table; add {a} = {{ "
                            + ", ".join(f"{b} = ..." for b in ATTRIBUTES[second]) + " }")
            continue
        for b in row:
            if b not in ATTRIBUTES[second]:
                problems.append(f"{prefix}targets.{a}.{b} is not a category of {second}; "
                                f"use {', '.join(ATTRIBUTES[second])}")
        for b in ATTRIBUTES[second]:
            share: Any = row.get(b)
            if not _is_number(share) or not 0.0 <= share <= 1.0:
                problems.append(f"{prefix}targets.{a}.{b} is {share!r}; use a share 0–1 (0.0 for a cell "
                                "that should not appear)")
            else:
                targets[f"{a}{CELL_SEPARATOR}{b}"] = float(share)
    if len(problems) == start and abs(sum(targets.values()) - 1.0) > _SUM_TOLERANCE:
        problems.append(f"{prefix}targets sum to {sum(targets.values()):.6g}; make the cell shares sum to 1")
    if len(problems) > start:
        return None
    return AttributeQuota(attribute=f"{first}{JOINT_SEPARATOR}{second}", targets=targets, parts=(first, second),
                          **settings)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
