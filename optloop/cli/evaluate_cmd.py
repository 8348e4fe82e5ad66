"""``optloop evaluate``: score one design with the campaign's evaluator."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import click

from optloop.cli._format import echo_json, fmt, table
from optloop.cli.space_cmd import read_designs
from optloop.config import load_config
from optloop.data.bdf import metadata_path, read_bdf
from optloop.data.metrics import file_protocol
from optloop.evaluators.base import evaluate as evaluate_sync
from optloop.evaluators.registry import evaluator_for_config
from optloop.exceptions import OptloopError
from optloop.reports.figures import capacity_fade_figure, save
from optloop.space import DesignSpace

__all__ = ["evaluate"]

# The headline numbers, in the order a battery scientist reads them.
SHOWN = [
    ("discharge_capacity_Ah", "Ah"),
    ("areal_capacity_mAh_cm2", "mAh/cm2"),
    ("anode_specific_capacity_mAh_g", "mAh/g anode"),
    ("energy_density_Wh_L", "Wh/L (swollen stack)"),
    ("first_cycle_efficiency", "1"),
    ("cycle_life", "cycles"),
    ("capacity_retention_final", "1"),
    ("cycles_simulated", "cycles"),
]


def _copy_bdf(path: Path, out_dir: Path) -> str:
    """Copy a BDF file and its metadata file into ``out_dir``; return the copy's path."""
    target = out_dir / path.name
    if path.resolve() != target.resolve():
        shutil.copy2(path, target)
        if metadata_path(path).is_file():
            shutil.copy2(metadata_path(path), metadata_path(target))
    return str(target)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--design",
    "design_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A design JSON (as `space sample --json` or `ask --json` write).",
)
@click.option(
    "--fidelity",
    type=click.Choice(["screen", "full"]),
    default="full",
    show_default=True,
    help="screen: a short censored run; full: until 80 % or cap.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/evaluate"),
    show_default=True,
    help="Folder for a copy of the BDF file and the capacity-fade plot.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--force",
    is_flag=True,
    help="Evaluate a design that breaks the space's rules (the output says it was forced).",
)
def evaluate(
    config: Path, design_file: Path, fidelity: str, out_dir: Path, as_json: bool, force: bool
) -> None:
    """Evaluate one design: print its metrics, write its BDF file and capacity-fade plot.

    The design is checked against the campaign's space first: an infeasible design is
    refused (exit code 1, every broken rule named) unless --force is given. Exit code 1
    also when the evaluation failed.
    """
    cfg = load_config(config)
    designs = read_designs(design_file)
    if len(designs) != 1:
        raise OptloopError(f"{design_file}: holds {len(designs)} designs; give exactly one")
    design = designs[0]
    violations = DesignSpace(cfg.space).violations(design)
    if violations and not force:
        if as_json:
            echo_json(
                {"status": "infeasible", "rule_violations": [str(v) for v in violations]}
            )
        else:
            click.echo("design is INFEASIBLE in the campaign's space; not evaluated:")
            for v in violations:
                click.echo(f"  - {v}")
            click.echo("(give --force to evaluate it anyway)")
        raise click.exceptions.Exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluator = evaluator_for_config(cfg)  # the very evaluator `optloop run` builds
    try:
        result = evaluate_sync(
            evaluator,
            design.to_dict(),
            trial_id="evaluate",
            fidelity=fidelity,
            poll_interval_s=0.2,
        )
    finally:
        closer = getattr(evaluator, "close", None)
        if callable(closer):
            closer()
    plot = None
    if result.bdf_path:
        # The evaluator keeps its file where the campaign would; --out gets a copy.
        copied = _copy_bdf(Path(result.bdf_path), out_dir)
        result = replace(result, bdf_path=copied)
        frame, meta = read_bdf(copied)
        # The protocol the evaluator recorded (true cycle numbers of an extrapolated run).
        protocol, _ = file_protocol(meta, source=str(copied))
        fig = capacity_fade_figure({"design": protocol.compute(frame)}, "Capacity fade")
        plot = save(fig, out_dir / "capacity_fade.png")
    doc = {
        "status": result.state.value,
        "reason": result.reason,
        "metrics": result.metrics,
        "censored": result.censored,
        "rule_violations": [str(v) for v in violations],
        "forced": bool(violations),
        "bdf_path": result.bdf_path,
        "capacity_fade_plot": str(plot) if plot else None,
    }
    if as_json:
        echo_json(doc)
    else:
        if violations:
            click.echo("forced (--force): evaluating a design that breaks the space's rules:")
        for v in violations:
            click.echo(f"  - {v}")
        click.echo(f"status: {doc['status']}" + (f" ({result.reason})" if result.reason else ""))
        rows = []
        for name, unit in SHOWN:
            if name in result.metrics:
                flag = " (censored: lower bound)" if result.censored.get(name) else ""
                rows.append([name, fmt(result.metrics[name]) + flag, unit])
        if rows:
            click.echo(table(["metric", "value", "unit"], rows))
        if result.bdf_path:
            click.echo(f"BDF: {result.bdf_path}")
        if plot:
            click.echo(f"capacity fade: {plot}")
    if result.state.value != "succeeded":
        raise click.exceptions.Exit(1)
