"""Peer benchmark: optloop against Sobol, Optuna (TPE, NSGA-II, GP) and Ax on the same problems.

The three problems, their budgets, the evaluation functions and the hypervolume are those of
``bench_sample_efficiency.py`` (imported from it, not copied): ``pybamm_screen`` (the default
PyBaMM campaign at screen fidelity), ``branin_currin`` (2 continuous inputs) and
``dtlz2_mixed`` (6 continuous inputs and a 4-level categorical). Every method proposes
batches of the problem's ``q`` (2), each evaluated before the next batch is asked for:

* ``optloop``: :class:`~optloop.optimiser.Optimiser` (feasible Sobol designs, then qLogNEHVI);
* ``sobol``: the same optimiser with ``initial_designs = budget`` (its feasible Sobol sequence);
* ``tpe``, ``nsga2``, ``gp``: Optuna's ``TPESampler``, ``NSGAIISampler`` and ``GPSampler``
  with their default settings and ``seed``, in a multi-objective study (``directions``), asked
  for ``q`` trials per batch (ask-and-tell); the outcome constraint goes to the sampler's
  ``constraints_func``;
* ``ax``: Ax's ``Client`` with its default generation strategy; objectives with the problem's
  reference point as objective thresholds, the outcome constraint, ``get_next_trials(q)``.

The peers get the design space's own parameters (:attr:`DesignSpace.parameters`): continuous
ones with their bounds (log scale where optloop uses it), categorical ones as unordered choices;
parameters that can take one value are held fixed. A peer's parameters are decoded with
:func:`optloop.space.encoding.from_values` (which renormalises the composition fractions) and
checked against the space's feasibility rules. A proposal that cannot be built or breaks a
rule is *infeasible*: it is not simulated, it goes back to the peer as a failed trial and it
**counts against the peer's budget** (optloop and Sobol build feasible designs only, so they
have none). A simulation that fails is a failed trial for every method.

(problem, seed, method) units run in worker processes (``--jobs``, default 2); optloop and
Sobol of a seed share a unit and an evaluation cache (they share their initial designs). The
PyBaMM screen simulation is deterministic, so every evaluation is cached by design within a
unit. Everything is seeded; the proposal times depend on the machine's load.

Run from the repository root (needs the ``bench`` extra: ``pip install -e '.[bench]'``)::

    .venv/bin/python experiments/bench_peers.py --jobs 2     # the full run, ~50 min on 2 cores
    .venv/bin/python experiments/bench_peers.py --quick      # smoke run, a few minutes

Writes ``experiments/results/peers.md``, ``peers.json`` and ``peers_<problem>.png``;
``--quick`` writes to a temporary directory unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_sample_efficiency as bse  # noqa: E402

from optloop.exceptions import OptloopError  # noqa: E402
from optloop.optimiser import Observation  # noqa: E402
from optloop.space import Design  # noqa: E402
from optloop.space.encoding import from_values  # noqa: E402
from optloop.space.parameters import Parameter  # noqa: E402

ROOT = bse.ROOT
METHODS = ("optloop", "sobol", "tpe", "nsga2", "gp", "ax")
PEERS = ("tpe", "nsga2", "gp", "ax")
LABELS = {
    "optloop": "optloop",
    "sobol": "Sobol",
    "tpe": "Optuna TPE",
    "nsga2": "Optuna NSGA-II",
    "gp": "Optuna GP",
    "ax": "Ax (default)",
}
COLOURS = {
    "optloop": "tab:blue",
    "sobol": "tab:orange",
    "tpe": "tab:green",
    "nsga2": "tab:red",
    "gp": "tab:purple",
    "ax": "tab:brown",
}
DEFAULT_SEEDS = 5
ANALYSIS_MARK = bse.ANALYSIS_MARK


def require_peers() -> None:
    """Exit with an install hint when Optuna or Ax is missing (they are benchmark-only)."""
    missing = []
    for module, dist in (("optuna", "optuna>=4"), ("ax", "ax-platform>=1")):
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise SystemExit(
            "bench_peers.py needs the benchmark-only peers " + ", ".join(missing) + ", which "
            "are not installed; install the extra: .venv/bin/pip install -e '.[bench]' "
            "(or .venv/bin/pip install optuna ax-platform)"
        )


# ------------------------------------------------------------------------------- peer space


@dataclass
class PeerSpace:
    """The design space as a peer sees it: free parameters, fixed values, a decoder."""

    problem: bse.Problem
    free: list[Parameter]
    fixed: dict[str, float | str]

    @classmethod
    def of(cls, p: bse.Problem) -> PeerSpace:
        """Split the problem's space parameters into free ones and fixed values."""
        free, fixed = [], {}
        a = p.space.config.alloy_layer
        # With one composition slot its fraction is 1 after renormalisation whatever its
        # value, except at the bound 0, where the design cannot be built: hold it at 1.
        only_slot = a.max_alloying_elements == 1 and a.max_non_alloying_elements == 0
        for q in p.space.parameters:
            if only_slot and q.name == "alloy.alloying_1.fraction":
                fixed[q.name] = 1.0
            elif not q.fixed:
                free.append(q)
            else:
                fixed[q.name] = q.choices[0] if q.kind == "categorical" else q.low
        return cls(p, free, fixed)

    def design(self, values: Mapping[str, Any]) -> tuple[Design | None, str | None]:
        """Build the design a peer proposes; ``(None, why)`` when it cannot be built or is infeasible."""  # noqa: E501
        try:
            d = from_values({**self.fixed, **values}, self.problem.space.config)
        except (OptloopError, ValueError, KeyError) as exc:
            return None, f"cannot be built: {type(exc).__name__}: {exc}"
        broken = self.problem.space.violations(d)
        if broken:
            return None, "infeasible: " + "; ".join(sorted({v.rule for v in broken}))
        return d, None


