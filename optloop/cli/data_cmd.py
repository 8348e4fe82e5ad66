"""``optloop data``: read a cycler file and show the metrics optloop computes from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from optloop.cli._format import echo_json, fmt, table
from optloop.data.metrics import CycleMetrics, MetricsError, MetricsProtocol, file_protocol
from optloop.data.readers import read_cycler_file

__all__ = ["data", "metrics"]


class _Formation(click.ParamType):
    """A whole number of formation cycles >= 0, or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) or value == "auto":
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            return int(text)
        self.fail(f"{value!r}; limit: a whole number >= 0 or 'auto'", param, ctx)


@click.group()
def data() -> None:
    """Cycling data files: BDF (built in) and vendor formats (reader plugins)."""


@data.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--cell",
    type=click.Choice(["full", "half"]),
    default=None,
    help="full cell, or half cell of the anode against lithium (CE inverted). "
    "[default: the protocol in the file's metadata, else its 'cell_configuration', else full]",
)
@click.option(
    "--formation",
    type=_Formation(),
    default=None,
    help="leading cycles to exclude as formation: a count, or 'auto' (slow leading cycles) "
    "[default: the protocol in the file's metadata, else 0]",
)
@click.option(
    "--reference",
    type=click.Choice(["first", "max_early"]),
    default=None,
    help="reference capacity: cycle 1, or the largest of cycles 1-5 "
    "[default: the protocol in the file's metadata, else first]",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="end of life: delivered capacity below threshold x reference "
    "[default: the protocol in the file's metadata, else 0.8]",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="a campaign config with the file_exchange evaluator: compute exactly what the "
    "campaign would record for FILE (its formation cycles, first-cycle efficiency, cell, "
    "reference, threshold; the trial's design and area when the file's metadata names its "
    "ticket) and say whether the intake would hold it for review",
)
@click.option(
    "--trial",
    default=None,
    help="with --config: the trial id on the file's ticket [default: the trial_id in the "
    "file's metadata]",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def metrics(
    file: Path,
    cell: str | None,
    formation: int | str | None,
    reference: str | None,
    threshold: float | None,
    config_path: Path | None,
    trial: str | None,
    as_json: bool,
) -> None:
    """Compute per-cycle capacity, coulombic efficiency and cycle life of FILE.

    \b
    FILE is a BDF file (.bdf, .bdf.csv, .bdf.gz, .bdf.csv.gz, .bdf.parquet) or a
    vendor file a reader plugin handles. A malformed file exits with code 2 and a
    message naming the column, row, value and limit.

    \b
    The metrics follow the protocol the evaluator recorded in the file's metadata
    (so a campaign's file shows the cycle life and first-cycle efficiency the
    campaign recorded); each option overrides one choice of it.

    \b
    With --config (a lab's pre-check before dropping a file into the exchange):
    the campaign's own protocol and definitions, the numbers it would record,
    and whether the intake would accept the file or hold it for review.
    """  # noqa: D301 - click needs a real \b (its no-rewrap marker)
    if config_path is not None:
        given = [n for n, v in (("--cell", cell), ("--formation", formation),
                                ("--reference", reference), ("--threshold", threshold))
                 if v is not None]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} with --config: the config gives the campaign's protocol; "
                "leave them out"
            )
        _precheck(file, config_path, trial, as_json)
        return
    if trial is not None:
        raise click.UsageError("--trial needs --config (the campaign whose ticket it is)")
    frame, metadata, report, reader = read_cycler_file(file)
    base, protocol_source = file_protocol(metadata, source=str(file))
    protocol = _with_options(base, cell, formation, reference, threshold)
    if protocol != base:
        protocol_source += " with options"
    found = metadata.get("cell_configuration", metadata.get("cell"))
    if cell is not None:
        cell_source = "option"
    elif protocol_source.startswith("file metadata") or found in ("full", "half"):
        cell_source = "metadata"
    else:
        cell_source = "default"
    m = protocol.compute(frame, source=str(file))
    if as_json:
        echo_json(
            {
                "file": str(file),
                "reader": reader,
                "cell_source": cell_source,
                "protocol_source": protocol_source,
                "protocol": protocol.to_metadata(),
                "ingest": report.to_dict(),
                "metrics": m.to_dict(),
                "metadata": metadata,
            }
        )
        return
    click.echo(f"file: {file} (reader: {reader})")
    click.echo(f"metrics protocol: {protocol_source}")
    click.echo(f"cell: {m.cell} ({cell_source})")
    click.echo("unit conversions: " + ("; ".join(c.describe() for c in report.conversions)
                                       or "none"))
    others = [line for line in report.lines() if not line.startswith("converted ")]
    if others:
        click.echo("other changes on reading:")
        for line in others:
            click.echo(f"  {line}")
    click.echo(_summary(m))
    click.echo("")
    click.echo(table(
        ["cycle", "count", "charge_Ah", "discharge_Ah", "capacity_Ah", "CE", "retention"],
        [
            [n, c, q_c, q_d, q, ce, r]
            for n, c, q_c, q_d, q, ce, r in zip(
                m.cycle_numbers, m.cycle_counts, m.charge_capacity_Ah, m.discharge_capacity_Ah,
                m.capacity_Ah, m.coulombic_efficiency, m.capacity_retention, strict=True,
            )
        ],
    ))


