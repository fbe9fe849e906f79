"""A fake ``castgate`` command for the panel's end-to-end tests.

It speaks the real command's machine contract (cli/castgate_cli/output.py): with ``--json`` the
result is one JSON object on stdout printed last, progress JSON lines go to stderr, input errors are
``{"error", "type"}`` with exit 2, and gate exit codes are 0 PASS, 1 blocked, 3 INSUFFICIENT. It
writes real little batches (plate_batch.py), so the panel reads real manifests.

Knobs (environment):
    FAKE_CASTGATE_LOG      append each call's argv as a JSON line to this file
    FAKE_CASTGATE_VERDICT  force the gate's verdict name (default: computed from the labels)
    FAKE_CASTGATE_DELAY    seconds to sleep after each progress line (default 0)
    FAKE_CASTGATE_ERROR    answer every command with an input error (exit 2)
"""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plate_batch  # noqa: E402

EXIT = {"PASS": 0, "FAIL": 1, "UNAUDITABLE": 1, "TAMPERED": 1, "INSUFFICIENT": 3}


def progress(stage: str, done: int, total: int) -> None:
    eta = None if done == 0 else round(0.5 * (total - done), 1)
    sys.stderr.write(json.dumps({"event": "progress", "stage": stage, "done": done, "total": total,
                                 "eta_s": eta}) + "\n")
    sys.stderr.flush()
    time.sleep(float(os.environ.get("FAKE_CASTGATE_DELAY", "0")))


def result(data: Dict[str, Any], code: int = 0) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.exit(code)


def error(message: str, kind: str = "ManifestError") -> None:
    sys.stdout.write(json.dumps({"error": message, "type": kind}) + "\n")
    sys.exit(2)


def option(args: List[str], name: str, default: Any = None) -> Any:
    return args[args.index(name) + 1] if name in args else default


def options(args: List[str], name: str) -> List[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def people_for(count: int) -> List[Any]:
    return [plate_batch.BALANCED[i % len(plate_batch.BALANCED)] for i in range(count)]


def make_batch(request_path: str, batch: str) -> Dict[str, Any]:
    request = tomllib.loads(Path(request_path).read_text(encoding="utf-8"))
    roles = request["roles"]
    total = sum(int(r["count"]) for r in roles)
    sys.stderr.write("castgate: INFO: generating {} plates\n".format(total))
    for done in range(total + 1):
        progress("generate", done, total)
    plate_batch.write_batch(Path(batch), request["batch"]["name"],
                            [(r["id"], r["prompt"], people_for(int(r["count"]))) for r in roles],
                            seed=int(request["batch"].get("seed", 7)))
    return plate_batch.read_manifest(Path(batch))


def gate(batch: str) -> Dict[str, Any]:
    manifest = plate_batch.read_manifest(Path(batch))
    verdict = plate_batch.gate_result(manifest, os.environ.get("FAKE_CASTGATE_VERDICT") or None)
    manifest["verdict"] = plate_batch.verdict_record(verdict)
    manifest["events"].append(plate_batch.event("gate", verdict=verdict["verdict"]))
    plate_batch.write_manifest(Path(batch), manifest)
    return verdict


def write_report(batch: str, out: str) -> str:
    path = Path(out) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<html><body>fake report for {}</body></html>\n".format(batch), encoding="utf-8")
    return str(path)


def main(args: List[str]) -> None:
    log = os.environ.get("FAKE_CASTGATE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(args) + "\n")
    if args[:1] == ["--version"]:
        print("castgate, version 0.1.0 (fake)")
        return
    if os.environ.get("FAKE_CASTGATE_ERROR"):
        error(os.environ["FAKE_CASTGATE_ERROR"], "RequestError")
    name = args[0]
    if name in ("run", "generate"):
        request, batch = args[1], option(args, "-o")
        manifest = make_batch(request, batch)
        out = {"batch": manifest["batch"], "batch_dir": batch, "plates": len(manifest["plates"])}
        if name == "generate":
            result(out)
        kept = len(manifest["plates"])
        for done in range(kept + 1):
            progress("audit", done, kept)
        verdict = gate(batch)
        progress("report", 1, 1)
        write_report(batch, str(Path(batch) / "report"))
        out.update(verdict=verdict["verdict"], exit_code=EXIT[verdict["verdict"]], gate=verdict,
                   report={"html": str(Path(batch) / "report" / "report.html")})
        result(out, EXIT[verdict["verdict"]])
    if name == "balance":  # one plain round that happens to meet the quota; the cast is every plate
        request, batch = args[1], option(args, "-o")
        balance = tomllib.loads(Path(request).read_text(encoding="utf-8")).get("balance")
        if balance is None:
            error("{}: no [balance] table".format(request), "RequestError")
        manifest = make_batch(request, batch)
        cast = {}
        for plate in manifest["plates"]:
            plate["balance"] = {"round": 1, "aim": None, "steering": {}}
            cast[plate["role"]] = cast.get(plate["role"], 0) + 1
        manifest["balance"] = {"cast": cast, "outcome": "passed", "feasible": True, "rounds": []}
        plate_batch.write_manifest(Path(batch), manifest)
        result({"batch": manifest["batch"], "status": "passed", "exit_code": 0, "cast": cast, "review": [],
                "shortfall": {}, "tried": "round 1: plain prompt", "budget": balance.get("budget")})
    if name == "gate":
        batch = args[1]
        if not (Path(batch) / "manifest.json").is_file():
            error("{}: no manifest.json here: this is not a castgate batch folder.".format(batch))
        verdict = gate(batch)
        result(verdict, EXIT[verdict["verdict"]])
    if name == "report":
        result({"report": write_report(args[1], option(args, "-o"))})
    if name == "review":
        batch, plate_id, reviewer = args[1], option(args, "--plate"), option(args, "--reviewer")
        manifest = plate_batch.read_manifest(Path(batch))
        plates = [p for p in manifest["plates"] if p["id"] == plate_id]
        if not plates:
            error("no plate with id {!r} in batch {!r}.".format(plate_id, manifest["batch"]))
        labels = dict(item.split("=", 1) for item in options(args, "--set"))
        for attribute, value in labels.items():
            plates[0]["human_labels"][attribute] = {"value": value, "reviewer": reviewer,
                                                    "time": plate_batch.now(), "note": None}
        manifest["events"].append(plate_batch.event("review", user=reviewer, plate=plate_id, labels=labels))
        plate_batch.write_manifest(Path(batch), manifest)
        result({"plate": plate_id, "labels": labels, "reviewer": reviewer})
    if name == "override":
        batch, reason = args[1], option(args, "--reason", "")
        if not reason.strip():
            error("--reason is empty.", "OverrideReasonError")
        manifest = plate_batch.read_manifest(Path(batch))
        verdict = (manifest.get("verdict") or {}).get("verdict")
        ev = plate_batch.event("import-override", user=option(args, "--user", "tester"), reason=reason,
                               verdict=verdict)
        manifest["events"].append(ev)
        plate_batch.write_manifest(Path(batch), manifest)
        result({"batch": manifest["batch"], "event": ev, "verdict": verdict})
    if args[:2] == ["farm", "submit"]:
        result({"job_id": "fake-4242", "job": "castgate-" + Path(option(args, "-o")).name})
    error("fake castgate does not know {!r}".format(args), "UsageError")


if __name__ == "__main__":
    main(sys.argv[1:])
