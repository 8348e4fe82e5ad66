"""``optloop validate`` and ``optloop space describe | sample | check``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from optloop.campaign.prior import check_prior_config
from optloop.cli._format import echo_json, fmt, table
from optloop.config import CampaignConfig, load_config
from optloop.evaluators.registry import check_evaluator_config
from optloop.exceptions import ConfigError, DesignError
from optloop.secrets import mask_url
from optloop.space import CLAIM_TITLES, Design, DesignSpace

__all__ = ["DESIGNS_SCHEMA", "read_designs", "space", "validate"]

#: Identifies the JSON document `space sample --json` writes and `space check` reads.
DESIGNS_SCHEMA = "optloop.designs/v1"

config_arg = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))


def _load(config: Path) -> tuple[CampaignConfig, DesignSpace]:
    cfg = load_config(config)
    return cfg, DesignSpace.from_campaign(cfg)


@click.command()
@config_arg
def validate(config: Path) -> None:
    """Check a campaign config; print a short summary or every problem found.

    The evaluator is checked too: its plugin must load and its options must fit the
    plugin's options model (the plugin's module is imported; no evaluator is built); so is
    the prior's simulator (``prior.simulator``, ``prior.options``) when one is set.
    """
    cfg, sp = _load(config)
    try:
        options = check_evaluator_config(cfg)
        prior_options = check_prior_config(cfg)
    except ConfigError as exc:
        raise ConfigError(exc.messages, source=str(config)) from None
    set_options = options.model_dump(mode="json", exclude_defaults=True)
    a = cfg.space.alloy_layer
    objectives = ", ".join(f"{o.direction} {o.name} (ref {o.reference:g})" for o in cfg.objectives)
    click.echo(f"{config}: valid campaign {cfg.name!r} (seed {cfg.seed})")
    click.echo(
        f"  alloy layer: {'/'.join(a.alloying_elements)} with "
        f"{'/'.join(a.non_alloying_elements) or 'no non-alloying metal'}; "
        f"methods {', '.join(a.methods)}; {a.thickness_um} um"
    )
    click.echo(
        f"  carbon layer {cfg.space.carbon_layer.mode}, lithium layer "
        f"{cfg.space.lithium_layer.mode}; positive {', '.join(cfg.space.cell.positive_electrodes)}"
    )
    click.echo(
        f"  {len(sp.parameters)} parameters, {sp.encoder.dim} encoded columns "
        f"({cfg.optimiser.encoding})"
    )
    click.echo(f"  objectives: {objectives}")
    for c in cfg.outcome_constraints:
        click.echo(f"  constraint: {c.metric} {c.op} {c.value:g}")
    o = cfg.optimiser
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in set_options.items()) or "defaults"
    click.echo(f"  evaluator {cfg.evaluator.name}, options valid ({shown})")
    if prior_options is not None:
        p = cfg.prior
        given = prior_options.model_dump(mode="json", exclude_defaults=True)
        shown_p = ", ".join(f"{k}={json.dumps(v)}" for k, v in given.items()) or "defaults"
        click.echo(
            f"  prior simulator {p.simulator}, options valid ({shown_p}); "
            f"{p.initial_simulations} initial simulations, {p.simulations_per_batch} more "
            "per batch besides each cell's twin"
        )
    click.echo(
        f"  {o.initial_designs} initial designs, batches of {o.batch_size}, budget "
        f"{o.budget}; tracking {mask_url(cfg.tracking.uri)}"
    )
    ex = cfg.executor
    where = f" at {ex.address}" if ex.address else (" (OPTLOOP_DASK_ADDRESS)" if ex.kind == "dask"
                                                   else "")
    click.echo(f"  executor {ex.kind}{where}")
    k = cfg.costs
    if k.any_cost or k.budget is not None or k.stop_below_gain_per_cost is not None:
        parts = [f"cell_build {k.cell_build:g}", f"channel_day {k.channel_day:g}",
                 f"simulation_second {k.simulation_second:g}"]
        if k.budget is not None:
            parts.append(f"budget {k.budget:g}")
        if k.stop_below_gain_per_cost is not None:
            parts.append(f"stop below {k.stop_below_gain_per_cost:g} gain per cost")
        click.echo(f"  costs (cost units): {', '.join(parts)}")
    es = cfg.early_stopping
    if es.enabled:
        ref = [f"min_cycle_life {es.min_cycle_life:g}"] if es.min_cycle_life else []
        if es.reference_quantile is not None:
            ref.append(f"quantile {es.reference_quantile:g} of completed cells")
        click.echo(
            f"  early stopping after {es.after_cycles} cycles; reference: {' or '.join(ref)}"
        )
    lv = cfg.lives
    if lv.mode == "predict":
        click.echo(
            f"  lives predicted: first review at {lv.min_cycles} cycles, then every "
            f"{lv.review_every_cycles}; {lv.interval:.0%} intervals ({lv.calibration}); stop "
            f"below {lv.min_value_per_channel_day:g} of the hypervolume per channel-day"
        )


@click.group()
def space() -> None:
    """Describe, sample and check the design space of a campaign."""


@space.command()
@config_arg
def describe(config: Path) -> None:
    """Print the space's parameters (units, bounds, choices) and the rules in force."""
    cfg, sp = _load(config)
    rows = []
    for p in sp.parameters:
        if p.kind == "continuous":
            rng = f"{p.low:g}" if p.fixed else f"[{p.low:g}, {p.high:g}]"
            rng += " (log)" if p.log_scale else ""
        else:
            rng = "{" + ", ".join(p.choices) + "}"
        rows.append([p.name, p.kind, p.unit, rng, p.active_when or "always", p.description])
    click.echo(f"Design space of {cfg.name!r}: {len(rows)} parameters\n")
    click.echo(
        table(["parameter", "kind", "unit", "bounds / choices", "active when", "meaning"], rows)
    )
    a = cfg.space.alloy_layer
    click.echo(
        f"\nComposition: atomic fractions of all slots sum to 1; each present element >= "
        f"{a.min_element_fraction:g}; non-alloying total in {a.non_alloying_fraction}."
    )
    click.echo("Crystalline films are always reachable (post-deposition anneal).\n")
    click.echo("Rules in force:")
    click.echo(
        table(
            ["rule", "kind", "what it requires"],
            [[r.name, r.kind, r.description] for r in sp.rules],
        )
    )
    if cfg.space.lab_rules:
        click.echo("\nLab rules (space.lab_rules):")
        for r in cfg.space.lab_rules:
            bounds = []
            if r.min is not None:
                bounds.append(f">= {r.min:g}")
            if r.max is not None:
                bounds.append(f"<= {r.max:g}")
            if r.one_of is not None:
                bounds.append(f"one of {list(r.one_of)}")
            when = f" when {r.when}" if r.when else ""
            click.echo(f"  {r.name}: {r.quantity} {' and '.join(bounds)}{when} ({r.reason})")
    click.echo("\nClaims a design can practise:")
    click.echo(table(["claim", "meaning"], [[k, v] for k, v in CLAIM_TITLES.items()]))


