"""``optloop plugins``: the evaluator plugins installed, their origin, and whether they load."""

from __future__ import annotations

import click

from optloop.cli._format import echo_json, table
from optloop.evaluators.registry import ENTRY_POINT_GROUP, list_plugins

__all__ = ["plugins"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a list of plugin records.")
def plugins(as_json: bool) -> None:
    """List evaluator plugins: built-ins and entry points of the `optloop.evaluators` group.

    Each plugin's module is imported and its class checked for the evaluator protocol; no
    evaluator is constructed (that can start worker processes). A plugin that does not load
    is listed with its error; the others are unaffected. Exit code 0 either way.
    """
    infos = list_plugins()
    if as_json:
        echo_json([info.to_dict() for info in infos])
        return
    rows = [
        [
            info.name,
            info.target,
            info.distribution,
            info.version,
            info.source,
            "ok" if info.ok else f"error: {info.error}",
        ]
        for info in infos
    ]
    click.echo(table(["name", "target", "distribution", "version", "source", "status"], rows))
    broken = sum(not info.ok for info in infos)
    click.echo(
        f"\n{len(infos)} plugin(s), {broken} not loadable; third-party evaluators register in "
        f"the entry-point group {ENTRY_POINT_GROUP!r}"
    )