def _constraint_excess(p: bse.Problem, outcomes: Mapping[str, float]) -> list[float]:
    """Return Optuna-style constraint values (<= 0 is feasible) for the outcome constraints."""
    out = []
    for c in p.constraints:
        v = outcomes.get(c.metric, math.nan)
        out.append(c.value - v if c.op == ">=" else v - c.value)
    return out


# ------------------------------------------------------------------------------- peer runs


class _Recorder:
    """Collect a run's evaluations (feasible, failed or infeasible), timings and its curve."""

    def __init__(self, p: bse.Problem, cache: dict[str, Any]) -> None:
        self.p = p
        self.cache = cache
        self.observations: list[Observation | None] = []
        self.evals: list[dict[str, Any]] = []
        self.batch_s: list[float] = []
        self.eval_s = 0.0
        self.reused = 0
        self.keep = [o.name for o in p.objectives] + [c.metric for c in p.constraints]

    def evaluate(
        self, design: Design | None, why: str | None, batch: int, values: Mapping[str, Any]
    ) -> Observation | None:
        """Evaluate a buildable design (cached by design); record an infeasible one as such."""
        if design is None:
            self.observations.append(None)
            self.evals.append(
                {"batch": batch, "infeasible": True, "reason": why, "values": dict(values)}
            )
            return None
        t0 = time.perf_counter()
        key = design.key()
        if key in self.cache:
            obs, reason = self.cache[key]
            self.reused += 1
        else:
            obs, reason = self.cache[key] = self.p.evaluate(design)
        self.eval_s += time.perf_counter() - t0
        self.observations.append(obs)
        self.evals.append(
            {
                "batch": batch,
                "infeasible": False,
                "failed": obs.failed,
                "outcomes": {k: obs.outcomes[k] for k in self.keep if k in obs.outcomes},
                "censored": {k: v for k, v in obs.censored.items() if v},
                **({"reason": reason} if obs.failed else {}),
                **self.p.describe(design),
            }
        )
        return obs

    def hv(self, upto: int | None = None) -> float:
        """Return the hypervolume of the feasible evaluations among the first ``upto``."""
        obs = self.observations[:upto]
        trials = [bse._trial(i, o) for i, o in enumerate(obs) if o is not None]
        return bse.hypervolume(trials, self.p.objectives, self.p.constraints)

    def result(self, t_run: float) -> dict[str, Any]:
        """Return the run's record in the shape ``bench_sample_efficiency.run_method`` uses."""
        n = len(self.observations)
        return {
            "hv": [self.hv(k + 1) for k in range(n)],
            "evaluations": self.evals,
            "failed": sum(o is not None and o.failed for o in self.observations),
            "infeasible": sum(o is None for o in self.observations),
            "propose_s": sum(self.batch_s),
            "propose_s_batches": self.batch_s,
            "evaluate_s": self.eval_s,
            "wall_s": time.perf_counter() - t_run,
            "reused_evaluations": self.reused,
        }