def _with_options(
    base: MetricsProtocol,
    cell: str | None,
    formation: int | str | None,
    reference: str | None,
    threshold: float | None,
) -> MetricsProtocol:
    """Return ``base`` with the choices the options give."""
    changes: dict[str, Any] = {}
    if cell is not None:
        changes["cell"] = cell
    if reference is not None:
        changes["reference"] = reference
        changes["nominal_capacity_Ah"] = None  # the options offer no nominal reference
    if threshold is not None:
        changes["threshold"] = threshold
    if formation is not None:
        changes["formation_cycles"] = formation
        if formation != 0:
            # A formation charge given for data that lack it cannot go with counted formation.
            changes["first_charge_capacity_Ah"] = None
    try:
        return base.with_changes(**changes)
    except MetricsError as exc:
        raise click.BadParameter(str(exc)) from None


def _first_cycle_basis(m: CycleMetrics) -> str:
    """Return which cycle the first-cycle efficiency is taken from, for a human."""
    if m.first_charge_capacity_Ah is not None:
        return (
            f"cycle 1 delivered over the first charge {fmt(m.first_charge_capacity_Ah)} Ah "
            "the protocol gives (formation not in the data)"
        )
    if m.formation_cycle_counts:
        return f"first formation cycle, count {m.formation_cycle_counts[0]}"
    return "cycle 1"


def _summary(m: CycleMetrics) -> str:
    """Return the summary lines of the metrics, for a human."""
    life = (
        f">= {m.cycle_life} (censored: no cycle fell below; the test stopped first)"
        if m.cycle_life_censored
        else f"{m.cycle_life} (censored: no)"
    )
    formation = "none"
    if m.formation_cycle_counts:
        formation = (
            f"counts {list(m.formation_cycle_counts)} (rule: {m.formation_rule}); "
            f"first formation cycle CE {fmt(m.formation_first_cycle_efficiency)}"
        )
    lines = [
        f"reference: {m.reference_mode} = {fmt(m.reference_capacity_Ah)} Ah; "
        f"threshold {fmt(m.threshold)}",
        f"capacity sources: charge = {m.charge_capacity_source}, "
        f"discharge = {m.discharge_capacity_source}",
        f"formation cycles excluded: {formation}",
        "skipped cycles (delivered nothing): "
        + (str(list(m.skipped_cycle_counts)) if m.skipped_cycle_counts else "none"),
        f"final cycle dropped as incomplete: {'yes' if m.final_cycle_dropped else 'no'}",
        f"first-cycle efficiency: {fmt(m.first_cycle_efficiency)} ({_first_cycle_basis(m)})",
        f"cycle life to {fmt(100 * m.threshold)} % of reference: {life}",
        f"cycles counted: {m.cycles_completed}; final retention "
        f"{fmt(m.capacity_retention_final)}",
    ]
    return "\n".join(lines)


def _precheck(file: Path, config_path: Path, trial: str | None, as_json: bool) -> None:
    """Print what the campaign of ``config_path`` would record for ``file``."""
    from optloop.config import load_config
    from optloop.evaluators.file_exchange.options import FileExchangeOptions
    from optloop.evaluators.file_exchange.precheck import precheck_file

    cfg = load_config(config_path)
    if cfg.evaluator.name != "file_exchange":
        raise click.UsageError(
            f"--config {config_path}: evaluator {cfg.evaluator.name!r}; limit: "
            "'file_exchange' (other evaluators record their protocol in the file's metadata: "
            "run without --config)"
        )
    options = FileExchangeOptions.from_dict(dict(cfg.evaluator.options))
    p = precheck_file(options, file, trial=trial)
    if as_json:
        echo_json({"config": str(config_path), **p.to_dict()})
        return
    click.echo(f"file: {file}")
    click.echo(f"campaign: {cfg.name} (config {config_path})")
    ticket = f"{p.trial_id} (job {p.job_id}, fidelity {p.fidelity})" if p.trial_id else "none"
    click.echo(f"ticket: {ticket}; final: {'yes' if p.final else 'no (partial data)'}; "
               f"electrode area {fmt(p.electrode_area_cm2)} cm2")
    click.echo(_summary(p.cycles))
    click.echo("")
    click.echo("what the campaign records:")
    click.echo(table(
        ["metric", "value", "censored"],
        [[k, v, "yes" if p.censored.get(k) else ""] for k, v in p.metrics.items()],
    ))
    for note in p.notes:
        click.echo(f"note: {note}")
    if p.problems:
        click.echo("\nintake: HELD FOR REVIEW (check the trial id and the cell id):")
        for problem in p.problems:
            click.echo(f"  - {problem}")
    else:
        cell = {True: "; cell id checked", False: "; cell id not checked (a lab's label)",
                None: ""}[p.cell_id_checked]
        click.echo(f"\nintake: accepted (plausibility checks pass{cell})")
