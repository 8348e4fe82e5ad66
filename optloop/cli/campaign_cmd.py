"""``optloop run | ask | tell | tick | status``: drive and inspect a campaign."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import make_url

from optloop.campaign import Campaign, Progress, Told, default_store_url
from optloop.campaign.prior import check_prior_config
from optloop.cli._format import echo_json, fmt, table
from optloop.config import CampaignConfig, load_config
from optloop.evaluators.registry import check_evaluator_config
from optloop.exceptions import OptloopError
from optloop.space import Design
from optloop.store.lock import lock_path

if TYPE_CHECKING:
    from optloop.tracking import MirrorCallback

__all__ = ["ask", "run", "status", "tell", "tick"]

config_arg = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
no_tracking_opt = click.option(
    "--no-tracking",
    is_flag=True,
    help="Do not mirror into MLflow this time (`tracking.enabled: false` switches it off "
    "in the config; `optloop sync CONFIG` catches up later).",
)


def _open(config: Path) -> Campaign:
    return Campaign(load_config(config))


@contextlib.contextmanager
def _open_tracked(
    cfg: CampaignConfig, no_tracking: bool
) -> Iterator[tuple[Campaign, MirrorCallback | None]]:
    """Open the campaign with the MLflow mirror attached unless switched off; close it after."""
    # Looked up on the module when called, so a test can switch the CLI's mirror off.
    from optloop.tracking import hook

    mirrors = hook.mirror_callbacks(cfg, no_tracking=no_tracking)
    with Campaign(cfg, callbacks=mirrors) as camp:
        yield camp, (mirrors[0] if mirrors else None)


def _mirror_line(mirror: MirrorCallback | None) -> str | None:
    report = mirror.last_report if mirror is not None else None
    return f"MLflow: {report.summary()}" if report is not None else None


def _progress_line(p: Progress, started: float) -> str:
    c = p.counts
    best = ", ".join(f"{k} {fmt(v)}" for k, v in p.best.items()) or "-"
    return (
        f"[{time.time() - started:6.0f} s] {p.finished}/{p.budget} done "
        f"(completed {c['completed']}, failed {c['failed']}, running {c['running']}, "
        f"queued {c['proposed']}) | best {best} | hypervolume {fmt(p.hypervolume)}"
        + (f" | {p.message}" if p.message.startswith("stopped") else "")
    )


@click.command()
@config_arg
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Total finished trials to reach [default: optimiser.budget].",
)
@no_tracking_opt
def run(config: Path, budget: int | None, no_tracking: bool) -> None:
    """Run the campaign's closed loop, resuming it if its store already exists.

    Proposes designs (Sobol, then BoTorch), evaluates them on the configured evaluator,
    records every result in the campaign store, and prints progress as it goes. The store
    is mirrored into MLflow as it goes unless tracking is switched off.
    """
    started = time.time()
    cfg = load_config(config)
    with _refused_leaves_nothing(cfg), _open_tracked(cfg, no_tracking) as (camp, mirror):
        click.echo(f"campaign {camp.config.name!r}: store {camp.store.url}")
        done = camp.store.counts()
        if any(done.values()):
            click.echo(f"resuming: {done}")
        final = camp.run(budget, progress=lambda p: click.echo(_progress_line(p, started)))
        click.echo(_progress_line(final, started))
        _print_front(camp.status())
        click.echo(f"\nresults: {camp.store.url} (see `optloop status {config}`)")
        line = _mirror_line(mirror)
        if line is not None:
            click.echo(line)
            click.echo(f"watch it in the MLflow UI: optloop ui {config}")


@contextlib.contextmanager
def _refused_leaves_nothing(cfg: CampaignConfig) -> Iterator[None]:
    """Check what can be checked before any file exists; undo a new store if refused later.

    A store this command created is removed again when the command fails with an
    :class:`OptloopError` before recording any trial; an existing store is never touched.
    """
    check_evaluator_config(cfg)
    check_prior_config(cfg)
    created = _files_a_new_store_creates(cfg)
    try:
        yield
    except OptloopError:
        _remove_if_empty(created)
        raise


def _files_a_new_store_creates(cfg: CampaignConfig) -> list[Path]:
    """Return what opening the campaign's SQLite store would create (empty: it exists)."""
    url = make_url(default_store_url(cfg))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []  # a server database: only validation up front protects it
    db = Path(url.database)
    if db.exists():
        return []
    created = [db, *(Path(f"{db}{suffix}") for suffix in ("-wal", "-shm", "-journal"))]
    lock = lock_path(db, cfg.name)
    created += [lock, Path(f"{lock}.holder")]
    folder = db.parent
    while not folder.exists():  # folders made for the store, innermost first
        created.append(folder)
        folder = folder.parent
    return created


