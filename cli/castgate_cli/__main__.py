"""``python -m castgate_cli`` runs the ``castgate`` command."""

from castgate_cli.main import cli

cli(prog_name="castgate")
