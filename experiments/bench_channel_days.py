"""Channel-days benchmark of the issue-15 modes on the reality-gap rehearsal.

Arms (all on ``configs/reality-rehearsal.yaml``; the script adds ``lives`` / ``prior`` per arm so
the YAML itself validates on any main):

* ``a``: cycle every cell to failure (or the protocol's ``cycle_cap``), today's default;
* ``b``: predicted lives as observations (``lives.mode: predict``);
* ``c``: ``b`` plus the PyBaMM prior (``prior.simulator: pybamm``);
* ``b_misleading`` / ``c_misleading``: ``b`` and ``c`` against the cycler's reality preset
  ``misleading`` (it ranks the alloying elements' lives opposite to PyBaMM), to compare c with
  b when the prior is wrong. ``a``, ``b`` and ``c`` run against the preset ``mild``.

Every arm gets the same budget in channel-days (``costs: {channel_day: 1, cell_build: 0,
budget: N}``). Scoring never uses the campaign's own values: every cell's **true** outcome
comes from the cycler's truth files (``<state_dir>/truth/<job>.json``, the reality's
noise-free outcome of the design), and the hypervolume of the true outcomes of the cells
finished so far is traced against the channel-days used and the cells built.

Cost is the crux, so:

* the space is **discrete** (every continuous quantity fixed; 44 feasible designs: 4 alloying
  elements x 2 structures x 2 deposition methods x graphite yes/no x lithium layer yes/no, less
  the infeasible ones), so the PyBaMM profile of every design is computed **once**
  (``precompute``) into one shared cache that every run's ``state_dir/profiles`` points at;
* the cycler runs on a **virtual clock**: simulated time advances by ``--step-h`` hours per poll
  of the campaign loop and stands still while the optimiser thinks, so a run takes as long as
  its optimiser steps and the schedule does not depend on the machine's load.

Run from the repository root::

    .venv/bin/python experiments/bench_channel_days.py run                # all arms, 5 seeds
    .venv/bin/python experiments/bench_channel_days.py run --arms a --seeds 5
    .venv/bin/python experiments/bench_channel_days.py run --quick        # 1 seed, 300 ch-days
    .venv/bin/python experiments/bench_channel_days.py report             # from the saved runs
    .venv/bin/python experiments/bench_channel_days.py precompute --prior  # rebuild the caches

The profile cache is committed (``experiments/data/channel_days_profiles``, 3 MB); the prior's
cache (BDF files, 114 MB) is rebuilt on the first run of a c arm: 44 PyBaMM lives of median
13.6 s worker time (704 s wall on 1 worker). Measured (2 cores shared with other work): an
arm-a run costs 79-107 CPU s (233-450 s wall, two at once) and exhausts the 44 designs at
~1250 channel-days; runs are reproducible (the same curves on a rerun). ``--step-h 12``
instead of 6 saved 13 % CPU on a quick b run with the same result.
Arms whose config sections are missing on the checkout (``lives`` for b, ``prior`` for c) are
skipped with "arm 'b' needs lives config ..." and exit status 2 when nothing is left to run.

Writes ``experiments/results/channel_days.md``, ``channel_days.json`` and plots
(``channel_days_hv.png``: hypervolume against channel-days and against cells, medians and seed
bands; ``channel_days_lives.png``: predicted against true lives).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "reality-rehearsal.yaml"
RESULTS = ROOT / "experiments" / "results"
WORK = ROOT / "runs" / "bench_channel_days"
#: The shared PyBaMM profiles of every design of the space (keyed by design and physics).
CACHE = ROOT / "experiments" / "data" / "channel_days_profiles"

ARMS: dict[str, dict[str, Any]] = {
    "a": {"mode": "measure", "prior": False, "reality": "mild"},
    "b": {"mode": "predict", "prior": False, "reality": "mild"},
    "c": {"mode": "predict", "prior": True, "reality": "mild"},
    "b_misleading": {"mode": "predict", "prior": False, "reality": "misleading"},
    "c_misleading": {"mode": "predict", "prior": True, "reality": "misleading"},
}
#: The ``lives`` section of the predict arms (the shared interface's defaults).
LIVES = {
    "mode": "predict",
    "min_cycles": 30,
    "review_every_cycles": 25,
    "interval": 0.9,
    "min_training_cells": 6,
    "calibration": "conformal",
    "min_value_per_channel_day": 0.002,
}
#: The ``prior`` section of the c arms (``options`` as the cycler's PyBaMM options).
PRIOR = {
    "simulator": "pybamm",
    "initial_simulations": 16,
    "simulations_per_batch": 4,
    "pretrain_predictor": True,
}


# --- scoring (pure functions; tests/test_bench_channel_days.py) --------------------------------


@dataclass(frozen=True)
class CellRecord:
    """One cell of a run, as the scoring needs it (times in simulated days).

    Attributes:
        trial: The trial id.
        submitted_day: When the cell was ordered (it counts as built from then).
        start_day: When it took a channel (None: never did).
        end_day: When it left its channel (None: still on it at the end of the run).
        finished: True when the campaign recorded a result (completed) for it.
        true_outcome: The design's true noise-free outcome (metric name -> value); empty
            when the cell model failed.
        cell_true_outcome: The cell's own true outcome (with its draws); for coverage and
            wrong stops.
        prediction: ``metadata.prediction`` of a cell whose life was predicted, else None.
        full_test_days: Days the test would have taken to its end (for channel-days saved).
    """

    trial: int
    submitted_day: float
    start_day: float | None
    end_day: float | None
    finished: bool
    true_outcome: Mapping[str, float] = field(default_factory=dict)
    cell_true_outcome: Mapping[str, float] = field(default_factory=dict)
    prediction: Mapping[str, Any] | None = None
    full_test_days: float | None = None

    def channel_days_until(self, day: float) -> float:
        """Return the channel-days this cell used up to ``day``."""
        if self.start_day is None or day <= self.start_day:
            return 0.0
        end = day if self.end_day is None else min(self.end_day, day)
        return max(0.0, end - self.start_day)


@dataclass(frozen=True)
class Goal:
    """An objective for scoring: metric, direction, hypervolume reference."""

    name: str
    maximize: bool
    reference: float


@dataclass(frozen=True)
class Bound:
    """An outcome constraint for scoring: ``metric op value``."""

    metric: str
    op: str
    value: float

    def ok(self, outcome: Mapping[str, float]) -> bool:
        """Return True when the outcome satisfies the bound (a missing metric fails)."""
        v = outcome.get(self.metric)
        if v is None or not math.isfinite(float(v)):
            return False
        return float(v) >= self.value if self.op == ">=" else float(v) <= self.value


def _points(
    outcomes: Sequence[Mapping[str, float]], goals: Sequence[Goal], bounds: Sequence[Bound]
) -> list[tuple[float, ...]]:
    """Return the feasible outcomes as maximisation points relative to the reference."""
    pts = []
    for o in outcomes:
        if not all(g.name in o for g in goals) or not all(b.ok(o) for b in bounds):
            continue
        p = tuple((float(o[g.name]) - g.reference) * (1 if g.maximize else -1) for g in goals)
        if all(x > 0 for x in p):
            pts.append(p)
    return pts


def hypervolume(
    outcomes: Sequence[Mapping[str, float]], goals: Sequence[Goal], bounds: Sequence[Bound] = ()
) -> float:
    """Return the hypervolume the feasible outcomes dominate above the reference point.

    Exact for one and two objectives (the benchmark's case); more go to BoTorch.
    """
    pts = _points(outcomes, goals, bounds)
    if not pts:
        return 0.0
    if len(goals) == 1:
        return max(p[0] for p in pts)
    if len(goals) == 2:
        hv, best_y = 0.0, 0.0
        for x, y in sorted(pts, key=lambda p: (-p[0], -p[1])):
            if y > best_y:
                hv += x * (y - best_y)
                best_y = y
        return hv
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    return float(Hypervolume(torch.zeros(len(goals), dtype=torch.double)).compute(
        torch.tensor(pts, dtype=torch.double)))


def pareto_ids(
    outcomes: Mapping[int, Mapping[str, float]], goals: Sequence[Goal], bounds: Sequence[Bound]
) -> frozenset[int]:
    """Return the ids of the feasible non-dominated outcomes (maximisation after signs)."""
    ok = {i: o for i, o in outcomes.items()
          if all(g.name in o for g in goals) and all(b.ok(o) for b in bounds)}
    signed = {i: tuple(float(o[g.name]) * (1 if g.maximize else -1) for g in goals)
              for i, o in ok.items()}
    front = set()
    for i, p in signed.items():
        dominated = any(
            all(a >= b for a, b in zip(q, p, strict=True)) and q != p
            for j, q in signed.items() if j != i
        )
        if not dominated:
            front.add(i)
    return frozenset(front)


def hv_curve(
    cells: Sequence[CellRecord], goals: Sequence[Goal], bounds: Sequence[Bound] = ()
) -> list[dict[str, float]]:
    """Return the true hypervolume after each finished cell, with channel-days and cells then.

    Each point is taken when a cell leaves its channel with a result: ``day``, ``channel_days``
    (all cells' channel time up to that day, running ones included), ``cells`` (cells ordered
    by then) and ``hv`` (of the true outcomes of the finished cells up to then). The curve
    starts at ``(0, 0, 0, 0)``.
    """
    done = sorted((c for c in cells if c.finished and c.end_day is not None),
                  key=lambda c: (c.end_day, c.trial))
    out = [{"day": 0.0, "channel_days": 0.0, "cells": 0.0, "hv": 0.0}]
    for k, c in enumerate(done):
        day = float(c.end_day)  # type: ignore[arg-type]
        if k + 1 < len(done) and done[k + 1].end_day == day:
            continue  # one point per instant
        seen = [d.true_outcome for d in done[: k + 1]]
        out.append({
            "day": day,
            "channel_days": sum(x.channel_days_until(day) for x in cells),
            "cells": float(sum(x.submitted_day <= day for x in cells)),
            "hv": hypervolume(seen, goals, bounds),
        })
    return out


def value_at(curve: Sequence[Mapping[str, float]], x_key: str, x: float) -> float:
    """Return the curve's hypervolume at ``x`` of ``x_key`` (a step function; 0 before)."""
    hv = 0.0
    for p in curve:
        if p[x_key] <= x + 1e-9:
            hv = max(hv, p["hv"])
    return hv


def first_reaching(
    curve: Sequence[Mapping[str, float]], x_key: str, target: float
) -> float | None:
    """Return the smallest ``x_key`` at which the curve's hypervolume reaches ``target``."""
    for p in sorted(curve, key=lambda q: q[x_key]):
        if p["hv"] >= target * (1 - 1e-9) and target > 0:
            return float(p[x_key])
    return None


def covered(lower: float, upper: float, true_life: float, cap: float | None) -> bool:
    """Return True when the interval covers the true life.

    A true life at or beyond the test's ``cap`` would have been seen only as censored at the
    cap, so there the interval covers it when it reaches the cap and starts below the life.
    """
    if cap is not None and true_life >= cap:
        return lower <= true_life and upper >= cap
    return lower <= true_life <= upper


def interval_stats(cells: Sequence[CellRecord], cap: float | None) -> dict[str, Any]:
    """Return coverage of the cells' true lives by their recorded intervals, and widths.

    Width is ``upper / lower`` (median over cells). Lives are the cell's own (with its draws).
    """
    hits, ratios = [], []
    for c in cells:
        p = c.prediction
        life = c.cell_true_outcome.get("cycle_life")
        if not p or life is None:
            continue
        lo, hi = float(p["lower_cycles"]), float(p["upper_cycles"])
        hits.append(covered(lo, hi, float(life), cap))
        if lo > 0:
            ratios.append(hi / lo)
    return {
        "n": len(hits),
        "coverage": sum(hits) / len(hits) if hits else None,
        "median_width_ratio": statistics.median(ratios) if ratios else None,
    }


def wrong_stops(
    cells: Sequence[CellRecord],
    goals: Sequence[Goal],
    bounds: Sequence[Bound],
    cap: float | None,
    life_metric: str = "cycle_life",
) -> dict[str, Any]:
    """Count stopped cells whose true life lay outside their interval and mattered.

    A stopped cell (one with a prediction) is a wrong stop when its true life is outside its
    interval (:func:`covered` false) **and** the Pareto set of the finished cells' true
    outcomes changes when this cell's life is its predicted median instead of its true life
    (the decision the prediction informed would have been different). Every cell's outcome is
    its own true one (``cell_true_outcome``).
    """
    finished = {c.trial: c for c in cells if c.finished and c.cell_true_outcome}
    truth = {i: dict(c.cell_true_outcome) for i, c in finished.items()}
    front = pareto_ids(truth, goals, bounds)
    stopped = [c for c in finished.values() if c.prediction]
    wrong = []
    for c in stopped:
        p = c.prediction
        assert p is not None
        life = float(c.cell_true_outcome[life_metric])
        if covered(float(p["lower_cycles"]), float(p["upper_cycles"]), life, cap):
            continue
        believed = dict(truth)
        believed[c.trial] = {**truth[c.trial], life_metric: float(p["median_cycles"])}
        if pareto_ids(believed, goals, bounds) != front:
            wrong.append(c.trial)
    return {
        "stopped": len(stopped),
        "wrong": len(wrong),
        "fraction": len(wrong) / len(stopped) if stopped else None,
        "trials": sorted(wrong),
    }


def channel_days_saved(cells: Sequence[CellRecord]) -> float:
    """Return the channel-days the stopped cells did not use (full test minus what they used)."""
    saved = 0.0
    for c in cells:
        if c.prediction and c.full_test_days is not None and c.end_day is not None:
            saved += max(0.0, c.full_test_days - c.channel_days_until(c.end_day))
    return saved


# --- the virtual clock ---------------------------------------------------------------------------


class VirtualClock:
    """A wall clock that moves only when the campaign loop sleeps (by a fixed amount)."""

    def __init__(self, start: float, step_s: float) -> None:
        self.now = start
        self.step_s = step_s
        #: Called after every step (e.g. to end a run whose space is exhausted).
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def shim(self, real: types.ModuleType, nap_s: float = 0.0) -> types.SimpleNamespace:
        """Return a stand-in for the ``time`` module whose ``sleep`` advances this clock."""

        def sleep(_seconds: float) -> None:
            self.now += self.step_s
            if self.on_sleep is not None:
                self.on_sleep()
            if nap_s > 0:
                real.sleep(nap_s)  # lets background work (a PyBaMM pool) make progress

        ns = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real)
                                      if not k.startswith("__")})
        ns.sleep = sleep
        return ns


