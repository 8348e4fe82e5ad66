"""The ``optloop`` command line: thin wrappers over the library.

Exit codes: 0 success; 1 the answer is "no" (an infeasible design); 2 bad input (a config,
a design file, a formula) with the messages on stderr.
"""

from __future__ import annotations

import click

from optloop import __version__
from optloop.cli.campaign_cmd import ask, run, status, tell, tick
from optloop.cli.data_cmd import data
from optloop.cli.evaluate_cmd import evaluate
from optloop.cli.materials_cmd import materials
from optloop.cli.plugins_cmd import plugins
from optloop.cli.space_cmd import space, validate
from optloop.cli.tracking_cmd import report, sync, ui
from optloop.cli.trials_cmd import abandon, cancel
from optloop.exceptions import OptloopError
from optloop.secrets import mask_text

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group that reports optloop errors as a message on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OptloopError as exc:
            # A message may quote a URL (a bad store URL, a config value): mask its password.
            click.echo(f"error: {mask_text(str(exc))}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optloop")
def cli() -> None:
    """Closed-loop Bayesian optimisation of alloy / complex-oxide multilayer anodes.

    \b
    Typical use:
      optloop validate configs/default.yaml        check a campaign config
      optloop space describe configs/default.yaml  what the campaign may propose
      optloop run configs/default.yaml             run (or resume) the closed loop
      optloop status configs/default.yaml          trials, Pareto set, timings
    """  # noqa: D301 - click needs a real \b (its no-rewrap marker), not a raw string


cli.add_command(validate)
cli.add_command(space)
cli.add_command(materials)
cli.add_command(data)
cli.add_command(plugins)
for _cmd in (evaluate, run, ask, tell, tick, status, abandon, cancel, sync, ui, report):
    cli.add_command(_cmd)


def main() -> None:
    """Run the ``optloop`` command line."""
    cli()
