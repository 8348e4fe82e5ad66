"""``optloop run | ask | tell | tick | status``: drive and inspect a campaign."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import click

from optloop.campaign import Campaign, Progress
from optloop.cli._format import echo_json, fmt, table
from optloop.config import load_config
from optloop.exceptions import OptloopError
from optloop.secrets import mask_url
from optloop.space import Design
from optloop.store import TrialStatus

__all__ = ["ask", "run", "status", "tell", "tick"]

config_arg = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))


def _open(config: Path) -> Campaign:
    return Campaign(load_config(config))


def _progress_line(p: Progress, started: float) -> str:
    c = p.counts
    best = ", ".join(f"{k} {fmt(v)}" for k, v in p.best.items()) or "-"
    return (
        f"[{time.time() - started:6.0f} s] {p.finished}/{p.budget} done "
        f"(completed {c['completed']}, failed {c['failed']}, running {c['running']}, "
        f"queued {c['proposed']}) | best {best} | hypervolume {fmt(p.hypervolume)}"
    )


@click.command()
@config_arg
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Total finished trials to reach [default: optimiser.budget].",
)
def run(config: Path, budget: int | None) -> None:
    """Run the campaign's closed loop, resuming it if its store already exists.

    Proposes designs (Sobol, then BoTorch), evaluates them on the configured evaluator,
    records every result in the campaign store, and prints progress as it goes.
    """
    started = time.time()
    with _open(config) as camp:
        click.echo(f"campaign {camp.config.name!r}: store {mask_url(camp.store.url)}")
        done = camp.store.counts()
        if any(done.values()):
            click.echo(f"resuming: {done}")
        final = camp.run(budget, progress=lambda p: click.echo(_progress_line(p, started)))
        click.echo(_progress_line(final, started))
        _print_front(camp.status())
        click.echo(f"\nresults: {mask_url(camp.store.url)} (see `optloop status {config}`)")
        if "MLflow" in final.message:
            click.echo(final.message.removeprefix("done; "))
            click.echo(f"watch it in the MLflow UI: optloop ui {config}")


@click.command()
@config_arg
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1, max=1000),
    default=1,
    show_default=True,
    help="Number of designs to propose.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the proposed trials as JSON.")
def ask(config: Path, n: int, as_json: bool) -> None:
    """Propose N designs for a manual loop; they are stored as proposed trials.

    Build and test them, then record the results with `optloop tell`.
    """
    with _open(config) as camp:
        trials = camp.ask(n)
        if as_json:
            echo_json(
                [
                    {
                        "trial": t.id,
                        "design": t.design.to_dict(),
                        "origin": t.origin,
                        "predictions": t.predictions,
                    }
                    for t in trials
                ]
            )
            return
        for t in trials:
            click.echo(f"trial {t.id} ({t.origin}):")
            click.echo("  " + json.dumps(t.design.to_dict()))
        click.echo(f"\nrecord results with: optloop tell {config} RESULTS.json")


def _read_results(path: Path) -> list[dict[str, Any]]:
    """Read a results file: JSON list of records, or CSV with a ``trial`` column."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        out = []
        for i, row in enumerate(rows, start=2):
            rec: dict[str, Any] = {"row": i, "outcomes": {}, "censored": {}}
            for key, value in row.items():
                if key is None or value is None or value.strip() == "":
                    continue
                if key == "trial":
                    rec["trial"] = value
                elif key == "failed_reason":
                    rec["failed"] = value
                elif key.endswith("_censored"):
                    rec["censored"][key[: -len("_censored")]] = value.strip().lower() in (
                        "1",
                        "true",
                        "yes",
                    )
                else:
                    rec["outcomes"][key] = value
            out.append(rec)
        return out
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OptloopError(f"{path}: cannot read JSON: {exc}") from None
    records = data if isinstance(data, list) else [data]
    for i, r in enumerate(records, start=1):
        if not isinstance(r, dict):
            raise OptloopError(f"{path} record #{i}: expected an object, got {r!r}")
        r.setdefault("row", i)
    return records