# --- configs -------------------------------------------------------------------------------------


def base_config() -> dict[str, Any]:
    """Return the rehearsal config as a dict."""
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return data


def arm_config(arm: str, seed: int, budget: float, work: Path) -> dict[str, Any]:
    """Return the config of one arm and seed (``lives`` / ``prior`` added here)."""
    spec = ARMS[arm]
    data = base_config()
    data["name"] = f"channel-days-{arm}-s{seed}"
    data["seed"] = seed
    data["store"] = {"url": f"sqlite:///{work / 'campaign.db'}"}
    data["costs"]["budget"] = budget
    opts = data["evaluator"]["options"]
    opts["state_dir"] = str(work / "cycler")
    opts["reality"] = {"preset": spec["reality"]}
    data["executor"] = {"kind": "local", "workers": 1}
    if spec["mode"] == "predict":
        data["lives"] = dict(LIVES)
    if spec["prior"]:
        data["prior"] = {**PRIOR, "options": dict(opts.get("pybamm", {}))}
    return data


def needs_sections(arm: str) -> str | None:
    """Return why an arm cannot run on this checkout (its config sections missing), or None."""
    from optloop.config.models import CampaignConfig

    spec = ARMS[arm]
    missing = []
    if spec["mode"] == "predict" and "lives" not in CampaignConfig.model_fields:
        missing.append("lives")
    if spec["prior"] and "prior" not in CampaignConfig.model_fields:
        missing.append("prior")
    if missing:
        return (f"arm {arm!r} needs {'/'.join(missing)} config (CampaignConfig has no "
                f"{' / '.join(repr(m) for m in missing)} section on this checkout: "
                "merge i15-predict / i15-prior first)")
    return None


