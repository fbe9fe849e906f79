"""The request's ``[balance]`` table: how ``castgate balance`` may cast a crowd that meets the quota.

Validated with the rest of the request (:mod:`castgate.request`), every problem named with its key and
a fix. Steering is off unless the request turns it on; phrases are only ever added to a prompt for a
category the quota knows, and every plate records the prompt actually used.

Example table::

    [balance]
    budget = 8                        # at most 8 candidates generated per kept plate
    quota = "parity"                  # else the request's [batch].quota, else parity
    steering = true                   # off unless turned on here
    steering_template = "{prompt}, {phrase}"

    [balance.phrases.gender]
    female = "a woman"
    male = "a man"

    [balance.phrases.skin_group]
    darker = "with dark skin"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from castgate.batch.manifest import ATTRIBUTES

STEERABLE = ("gender", "skin_group")   # attributes a phrase may steer
DEFAULT_TEMPLATE = "{prompt}, {phrase}"
_KEYS = {"budget", "quota", "steering", "steering_template", "phrases", "first_round", "plain_rounds"}


@dataclass(frozen=True)
class BalanceSettings:
    """A validated ``[balance]`` table (defaults when the request has none)."""

    budget: int = 8                   # most candidates generated per kept plate (per role: budget * count)
    quota: str | None = None          # preset name or quota path; None: the request's quota, else parity
    steering: bool = False            # may phrases be added to prompts at all
    steering_template: str = DEFAULT_TEMPLATE   # where the phrase goes: "{prompt}" and "{phrase}"
    phrases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # attribute -> category -> phrase
    first_round: int = 2              # candidates per kept plate in the first (plain) round
    plain_rounds: int = 2             # rounds with the plain prompt before steering (the first included)

    def to_record(self) -> dict[str, Any]:
        """The table as stored in the manifest's request (same keys as the TOML)."""
        return {"budget": self.budget, "quota": self.quota, "steering": self.steering,
                "steering_template": self.steering_template,
                "phrases": {a: dict(p) for a, p in self.phrases.items()},
                "first_round": self.first_round, "plain_rounds": self.plain_rounds}

    def phrase(self, attribute: str, category: str) -> str | None:
        """The steering phrase for a category, or None when the request gives none."""
        return self.phrases.get(attribute, {}).get(category)

    def steered_prompt(self, prompt: str, phrases: list[str]) -> str:
        """The prompt with the phrases put where ``steering_template`` says (phrases joined by ", ")."""
        return self.steering_template.format(prompt=prompt, phrase=", ".join(phrases))


def parse_balance(raw: Any, *, source: str, problems: list[str]) -> BalanceSettings | None:
    """Validate a ``[balance]`` table; append every problem (key + fix) to ``problems``.

    Returns None when there were problems (the caller raises them all at once).
    """
    if not isinstance(raw, dict):
        problems.append("balance must be a table: write it as [balance]")
        return None
    start = len(problems)
    for key in sorted(set(raw) - _KEYS):
        problems.append(f"unknown key balance.{key}; known keys: {', '.join(sorted(_KEYS))}")
    defaults = BalanceSettings()
    budget = raw.get("budget", defaults.budget)
    if not _is_int(budget) or not 1 <= budget <= 64:
        problems.append(f"[balance].budget {budget!r} must be a whole number from 1 to 64: the most candidates "
                        "generated per kept plate (e.g. budget = 8)")
    first_round = raw.get("first_round", defaults.first_round)
    if not _is_int(first_round) or first_round < 1:
        problems.append(f"[balance].first_round {first_round!r} must be a whole number of at least 1 "
                        "(candidates per kept plate in the first round, e.g. 2)")
    elif _is_int(budget) and first_round > budget:
        problems.append(f"[balance].first_round {first_round} is above the budget {budget}; "
                        f"set first_round to at most {budget}")
    plain_rounds = raw.get("plain_rounds", defaults.plain_rounds)
    if not _is_int(plain_rounds) or plain_rounds < 1:
        problems.append(f"[balance].plain_rounds {plain_rounds!r} must be a whole number of at least 1 "
                        "(rounds with the plain prompt before any steering)")
    steering = raw.get("steering", defaults.steering)
    if not isinstance(steering, bool):
        problems.append(f"[balance].steering {steering!r} must be true or false (false: never change a prompt)")
    quota = raw.get("quota")
    if quota is not None and (not isinstance(quota, str) or not quota):
        problems.append("[balance].quota must be a preset name (e.g. \"parity\") or a path to a quota file")
    elif isinstance(quota, str) and not Path(quota).is_absolute() and ("/" in quota or quota.endswith(".toml")):
        quota = str((Path(source).parent / quota).resolve())
    template = raw.get("steering_template", defaults.steering_template)
    problems.extend(_template_problems(template))
    phrases = _phrases(raw.get("phrases", {}), problems)
    if steering is True and not any(phrases.values()):
        problems.append("[balance].steering = true but no phrases are given; add e.g. "
                        "[balance.phrases.gender] with female = \"a woman\", or set steering = false")
    if len(problems) > start:
        return None
    return BalanceSettings(budget=budget, quota=quota, steering=steering, steering_template=template,
                           phrases=phrases, first_round=first_round, plain_rounds=plain_rounds)


def _phrases(raw: Any, problems: list[str]) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        problems.append("balance.phrases must be a table of tables, e.g. [balance.phrases.gender]")
        return {}
    found: dict[str, dict[str, str]] = {}
    for attribute, table in raw.items():
        if attribute not in STEERABLE:
            problems.append(f"[balance.phrases.{attribute}]: {attribute!r} cannot be steered; "
                            f"use one of {', '.join(STEERABLE)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"balance.phrases.{attribute} must be a table of category = \"phrase\"")
            continue
        categories = ATTRIBUTES[attribute]
        for category, phrase in table.items():
            where = f"[balance.phrases.{attribute}].{category}"
            if category not in categories:
                problems.append(f"{where}: {category!r} is not a category of {attribute}; "
                                f"use {', '.join(categories)}")
            elif not isinstance(phrase, str) or not phrase.strip():
                problems.append(f"{where} must be non-empty text, e.g. {category} = \"…\"")
            elif "{" in phrase or "}" in phrase:
                problems.append(f"{where} {phrase!r} must not contain braces")
            else:
                found.setdefault(attribute, {})[category] = phrase.strip()
    return found


def _template_problems(template: Any) -> list[str]:
    if not isinstance(template, str):
        return ["[balance].steering_template must be text like \"{prompt}, {phrase}\""]
    try:
        template.format(prompt="p", phrase="q")
    except (KeyError, IndexError, ValueError) as exc:
        return [f"[balance].steering_template {template!r} is not a valid template ({exc}); "
                "use only {prompt} and {phrase}, e.g. \"{prompt}, {phrase}\""]
    if "{prompt}" not in template or "{phrase}" not in template:
        return [f"[balance].steering_template {template!r} must contain both {{prompt}} and {{phrase}}, "
                "e.g. \"{prompt}, {phrase}\" or \"{phrase} {prompt}\""]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
