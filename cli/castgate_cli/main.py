"""The root ``castgate`` group.

Subcommands are imported lazily (click's "lazy group" pattern), so ``castgate --help`` and the farm's
``castgate gate`` start without importing JAX. Each subcommand lives in ``castgate_cli.commands.<name>``.
"""

from __future__ import annotations

import importlib
import logging

import click

from castgate import __version__
from castgate.farm.booking import apply_booking
from castgate_cli.output import Settings, add_verbosity_options, configure_logging, handle_errors

# name -> "module:attribute"; a module holds one command or one group of commands.
COMMANDS = {
    "generate": "castgate_cli.commands.generate:generate",
    "run": "castgate_cli.commands.run:run",
    "models": "castgate_cli.commands.models:models",
    "merge": "castgate_cli.commands.merge:merge",
    "import": "castgate_cli.commands.ingest:import_command",
    "audit": "castgate_cli.commands.audit:audit",
    "review": "castgate_cli.commands.review:review",
    "gate": "castgate_cli.commands.gate:gate",
    "report": "castgate_cli.commands.report:report",
    "override": "castgate_cli.commands.override:override",
    "farm": "castgate_cli.commands.farm:farm",
    "balance": "castgate_cli.commands.balance:balance",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._spec_importable(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attribute = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built yet in this checkout
                return None
            raise
        return add_verbosity_options(getattr(module, attribute))

    @staticmethod
    def _spec_importable(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None

    def invoke(self, ctx: click.Context):
        with handle_errors(ctx):
            return super().invoke(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="castgate")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug); also after the subcommand.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr: no progress, no warnings; also after the subcommand.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """castgate: background-character plates, audited for who they show and gated against quotas.

    \b
    Exit codes (every command):
      0  success (for `gate`: PASS)
      1  blocked: the gate says FAIL, UNAUDITABLE or TAMPERED
      2  usage or input error (bad request, quota, batch or model folder)
      3  UNDECIDED (plates to review) or INSUFFICIENT (more plates needed): not decided yet
      70 internal error: a bug in castgate (the message names a log file)
    """
    ctx.obj = Settings(verbose=verbose, quiet=quiet)
    configure_logging(ctx.obj)
    booked = apply_booking()  # on a farm frame: the booked GPUs and memory only, before JAX starts
    if booked:
        logging.getLogger("castgate").info("farm booking: %s", ", ".join(f"{k}={v}" for k, v in booked.items()))