def run_optuna(
    p: bse.Problem, method: str, seed: int, cache: dict[str, Any], tag: str
) -> dict[str, Any]:
    """Run an Optuna sampler (``tpe``, ``nsga2`` or ``gp``) with ask-and-tell in batches of q."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    ps = PeerSpace.of(p)
    dists: dict[str, BaseDistribution] = {
        q.name: (
            CategoricalDistribution(list(q.choices))
            if q.kind == "categorical"
            else FloatDistribution(q.low, q.high, log=q.log_scale)
        )
        for q in ps.free
    }

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        # An infeasible or failed trial carries no outcome: count it as breaking the bound.
        return list(trial.user_attrs.get("constraints", [1.0] * len(p.constraints)))

    cons: Callable[[optuna.trial.FrozenTrial], list[float]] | None = (
        constraints if p.constraints else None
    )
    sampler: optuna.samplers.BaseSampler
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=cons)
    elif method == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed, constraints_func=cons)
    elif method == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed, constraints_func=cons)
    else:
        raise ValueError(f"unknown Optuna method {method!r}; choose from tpe, nsga2, gp")
    study = optuna.create_study(
        directions=[o.direction for o in p.objectives], sampler=sampler
    )
    rec = _Recorder(p, cache)
    t_run = time.perf_counter()
    batch = 0
    while len(rec.observations) < p.budget:
        n = min(p.batch, p.budget - len(rec.observations))
        t0 = time.perf_counter()
        trials = [study.ask(dists) for _ in range(n)]
        rec.batch_s.append(time.perf_counter() - t0)
        for t in trials:
            design, why = ps.design(t.params)
            obs = rec.evaluate(design, why, batch, t.params)
            if obs is None or obs.failed:
                study.tell(t, state=TrialState.FAIL)
                continue
            if p.constraints:
                t.set_user_attr("constraints", _constraint_excess(p, obs.outcomes))
            study.tell(t, [obs.outcomes[o.name] for o in p.objectives])
        batch += 1
        _progress(tag, rec)
    return rec.result(t_run)


def _ax_name(name: str) -> str:
    # Ax parses parameter and metric names in expressions; keep them identifiers.
    return name.replace(".", "__")


def run_ax(p: bse.Problem, seed: int, cache: dict[str, Any], tag: str) -> dict[str, Any]:
    """Run Ax's ``Client`` with its default generation strategy, batches of q trials."""
    for name in ("ax", "pyro", "botorch", "gpytorch", "linear_operator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    ps = PeerSpace.of(p)
    params: list[RangeParameterConfig | ChoiceParameterConfig] = []
    for q in ps.free:
        if q.kind == "categorical":
            params.append(
                ChoiceParameterConfig(
                    name=_ax_name(q.name), values=list(q.choices), parameter_type="str",
                    is_ordered=False,
                )
            )
        else:
            params.append(
                RangeParameterConfig(
                    name=_ax_name(q.name), bounds=(q.low, q.high), parameter_type="float",
                    scaling="log" if q.log_scale else "linear",
                )
            )
    back = {_ax_name(q.name): q.name for q in ps.free}
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=params, name=f"{p.name}_{seed}")
    objective = ", ".join(
        ("" if o.direction == "maximize" else "-") + o.name for o in p.objectives
    )
    # A bound on an objective in its own direction becomes Ax's objective threshold: the
    # problem's reference point, as optloop's hypervolume uses.
    bounds = [
        f"{o.name} {'>=' if o.direction == 'maximize' else '<='} {o.reference}"
        for o in p.objectives
        if o.reference is not None
    ]
    bounds += [f"{c.metric} {c.op} {c.value}" for c in p.constraints]
    client.configure_optimization(objective=objective, outcome_constraints=bounds)
    rec = _Recorder(p, cache)
    metrics = [o.name for o in p.objectives] + [c.metric for c in p.constraints]
    t_run = time.perf_counter()
    batch = 0
    while len(rec.observations) < p.budget:
        n = min(p.batch, p.budget - len(rec.observations))
        t0 = time.perf_counter()
        trials = client.get_next_trials(max_trials=n)
        rec.batch_s.append(time.perf_counter() - t0)
        if not trials:
            print(f"{tag} Ax proposed nothing after {len(rec.observations)}; stopping", flush=True)
            break
        for idx, values in trials.items():
            named = {back[k]: v for k, v in values.items()}
            design, why = ps.design(named)
            obs = rec.evaluate(design, why, batch, named)
            if obs is None or obs.failed:
                client.mark_trial_failed(idx, failed_reason=why or "simulation failed")
                continue
            client.complete_trial(idx, raw_data={m: float(obs.outcomes[m]) for m in metrics})
        batch += 1
        _progress(tag, rec)
    return rec.result(t_run)


