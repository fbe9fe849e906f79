"""Tiny castgate batches on disk for the plugin tests (and for the fake castgate command).

A batch is written as castgate writes it: PNG proxies and ACEScg EXRs under ``plates/``, and a
``manifest.json`` that follows core/castgate/schema/manifest.schema.json, built as plain JSON so
that the fake command and the tests need nothing of castgate's core.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

SIZE = (48, 64)  # width, height: small, and not square, so format checks mean something
SKIN = {"lighter": (233, 196, 170), "darker": (122, 80, 52)}
SHIRT = {"female": (196, 72, 120), "male": (58, 110, 180), "undetermined": (130, 130, 130)}
BAND = (0.4, 0.6)


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def draw_plate(path_png: Path, path_exr: Path, gender: str, skin: str, seed: int) -> None:
    """A little figure (head and shirt) on a background; the EXR is the same image, linear, RGBA half."""
    import numpy as np  # imported here: the fake castgate command starts fast when it draws nothing
    import OpenEXR
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    background = tuple(int(v) for v in rng.integers(150, 230, size=3))
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    w, h = SIZE
    draw.rectangle([w * 0.2, h * 0.55, w * 0.8, h], fill=SHIRT.get(gender, SHIRT["undetermined"]))
    draw.ellipse([w * 0.3, h * 0.18, w * 0.7, h * 0.55], fill=SKIN.get(skin, (180, 150, 120)))
    path_png.parent.mkdir(parents=True, exist_ok=True)
    image.save(path_png)
    srgb = np.asarray(image, dtype=np.float32) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    rgba = np.concatenate([linear, np.ones(linear.shape[:2] + (1,), np.float32)], axis=2).astype(np.float16)
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"RGBA": rgba}).write(str(path_exr))


def auto_label(value: str, confidence: float) -> Dict[str, Any]:
    return {"value": value, "method": "test fixture", "model": "fixture", "version": "0",
            "confidence": confidence, "reason": None if value != "undetermined" else "no face", "details": {}}


def write_batch(folder: Path, name: str, roles: Sequence[Tuple[str, str, Sequence[Tuple[str, str]]]],
                seed: int = 7, verdict: Optional[Dict[str, Any]] = None) -> Path:
    """Write a batch: ``roles`` is ``[(role_id, prompt, [(gender, skin_group), ...]), ...]``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plates = []
    for role, prompt, people in roles:
        for index, (gender, skin) in enumerate(people):
            plate_id = "{}_{}_{:04d}".format(name, role, index)
            png = folder / "plates" / (plate_id + ".png")
            exr = folder / "plates" / (plate_id + ".exr")
            plate_seed = seed * 1000 + len(plates)
            draw_plate(png, exr, gender, skin, plate_seed)
            plates.append({
                "id": plate_id, "role": role, "index": index, "prompt": prompt, "seed": plate_seed,
                "files": {"png": {"path": "plates/{}.png".format(plate_id), "sha256": sha256(png)},
                          "exr": {"path": "plates/{}.exr".format(plate_id), "sha256": sha256(exr)}},
                "scores": {"clip": 27.5}, "rank": 1, "kept": True, "rejected_reason": None,
                "labels": {"gender": auto_label(gender, 0.9), "skin_group": auto_label(skin, 0.8)},
                "human_labels": {},
                "audit": {"plate_sha256": sha256(png), "time": now(), "tool": "fixture", "error": None},
            })
    manifest = {
        "schema_version": 1, "castgate_version": "0.1.0", "batch": name, "created": now(),
        "request": {"batch": {"name": name, "seed": seed, "quota": "parity"},
                    "roles": [{"id": r, "prompt": p, "count": len(people)} for r, p, people in roles],
                    "sampling": {}, "models": {}},
        "models": {}, "sampling": {},
        "colour": {"ocio_config": "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4", "exr_colourspace": "ACEScg",
                   "png_colourspace": "sRGB - Texture"},
        "plates": plates, "events": [event("generate", count=len(plates))],
        "audit_settings": {}, "agreement": {}, "verdict": verdict,
    }
    write_manifest(folder, manifest)
    return folder


def event(kind: str, user: str = "tester", **details: Any) -> Dict[str, Any]:
    return {"kind": kind, "time": now(), "user": user, "host": socket.gethostname(), "details": details}


def read_manifest(folder: Path) -> Dict[str, Any]:
    return json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))


