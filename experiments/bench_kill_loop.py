"""Kill loop: SIGKILL ``optloop run`` at random instants, resume each time, count the damage.

A quick campaign (``configs/quick.yaml``: budget 8, 4 Sobol designs then BoTorch batches of
2) runs on an evaluator whose jobs live in a local process pool of 2 workers and so die with
their driver, as the local PyBaMM pool's do (``optloop.evaluators._toy_pool``, 2 s a job, no
physics: the benchmark is about the driver, not the cells). A real ``optloop run`` subprocess
is started, SIGKILLed after a random delay (seeded; the instants fall during start-up, the
optimiser's fit, store writes and running jobs), and started again on the same store, until
``--kills`` kills were made and the last campaign reached its budget; a campaign that reaches
its budget before that is followed by a fresh one (a new name in the same store).

Counted, over every campaign:

* **lost**: trials that did not end ``completed`` (the evaluator never fails a design, so any
  ``failed`` or ``abandoned`` trial is damage done by the kills), and attempts spent beyond
  the first submission;
* **duplicated**: designs evaluated in two trials, and two trials for one proposal (the same
  iteration and batch index);
* **hung**: runs whose store showed no new event within ``--hung-s`` seconds while alive;
* **leftover**: processes of a killed driver (``psutil`` children, recursive, taken just
  before the kill) still alive ``--leftover-s`` seconds after it (then killed by pid; their
  command lines are recorded in the JSON);
* the total time, the runs, and the driver restarts recorded on trials.

``evaluator.max_driver_restarts`` is raised to 1000 here: the kills come from outside, so
every running trial is charged for each one, and the default cap (5) exists to stop a design
that kills its driver itself (``tests/test_driver_death.py`` covers that cap).

Run from the repository root (CPU heavy: one optloop process at a time, ~10-20 min)::

    .venv/bin/python experiments/bench_kill_loop.py                     # 50 kills, seed 0
    .venv/bin/python experiments/bench_kill_loop.py --kills 5           # smoke run

Writes ``experiments/results/kill_loop.md`` and ``kill_loop.json`` unless ``--out`` says
otherwise. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optloop.store import CampaignStore, TrialStatus  # noqa: E402

POOL_TOY = "optloop.evaluators._toy_pool:PoolToyEvaluator"


@dataclass
class Tally:
    """What the loop saw."""

    kills: int = 0
    kills_with_running_trials: int = 0
    runs: int = 0
    clean_exits: int = 0
    failed_exits: list[str] = field(default_factory=list)
    hung: int = 0
    leftover: int = 0
    leftover_pids: list[int] = field(default_factory=list)
    leftover_commands: list[str] = field(default_factory=list)
    campaigns: list[str] = field(default_factory=list)


def write_config(folder: Path, name: str, seconds: float, *, driver_cap: bool = True) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["name"] = name
    data["store"] = {"url": f"sqlite:///{folder / 'campaign.db'}"}
    data["evaluator"] = {
        "name": POOL_TOY,
        "options": {"seconds": seconds, "workers": 2},
        "max_concurrency": 2,
        "max_driver_restarts": 1000,
    }
    if not driver_cap:  # a build that predates the field refuses it
        del data["evaluator"]["max_driver_restarts"]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(config: Path, folder: Path, source: Path = ROOT) -> subprocess.Popen[bytes]:
    # Each run mirrors into MLflow (``mlflow/mlflow.db`` below the run folder), as a cron
    # ``optloop run`` would: the kills land in syncs too.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-c", "from optloop.cli import main; main()", "run", str(config)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def n_events(store: CampaignStore) -> int:
    return len(store.events())


def done(store: CampaignStore, budget: int) -> bool:
    c = store.counts()
    return c["completed"] + c["failed"] >= budget and c["proposed"] + c["running"] == 0


def watch(
    proc: subprocess.Popen[bytes],
    store: CampaignStore,
    delay: float | None,
    hung_s: float,
    *,
    after_start: bool,
) -> str:
    """Wait ``delay`` s, or for the end of the run; return 'due', 'exit' or 'hung'.

    The delay counts from the process start (``after_start``), else from the run's first
    activity (a store event or a pool worker), so most kills land in the loop, not in imports.
    """
    last, last_change = n_events(store), time.monotonic()
    until = None if delay is None or not after_start else last_change + delay
    while proc.poll() is None:
        now = time.monotonic()
        if until is not None and now >= until:
            return "due"
        events = n_events(store)
        if until is None and delay is not None and (events != last or descendants(proc.pid)):
            until = now + delay
        if events != last:
            last, last_change = events, now
        elif now - last_change > hung_s:
            return "hung"
        time.sleep(0.05)
    return "exit"


def command(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[:200]
    except psutil.Error:
        return "?"


def kill(
    proc: subprocess.Popen[bytes], tally: Tally, store: CampaignStore, leftover_s: float
) -> None:
    children = descendants(proc.pid)
    commands = {c.pid: command(c) for c in children}
    running = store.counts()["running"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    tally.kills += 1
    tally.kills_with_running_trials += running > 0
    deadline = time.monotonic() + leftover_s
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    for c in children:
        if alive(c):
            tally.leftover += 1
            tally.leftover_pids.append(c.pid)
            tally.leftover_commands.append(commands.get(c.pid, "?"))
            c.kill()  # by pid: only what this driver started


def audit(store: CampaignStore) -> dict[str, Any]:
    trials = store.trials()
    designs = Counter(t.design.key() for t in trials)
    proposals = Counter((t.iteration, t.batch_index) for t in trials if t.origin != "manual")
    return {
        "trials": len(trials),
        "completed": sum(t.status is TrialStatus.COMPLETED for t in trials),
        "not_completed": [
            {"trial": t.id, "status": t.status.value, "reason": t.reason}
            for t in trials
            if t.status is not TrialStatus.COMPLETED
        ],
        "extra_attempts": sum(max(0, t.attempts - 1) for t in trials),
        "duplicated_designs": sum(n - 1 for n in designs.values() if n > 1),
        "duplicated_proposals": sum(n - 1 for n in proposals.values() if n > 1),
        "driver_restarts": sum(int(t.metadata.get("driver_restarts", 0)) for t in trials),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-delay-s", type=float, default=12.0,
                    help="kill within this after the run's first activity")
    ap.add_argument("--startup-share", type=float, default=0.2,
                    help="share of kills timed from the process start instead")
    ap.add_argument("--startup-s", type=float, default=10.0,
                    help="those kills land within this after the process start")
    ap.add_argument("--job-s", type=float, default=2.0, help="seconds per toy job")
    ap.add_argument("--hung-s", type=float, default=180.0, help="no store event for this long")
    ap.add_argument("--leftover-s", type=float, default=10.0)
    ap.add_argument("--source", type=Path, default=ROOT,
                    help="the optloop tree the runs import (compare with an older build)")
    ap.add_argument("--no-driver-cap", action="store_true",
                    help="leave evaluator.max_driver_restarts out (a build without it)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "kill_loop")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    tally = Tally()
    audits: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kill-loop-") as tmp:
        folder = Path(tmp)
        budget = int(yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
                     ["optimiser"]["budget"])
        while True:
            name = f"quick-kill-{len(tally.campaigns)}"
            tally.campaigns.append(name)
            config = write_config(folder, name, args.job_s, driver_cap=not args.no_driver_cap)
            store = CampaignStore(f"sqlite:///{folder / 'campaign.db'}", name)
            while not (store.trials() and done(store, budget)):
                proc = start(config, folder, args.source)
                tally.runs += 1
                delay, after_start = None, False
                if tally.kills < args.kills:
                    after_start = rng.random() < args.startup_share
                    delay = rng.uniform(0.0, args.startup_s if after_start else args.max_delay_s)
                how = watch(proc, store, delay, args.hung_s, after_start=after_start)
                if how == "due":
                    kill(proc, tally, store, args.leftover_s)
                elif how == "hung":
                    tally.hung += 1
                    kill(proc, tally, store, args.leftover_s)
                else:
                    _, err = proc.communicate()
                    if proc.returncode == 0:
                        tally.clean_exits += 1
                    else:
                        tally.failed_exits.append(err.decode()[-400:])
                        if len(tally.failed_exits) > 5:
                            raise SystemExit("optloop run keeps failing:\n" + err.decode())
                print(f"run {tally.runs}: {how}; kills {tally.kills}; {name}: "
                      f"{store.counts()}", flush=True)
            audits[name] = audit(store)
            store.close()
            if tally.kills >= args.kills:
                break
    total = time.monotonic() - started
    summary = {
        "kills": tally.kills,
        "kills_with_running_trials": tally.kills_with_running_trials,
        "runs": tally.runs,
        "campaigns": len(tally.campaigns),
        "trials": sum(a["trials"] for a in audits.values()),
        "lost": sum(len(a["not_completed"]) for a in audits.values()),
        "extra_attempts": sum(a["extra_attempts"] for a in audits.values()),
        "duplicated": sum(
            a["duplicated_designs"] + a["duplicated_proposals"] for a in audits.values()
        ),
        "hung": tally.hung,
        "leftover": tally.leftover,
        "driver_restarts_on_trials": sum(a["driver_restarts"] for a in audits.values()),
        "failed_exits": len(tally.failed_exits),
        "total_s": round(total, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summary,
        "campaigns": audits,
        "tally": asdict(tally),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.items())
    args.out.with_suffix(".md").write_text(
        f"# Kill loop: `optloop run` SIGKILLed at random instants\n\n"
        f"`experiments/bench_kill_loop.py --kills {args.kills} --seed {args.seed}`: "
        f"configs/quick.yaml (budget {budget}) on a 2-worker local-pool toy evaluator "
        f"({args.job_s:g} s a job), killed after a uniform random delay: in "
        f"[0, {args.max_delay_s:g}] s after the run's first activity (store event or pool "
        f"worker), or for a share of {args.startup_share:g} in [0, {args.startup_s:g}] s after "
        f"the process start; resumed each time; a fresh campaign when one reached its budget. "
        f"Hung: no store event for {args.hung_s:g} s. Leftover: a killed "
        f"driver's processes alive {args.leftover_s:g} s after the kill. "
        f"{os.cpu_count()} CPUs, shared with other work.\n\n"
        f"| figure | value |\n|---|---|\n{rows}\n\n"
        "Target: 0 lost, 0 duplicated, 0 hung, 0 leftover. Details: `kill_loop.json`.\n"
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
