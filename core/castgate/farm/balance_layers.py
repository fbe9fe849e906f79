"""The farm job of ``castgate farm submit --balance``: the balance loop as layers (pure).

The loop's number of rounds depends on what the generator draws, but a farm job is a fixed graph, so the
job holds ``balance_rounds`` rounds, each a GPU layer that generates and a cheap CPU layer that audits and
selects (docs/farm.md, "Balance on the farm", says why this layout)::

    plan        frame 1     castgate balance REQUEST -o BATCH --step plan
    generate_1  frames 1-N  castgate balance REQUEST -o BATCH --step generate --shard <frame>/N   (GPU)
    select_1    frame 1     castgate balance REQUEST -o BATCH --step select
    ...                     (rounds 2 … R alike; select_R adds --last)
    gate        frame 1     castgate gate BATCH [--quota Q]
    publish     frame 1     the studio's --publish-cmd (optional)

A round with nothing to do (the cast already passed, or a shard with no plates) finishes in a second.
Resources: generate layers take the ``generate`` layer's (GPU hosts); plan and select the ``audit``
layer's (the audit runs there); gate and publish their own.
"""

from __future__ import annotations


from castgate.farm.layers import RENDER, UTIL, FarmLayer, publish_argv
from castgate.farm.environment import castgate_command
from castgate.farm.settings import DEFAULT_SHARDS, FarmSettings
from castgate.request import Request


def balance_layers(request: Request, request_file: str, batch: str, settings: FarmSettings,
                   frame_token: str) -> list[FarmLayer]:
    """The layers of a balance job, in dependency order (see the module docstring)."""
    castgate = castgate_command(settings)
    shards = settings.shards or DEFAULT_SHARDS
    rounds = settings.balance_rounds or 1
    quota = ["--quota", settings.quota] if settings.quota else []

    def step(*args: str) -> tuple[str, ...]:
        return (*castgate, "balance", request_file, "-o", batch, *quota, "--step", *args)

    layers = [FarmLayer("plan", step("plan"), "1", UTIL, None, settings.resources("audit"))]
    for number in range(1, rounds + 1):
        layers.append(FarmLayer(f"generate_{number}", step("generate", "--shard", f"{frame_token}/{shards}"),
                                f"1-{shards}" if shards > 1 else "1", RENDER, layers[-1].name,
                                settings.resources("generate")))
        last = ("--last",) if number == rounds else ()
        layers.append(FarmLayer(f"select_{number}", step("select", *last), "1", RENDER, layers[-1].name,
                                settings.resources("audit")))
    layers.append(FarmLayer("gate", (*castgate, "gate", batch, *quota), "1", UTIL, layers[-1].name,
                            settings.resources("gate")))
    if settings.publish_cmd:
        publish = publish_argv(settings.publish_cmd, {"batch": batch, "request": request_file})
        layers.append(FarmLayer("publish", tuple(publish), "1", UTIL, "gate", settings.resources("publish")))
    return layers