def _progress(tag: str, rec: _Recorder) -> None:
    bad = sum(o is None for o in rec.observations)
    print(
        f"{tag} {len(rec.observations):3d}/{rec.p.budget} evals  hv {rec.hv():.4g}  "
        f"infeasible {bad}  (propose {sum(rec.batch_s):.0f} s, evaluate {rec.eval_s:.0f} s)",
        flush=True,
    )


def run_unit(args: tuple[str, int, str, bool]) -> dict[str, Any]:
    """Run one (problem, seed, method); ``optloop`` includes the Sobol run it shares designs with."""  # noqa: E501
    name, seed, method, quick = args
    try:
        return _run_unit(name, seed, method, quick)
    except Exception as exc:  # noqa: BLE001 - one crashing peer must not lose the whole run
        import traceback

        traceback.print_exc()
        return {
            "problem": name, "seed": seed, "runs": {},
            "error": f"{method} seed {seed} on {name}: {type(exc).__name__}: {exc}",
        }


def _run_unit(name: str, seed: int, method: str, quick: bool) -> dict[str, Any]:
    p = bse.build_problem(name, quick)
    cache: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    if method == "optloop":
        for m in ("sobol", "optloop"):
            runs[m] = bse.run_method(p, m, seed, cache, f"[{name} seed {seed} {m}]")
            runs[m]["infeasible"] = 0
    elif method == "ax":
        runs["ax"] = run_ax(p, seed, cache, f"[{name} seed {seed} ax]")
    else:
        runs[method] = run_optuna(p, method, seed, cache, f"[{name} seed {seed} {method}]")
    return {"problem": name, "seed": seed, "runs": runs}


# ------------------------------------------------------------------------------- analysis