# --- the prior's PyBaMM, cached -----------------------------------------------------------------

#: Finished PyBaMM evaluations of the prior (mode c), one per design, fidelity and physics.
PRIOR_CACHE = WORK / "prior_cache"


def _cached_pybamm_class() -> type:
    """Return a :class:`PybammEvaluator` that serves repeated designs from ``PRIOR_CACHE``.

    A design simulated once (by any run) is answered at once afterwards with the stored
    metrics, censoring, BDF file and metadata, ``worker_s`` included, so the costs still count
    the simulation seconds it took. The bench registers it under the name ``pybamm`` in its
    own processes (:func:`use_cached_pybamm`); optloop itself is unchanged.
    """
    import hashlib

    from optloop.evaluators.base import EvaluationResult, JobState
    from optloop.evaluators.pybamm import PybammEvaluator

    class CachedPybamm(PybammEvaluator):  # type: ignore[misc,valid-type]
        def _key(self, job: Any) -> str:
            physics = json.loads(self._options_json)
            for k in ("output_dir", "workers", "timeout_s", "executor"):
                physics.pop(k, None)
            text = json.dumps({"design": job.design_json, "fidelity": job.fidelity,
                               "physics": physics}, sort_keys=True)
            return hashlib.sha256(text.encode()).hexdigest()[:24]

        def _dispatch(self, job: Any) -> None:
            path = PRIOR_CACHE / f"{self._key(job)}.json"
            if path.exists():
                hit = json.loads(path.read_text(encoding="utf-8"))
                meta = {**hit["metadata"], **job.metadata, "served_from_cache": True}
                meta["worker_s"] = hit["metadata"].get("worker_s", 0.0)
                job.result = EvaluationResult(
                    JobState.SUCCEEDED, metrics=hit["metrics"], censored=hit["censored"],
                    bdf_path=hit["bdf_path"], metadata=meta)
                return
            super()._dispatch(job)

        def _finish(self, job: Any, handle: Any, state: Any) -> None:
            super()._finish(job, handle, state)
            r = job.result
            if r is None or r.state is not JobState.SUCCEEDED or r.bdf_path is None:
                return
            PRIOR_CACHE.mkdir(parents=True, exist_ok=True)
            key = self._key(job)
            bdf = PRIOR_CACHE / f"{key}.bdf.csv"
            if not bdf.exists():
                shutil.copyfile(r.bdf_path, bdf)
            entry = {"metrics": dict(r.metrics), "censored": dict(r.censored),
                     "bdf_path": str(bdf.resolve()), "metadata": dict(r.metadata)}
            tmp = PRIOR_CACHE / f"{key}.json.{os.getpid()}"
            tmp.write_text(json.dumps(entry, default=str), encoding="utf-8")
            os.replace(tmp, PRIOR_CACHE / f"{key}.json")

    return CachedPybamm