@click.command()
@config_arg
@click.argument(
    "results",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="RESULTS.{json,csv}",
)
def tell(config: Path, results: Path) -> None:
    """Record measured results for proposed trials (or attach a chemist's own design).

    JSON: a list of {"trial": 3, "outcomes": {"cycle_life": 180, ...}, "censored":
    {"cycle_life": true}} or {"trial": 4, "failed": "cell shorted"} or {"design": {...},
    "outcomes": {...}}. CSV: a `trial` column, one column per metric, optional
    `<metric>_censored` and `failed_reason`. Every record is checked before any is stored.
    """
    records = _read_results(results)
    with _open(config) as camp:
        plan: list[tuple[str, Any, dict[str, Any]]] = []
        problems = []
        for r in records:
            where = f"{results} record {r['row']}"
            try:
                if "design" in r:
                    design = Design.from_dict(r["design"])
                    camp._check_outcomes(dict(r.get("outcomes", {})), where)
                    plan.append(("attach", design, r))
                    continue
                tid = int(r["trial"])
                trial = camp.store.get(tid)
                if trial.status not in (TrialStatus.PROPOSED, TrialStatus.RUNNING):
                    raise OptloopError(f"{where}: trial {tid} is already {trial.status.value}")
                if "failed" not in r:
                    camp._check_outcomes(dict(r.get("outcomes", {})), where)
                plan.append(("tell", tid, r))
            except (KeyError, ValueError, OptloopError) as exc:
                problems.append(f"{where}: {exc}" if not str(exc).startswith(where) else str(exc))
        if problems:
            raise OptloopError("nothing recorded:\n" + "\n".join(f"  - {p}" for p in problems))
        for kind, target, r in plan:
            if kind == "attach":
                t = camp.attach(target, r.get("outcomes", {}), censored=r.get("censored"))
                click.echo(f"attached trial {t.id}")
            elif "failed" in r:
                camp.store.transition(
                    target, TrialStatus.FAILED, str(r["failed"]), reason=str(r["failed"])
                )
                click.echo(f"trial {target}: failed ({r['failed']})")
            else:
                t = camp.tell(target, r.get("outcomes", {}), censored=r.get("censored"))
                click.echo(f"trial {t.id}: completed")


@click.command()
@config_arg
def tick(config: Path) -> None:
    """Take one idempotent step, for cron or a systemd timer.

    Collects finished evaluations, proposes and submits new ones up to the configured
    concurrency, and exits. With the local PyBaMM evaluator it waits for the batch it
    submitted (its workers cannot outlive the process).
    """
    started = time.time()
    with _open(config) as camp:
        p = camp.tick()
        click.echo(_progress_line(p, started))


def _print_front(st: dict[str, Any]) -> None:
    if not st["pareto"]:
        click.echo("no feasible completed trial yet")
        return
    names = st["shown_metrics"]
    rows = []
    for p in st["pareto"]:
        d = p["design"]["alloy_layer"]
        comp = "".join(f"{s}{x:.2g}" for s, x in d["composition"].items())
        rows.append(
            [p["trial"], comp, d["thickness_um"], d["structure"][:5], d["method"]]
            + [f"{fmt(p['outcomes'].get(n))}{'+' if p['censored'].get(n) else ''}" for n in names]
        )
    click.echo("\nPareto set (+ = censored lower bound):")
    click.echo(table(["trial", "alloy", "t_um", "struct", "method", *names], rows))


@click.command()
@config_arg
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config: Path, as_json: bool) -> None:
    """Show trials by state, the Pareto set (or best design) and the hypervolume history."""
    with _open(config) as camp:
        st = camp.status()
    if as_json:
        echo_json(st)
        return
    click.echo(f"campaign {st['campaign']!r} ({mask_url(st['store'])}), budget {st['budget']}")
    click.echo("trials: " + ", ".join(f"{k} {v}" for k, v in st["counts"].items()))
    click.echo(f"hypervolume: {fmt(st['hypervolume'])}")
    _print_front(st)
    if st["iterations"]:
        click.echo("\niterations:")
        click.echo(
            table(
                ["iter", "origin", "proposed", "observations", "fit s", "acq s", "hypervolume"],
                [
                    [
                        i["iteration"],
                        i.get("origin"),
                        i.get("n_proposed"),
                        i.get("n_observations"),
                        i.get("fit_seconds"),
                        i.get("acquisition_seconds"),
                        i.get("hypervolume"),
                    ]
                    for i in st["iterations"]
                ],
            )
        )
    if st["failures"]:
        click.echo("\nfailures:")
        for f in st["failures"]:
            click.echo(f"  trial {f['trial']}: {f['reason']}")
    if st.get("abandoned"):
        click.echo("\nabandoned:")
        for f in st["abandoned"]:
            click.echo(f"  trial {f['trial']}: {f['reason']}")
    if st.get("evaluator_notices"):
        click.echo("\nevaluator notices:")
        for n in st["evaluator_notices"]:
            where = f" [{n['file']}]" if n.get("file") else ""
            click.echo(f"  {n.get('time', '')} {n.get('reason', n)}{where}".rstrip())
