"""Early prediction of cycle life on rehearsed lab campaigns: its error and the channel-days saved.

Each seed runs the lab-rehearsal campaign (``configs/lab-rehearsal.yaml``: the default space
and objectives, the simulated cycler with 4 channels, a 48 h cell build, cell-to-cell
variation, lost cells and channel faults, PyBaMM cell behaviour) with early stopping on. After
the run, the simulated cycler's rehearsal-only ``ground_truth`` tells what every cell would
have done had it cycled to its end, so we can count:

* **prediction error**: for every reviewed cell (stopped or not) whose true life is known
  (not censored), ``|log(predicted / true)|``, and whether the interval covered the truth;
* **channel-days saved**: for each stopped cell, the test duration it would have needed minus
  the channel-days it used;
* **wrong stops**: stopped cells whose true cycle life reached the reference they were judged
  against (the rule's own promise broken), and stopped cells that would have been on the
  campaign's final Pareto front had they run to their end (what a wrong stop costs).

Run from the repository root::

    .venv/bin/python experiments/bench_early_stopping.py                 # 3 seeds, ~15 min
    .venv/bin/python experiments/bench_early_stopping.py --seeds 1 --budget 12   # smoke run

Writes ``experiments/results/early_stopping.md``, ``early_stopping.json`` and
``early_stopping.png`` (predicted against true cycle life) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from optloop.analysis import pareto_trials
from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.store import CampaignStore

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run one rehearsed campaign and return its per-trial facts and summary."""
    data = yaml.safe_load((ROOT / "configs" / "lab-rehearsal.yaml").read_text())
    data["name"] = f"early-stopping-s{seed}"
    data["seed"] = seed
    data["store"] = {"url": f"sqlite:///{work / f'campaign-{seed}.db'}"}
    data["optimiser"]["budget"] = args.budget
    if args.initial_designs:
        # initial_designs = budget: a space-filling screening campaign (no BoTorch steering).
        data["optimiser"]["initial_designs"] = args.initial_designs
    if args.thickness_um:
        # A campaign that reaches for capacity: thick films, many of which die within the test.
        data["space"]["alloy_layer"]["thickness_um"] = list(args.thickness_um)
    opts = data["evaluator"]["options"]
    opts["state_dir"] = str(work / f"cycler-{seed}")
    if args.cell_model == "steep":
        opts["cell_model"] = "optloop.evaluators.simulated_cycler.profile:short_lived_profile"
        opts["pybamm"]["cycle_cap"] = 300  # the test plan: cycles to 80 % or 300
    data["early_stopping"] = {
        "enabled": True,
        "after_cycles": args.after_cycles,
        "min_training_cells": 6,
        "reference_quantile": None if args.min_cycle_life else 0.25,
        "min_cycle_life": args.min_cycle_life,
    }
    if args.time_scale:
        opts["time_scale"] = args.time_scale
    config = config_from_dict(data)
    t0 = time.perf_counter()
    camp = Campaign(config, store=CampaignStore(data["store"]["url"], config.name))
    try:
        final = camp.run(progress=lambda p: print(
            f"  seed {seed}: {p.counts} best {p.best} {p.message}", flush=True))
        wall = time.perf_counter() - t0
        cycler: Any = camp.evaluator
        trials = camp.store.trials()
        rows = []
        for t in trials:
            if not t.job_id:
                continue
            try:
                truth = cycler.ground_truth(t.job_id)
            except Exception as exc:  # noqa: BLE001 - a cell model that failed has no truth
                truth = {"error": str(exc)}
            rows.append({
                "trial": t.id,
                "status": t.status.value,
                "outcomes": t.outcomes,
                "censored": t.censored,
                "early_stopping": t.metadata.get("early_stopping"),
                "early_stopped": bool(t.metadata.get("early_stopped")),
                "truth": truth,
                "reason": t.reason,
            })
        usage = cycler.channel_usage()
        # The final front as the campaign sees it, and with true lives for stopped cells.
        objectives, constraints = config.objectives, config.outcome_constraints
        seen_front = {t.id for t in pareto_trials(trials, objectives, constraints)}
        truthful = []
        for t in trials:
            row = next((r for r in rows if r["trial"] == t.id), None)
            if row and row["early_stopped"] and "cycle_life" in row["truth"]:
                t = _with_cycle_life(t, float(row["truth"]["cycle_life"]))
            truthful.append(t)
        true_front = {t.id for t in pareto_trials(truthful, objectives, constraints)}
        return {
            "seed": seed,
            "wall_s": wall,
            "counts": final.counts,
            "hypervolume": final.hypervolume,
            "channel_usage": usage,
            "trials": rows,
            "front_seen": sorted(seen_front),
            "front_true": sorted(true_front),
        }
    finally:
        camp.close()