def use_cached_pybamm() -> None:
    """Make the evaluator name ``pybamm`` build the cached PyBaMM in this process."""
    from optloop.evaluators import registry

    module = sys.modules.get("bench_channel_days")
    if module is None:  # run as a script: make the module importable by name
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_channel_days as module  # type: ignore[import-not-found,no-redef]
    module.CachedPybamm = _cached_pybamm_class()  # type: ignore[attr-defined]
    registry.BUILTIN_EVALUATORS["pybamm"] = "bench_channel_days:CachedPybamm"


def precompute_prior(workers: int) -> dict[str, Any]:
    """Simulate every design of the space once with the prior's PyBaMM into ``PRIOR_CACHE``."""
    from optloop.evaluators.context import EvaluatorContext
    from optloop.evaluators.registry import create_evaluator

    use_cached_pybamm()
    options = dict(base_config()["evaluator"]["options"].get("pybamm", {}))
    ctx = EvaluatorContext(campaign="prior-precompute", run_dir=WORK / "prior-precompute",
                           seed=0, executor={"kind": "local", "workers": workers})
    ev: Any = create_evaluator("pybamm", options, context=ctx)
    t0 = time.perf_counter()
    jobs = [ev.submit(d, trial_id=f"design-{i}") for i, d in enumerate(space_designs())]
    while True:
        states = [ev.status(j).state for j in jobs]
        left = sum(not st.is_terminal for st in states)
        if not left:
            break
        print(f"  prior precompute: {len(jobs) - left}/{len(jobs)} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        time.sleep(5.0)
    results = [ev.fetch(j) for j in jobs]
    ev.close()
    worker_s = [float(r.metadata.get("worker_s", 0.0)) for r in results]
    info = {"designs": len(jobs), "failed": sum(r.state.value != "succeeded" for r in results),
            "wall_s": time.perf_counter() - t0, "workers": workers,
            "worker_s_median": statistics.median(worker_s) if worker_s else None,
            "worker_s_total": sum(worker_s)}
    (PRIOR_CACHE / "precompute.json").write_text(json.dumps(info, indent=2))
    return info


# --- precompute ----------------------------------------------------------------------------------


def space_designs() -> list[dict[str, Any]]:
    """Return every feasible design of the (discrete) rehearsal space, as canonical dicts."""
    from optloop.config import config_from_dict
    from optloop.evaluators.base import design_json
    from optloop.space import DesignSpace

    config = config_from_dict(base_config())
    space = DesignSpace.from_campaign(config)
    seen = {design_json(d.to_dict()) for d in space.sample(4000, 1)}
    return [json.loads(s) for s in sorted(seen)]


def precompute(cache: Path, workers: int) -> dict[str, Any]:
    """Compute the PyBaMM profile of every design of the space into ``cache`` (once).

    A throw-away cycler state folder gets ``profiles`` linked to ``cache``; every design is
    submitted and the cycler's own PyBaMM pool fills the cache (and, as a by-product, the
    prior's ``PRIOR_CACHE``). Returns the design count and
    the wall time.
    """
    from optloop.evaluators.context import EvaluatorContext
    from optloop.evaluators.simulated_cycler import SimulatedCycler

    cache.mkdir(parents=True, exist_ok=True)
    designs = space_designs()
    tmp = WORK / "precompute-state"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "profiles").symlink_to(cache.resolve(), target_is_directory=True)
    opts = dict(base_config()["evaluator"]["options"])
    opts["state_dir"] = str(tmp)
    ctx = EvaluatorContext(campaign="precompute", run_dir=tmp, seed=0,
                           executor={"kind": "local", "workers": workers})
    t0 = time.perf_counter()
    # The cycler's inner PyBaMM fills the prior's cache too (same physics options, so the same
    # simulations): mode c then never simulates a design twice.
    import optloop.evaluators.simulated_cycler.evaluator as cycler_module

    use_cached_pybamm()
    cycler_module.PybammEvaluator = sys.modules["bench_channel_days"].CachedPybamm  # type: ignore[attr-defined]
    cyc = SimulatedCycler(opts, context=ctx)
    keys = []
    for i, d in enumerate(designs):
        job = cyc.submit(d, trial_id=f"design-{i}")
        keys.append(cyc._record(job).key)
    while True:
        cyc._poll_inner()
        left = [k for k in keys if cyc._profile(k) is None]
        if not left:
            break
        print(f"  precompute: {len(keys) - len(left)}/{len(keys)} profiles "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        time.sleep(5.0)
    cyc.close()
    wall = time.perf_counter() - t0
    failed = [k for k in keys if not cyc._profile(k).ok]  # type: ignore[union-attr]
    for path in cache.glob("*.json"):
        # The cache is shared: a profile is ready at once in every run (no stamp of the
        # precompute's own simulated clock, which would hold cells back in the runs).
        data = json.loads(path.read_text(encoding="utf-8"))
        data["ready_sim_s"] = None
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    for claim in cache.glob("*.claim"):
        claim.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in cache.glob("*.json"))
    info = {"designs": len(designs), "failed": len(failed), "wall_s": wall,
            "cache_bytes": size, "workers": workers}
    (cache / "precompute.json").write_text(json.dumps(info, indent=2))
    return info


# --- one run ------------------------------------------------------------------------------------


class _WallLimit(Exception):
    """A run went past its wall-clock limit."""


class _Exhausted(Exception):
    """Nothing runs and the optimiser proposes nothing new: every design has been tested."""


def _goals(config: Any) -> tuple[list[Goal], list[Bound]]:
    goals = [Goal(o.name, o.direction == "maximize", float(o.reference))
             for o in config.objectives]
    bounds = [Bound(c.metric, c.op, float(c.value)) for c in config.outcome_constraints]
    return goals, bounds