@space.command()
@config_arg
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1, max=100_000),
    default=5,
    show_default=True,
    help="Number of designs.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Random seed [default: the config's seed].",
)
@click.option("--json", "as_json", is_flag=True, help=f"Print a {DESIGNS_SCHEMA} JSON document.")
def sample(config: Path, n: int, seed: int | None, as_json: bool) -> None:
    """Draw N feasible designs with derived properties and the claims they practise."""
    cfg, sp = _load(config)
    seed = cfg.seed if seed is None else seed
    reports = [sp.report(d) for d in sp.sample(n, seed)]
    if as_json:
        echo_json(
            {"schema": DESIGNS_SCHEMA, "campaign": cfg.name, "seed": seed, "designs": reports}
        )
        return
    rows = []
    for i, r in enumerate(reports, 1):
        d, der = r["design"], r["derived"]
        al = d["alloy_layer"]
        layers = (
            "+".join(k for k, on in (("C", d["carbon_layer"]), ("Li", d["lithium_layer"])) if on)
            or "-"
        )
        rows.append(
            [
                i,
                der.get("alloy_formula"),
                al["thickness_um"],
                al["structure"][:5],
                al["method"],
                layers,
                der["negative_areal_capacity_mAh_cm2"],
                der["anode_specific_capacity_mAh_g"],
                der.get("alloy_volume_expansion"),
                der["np_ratio"],
                r["claims"],
            ]
        )
    click.echo(
        table(
            [
                "#",
                "alloy",
                "t_um",
                "struct",
                "method",
                "layers",
                "Q_neg mAh/cm2",
                "anode mAh/g",
                "expansion",
                "N/P",
                "claims",
            ],
            rows,
        )
    )


def read_designs(path: Path) -> list[Design]:
    """Read designs from JSON: one design, a list, a report, or a ``space sample`` document.

    Raises:
        DesignError: naming the file, the item and every problem found.
    """
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DesignError([f"{path}: cannot read JSON: {exc}"]) from None
    if isinstance(data, dict) and "designs" in data:
        schema = data.get("schema")
        if schema not in (None, DESIGNS_SCHEMA):
            raise DesignError([f"{path}: schema {schema!r} unknown; expected {DESIGNS_SCHEMA!r}"])
        data = data["designs"]
    items = data if isinstance(data, list) else [data]
    designs, problems = [], []
    for i, item in enumerate(items):
        if isinstance(item, dict) and "design" in item:
            item = item["design"]
        try:
            designs.append(Design.from_dict(item))
        except DesignError as exc:
            where = f"{path} design #{i + 1}" if len(items) > 1 else str(path)
            problems += [f"{where}: {m}" for m in exc.messages]
    if problems:
        raise DesignError(problems)
    return designs


@space.command()
@config_arg
@click.argument(
    "design_file",
    metavar="DESIGN.json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check(config: Path, design_file: Path, as_json: bool) -> None:
    """Say whether each design in DESIGN.json is feasible, naming every broken rule.

    DESIGN.json holds one design, a list of designs, or the output of `space sample --json`.
    Exit code 0 when all are feasible, 1 when any is not.
    """
    _, sp = _load(config)
    designs = read_designs(design_file)
    reports = [sp.report(d) for d in designs]
    if as_json:
        echo_json({"schema": DESIGNS_SCHEMA, "designs": reports})
    else:
        for i, r in enumerate(reports, 1):
            head = f"design #{i}" if len(reports) > 1 else "design"
            if r["feasible"]:
                click.echo(f"{head}: feasible; claims {fmt(r['claims']) or 'none'}")
            else:
                click.echo(f"{head}: INFEASIBLE")
                for v in r["violations"]:
                    click.echo(f"  - [{v['rule']}] {v['message']}")
    if not all(r["feasible"] for r in reports):
        raise click.exceptions.Exit(1)