def _remove_if_empty(created: list[Path]) -> None:
    """Remove a store this run created, if it holds no trial (a refused run)."""
    if not created:
        return
    if created[0].exists():
        with contextlib.closing(sqlite3.connect(created[0])) as conn:
            try:
                (n,) = conn.execute("SELECT count(*) FROM trials").fetchone()
            except sqlite3.Error:
                n = 0
        if n:
            return  # something was recorded: it is kept
    for path in created:
        if path.is_dir():
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty
        else:
            path.unlink(missing_ok=True)


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
    """Read a results file: JSON list of records, or CSV with a ``trial`` column.

    Raises:
        OptloopError: when the file cannot be read or decoded, or holds no record.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptloopError(f"{path}: cannot read a UTF-8 results file: {exc}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
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
        records = out
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OptloopError(f"{path}: cannot read JSON: {exc}") from None
        records = data if isinstance(data, list) else [data]
        for i, r in enumerate(records, start=1):
            if not isinstance(r, dict):
                raise OptloopError(f"{path} record #{i}: expected an object, got {r!r}")
            r.setdefault("row", i)
    if not records:
        raise OptloopError(f"{path}: holds 0 results; need at least 1 record")
    return records


def _told(r: dict[str, Any], where: str) -> Told:
    """Turn one record of a results file into a :class:`Told` (strict types)."""
    if "design" in r:
        return Told(
            where=where,
            design=Design.from_dict(r["design"]),
            outcomes=dict(r.get("outcomes") or {}),
            censored=r.get("censored"),
        )
    if "trial" not in r:
        raise OptloopError(f"{where}: field 'trial' is missing (or give a 'design')")
    raw = r["trial"]
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        tid = int(raw)
    except (TypeError, ValueError):
        raise OptloopError(f"{where}: trial = {raw!r}; need a trial id (an integer)") from None
    if "failed" in r:
        return Told(where=where, trial=tid, failed=str(r["failed"]))
    return Told(
        where=where, trial=tid, outcomes=dict(r.get("outcomes") or {}), censored=r.get("censored")
    )


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
    `<metric>_censored` and `failed_reason`. The whole file is checked first (each trial
    once, every value within its metric's physical range); then every record is stored in
    one transaction, or none is.
    """
    records = _read_results(results)
    entries: list[Told] = []
    problems: list[str] = []
    for r in records:
        where = f"{results} record {r['row']}"
        try:
            entries.append(_told(r, where))
        except OptloopError as exc:
            text = str(exc)
            problems.append(text if text.startswith(where) else f"{where}: {text}")
    if problems:
        raise OptloopError("nothing recorded:\n" + "\n".join(f"  - {p}" for p in problems))
    with _open(config) as camp:
        stored = camp.tell_batch(entries)
    for e, t in zip(entries, stored, strict=True):
        if e.design is not None:
            click.echo(f"attached trial {t.id}")
        elif e.failed is not None:
            click.echo(f"trial {t.id}: failed ({e.failed})")
        else:
            click.echo(f"trial {t.id}: completed")


@click.command()
@config_arg
@no_tracking_opt
def tick(config: Path, no_tracking: bool) -> None:
    """Take one idempotent step, for cron or a systemd timer.

    Collects finished evaluations, proposes and submits new ones up to the configured
    concurrency, mirrors the store into MLflow (unless switched off), and exits. With the
    local PyBaMM evaluator it waits for the batch it submitted (its workers cannot outlive
    the process).
    """
    started = time.time()
    cfg = load_config(config)
    with _refused_leaves_nothing(cfg), _open_tracked(cfg, no_tracking) as (camp, _):
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