def _numbers(outcome: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in outcome.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def run_one(arm: str, seed: int, budget: float, step_h: float, cache: Path,
            max_wall_s: float, root: Path = WORK) -> dict[str, Any]:
    """Run one arm and seed on the virtual clock and return its scored record."""
    import optloop.campaign.campaign as campaign_module
    from optloop.campaign import Campaign
    from optloop.config import config_from_dict
    from optloop.evaluators.context import EvaluatorContext
    from optloop.evaluators.simulated_cycler import SimulatedCycler
    from optloop.evaluators.simulated_cycler.options import SimulatedCyclerOptions
    from optloop.evaluators.simulated_cycler.reality import true_outcome
    from optloop.store import CampaignStore, TrialStatus

    why = needs_sections(arm)
    if why:
        raise SystemExit(why)
    if ARMS[arm]["prior"]:
        use_cached_pybamm()
    work = root / f"{arm}-s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "cycler").mkdir(parents=True)
    (work / "cycler" / "profiles").symlink_to(cache.resolve(), target_is_directory=True)
    data = arm_config(arm, seed, budget, work)
    config = config_from_dict(data)
    opts = SimulatedCyclerOptions.from_dict(dict(config.evaluator.options))
    clock = VirtualClock(time.time(), step_h * 3600.0 / opts.time_scale)
    real_time = campaign_module.time
    campaign_module.time = clock.shim(real_time, nap_s=0.002 if ARMS[arm]["prior"] else 0.0)  # type: ignore[assignment]
    cycler = SimulatedCycler(opts, context=EvaluatorContext.for_config(config), clock=clock)
    camp = Campaign(config, store=CampaignStore(data["store"]["url"], config.name),
                    evaluator=cycler)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    truncated = False
    exhausted: str | bool = False
    idle = [0]
    n_space = len(space_designs())

    def idle_check() -> None:
        """End the run when nothing runs and nothing new is proposed.

        Two idle polls with every design of the space tested: exhausted; 20 idle polls
        otherwise (the optimiser proposes nothing for another reason): stalled.
        """
        from optloop.evaluators.base import design_json

        counts = camp.store.counts()
        busy = counts["proposed"] + counts["running"]
        idle[0] = idle[0] + 1 if busy == 0 and counts["completed"] + counts["failed"] else 0
        if idle[0] >= 2:
            tested = {design_json(t.design.to_dict()) for t in camp.store.trials()}
            if len(tested) >= n_space or idle[0] >= 20:
                kind = "exhausted" if len(tested) >= n_space else "stalled"
                raise _Exhausted(f"{kind}: {len(tested)} of {n_space} designs tested")

    clock.on_sleep = idle_check

    def progress(p: Any) -> None:
        print(f"  {arm} s{seed}: day {cycler._state.sim_now() / 86400:.0f} {p.counts} "
              f"{p.message} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if time.perf_counter() - t0 > max_wall_s:
            raise _WallLimit

    try:
        try:
            camp.run(progress=progress, poll_interval_s=0.0)
        except _WallLimit:
            truncated = True
        except _Exhausted as exc:
            exhausted = str(exc)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0  # this process only (PyBaMM workers not counted)
        try:
            sim_seconds = float(camp.costs().usage.simulation_seconds)
        except Exception:  # noqa: BLE001 - older checkouts: no simulation seconds recorded
            sim_seconds = 0.0
        cells: list[CellRecord] = []
        lives: list[dict[str, Any]] = []
        for t in camp.store.trials():
            if not t.job_id:
                continue
            rec = cycler._record(t.job_id)
            try:
                gt = cycler.ground_truth(t.job_id)
            except Exception:  # noqa: BLE001 - a failed cell model has no truth
                gt = None
            truth = (gt or {}).get("truth") or {}
            actual = (gt or {}).get("actual") or {}
            pred = t.metadata.get("prediction") if t.metadata.get("early_stopped") else None
            cell = CellRecord(
                trial=t.id,
                submitted_day=rec.submitted_s / 86400.0,
                start_day=actual.get("start_day"),
                end_day=actual.get("end_day"),
                finished=t.status is TrialStatus.COMPLETED,
                true_outcome=_numbers(truth.get("design_truth", {})),
                cell_true_outcome=_numbers(truth.get("cell", {})),
                prediction=pred,
                full_test_days=(gt or {}).get("test_duration_days"),
            )
            cells.append(cell)
            if pred and cell.cell_true_outcome:
                lives.append({"trial": t.id, "true": cell.cell_true_outcome["cycle_life"],
                              "median": pred["median_cycles"], "lower": pred["lower_cycles"],
                              "upper": pred["upper_cycles"],
                              "cycles_observed": pred.get("cycles_observed")})
        goals, bounds = _goals(config)
        cap = float(opts.pybamm_options(None).cycle_cap)
        # The best any campaign could find: every design of the space at its true outcome.
        optimum = []
        for d in space_designs():
            try:
                optimum.append(_numbers(true_outcome(opts, d, seed=seed)))
            except Exception:  # noqa: BLE001 - a design PyBaMM could not cycle
                continue
        curve = hv_curve(cells, goals, bounds)
        return {
            "arm": arm,
            "seed": seed,
            "budget_channel_days": budget,
            "step_h": step_h,
            "wall_s": wall,
            "cpu_s": cpu,
            "truncated": truncated,
            "exhausted": exhausted,
            "simulation_seconds": sim_seconds,
            "hv_optimum": hypervolume(optimum, goals, bounds),
            "curve": curve,
            "cells_built": len(cells),
            "cells_finished": sum(c.finished for c in cells),
            "channel_days_total": sum(c.channel_days_until(math.inf) for c in cells
                                      if c.end_day is not None),
            "intervals": interval_stats(cells, cap),
            "wrong_stops": wrong_stops(cells, goals, bounds, cap),
            "channel_days_saved": channel_days_saved(cells),
            "lives": lives,
            "cells": [c.__dict__ | {"true_outcome": dict(c.true_outcome),
                                    "cell_true_outcome": dict(c.cell_true_outcome)}
                      for c in cells],
        }
    finally:
        camp.close()
        cycler.close()
        campaign_module.time = real_time  # type: ignore[assignment]


def _worker(job: tuple[str, int, float, float, str, float, str]) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    arm, seed, budget, step_h, cache, max_wall_s, root = job
    out = run_one(arm, seed, budget, step_h, Path(cache), max_wall_s, Path(root))
    path = Path(root) / f"{arm}-s{seed}.json"
    path.write_text(json.dumps(out, default=float))
    return out


# --- summary -------------------------------------------------------------------------------------


def _median(xs: Sequence[float | None]) -> float | None:
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else None


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return per-arm numbers and the issue's targets (where the arms needed ran)."""
    by: dict[str, dict[int, Mapping[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["arm"], {})[int(r["seed"])] = r
    arms: dict[str, Any] = {}
    for arm, seeds in sorted(by.items()):
        rows = []
        for seed, r in sorted(seeds.items()):
            n = r["budget_channel_days"]
            curve = r["curve"]
            final = value_at(curve, "channel_days", n)
            opt = r["hv_optimum"]
            rows.append({
                "seed": seed,
                "hv_at_budget": final,
                "hv_optimum": opt,
                "fraction_of_optimum": final / opt if opt > 0 else None,
                "channel_days_to_final": first_reaching(curve, "channel_days", final),
                "cells_to_final": first_reaching(curve, "cells", final),
                "channel_days_to_90pct_optimum": first_reaching(curve, "channel_days", 0.9 * opt),
                "channel_days_to_95pct_optimum": first_reaching(
                    curve, "channel_days", 0.95 * opt),
                "cells_to_90pct_optimum": first_reaching(curve, "cells", 0.9 * opt),
                "cells_built": r["cells_built"],
                "channel_days_total": r["channel_days_total"],
                "coverage": r["intervals"]["coverage"],
                "n_intervals": r["intervals"]["n"],
                "width_ratio": r["intervals"]["median_width_ratio"],
                "stopped": r["wrong_stops"]["stopped"],
                "wrong_stops": r["wrong_stops"]["wrong"],
                "channel_days_saved": r["channel_days_saved"],
                "simulation_seconds": r["simulation_seconds"],
                "wall_s": r["wall_s"],
                "cpu_s": r.get("cpu_s"),
                "truncated": r["truncated"],
                "exhausted": r.get("exhausted", False),
            })
        med = {k: _median([row[k] for row in rows]) for k in rows[0]
               if k not in ("seed", "truncated", "exhausted")}
        arms[arm] = {"seeds": rows, "median": med}
    targets: dict[str, Any] = {}
    if "a" in by and "b" in by:
        # The target at a's final HV, and (for context: a's last steps are single designs
        # found late) at 95 % of it.
        for share, name in ((1.0, "b_channel_days_to_a_final_over_a"),
                            (0.95, "b_channel_days_to_95pct_a_final_over_a")):
            ratios = []
            for seed in sorted(set(by["a"]) & set(by["b"])):
                ra, rb = by["a"][seed], by["b"][seed]
                goal = share * value_at(ra["curve"], "channel_days", ra["budget_channel_days"])
                cd_a = first_reaching(ra["curve"], "channel_days", goal)
                cd_b = first_reaching(rb["curve"], "channel_days", goal)
                ratios.append(None if cd_a is None or cd_b is None or cd_a == 0
                              else cd_b / cd_a)
            targets[name] = {"per_seed": ratios, "median": _median(ratios),
                             "target": "<= 0.5" if share == 1.0 else "context"}
    if "b" in by and "c" in by:
        ratios = []
        for seed in sorted(set(by["b"]) & set(by["c"])):
            rb, rc = by["b"][seed], by["c"][seed]
            t = 0.9 * rb["hv_optimum"]
            nb = first_reaching(rb["curve"], "cells", t)
            nc = first_reaching(rc["curve"], "cells", t)
            ratios.append(None if nb is None or nc is None else nc / nb)
        targets["c_cells_to_90pct_over_b"] = {
            "per_seed": ratios, "median": _median(ratios), "target": "<= 0.5"}
    if "b_misleading" in by and "c_misleading" in by:
        diffs = []
        for seed in sorted(set(by["b_misleading"]) & set(by["c_misleading"])):
            rb, rc = by["b_misleading"][seed], by["c_misleading"][seed]
            diffs.append(value_at(rc["curve"], "channel_days", rc["budget_channel_days"])
                         - value_at(rb["curve"], "channel_days", rb["budget_channel_days"]))
        targets["c_minus_b_misleading_final_hv"] = {
            "per_seed": diffs, "median": _median(diffs), "target": ">= 0"}
    for arm in ("b", "c", "b_misleading", "c_misleading"):
        if arm in by:
            rs = list(by[arm].values())
            stopped = sum(r["wrong_stops"]["stopped"] for r in rs)
            wrong = sum(r["wrong_stops"]["wrong"] for r in rs)
            n = sum(r["intervals"]["n"] for r in rs)
            cov = sum((r["intervals"]["coverage"] or 0) * r["intervals"]["n"] for r in rs)
            targets[f"{arm}_intervals"] = {
                "coverage_pooled": cov / n if n else None, "n": n, "target": "0.85-0.95",
                "wrong_stop_fraction_pooled": wrong / stopped if stopped else None,
                "stopped": stopped, "wrong": wrong, "wrong_target": "<= 0.10"}
    return {"arms": arms, "targets": targets}


def _grid(curves: Sequence[Sequence[Mapping[str, float]]], key: str, xs: Sequence[float]
          ) -> list[list[float]]:
    return [[value_at(c, key, x) for x in xs] for c in curves]


def plot(runs: Sequence[Mapping[str, Any]], out: Path) -> list[str]:
    """Save hypervolume against channel-days and against cells (medians, seed bands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["arm"], []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for arm, rs in sorted(by.items()):
        n = max(r["budget_channel_days"] for r in rs)
        for ax, key, hi in ((axes[0], "channel_days", n),
                            (axes[1], "cells", max(r["cells_built"] for r in rs))):
            xs = np.linspace(0, hi, 200)
            opt = np.array([[r["hv_optimum"]] for r in rs])
            ys = np.array(_grid([r["curve"] for r in rs], key, xs)) / opt
            (line,) = ax.plot(xs, np.median(ys, axis=0), label=f"{arm} ({len(rs)} seeds)")
            ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), alpha=0.15,
                            color=line.get_color())
    axes[0].set_xlabel("channel-days used")
    axes[1].set_xlabel("cells built")
    for ax in axes:
        ax.set_ylabel("true hypervolume / best possible")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle("Reality-gap rehearsal: hypervolume of TRUE outcomes (median, band = min-max)")
    fig.tight_layout()
    paths = [str(out.with_name(out.stem + "_hv.png"))]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    pairs = [(arm, lv) for r in runs for lv in r["lives"] for arm in [r["arm"]]]
    if pairs:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for arm in sorted({a for a, _ in pairs}):
            pts = [lv for a, lv in pairs if a == arm]
            t = np.array([p["true"] for p in pts])
            m = np.array([p["median"] for p in pts])
            err = np.array([[p["median"] - p["lower"] for p in pts],
                            [p["upper"] - p["median"] for p in pts]])
            ax.errorbar(t, m, yerr=err, fmt="o", ms=3, alpha=0.6, label=arm, elinewidth=0.6)
        hi = max(max(p["true"], p["upper"]) for _, p in pairs) * 1.1
        ax.plot([1, hi], [1, hi], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("true cycle life of the cell")
        ax.set_ylabel("predicted (median, 90 % interval)")
        ax.legend()
        fig.tight_layout()
        paths.append(str(out.with_name(out.stem + "_lives.png")))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _is_exhausted(flag: Any) -> bool:
    """Return True for a run that ended with every design tested (bool or message)."""
    return flag is True or (isinstance(flag, str) and flag.startswith("exhausted"))


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}g}"
    return str(x)


def write_report(runs: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], out: Path,
                 notes: Sequence[str]) -> None:
    """Write the markdown results page."""
    lines = [
        "# Channel-days benchmark of the issue-15 modes (reality-gap rehearsal)",
        "",
        "Generated by `experiments/bench_channel_days.py` (config "
        "`configs/reality-rehearsal.yaml`). Hypervolumes are of TRUE outcomes (the cycler's "
        "truth files: each finished cell's design at its noise-free true outcome), as a "
        "fraction of the best possible (all designs of the discrete space at their true "
        "outcomes), never the campaign's own values.",
        "",
        *notes,
        "",
        "## Per arm (medians over seeds)",
        "",
        "| arm | seeds | HV at budget / best | channel-days to own final | cells to own final "
        "| channel-days to 90 % / 95 % of best | cells to 90 % of best | cells built | "
        "coverage | width (up/low) | stopped | wrong stops | channel-days saved | sim s | "
        "wall s | cpu s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, a in summary["arms"].items():
        m = a["median"]
        lines.append(
            f"| {arm} | {len(a['seeds'])} | {_fmt(m['fraction_of_optimum'])} | "
            f"{_fmt(m['channel_days_to_final'], 4)} | {_fmt(m['cells_to_final'])} | "
            f"{_fmt(m['channel_days_to_90pct_optimum'], 4)} / "
            f"{_fmt(m['channel_days_to_95pct_optimum'], 4)} | "
            f"{_fmt(m['cells_to_90pct_optimum'])} | {_fmt(m['cells_built'])} | "
            f"{_fmt(m['coverage'])} | {_fmt(m['width_ratio'])} | {_fmt(m['stopped'])} | "
            f"{_fmt(m['wrong_stops'])} | {_fmt(m['channel_days_saved'], 4)} | "
            f"{_fmt(m['simulation_seconds'])} | {_fmt(m['wall_s'])} | {_fmt(m['cpu_s'])} |")
    lines += ["", "## Per seed", ""]
    for arm, a in summary["arms"].items():
        lines.append(f"**{arm}**")
        lines.append("")
        lines.append("| seed | HV at budget / best | channel-days to own final | cells to own "
                     "final | cells built | channel-days (all cells, to their end) | "
                     "space exhausted | truncated |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for row in a["seeds"]:
            lines.append(
                f"| {row['seed']} | {_fmt(row['fraction_of_optimum'])} | "
                f"{_fmt(row['channel_days_to_final'], 4)} | {_fmt(row['cells_to_final'])} | "
                f"{row['cells_built']} | {_fmt(row['channel_days_total'], 4)} | "
                f"{row['exhausted']} | {row['truncated']} |")
        lines.append("")
    if "a" in summary["arms"]:
        rows = summary["arms"]["a"]["seeds"]
        n = max(r["budget_channel_days"] for r in runs if r["arm"] == "a")
        last = [r["channel_days_to_final"] for r in rows if r["channel_days_to_final"]]
        lines += [
            "## Plateau of arm a",
            "",
            f"Budget N = {n:g} channel-days. Arm a's last improvement came at "
            + ", ".join(f"{x:.0f}" for x in last)
            + f" channel-days (seeds {', '.join(str(r['seed']) for r in rows)}; median "
            f"{_fmt(_median(last), 4)}, i.e. {_fmt((_median(last) or 0) / n)} of N); "
            f"HV at N / best possible: "
            + ", ".join(_fmt(r["fraction_of_optimum"]) for r in rows)
            + ". Space exhausted (every design tested) in "
            f"{sum(_is_exhausted(r['exhausted']) for r in rows)} of {len(rows)} seeds.",
            "",
        ]
    lines += ["## Targets (issue 15)", ""]
    if not summary["targets"]:
        lines.append("Not evaluated: the arms they compare have not run (see above).")
    for name, t in summary["targets"].items():
        lines.append(f"- `{name}`: " + ", ".join(f"{k} {_fmt(v)}" for k, v in t.items()))
    lines += ["", "Plots: `channel_days_hv.png` (HV against channel-days and cells), "
              "`channel_days_lives.png` (predicted against true lives, b/c arms).", ""]
    out.write_text("\n".join(lines), encoding="utf-8")


def _seeds(text: str) -> list[int]:
    """Parse ``--seeds``: a count ``5`` (seeds 0-4) or a list ``0,3,7``."""
    if "," in text:
        return [int(x) for x in text.split(",") if x.strip()]
    return list(range(int(text)))


def report(paths: Sequence[Path], out: Path, notes: Sequence[str]) -> dict[str, Any]:
    """Summarise saved runs into ``out`` (.md, .json) and the plots; return the summary."""
    runs = [json.loads(p.read_text()) for p in paths]
    summary = summarise(runs)
    plots = plot(runs, out)
    slim = [{k: v for k, v in r.items() if k != "cells"} for r in runs]
    out.with_suffix(".json").write_text(json.dumps(
        {"summary": summary, "runs": slim, "plots": [Path(p).name for p in plots]},
        indent=1, default=float))
    write_report(runs, summary, out.with_suffix(".md"), notes)
    return summary


def setup_notes() -> list[str]:
    """Return the results page's description of the rehearsal (space, budget, clock, costs)."""
    data = base_config()
    n_designs = len(space_designs())
    pre = CACHE / "precompute.json"
    cost = json.loads(pre.read_text()) if pre.exists() else {}
    per_life = (cost["wall_s"] * cost["workers"] / cost["designs"]) if cost else None
    opts = data["evaluator"]["options"]
    lines = [
        "## Setup",
        "",
        f"- **Space** (`configs/reality-rehearsal.yaml`): discrete, {n_designs} feasible designs "
        "= one alloying element of Si/Sn/Ge/Al x amorphous/crystalline x sputtering/vapour "
        "deposition (fixed conditions) x 40 um graphite or none x 2 um lithium layer or none "
        "(less infeasible pairs); 1 um film, no oxygen, N/P 1.1, NMC811. **Why**: one PyBaMM "
        "life to 3000 cycles (extrapolated) costs "
        + (f"about {per_life:.0f} s of a worker (precompute; up to 32 s measured on a loaded "
           "machine)" if per_life else "seconds")
        + ", and a continuous space would need a new simulation for every cell of every run "
        "(25 runs x tens of cells); with fixed levels every design's profile is computed once "
        "(`precompute`, committed in `experiments/data/channel_days_profiles/`, 3 MB) and "
        "every run's cycler reads it (`state_dir/profiles` links to it). The same simulations "
        "fill the prior's cache for mode c (`runs/bench_channel_days/prior_cache`, "
        "not committed; its `worker_s` still count as simulation seconds).",
        f"- **Lab**: {opts['channels']} channels, {opts['build_lead_time_h']} h cell build, "
        f"capacity CV {opts['capacity_cv']}, fade CV {opts['fade_cv']} (times the reality's "
        "spread factors), no lost cells or channel faults (they would add noise unrelated to "
        "the modes); protocol: CC-CV to 80 % or 3000 cycles.",
        "- **Reality**: preset `mild` for a, b, c; `misleading` for b_misleading and "
        "c_misleading (`optloop/evaluators/simulated_cycler/reality.py`).",
        "- **Budget**: the same in channel-days for every arm (`costs: channel_day 1, "
        "cell_build 0, budget N`); the campaign stops proposing once recorded channel-days "
        "reach N, and cells already running finish, so curves are read at N.",
        "- **Clock**: virtual; simulated time advances a fixed step per poll of the campaign "
        "loop and stands still while the optimiser computes, so results do not depend on the "
        "machine's load (optimiser `kernel: rbf`, batch 2, 6 initial designs).",
        "- **Scoring**: HV of the TRUE noise-free outcomes of the designs of the finished "
        "cells (truth files), objectives cycle_life (ref 20) and areal capacity (ref 0.5 "
        "mAh/cm2), first-cycle efficiency >= 0.6, divided by the best possible HV (all "
        "designs at their true outcomes). Channel-days at a point count every cell's time on "
        "a channel up to then (running cells included). Coverage and wrong stops use each "
        "cell's own true life (its draws included); a true life beyond the 3000-cycle test "
        "counts as covered when the interval reaches 3000. A wrong stop: true life outside "
        "the interval AND the Pareto set of the finished cells' true outcomes differs when "
        "that cell's life is its predicted median.",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("precompute", help="compute every design's PyBaMM profile once")
    pc.add_argument("--cache", type=Path, default=CACHE)
    pc.add_argument("--workers", type=int, default=2)
    pc.add_argument("--prior", action="store_true",
                    help="also simulate every design with the prior's PyBaMM (mode c)")
    rn = sub.add_parser("run", help="run arms and seeds, then write the report")
    rn.add_argument("--arms", default="a,b,c,b_misleading,c_misleading")
    rn.add_argument("--seeds", default="5", help="a count (0..n-1) or a list 0,3,7")
    rn.add_argument("--budget", type=float, default=None,
                    help="channel-days per run (default: the config's costs.budget)")
    rn.add_argument("--step-h", type=float, default=6.0,
                    help="simulated hours per poll of the campaign loop")
    rn.add_argument("--jobs", type=int, default=2, help="runs at once (one core each)")
    rn.add_argument("--max-wall-s", type=float, default=1800.0, help="per run")
    rn.add_argument("--cache", type=Path, default=CACHE)
    rn.add_argument("--quick", action="store_true", help="1 seed, 300 channel-days")
    rn.add_argument("--out", type=Path, default=RESULTS / "channel_days.md")
    rp = sub.add_parser("report", help="rewrite the report from the saved runs")
    rp.add_argument("--arms", default="a,b,c,b_misleading,c_misleading")
    rp.add_argument("--seeds", default="5")
    rp.add_argument("--out", type=Path, default=RESULTS / "channel_days.md")
    args = p.parse_args(argv)
    if args.cmd == "precompute":
        print(json.dumps(precompute(args.cache, args.workers), indent=2))
        if args.prior:
            print(json.dumps(precompute_prior(args.workers), indent=2))
        return 0
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        p.error(f"--arms: unknown {unknown}; allowed: {list(ARMS)}")
    seeds = _seeds(args.seeds)
    root = WORK
    if args.cmd == "run":
        if args.quick:  # its own folder: never mixed with the full runs in a report
            seeds, args.budget, root = seeds[:1], 300.0, WORK / "quick"
            if args.out == RESULTS / "channel_days.md":
                args.out = root / "channel_days.md"
        blocked = {a: w for a in arms if (w := needs_sections(a))}
        for w in blocked.values():
            print(f"SKIP {w}", file=sys.stderr)
        arms = [a for a in arms if a not in blocked]
        if not arms:
            return 2
        if not (args.cache / "precompute.json").exists():
            print(json.dumps(precompute(args.cache, args.jobs), indent=2))
        if any(ARMS[a]["prior"] for a in arms) and not (PRIOR_CACHE / "precompute.json").exists():
            print(json.dumps(precompute_prior(args.jobs), indent=2))
        budget = args.budget or float(base_config()["costs"]["budget"])
        jobs = [(a, s, budget, args.step_h, str(args.cache), args.max_wall_s, str(root))
                for a in arms for s in seeds]
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if args.jobs <= 1:
            for j in jobs:
                _worker(j)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
                for r in pool.map(_worker, jobs):
                    print(f"done {r['arm']} s{r['seed']}: {r['wall_s']:.0f} s, "
                          f"{r['cells_built']} cells", flush=True)
        print(f"all runs: {time.perf_counter() - t0:.0f} s wall")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    paths = [root / f"{a}-s{s}.json" for a in arms for s in seeds]
    have = [q for q in paths if q.exists()]
    missing = [q.stem for q in paths if not q.exists()]
    notes = [f"Runs: {len(have)} ({', '.join(q.stem for q in have)})."
             + (f" Not run: {', '.join(missing)}." if missing else ""), "", *setup_notes()]
    summary = report(have, args.out, notes)
    print(json.dumps(summary["targets"], indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
