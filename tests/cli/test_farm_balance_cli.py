"""`castgate farm submit --balance`: the balance job's layers from the command line (the spec itself is
golden-tested in tests/golden/opencue/balance/)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from click.testing import CliRunner

from castgate_cli.main import cli

REQUEST = """
[batch]
name = "ward_balance"
seed = 5

[models]
demo = true

[[roles]]
id = "nurse"
prompt = "a nurse at a hospital"
count = 4

[balance]
budget = 4
"""


def submit(tmp_path, *args):
    request = tmp_path / "request.toml"
    request.write_text(REQUEST)
    env = {"USER": "artist", "CASTGATE_FARM_CONFIG": "", "CUEBOT_HOSTS": ""}
    return CliRunner().invoke(cli, ["farm", "submit", str(request), "-o", str(tmp_path / "batch"), "--dry-run",
                                    "--uid", "4242", "--shards", "2", *args], env=env)


def test_balance_job_has_rounds_of_generate_and_select_then_the_gate(tmp_path):
    result = submit(tmp_path, "--balance", "--balance-rounds", "3", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    names = [layer["name"] for layer in out["layers"]]
    assert names == ["plan", "generate_1", "select_1", "generate_2", "select_2", "generate_3", "select_3", "gate"]
    commands = {layer["name"]: layer["command"] for layer in out["layers"]}
    assert "--step generate --shard '#IFRAME#/2'" in commands["generate_2"]
    assert commands["select_3"].endswith("--step select --last") and not commands["select_2"].endswith("--last")
    assert [layer["depends_on"] for layer in out["layers"]][1:] == names[:-1]
    layers = {layer.get("name"): layer for layer in ElementTree.fromstring(out["spec"]).iter("layer")}
    assert layers["generate_1"].findtext("range") == "1-2" and layers["generate_1"].findtext("gpus") == "1"
    assert layers["select_1"].findtext("gpus") in (None, "0")


def test_balance_rounds_need_balance(tmp_path):
    result = submit(tmp_path, "--balance-rounds", "2")
    assert result.exit_code == 2 and "--balance-rounds works with --balance" in result.output