def _trial_of_job(st: dict[str, Any]) -> dict[str, int]:
    jobs = {}
    for key in ("running", "completed"):
        for t in st.get(key, []):
            if t.get("job_id"):
                jobs[t["job_id"]] = t["trial"]
    return jobs


def _print_lab(st: dict[str, Any]) -> None:
    """Print the lab's side: channels, running and waiting cells, losses, time to results."""
    lab = st.get("lab")
    ttr = st.get("time_to_results_h") or {}
    if ttr.get("n"):
        click.echo(
            f"time to results (wall clock, submission to record): median "
            f"{fmt(ttr['median'], 3)} h, max {fmt(ttr['max'], 3)} h over {ttr['n']} trials"
        )
    if lab is None:
        return
    if "error" in lab:
        click.echo(f"\nlab: {lab['error']}")
        return
    jobs = _trial_of_job(st)
    use = lab.get("channel_use", {})
    click.echo(f"\nlab ({lab['evaluator']}): {lab['channels']} channels")
    if "busy_channel_days" in use:
        click.echo(
            f"  channel use: {fmt(use['busy_channel_days'], 4)} busy channel-days over "
            f"{fmt(use['span_days'], 4)} days ({100 * use['utilisation']:.0f} % of "
            f"{lab['channels']} channels), {fmt(use['down_channel_days'], 3)} channel-days down"
        )
    else:
        click.echo(
            f"  channel use: {use.get('tickets_out', 0)} tickets out, {use.get('free', 0)} "
            f"channels free ({100 * use.get('utilisation', 0.0):.0f} %)"
        )
    faults = lab.get("faults", [])
    if faults:
        click.echo(f"  faults: {len(faults)}: " + "; ".join(
            f"channel {f['channel']} day {f['day']:.1f}" if "channel" in f
            else f"{f['trial_id']}: {f['reason']}" for f in faults))
    else:
        click.echo("  faults: none")
    ttr_lab = lab.get("time_to_results", {})
    head = ttr_lab.get("order_to_result", ttr_lab)
    if head.get("n"):
        if "median_days" in head:
            start = ttr_lab.get("order_to_start", {})
            queue = ttr_lab.get("built_to_start", {})
            extra = (
                f"; order to cycling start median {fmt(start['median_days'], 3)} days, of "
                f"which waiting for a free channel once built median "
                f"{fmt(queue['median_days'], 3)} days"
                if start.get("n") and queue.get("n") else ""
            )
            click.echo(
                f"  time to results: median {fmt(head['median_days'], 3)} days, max "
                f"{fmt(head['max_days'], 3)} days from order to result over {head['n']} "
                f"cells ({ttr_lab['unit']}){extra}"
            )
        else:
            click.echo(
                f"  time to results: median {fmt(head['median_h'], 3)} h, max "
                f"{fmt(head['max_h'], 3)} h over {head['n']} cells ({head['unit']})"
            )
    running = lab.get("running", [])
    if running:
        click.echo(f"\nrunning cells ({len(running)}):")
        rows = []
        for r in running:
            m = r.get("metrics_so_far") or {}
            rows.append([
                jobs.get(r["job_id"], "-"), r["trial_id"], r.get("cell_id") or "-",
                r.get("channel", "-"),
                f"{r.get('cycles_done') or 0}/{r['planned_cycles']}",
                ", ".join(f"{k} {fmt(v, 3)}" for k, v in sorted(m.items())
                          if k in ("cycle_life", "capacity_retention",
                                   "areal_capacity_mAh_cm2")) or "-",
                r.get("goes_stale_utc", r.get("goes_stale", "-")),
            ])
        click.echo(table(["trial", "ticket", "cell id", "channel", "cycles", "metrics so far",
                          "goes stale"], rows))
    waiting = lab.get("waiting", [])
    if waiting:
        click.echo(f"\nwaiting cells ({len(waiting)}):")
        for w in waiting:
            what = w.get("message") or f"ticket out; goes stale {w.get('goes_stale_utc')}"
            cell = f" (cell {w['cell_id']})" if w.get("cell_id") else ""
            click.echo(f"  {w['trial_id']}{cell}: {what}")
    if "files_waiting" in lab:
        q = lab["quarantined"]
        click.echo(
            f"\nfiles waiting in inbox/: {len(lab['files_waiting'])}"
            + (f" ({', '.join(lab['files_waiting'][:10])})" if lab["files_waiting"] else "")
            + f"; quarantined: {q['count']}"
        )
    lost = st.get("lost_cells", [])
    if lost or lab.get("lost"):
        n_cells = sum(x["lost_cells"] for x in lost)
        click.echo(f"\nlost cells: {n_cells} in {len(lost)} trial(s)")
        for x in lost:
            fate = "rebuilt" if x["status"] != "abandoned" else "abandoned"
            click.echo(
                f"  trial {x['trial']}: {x['lost_cells']} lost ({'; '.join(x['reasons'])}); "
                f"{fate}, now {x['status']}"
            )


