"""Benchmark evaluation throughput per executor and the campaign's own overhead per evaluation.

Run from the repository root (needs ``distributed``: ``pip install optloop[dask]``)::

    PYTHONPATH=. .venv/bin/python experiments/bench_throughput.py [--quick]

Writes ``experiments/results/throughput.md`` and ``.json``. Reports:

* evaluations per hour of the PyBaMM evaluator on one fixed set of designs at screen fidelity,
  for a local pool of 1 and 2 workers and a Dask ``LocalCluster`` of 2 single-thread workers,
  measured in interleaved rounds (every configuration sees the same machine load), as medians;
  models are built before timing (``warm_up``), so this is steady-state throughput;
* efficiency = throughput / (workers x the 1-worker throughput, same round);
* a short real campaign (local pool, MLflow on, a SQLite MLflow store in a temporary folder),
  its wall time split into proposal (optimiser fit + acquisition), store reads/writes and
  MLflow mirroring in the campaign's thread, and the rest (waiting for evaluations), as shares.

The machine may be shared: the load average before and after is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from optloop.campaign import Campaign  # noqa: E402
from optloop.config import config_from_dict  # noqa: E402
from optloop.evaluators.base import JobState  # noqa: E402
from optloop.evaluators.context import EvaluatorContext  # noqa: E402
from optloop.evaluators.pybamm import PybammEvaluator  # noqa: E402
from optloop.testing import sample_designs  # noqa: E402
from optloop.tracking import MirrorCallback  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results"



def _context(executor: dict[str, Any]) -> EvaluatorContext:
    """Return an ad-hoc evaluator context on the given executor section."""
    return EvaluatorContext(campaign="bench-throughput", executor=executor)

def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_batch(ev: PybammEvaluator, designs: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    """Submit every design, poll until all are terminal; return wall time and states."""
    t0 = time.perf_counter()
    jobs = [ev.submit(d, trial_id=f"{tag}-{i}", fidelity="screen") for i, d in enumerate(designs)]
    live = set(jobs)
    while live:
        live = {j for j in live if not ev.status(j).state.is_terminal}
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    states = [ev.fetch(j).state.value for j in jobs]
    return {"wall_s": wall, "evals_per_hour": len(jobs) / wall * 3600.0,
            "succeeded": states.count(JobState.SUCCEEDED.value), "n": len(jobs)}


def throughput(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import distributed

    designs = sample_designs(args.jobs, seed=7)
    base = {"screen_cycles": args.cycles, "cycle_cap": args.cycles,
            "chunk_cycles": min(25, args.cycles)}
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, host="127.0.0.1", threads_per_worker=1,
        dashboard_address=None,
    )
    configs: dict[str, tuple[int, PybammEvaluator]] = {
        "local-1": (1, PybammEvaluator({**base, "output_dir": str(tmp / "l1")},
                                       context=_context({"kind": "local", "workers": 1}))),
        "local-2": (2, PybammEvaluator({**base, "output_dir": str(tmp / "l2")},
                                       context=_context({"kind": "local", "workers": 2}))),
        "dask-2": (2, PybammEvaluator({**base, "output_dir": str(tmp / "d2")}, context=_context(
            {"kind": "dask", "address": cluster.scheduler_address}))),
    }
    rounds: list[dict[str, Any]] = []
    try:
        for _, ev in configs.values():
            ev.warm_up()
            run_batch(ev, designs[:2], "warm")  # first solves (set-up) are not timed
        for r in range(args.rounds):
            row: dict[str, Any] = {"round": r, "load_before": loadavg()}
            for name, (_, ev) in configs.items():
                row[name] = run_batch(ev, designs, f"r{r}")
            rounds.append(row)
            print(f"round {r}: " + ", ".join(
                f"{n} {row[n]['evals_per_hour']:.0f}/h" for n in configs), flush=True)
    finally:
        for _, ev in configs.values():
            ev.close()
        cluster.close()
    summary = {}
    for name, (workers, _) in configs.items():
        rates = [row[name]["evals_per_hour"] for row in rounds]
        eff = [row[name]["evals_per_hour"] / (workers * row["local-1"]["evals_per_hour"])
               for row in rounds]
        summary[name] = {
            "workers": workers,
            "evals_per_hour_median": statistics.median(rates),
            "efficiency_median": statistics.median(eff),
            "succeeded": sum(row[name]["succeeded"] for row in rounds),
            "jobs": sum(row[name]["n"] for row in rounds),
        }
    return {"rounds": rounds, "summary": summary}


class _Timer:
    """Accumulate wall seconds of calls made from one thread, outside an exclusion flag."""

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.seconds: dict[str, float] = {"proposal": 0.0, "store": 0.0, "mlflow": 0.0}
        self.in_mirror = False

    def wrap(self, fn: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            if threading.get_ident() != self.thread_id or (self.in_mirror and bucket != "mlflow"):
                return fn(*a, **k)
            t0 = time.perf_counter()
            if bucket == "mlflow":
                self.in_mirror = True
            try:
                return fn(*a, **k)
            finally:
                if bucket == "mlflow":
                    self.in_mirror = False
                self.seconds[bucket] += time.perf_counter() - t0
        return timed


def overhead(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["name"] = "bench-overhead"
    data["store"] = {"url": f"sqlite:///{tmp / 'campaign.db'}"}
    data["tracking"] = {"uri": f"sqlite:///{tmp / 'mlflow.db'}",
                        "artifact_location": str(tmp / "mlartifacts")}
    data["evaluator"] = {"name": "pybamm", "fidelity": "screen", "options": {
        "screen_cycles": args.cycles, "cycle_cap": args.cycles,
        "chunk_cycles": min(25, args.cycles), "output_dir": str(tmp / "bdf")}}
    data["executor"] = {"kind": "local", "workers": 2}
    data["optimiser"].update(budget=args.campaign_budget, initial_designs=4, batch_size=2)
    cfg = config_from_dict(data)
    timer = _Timer(threading.get_ident())
    mirror = MirrorCallback(cfg.tracking, cfg.name)  # as `optloop run` attaches it
    mirror.on_step = timer.wrap(mirror.on_step, "mlflow")  # type: ignore[method-assign]
    mirror.on_finish = timer.wrap(mirror.on_finish, "mlflow")  # type: ignore[method-assign]
    with Campaign(cfg, callbacks=[mirror]) as camp:
        store = camp.store
        for name in ("add_trials", "transition", "get", "trials", "counts", "events",
                     "record_iteration", "iterations", "next_iteration", "init_campaign"):
            setattr(store, name, timer.wrap(getattr(store, name), "store"))
        opt = camp.optimiser
        opt.propose = timer.wrap(opt.propose, "proposal")  # type: ignore[method-assign]
        camp.evaluator.warm_up()  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        camp.run(poll_interval_s=0.2)
        wall = time.perf_counter() - t0
        trials = camp.store.trials()
        iterations = camp.store.iterations()
    n = len(trials)
    worker_s = sum(float(t.metadata.get("worker_s") or 0.0) for t in trials)
    fit_acq = sum(float(it.get("fit_seconds") or 0) + float(it.get("acquisition_seconds") or 0)
                  for it in (i.get("data", i) for i in iterations))
    s = timer.seconds
    rest = wall - s["proposal"] - s["store"] - s["mlflow"]
    return {
        "trials": n,
        "statuses": {st: sum(t.status.value == st for t in trials)
                     for st in {t.status.value for t in trials}},
        "wall_s": wall,
        "seconds": {**s, "evaluation_and_waiting": rest},
        "shares": {k: v / wall for k, v in {**s, "evaluation_and_waiting": rest}.items()},
        "per_evaluation_s": {k: v / n for k, v in {**s, "evaluation_and_waiting": rest}.items()},
        "stored_fit_plus_acquisition_s": fit_acq,
        "worker_compute_s_per_evaluation": worker_s / n if n else None,
    }


def write(result: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    t, o = result["throughput"]["summary"], result["overhead"]
    lines = [
        "# Throughput of the executors and the campaign's overhead",
        "",
        f"Mode: {'quick' if result['quick'] else 'full'}; {result['jobs']} designs x "
        f"{result['rounds']} round(s), {result['cycles']} screen cycles each; "
        f"{result['cpus']} CPUs; load average before {result['load_before']}, after "
        f"{result['load_after']}. Generated by `experiments/bench_throughput.py`.",
        "",
        "| executor | workers | evaluations/hour (median) | efficiency vs linear | ok/jobs |",
        "|---|---|---|---|---|",
    ]
    for name, row in t.items():
        lines.append(f"| {name} | {row['workers']} | {row['evals_per_hour_median']:.0f} | "
                     f"{row['efficiency_median']:.2f} | {row['succeeded']}/{row['jobs']} |")
    lines += [
        "",
        f"Campaign overhead ({o['trials']} trials, local pool of 2, MLflow on, SQLite): wall "
        f"{o['wall_s']:.1f} s; statuses {o['statuses']}.",
        "",
        "| part | seconds | share of wall | seconds per evaluation |",
        "|---|---|---|---|",
    ]
    for k, v in o["seconds"].items():
        lines.append(f"| {k} | {v:.2f} | {o['shares'][k]:.1%} | {o['per_evaluation_s'][k]:.3f} |")
    lines += [
        "",
        f"Stored fit + acquisition seconds: {o['stored_fit_plus_acquisition_s']:.2f}; worker "
        f"compute per evaluation: {o['worker_compute_s_per_evaluation']:.2f} s.",
        "Store and MLflow are timed in the campaign's thread only (MLflow mirrors in a "
        "background thread; its CPU use there is not counted). 'evaluation_and_waiting' is the "
        "rest: polling, sleeping between polls and waiting for workers.",
        "",
    ]
    (OUT / "throughput.md").write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small check (numbers are rough)")
    p.add_argument("--jobs", type=int, default=None, help="designs per configuration and round")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    p.add_argument("--cycles", type=int, default=None, help="screen cycles per evaluation")
    args = p.parse_args()
    jobs, rounds, cycles, args.campaign_budget = (
        (6, 1, 10, 6) if args.quick else (16, 3, 50, 12)
    )
    args.jobs = args.jobs or jobs
    args.rounds = args.rounds or rounds
    args.cycles = args.cycles or cycles
    before = loadavg()
    with tempfile.TemporaryDirectory(prefix="optloop-bench-") as d:
        tp = throughput(args, Path(d))
        ov = overhead(args, Path(d))
    result = {
        "quick": args.quick, "jobs": args.jobs, "rounds": args.rounds, "cycles": args.cycles,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_before": before, "load_after": loadavg(),
        "throughput": tp, "overhead": ov,
    }
    write(result)
    print((OUT / "throughput.md").read_text())


if __name__ == "__main__":
    main()
