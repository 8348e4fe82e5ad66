"""``optloop run``: run a campaign (for now: its first, model-free step)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from optloop.cli._format import table
from optloop.cli.space_cmd import DESIGNS_SCHEMA
from optloop.config import load_config
from optloop.space import DesignSpace

__all__ = ["run"]


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder for campaign outputs.",
)
def run(config: Path, out_dir: Path) -> None:
    """Run the campaign in CONFIG.

    The closed loop (BoTorch proposals, evaluation, tracking) is not built yet. Until it
    is, this validates the config, draws the campaign's initial feasible designs from its
    seed and writes them, with derived properties and claims, to OUT/<name>/.
    """
    cfg = load_config(config)
    sp = DesignSpace.from_campaign(cfg)
    n = cfg.optimiser.initial_designs
    reports = [sp.report(d) for d in sp.sample(n, cfg.seed)]
    target = out_dir / cfg.name
    target.mkdir(parents=True, exist_ok=True)
    path = target / "initial_designs.json"
    doc = {"schema": DESIGNS_SCHEMA, "campaign": cfg.name, "seed": cfg.seed, "designs": reports}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    tmp.replace(path)
    click.echo(f"campaign {cfg.name!r}: config valid; {len(sp.parameters)} parameters")
    rows = [
        [
            i,
            r["derived"].get("alloy_formula"),
            r["design"]["alloy_layer"]["thickness_um"],
            r["design"]["alloy_layer"]["method"],
            r["derived"]["negative_areal_capacity_mAh_cm2"],
            r["derived"]["np_ratio"],
            r["claims"],
        ]
        for i, r in enumerate(reports, 1)
    ]
    click.echo(table(["#", "alloy", "t_um", "method", "Q_neg mAh/cm2", "N/P", "claims"], rows))
    click.echo(f"\nwrote {len(reports)} initial designs to {path}")
    click.echo(
        "note: the optimisation loop and the evaluator are not built yet; this run stops "
        "after drawing the initial designs. Check a design with `optloop space check`."
    )
