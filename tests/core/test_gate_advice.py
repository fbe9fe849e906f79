"""Every command the gate's advice names exists in the command line."""

from __future__ import annotations

import re
from pathlib import Path

from batch_factory import labelled, make_batch

from castgate.gate import gate_batch, gate_label_table
from castgate.labels_table import parse_label_table
import click

from castgate_cli.main import cli

COMMAND = re.compile(r"(?<!from )\bcastgate ([a-z][a-z_-]*)\b")
GATE_SOURCES = Path(__file__).resolve().parents[2] / "core" / "castgate" / "gate"


def named_commands(text: str) -> set[str]:
    return set(COMMAND.findall(text))


def all_texts(result) -> str:
    parts = [result.summary]
    for problem in result.problems:
        parts += [problem.message, problem.fix or "", problem.repair or ""]
    for scope in result.scopes:
        for attribute in scope.attributes:
            parts += [attribute.reason, attribute.explanation]
    return "\n".join(parts)


def test_every_command_named_in_advice_exists(tmp_path: Path):
    known = set(cli.list_commands(click.Context(cli)))
    table = "role,gender,skin_group,count\na,female,lighter,30\na,male,darker,5\nb,female,lighter,2\nb,male,darker,1\n"
    results = [gate_label_table(parse_label_table(table), "parity", question=q) for q in ("cast", "generator")]
    batch = make_batch(tmp_path / "b", {"nurse": labelled(6, gender="female", skin_group="lighter")
                                        + labelled(2, gender="undetermined", skin_group="darker")})
    results += [gate_batch(batch, "parity", record=False, question=q) for q in ("cast", "generator")]
    verdicts = {r.verdict for r in results} | {a.verdict for r in results for s in r.scopes for a in s.attributes}
    assert {"FAIL", "UNDECIDED", "INSUFFICIENT", "UNAUDITABLE"} <= verdicts
    named = set().union(*(named_commands(all_texts(r)) for r in results))
    assert {"review"} <= named and named <= known, named - known
    for source in GATE_SOURCES.glob("*.py"):
        in_advice = named_commands(source.read_text(encoding="utf-8"))
        assert in_advice <= known, f"{source.name} names {in_advice - known}"