def _print_costs(st: dict[str, Any]) -> None:
    """Print cost used and left, the use behind it, the last gain per cost and any stop."""
    c = st.get("costs")
    if not c:
        return
    u = c["unit_costs"]
    if not (c.get("stated") or c.get("stop")):
        return  # a campaign that states no costs: nothing to say
    budget = c.get("budget")
    left = f", left {fmt(c['left'], 4)} of budget {fmt(budget, 4)}" if budget is not None else ""
    click.echo(
        f"\ncosts: used {fmt(c['used'], 4)}{left} (cost units; {c['cells_built']} cells built "
        f"x {fmt(u['cell_build'])}, {fmt(c['channel_days'], 4)} channel-days x "
        f"{fmt(u['channel_day'])}, {fmt(c['simulation_seconds'], 4)} simulation s x "
        f"{fmt(u['simulation_second'])})"
    )
    g = c.get("last_gain")
    if g:
        threshold = c.get("stop_below_gain_per_cost")
        click.echo(
            f"  last batch (iteration {g['iteration']}): expected hypervolume gain "
            f"{fmt(g['expected_gain'], 4)}, expected cost {fmt(g['expected_cost'], 4)}, gain "
            f"per cost {fmt(g['gain_per_cost'], 4)}"
            + (f" (stop below {fmt(threshold, 4)})" if threshold is not None else "")
        )
    stop = c.get("stop")
    if stop:
        state = "stopped" if c.get("stopped") else "stopped earlier, since resumed"
        click.echo(f"  {state}: {stop.get('message', stop['reason'])}")


def _print_completed(st: dict[str, Any]) -> None:
    done = st.get("completed", [])
    if not done:
        return
    names = st["shown_metrics"]
    click.echo(f"\ncompleted trials ({len(done)}; + = censored lower bound):")
    rows = [
        [t["trial"], t["design"]]
        + [f"{fmt(t['outcomes'].get(n))}{'+' if t['censored'].get(n) else ''}" for n in names]
        for t in done
    ]
    click.echo(table(["trial", "design", *names], rows))


def _print_prior(st: dict[str, Any]) -> None:
    """Print the prior's simulations (mode (c)): counts by state and purpose, seconds."""
    prior = st.get("prior")
    if not prior:
        return
    c = prior["counts"]
    click.echo(
        f"prior simulations ({prior['simulator']}): {c['total']} "
        f"(completed {c['completed']}, failed {c['failed']}, running {c['running']}, "
        f"pending {c['pending']}; initial {c['initial']}, twins {c['twin']}, "
        f"explore {c['explore']}), {fmt(prior['simulation_seconds'])} simulation s; "
        "not counted as trials"
    )


@click.command()
@config_arg
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config: Path, as_json: bool) -> None:
    """Show the campaign for the people who run it and the lab that builds its cells.

    Trials by state; with a lab evaluator (the simulated cycler, the file exchange): channel
    use, faults, cells running with their cycles and metrics so far and when each goes
    stale, cells and files waiting, quarantined files, lost and rebuilt cells, time to
    results; every completed trial; the Pareto set and the hypervolume history.
    """
    with _open(config) as camp:
        st = camp.status()
    if as_json:
        echo_json(st)
        return
    click.echo(f"campaign {st['campaign']!r} ({st['store']}), budget {st['budget']}")
    click.echo("trials: " + ", ".join(f"{k} {v}" for k, v in st["counts"].items()))
    click.echo(f"hypervolume: {fmt(st['hypervolume'])}")
    _print_prior(st)
    _print_costs(st)
    _print_lab(st)
    _print_completed(st)
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