def _with_cycle_life(trial: Any, life: float) -> Any:
    from dataclasses import replace

    return replace(trial, outcomes={**trial.outcomes, "cycle_life": life})


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return prediction errors, coverage, channel-days saved and wrong stops over all runs."""
    errors, covered, stopped, saved, wrong, wrong_front = [], [], 0, 0.0, 0, 0
    continued = continued_right = 0
    used = 0.0
    pairs = []
    for run in runs:
        used += run["channel_usage"]["busy_channel_days"]
        for r in run["trials"]:
            es, truth = r["early_stopping"], r["truth"]
            if not es or "cycle_life" not in truth:
                continue
            true_life = float(truth["cycle_life"])
            pred = float(es["predicted_cycle_life"])
            lo, hi = es["interval"]
            if not truth["cycle_life_censored"]:
                errors.append(abs(math.log(pred / true_life)))
                covered.append(lo <= true_life <= hi)
            pairs.append((true_life, pred, bool(truth["cycle_life_censored"]), r["early_stopped"]))
            if not r["early_stopped"] and es.get("reference_cycles") is not None:
                continued += 1
                continued_right += true_life >= es["reference_cycles"]
            if r["early_stopped"]:
                stopped += 1
                saved += max(0.0, truth["test_duration_days"]
                             - truth["actual"]["busy_channel_days"])
                ref = es.get("reference_cycles")
                if ref is not None and true_life >= ref:
                    wrong += 1
                if r["trial"] in run["front_true"] and r["trial"] not in run["front_seen"]:
                    wrong_front += 1
    return {
        "reviewed_cells": len(pairs),
        "continued_cells": continued,
        "continued_truly_above_reference": continued_right,
        "stopped_cells": stopped,
        "median_abs_log_error": statistics.median(errors) if errors else None,
        "n_error": len(errors),
        "interval_coverage": (sum(covered) / len(covered)) if covered else None,
        "channel_days_saved": saved,
        "channel_days_used": used,
        "saved_fraction": saved / (used + saved) if used + saved > 0 else None,
        "wrong_stops": wrong,
        "wrong_stops_lost_from_front": wrong_front,
        "pairs": pairs,
    }


def plot(pairs: list[tuple[float, float, bool, bool]], path: Path) -> None:
    """Save predicted against true cycle life, stopped cells marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for cens in (False, True):
        for stop in (False, True):
            pts = [(t, p) for t, p, c, s in pairs if c == cens and s == stop]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            label = "stopped" if stop else "continued"
            label += " (true life censored)" if cens else ""
            ax.scatter(xs, ys, marker="x" if stop else "o", alpha=0.5 if cens else 0.9,
                       label=label)
    if pairs:
        hi = max(max(t, p) for t, p, _, _ in pairs) * 1.1
        ax.plot([0, hi], [0, hi], "k--", lw=0.8)
    ax.set_xlabel("true cycle life (cycles; simulated cell run to its end)")
    ax.set_ylabel("predicted cycle life at the review (cycles)")
    ax.set_title("Early prediction on rehearsed lab campaigns")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--after-cycles", type=int, default=25)
    parser.add_argument("--thickness-um", type=float, nargs=2, default=None,
                        help="alloy film thickness bounds (default: the config's)")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--min-cycle-life", type=float, default=None,
                        help="a fixed reference (the lab's requirement) instead of the lower "
                        "quartile of completed cells")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="simulated seconds per wall second (default: the config's)")
    parser.add_argument("--initial-designs", type=int, default=None,
                        help="Sobol designs before BoTorch (= budget: a screening campaign)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="re-summarise the runs of an earlier output JSON")
    parser.add_argument("--cell-model", choices=["pybamm", "steep"], default="pybamm",
                        help="cell behaviour: PyBaMM (default) or a made-up steep-fade "
                        "population with poor cells to stop (measures the mechanism only)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        # Re-summarise saved runs (e.g. after the summary gained a measure); no new campaign.
        runs = json.loads(args.from_json.read_text())["runs"]
    else:
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in args.seeds:
                print(f"seed {seed}", flush=True)
                runs.append(run_seed(seed, args, Path(tmp)))
    summary = summarise(runs)
    stem = "early_stopping" + (f"_{args.tag}" if args.tag else "")
    (args.out / f"{stem}.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary,
                    "runs": runs}, indent=1, default=str)
    )
    plot(summary["pairs"], args.out / f"{stem}.png")
    lines = [
        "# Early prediction of cycle life on rehearsed lab campaigns",
        "",
        f"`experiments/bench_early_stopping.py --seeds {' '.join(map(str, args.seeds))} "
        f"--budget {args.budget} --after-cycles {args.after_cycles}"
        + (f" --thickness-um {args.thickness_um[0]:g} {args.thickness_um[1]:g}"
           if args.thickness_um else "")
        + (f" --tag {args.tag}" if args.tag else "")
        + (f" --cell-model {args.cell_model}" if args.cell_model != "pybamm" else "")
        + (f" --initial-designs {args.initial_designs}" if args.initial_designs else "")
        + (f" --min-cycle-life {args.min_cycle_life:g}" if args.min_cycle_life else "")
        + (f" --time-scale {args.time_scale:g}" if args.time_scale else "")
        + "`; simulated cycler from `configs/lab-rehearsal.yaml` (4 channels, "
        + ("PyBaMM cells to 80 % or 150 cycles"
           if args.cell_model == "pybamm"
           else "a made-up steep-fade cell population (no physics) to 80 % or 300 cycles")
        + ", cell-to-cell variation, lost cells, channel faults).",
        "",
        "| seed | wall s | completed | failed | abandoned | stopped early | busy channel-days |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        c = run["counts"]
        n_stop = sum(r["early_stopped"] for r in run["trials"])
        lines.append(
            f"| {run['seed']} | {run['wall_s']:.0f} | {c['completed']} | {c['failed']} | "
            f"{c['abandoned']} | {n_stop} | {run['channel_usage']['busy_channel_days']:.1f} |"
        )
    s = summary

    def fmt(x: Any, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    lines += [
        "",
        f"* cells reviewed (had {args.after_cycles} cycles with a trained predictor): "
        f"{s['reviewed_cells']}; stopped early: {s['stopped_cells']}; kept cycling: "
        f"{s['continued_cells']}, of which {s['continued_truly_above_reference']} truly lived "
        "at least their reference (a kept cell below it is a missed saving)",
        f"* prediction error, median |log(predicted/true)| over {s['n_error']} cells with a "
        f"known true life: {fmt(s['median_abs_log_error'])}; interval coverage "
        f"{fmt(s['interval_coverage'], '.2f')}",
        f"* channel-days saved: {s['channel_days_saved']:.1f} of "
        f"{s['channel_days_used'] + s['channel_days_saved']:.1f} "
        f"({fmt(s['saved_fraction'], '.1%')})",
        f"* wrong stops (true life reached the reference): {s['wrong_stops']}; stopped cells that "
        f"would have been on the final Pareto front: {s['wrong_stops_lost_from_front']}",
        "",
        f"![predicted vs true]({stem}.png)",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
