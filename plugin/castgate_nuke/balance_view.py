"""What ``castgate balance`` did to a batch, in a few lines for the Audit tab (pure; reads the manifest dict).

Per role and pooled: the labels the generator drew on its own (candidates made with the plain prompt),
beside the kept cast, and the steering phrases used with how many of their candidates were kept. The HTML
report adds intervals and verdicts to the same view (docs/balance.md); the panel shows counts only.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

ATTRIBUTES = ("gender", "skin_group")
POOLED = "pooled"


def _label(plate: Mapping[str, Any], attribute: str) -> str:
    human = (plate.get("human_labels") or {}).get(attribute)
    if human:
        return str(human.get("value"))
    auto = (plate.get("labels") or {}).get(attribute)
    return str(auto.get("value")) if auto else "unlabelled"


def _counts(plates: Sequence[Mapping[str, Any]], attribute: str) -> str:
    found: Dict[str, int] = {}
    for plate in plates:
        value = _label(plate, attribute)
        found[value] = found.get(value, 0) + 1
    return ", ".join("{} {}".format(v, n) for v, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def _rejected(plate: Mapping[str, Any]) -> bool:
    reason = plate.get("rejected_reason") or ""
    return reason.startswith("rejected: ") or reason == "no person detected"


def balance_lines(manifest: Mapping[str, Any]) -> List[str]:
    """Lines such as ``nurse: generator on its own skin_group lighter 4 · cast lighter 2, darker 2``; empty
    when the batch was never balanced."""
    record = manifest.get("balance")
    if not record:
        return []
    plates = list(manifest.get("plates") or [])
    roles = [str(r["id"]) for r in (manifest.get("request") or {}).get("roles", []) if "id" in r]
    attributes = [a for a in ATTRIBUTES if any(a in (p.get("labels") or {}) or a in (p.get("human_labels") or {})
                                               for p in plates)]
    lines = ["Balanced: {} (cast {}).".format(record.get("outcome") or ("cast kept" if record.get("feasible")
                                                                           else "no cast yet"),
                                               ", ".join("{} {}".format(r, n)
                                                         for r, n in (record.get("cast") or {}).items()))]
    for scope in roles + [POOLED]:
        mine = [p for p in plates if scope == POOLED or p.get("role") == scope]
        plain = [p for p in mine if not ((p.get("balance") or {}).get("steering")) and not _rejected(p)]
        kept = [p for p in mine if p.get("kept", True)]
        parts = []
        for attribute in attributes:
            parts.append("{}: generator on its own {} · cast {}".format(
                attribute.replace("_", " "), _counts(plain, attribute) or "none", _counts(kept, attribute) or "none"))
        steered: Dict[str, List[int]] = {}
        for plate in mine:
            steering = (plate.get("balance") or {}).get("steering") or {}
            if steering:
                entry = steered.setdefault(", ".join(steering.values()), [0, 0])
                entry[0] += 1
                entry[1] += int(bool(plate.get("kept")))
        steer = ("; steering " + "; ".join("“{}” {} candidates, {} kept".format(phrase, n, k)
                                            for phrase, (n, k) in steered.items())) if steered else "; no steering"
        lines.append("{}: {}{}".format("all roles" if scope == POOLED else scope, " | ".join(parts), steer))
    return lines