def summarise(p: bse.Problem, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per method: median/IQR curves, evals to 90 % of the best, final HV, times, ratios."""
    curves = {m: np.array([r["hv"] for r in rs], dtype=float) for m, rs in runs.items() if rs}
    best = max(float(c.max()) for c in curves.values())
    target = bse.THRESHOLD * best
    out: dict[str, Any] = {"best_hv": best, "target_hv": target, "methods": {}}
    for m, c in curves.items():
        rs = runs[m]
        reach = [bse.evals_to(list(row), target) for row in c]
        batches = [s for r in rs for s in r["propose_s_batches"]]
        out["methods"][m] = {
            "seeds": [r["seed"] for r in rs],
            "median": np.median(c, axis=0).tolist(),
            "q25": np.percentile(c, 25, axis=0).tolist(),
            "q75": np.percentile(c, 75, axis=0).tolist(),
            "final": c[:, -1].tolist(),
            "final_median": float(np.median(c[:, -1])),
            "evals_to_target": [None if math.isinf(x) else x for x in reach],
            "evals_to_target_median": bse._median_inf(reach),
            "reached": sum(not math.isinf(x) for x in reach),
            "propose_s_batch_median": float(np.median(batches)),
            "propose_s_batch_mean": float(np.mean(batches)),
            "propose_s_batch_max": float(np.max(batches)),
            "propose_s_run_median": float(np.median([r["propose_s"] for r in rs])),
            "evaluate_s_run_median": float(np.median([r["evaluate_s"] for r in rs])),
            "failed": [r["failed"] for r in rs],
            "infeasible": [r["infeasible"] for r in rs],
            "infeasible_reasons": _reasons(rs),
        }
    o = out["methods"]["optloop"]
    for d in out["methods"].values():
        d["ratio_evals"] = _ratio(d["evals_to_target_median"], o["evals_to_target_median"])
        d["ratio_final_hv"] = (
            d["final_median"] / o["final_median"] if o["final_median"] > 0 else None
        )
        d["ratio_propose_s"] = (
            d["propose_s_batch_median"] / o["propose_s_batch_median"]
            if o["propose_s_batch_median"] > 0
            else None
        )
    return out


def _reasons(rs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rs:
        for e in r["evaluations"]:
            if e.get("infeasible"):
                counts[e["reason"]] = counts.get(e["reason"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _ratio(peer: float, optloop: float) -> dict[str, Any]:
    """peer / optloop of evaluations-to-target; a bound when one median never reached it."""
    if math.isinf(peer) and math.isinf(optloop):
        return {"value": None, "text": "n/a (neither)"}
    if math.isinf(peer):
        return {"value": None, "text": "> budget / optloop (peer never)"}
    if math.isinf(optloop):
        return {"value": None, "text": "< 1 (optloop never)"}
    return {"value": peer / optloop, "text": f"{peer / optloop:.2f}"}


# ------------------------------------------------------------------------------- output


def _ratio_cell(r: dict[str, Any], budget: int, peer: float, opt: float) -> str:
    if r["value"] is not None:
        return f"{r['value']:.2f}"
    if math.isinf(peer) and not math.isinf(opt):
        return f"> {budget / opt:.2f}"
    if math.isinf(opt) and not math.isinf(peer):
        return f"< {peer / budget:.2f}"
    return "n/a"


def headline(problems: dict[str, bse.Problem], summ: dict[str, Any]) -> list[str]:
    """The headline table: each method's numbers and their ratios against optloop."""
    f = bse._fmt
    L = [
        "| problem | method | runs | evals to 90 % (median; runs reaching) | **ratio vs "
        "optloop** | final HV median [IQR] | **ratio vs optloop** | propose s / batch "
        "(median) | **ratio vs optloop** | infeasible proposals (total; per run) | failed "
        "simulations (total) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in problems.items():
        s = summ[name]
        o = s["methods"]["optloop"]
        for m, d in s["methods"].items():
            n = len(d["final"])
            q25, q75 = np.percentile(d["final"], [25, 75])
            inf = d["infeasible"]
            L.append(
                f"| {name} | {LABELS[m]} | {n} | {f(d['evals_to_target_median'])} "
                f"({d['reached']}/{n}) | "
                + _ratio_cell(
                    d["ratio_evals"], p.budget, d["evals_to_target_median"],
                    o["evals_to_target_median"],
                )
                + f" | {f(d['final_median'])} [{f(float(q25), 3)}–{f(float(q75), 3)}] | "
                f"{f(d['ratio_final_hv'], 3)} | {d['propose_s_batch_median']:.3g} | "
                f"{f(d['ratio_propose_s'], 3)} | {sum(inf)} ({', '.join(map(str, inf))}) "
                f"| {sum(d['failed'])} |"
            )
    return L


def write_markdown(
    path: Path, problems: dict[str, bse.Problem], summ: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Write the results page: headline table, per-problem tables, discussion."""
    f = bse._fmt
    L = ["# Peer benchmark: optloop against Sobol, Optuna and Ax", ""]
    L += [
        f"Date: {meta['date']}. Command: `{meta['command']}` (total wall time "
        f"{meta['wall_s'] / 60:.1f} min, {meta['jobs']} worker processes).",
        "",
        f"Machine: {meta['machine']}; load average at start {meta['load_start']}, at end "
        f"{meta['load_end']} (the 2 cores are shared with other jobs, so all times are "
        f"inflated). {meta['versions']}.",
        "",
        "Seeds 0, 1, ...: " + ", ".join(f"{len(v)} for {k}" for k, v in meta["seeds"].items())
        + ". Methods: " + ", ".join(f"`{m}`" for m in meta["methods"]) + ".",
        "",
        "## Setup",
        "",
        "- **Problems, budgets, evaluation and hypervolume** are those of "
        "`bench_sample_efficiency.py` (imported, not copied; see `sample_efficiency.md`). "
        "Every method proposes batches of q = 2, each evaluated before the next is asked for.",
        "- **optloop**: `Optimiser`, default settings (feasible Sobol initial designs, then "
        "qLogNEHVI over its candidate pool). **Sobol**: the same `Optimiser` with "
        "`initial_designs = budget` (its feasible scrambled Sobol sequence).",
        "- **Optuna** (ask-and-tell, `create_study(directions=...)`, `study.ask(distributions)` "
        "q times, then `study.tell`): `TPESampler(seed=s)`, `NSGAIISampler(seed=s)`, "
        "`GPSampler(seed=s)`, each with its defaults and, on pybamm_screen, "
        "`constraints_func` for first_cycle_efficiency >= 0.6. Defaults matter here: TPE and "
        "GP sample their first 10 trials independently at random (`n_startup_trials=10`), and "
        "NSGA-II's population is 50, larger than any budget here, so all of NSGA-II's trials "
        "are its random first generation — NSGA-II is random search in this benchmark.",
        "- **Ax** (`ax.api.client.Client(random_seed=s)`, default generation strategy: Sobol "
        "initialisation then BoTorch): `configure_experiment` with the same parameters, "
        "`configure_optimization` with the objectives, the reference point as objective "
        "thresholds and the outcome constraint; `get_next_trials(max_trials=2)`, "
        "`complete_trial` / `mark_trial_failed`.",
        "- **Same search space**: the peers get `DesignSpace.parameters` — continuous ones "
        "with their bounds (log scale where optloop uses it), categorical ones as unordered "
        "choices, one-value parameters held fixed — decoded with "
        "`optloop.space.encoding.from_values` (composition fractions renormalised to sum to "
        "1) and checked with the space's feasibility rules. A proposal that cannot be built "
        "or breaks a rule is **not simulated, told to the peer as a failed trial and counted "
        "against its budget** (its hypervolume stays flat for that evaluation). optloop and "
        "Sobol build feasible designs by construction, so they have none. A failed "
        "simulation is a failed trial for every method.",
        "- Hypervolume = `optloop.analysis.hypervolume` of the feasible trials so "
        "far. *Evals to 90 %*: evaluations a run needs to reach 90 % of the best hypervolume "
        "any run of any method found on that problem (median across seeds; \"never\" = not "
        "within the budget). Ratios are *method / optloop*: for evaluations, > 1 means the "
        "method needs more than optloop; for final hypervolume, > 1 means the method ends "
        "higher; for proposal time, > 1 means it is slower. A bound \"> x\" is budget / "
        "optloop's median when the method's median run never reached the target.",
        "- Proposal time = wall time of one batch's proposal (`Optimiser.propose`, q x "
        "`study.ask`, `get_next_trials`), median over all batches of all seeds, random "
        "initial batches included; worker processes use 1 torch thread.",
        "",
        *(
            ["Results kept from an earlier run of this script: " + "; ".join(meta["kept"]), ""]
            if meta.get("kept")
            else []
        ),
        *(
            ["**Runs that crashed (left out of the tables):** " + "; ".join(meta["errors"]), ""]
            if meta.get("errors")
            else []
        ),
        "## Headline",
        "",
        *headline(problems, summ),
        "",
    ]
    for name, p in problems.items():
        s = summ[name]
        cps = bse._checkpoints(p.budget, p.initial_designs)
        L += [f"## {name}: {p.title}", ""]
        L += [f"- {note}" for note in p.notes]
        L.append(
            f"- budget {p.budget}, batch {p.batch}, optloop's initial designs "
            f"{p.initial_designs}; best hypervolume found {f(s['best_hv'])}, 90 % target "
            f"{f(s['target_hv'])}"
            + (f"; true front {f(p.max_hv)}" if p.max_hv is not None else "")
        )
        L += [f"- plot: `peers_{name}.png`", ""]
        head = "| method | " + " | ".join(f"HV @ {k}" for k in cps)
        head += " | evals to 90 % per seed | propose s / run | evaluate s / run |"
        L += [head, "|---" * (len(cps) + 4) + "|"]
        for m, d in s["methods"].items():
            cells = [
                f"{f(d['median'][k - 1])} [{f(d['q25'][k - 1], 3)}–{f(d['q75'][k - 1], 3)}]"
                for k in cps
            ]
            per_seed = ", ".join("–" if r is None else f"{r:.0f}" for r in d["evals_to_target"])
            L.append(
                f"| {LABELS[m]} | " + " | ".join(cells) + f" | {per_seed} | "
                f"{d['propose_s_run_median']:.0f} | {d['evaluate_s_run_median']:.0f} |"
            )
        L.append("")
        for m, d in s["methods"].items():
            if d["infeasible_reasons"]:
                L.append(
                    f"- {LABELS[m]}'s infeasible proposals: "
                    + "; ".join(f"{n} x {r[:200]}" for r, n in d["infeasible_reasons"].items())
                )
        L.append("")
    L += ["## Where a peer is ahead of optloop (from the numbers)", "", meta["discussion"], ""]
    kept = ""
    if path.exists():
        old = path.read_text()
        if ANALYSIS_MARK in old:
            kept = old[old.index(ANALYSIS_MARK) + len(ANALYSIS_MARK) :]
    L += [ANALYSIS_MARK.rstrip("\n")]
    path.write_text("\n".join(L) + "\n" + kept.lstrip("\n"))


def discussion(problems: dict[str, bse.Problem], summ: dict[str, Any]) -> str:
    """List, from the numbers, each peer that ends higher or reaches the target sooner."""
    lines = []
    for name, p in problems.items():
        s = summ[name]["methods"]
        o = s["optloop"]
        for m, d in s.items():
            if m == "optloop":
                continue
            notes = []
            if d["final_median"] > o["final_median"]:
                notes.append(
                    f"ends higher (median {bse._fmt(d['final_median'])} against "
                    f"{bse._fmt(o['final_median'])})"
                )
            if d["evals_to_target_median"] < o["evals_to_target_median"]:
                notes.append(
                    f"reaches 90 % sooner (median {bse._fmt(d['evals_to_target_median'])} "
                    f"against {bse._fmt(o['evals_to_target_median'])})"
                )
            ahead = [
                k + 1 for k in range(p.budget) if d["median"][k] > o["median"][k]
            ]
            if ahead:
                notes.append(f"median curve above optloop's after {bse._ranges(ahead)} evals")
            if notes:
                lines.append(f"- **{name}, {LABELS[m]}**: " + "; ".join(notes) + ".")
    return "\n".join(lines) if lines else "- No peer is ahead of optloop on any problem."


def plot(path: Path, p: bse.Problem, s: dict[str, Any]) -> None:
    """Median hypervolume against evaluations, one line per method with its IQR band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    x = np.arange(1, p.budget + 1)
    for m, d in s["methods"].items():
        ax.plot(
            x, d["median"], color=COLOURS[m], lw=2, drawstyle="steps-post",
            label=f"{LABELS[m]} (median of {len(d['final'])}, 25–75 % band)",
        )
        ax.fill_between(x, d["q25"], d["q75"], color=COLOURS[m], alpha=0.15, lw=0, step="post")
    ax.axhline(s["target_hv"], color="grey", ls="--", lw=1, label="90 % of best found")
    if p.max_hv is not None:
        ax.axhline(p.max_hv, color="black", ls=":", lw=1, label="true front")
    ax.set_xlabel("evaluations (infeasible proposals count)")
    ax.set_ylabel("hypervolume")
    ax.set_title(f"{p.name}: {p.title}", fontsize=10)
    ax.set_xlim(1, p.budget)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _versions() -> str:
    import ax
    import botorch
    import optuna
    import pybamm
    import torch

    return (
        f"optuna {optuna.__version__}, ax-platform {ax.__version__}, botorch "
        f"{botorch.__version__}, torch {torch.__version__}, pybamm {pybamm.__version__}"
    )


def main() -> None:
    """Run every (problem, seed, method) unit, then write the table, JSON and plots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, tiny budgets")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per problem (default 5)")
    parser.add_argument(
        "--pybamm-seeds", type=int, default=None, help="seeds for pybamm_screen (default --seeds)"
    )
    parser.add_argument("--problems", nargs="+", choices=bse.PROBLEMS, default=list(bse.PROBLEMS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument(
        "--keep", type=Path, default=None,
        help="a previous peers.json whose problems not given in --problems are kept as they are",
    )
    args = parser.parse_args()
    require_peers()
    if args.keep is not None and args.quick:
        parser.error("--keep merges full-budget results; it cannot be used with --quick")
    if "optloop" not in args.methods:
        parser.error("--methods must include optloop (the ratios are against it)")
    n_seeds = args.seeds or (1 if args.quick else DEFAULT_SEEDS)
    seeds = {
        name: list(range(args.pybamm_seeds or n_seeds if name == "pybamm_screen" else n_seeds))
        for name in args.problems
    }
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="peers-")) if args.quick else ROOT / "experiments/results"
    )
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in METHODS if m in args.methods]
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": (
            ".venv/bin/python experiments/bench_peers.py " + shlex.join(sys.argv[1:])
        ).strip(),
        "load_start": bse._load(),
        "jobs": args.jobs,
        "seeds": seeds,
        "methods": methods,
    }
    problems = {name: bse.build_problem(name, args.quick) for name in args.problems}
    # The PyBaMM units are the slowest: first, so the workers finish together.
    units = [
        (name, seed, m, args.quick)
        for name in args.problems
        for seed in seeds[name]
        for m in methods
        if m != "sobol"
    ]
    print(f"{len(units)} units on {args.jobs} worker processes; writing to {out}", flush=True)
    t0 = time.perf_counter()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {m: [] for m in methods} for name in args.problems
    }
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs, initializer=bse._init_worker) as pool:
        for k, r in enumerate(pool.imap_unordered(run_unit, units), start=1):
            if "error" in r:
                meta.setdefault("errors", []).append(r["error"])
                print(f"== unit {k}/{len(units)} FAILED: {r['error']}", flush=True)
                continue
            for m, run in r["runs"].items():
                runs[r["problem"]].setdefault(m, []).append({"seed": r["seed"], **run})
            finals = ", ".join(f"{m} {v['hv'][-1]:.4g}" for m, v in r["runs"].items())
            print(
                f"== unit {k}/{len(units)} done: {r['problem']} seed {r['seed']}: final hv "
                f"{finals}  [{(time.perf_counter() - t0) / 60:.1f} min, load {bse._load()}]",
                flush=True,
            )
    meta["wall_s"] = time.perf_counter() - t0
    meta["load_end"] = bse._load()
    if args.keep is not None:
        old = json.loads(args.keep.read_text())
        for name in bse.PROBLEMS:
            if name in old["problems"] and name not in problems:
                problems[name] = bse.build_problem(name, args.quick)
                runs[name] = old["problems"][name]["runs"]
                seeds[name] = old["meta"]["seeds"][name]
                meta.setdefault("kept", []).append(
                    f"{name} from the run of {old['meta']['date']} (`{old['meta']['command']}`, "
                    f"{old['meta']['wall_s'] / 60:.1f} min, load {old['meta']['load_start']} "
                    f"to {old['meta']['load_end']})"
                )
        problems = {n: problems[n] for n in bse.PROBLEMS if n in problems}
    for by_method in runs.values():
        for rs in by_method.values():
            rs.sort(key=lambda r: r["seed"])
    summ = {name: summarise(problems[name], runs[name]) for name in problems}
    meta["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    meta["versions"] = _versions()
    meta["discussion"] = discussion(problems, summ)
    data = {
        "meta": meta,
        "problems": {
            name: {
                "title": p.title,
                "budget": p.budget,
                "batch": p.batch,
                "max_hv": p.max_hv,
                "summary": summ[name],
                "runs": runs[name],
            }
            for name, p in problems.items()
        },
    }
    (out / "peers.json").write_text(
        json.dumps(bse._json_ready(data), separators=(",", ":"), allow_nan=False, default=str)
    )
    for name, p in problems.items():
        plot(out / f"peers_{name}.png", p, summ[name])
    write_markdown(out / "peers.md", problems, summ, meta)
    print(f"done in {meta['wall_s'] / 60:.1f} min; wrote {out}/peers.md", flush=True)
    print("\n".join(headline(problems, summ)), flush=True)


if __name__ == "__main__":
    main()