def write_manifest(folder: Path, manifest: Dict[str, Any]) -> None:
    path = Path(folder) / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def effective(plate: Dict[str, Any], attribute: str) -> str:
    if attribute in plate.get("human_labels", {}):
        return plate["human_labels"][attribute]["value"]
    return plate.get("labels", {}).get(attribute, {}).get("value", "undetermined")


def gate_result(manifest: Dict[str, Any], forced: Optional[str] = None) -> Dict[str, Any]:
    """A gate result shaped like ``castgate gate --json`` (GateResult.to_dict): female and lighter shares
    per role and pooled against a 0.4-0.6 band. ``forced`` overrides the overall verdict."""
    kept = [p for p in manifest["plates"] if p.get("kept", True)]
    groups: List[Tuple[str, str, List[Dict[str, Any]]]] = [
        (r["id"], "role", [p for p in kept if p["role"] == r["id"]]) for r in manifest["request"]["roles"]]
    groups.append(("pooled", "pooled", kept))
    scopes = []
    for scope, kind, plates in groups:
        attributes = []
        for attribute, categories in (("gender", ("female", "male")), ("skin_group", ("lighter", "darker"))):
            values = [effective(p, attribute) for p in plates]
            determined = [v for v in values if v != "undetermined"]
            n = len(determined)
            results = []
            for category in categories:
                share = sum(v == category for v in determined) / n if n else 0.0
                low, high = _wilson(share, n)
                if n < 4:
                    verdict = "INSUFFICIENT"
                elif high < BAND[0] or low > BAND[1]:
                    verdict = "FAIL"
                elif low >= BAND[0] - 0.25 and high <= BAND[1] + 0.25:
                    verdict = "PASS"
                else:
                    verdict = "INSUFFICIENT"
                results.append({"category": category, "count": sum(v == category for v in determined),
                                "share": share, "share_of_all": share, "low": low, "high": high, "target": 0.5,
                                "band_low": BAND[0], "band_high": BAND[1], "verdict": verdict,
                                "more_determined": 8 if verdict == "INSUFFICIENT" else 0})
            names = {r["verdict"] for r in results}
            verdict = "FAIL" if "FAIL" in names else "INSUFFICIENT" if "INSUFFICIENT" in names else "PASS"
            attributes.append({"attribute": attribute, "gated": True, "verdict": verdict, "plate_count": len(values),
                               "determined": n, "undetermined": len(values) - n, "tolerance": 0.1,
                               "more_plates": 8 if verdict == "INSUFFICIENT" else 0, "categories": results,
                               "reason": "{} of {} {}".format(results[0]["count"], n, results[0]["category"])})
        names = {a["verdict"] for a in attributes}
        verdict = "FAIL" if "FAIL" in names else "INSUFFICIENT" if "INSUFFICIENT" in names else "PASS"
        scopes.append({"scope": scope, "kind": kind, "title": scope, "plate_count": len(plates),
                       "verdict": verdict, "attributes": attributes})
    names = {s["verdict"] for s in scopes}
    overall = forced or ("FAIL" if "FAIL" in names else "INSUFFICIENT" if "INSUFFICIENT" in names else "PASS")
    problems = [] if overall == "PASS" else [{
        "check": "quota_gender", "verdict": overall, "message": "manager: gender is outside its band",
        "plate_ids": [], "plate_count": 0, "fix": "Generate more plates for manager (castgate balance)",
        "repair": None, "scope": "manager"}]
    return {"verdict": overall, "exit_code": {"PASS": 0, "INSUFFICIENT": 3}.get(overall, 1),
            "summary": "{}: see the roles below".format(overall), "time": now(),
            "quota": {"name": "parity", "source": "parity"}, "scopes": scopes, "problems": problems}


def verdict_record(result: Dict[str, Any]) -> Dict[str, Any]:
    """The compact form the gate keeps in ``manifest["verdict"]``: verdicts and reasons, no intervals."""
    return {"verdict": result["verdict"], "exit_code": result["exit_code"], "time": result["time"],
            "summary": result["summary"], "quota": {"name": "parity", "source": "parity"},
            "scopes": [{"scope": s["scope"], "kind": s["kind"], "verdict": s["verdict"],
                        "attributes": {a["attribute"]: {"verdict": a["verdict"], "reason": a["reason"]}
                                       for a in s["attributes"]}} for s in result["scopes"]],
            "problems": result["problems"]}


def _wilson(share: Optional[float], n: int, z: float = 1.96) -> Tuple[float, float]:
    if share is None or n == 0:
        return (0.0, 1.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - spread), min(1.0, centre + spread))


BALANCED = [("female", "lighter"), ("male", "darker"), ("female", "darker"), ("male", "lighter")]
