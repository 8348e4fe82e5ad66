"""Sample efficiency: optloop (Sobol designs, then BoTorch) against Sobol search.

Two methods, each an :class:`~optloop.optimiser.Optimiser` asked for batches of ``q = 2``
with no pending designs (every batch is evaluated before the next is proposed):

* ``optloop``: ``initial_designs`` feasible Sobol designs, then qLogNEHVI proposals;
* ``sobol``: the same optimiser with ``initial_designs = budget``, i.e. nothing but the
  feasible subsequence of the scrambled Sobol sequence over the space's parameters. This is
  the space-filling ("random search") baseline; it is the very sequence optloop starts from,
  so with the same seed both methods share their first ``initial_designs`` evaluations and
  differ only by what BoTorch proposes after.

Three problems:

* ``pybamm_screen``: the default campaign (``configs/default.yaml``: its space, cycle life and
  areal capacity maximised with their reference point, first-cycle efficiency >= 0.6), each
  design simulated by the PyBaMM ``CellSimulator`` at screen fidelity (50 cycles; a cell still
  above 80 % after 50 cycles has a censored cycle life of 50, counted at that lower bound).
  Failed simulations go back to the optimiser as ``Observation(failed=True)``.
* ``branin_currin``: BoTorch's ``BraninCurrin`` (2 inputs, 2 objectives, minimised, reference
  point (18, 6)) on a small optloop space whose only free parameters are the alloy film
  thickness and the graphite thickness: the test function's inputs are these parameters'
  unit-cube features (``FeatureMap``: log-scaled by their bounds where the parameter is
  log-scaled, linear otherwise), so x = 0 is the lower bound and x = 1 the upper bound.
* ``dtlz2_mixed``: BoTorch's ``DTLZ2`` (6 inputs, 2 objectives, minimised, reference point
  (1.1, 1.1)) made mixed: its inputs are the unit-cube features of six continuous parameters
  (oxygen ratio, alloy thickness, substrate temperature, sputter power, pressure, graphite
  thickness) and the alloying element (Si, Sn, Ge, Al; a categorical, one-hot encoded) picks
  a transform: the five distance inputs are shifted by ``shift[e]`` (moving the optimum of
  each to ``0.5 - shift[e]``) and both objectives are scaled by ``1 + penalty[e]``. Only Sn
  (penalty 0) reaches DTLZ2's true front; the other elements' fronts are dominated.

For every run the hypervolume after each evaluation is
:func:`optloop.analysis.hypervolume` of the trials so far (failed trials and
trials breaking an outcome constraint do not count; censored values count at their bound).
Reported per problem: median and interquartile range across seeds of the hypervolume
against evaluations; the evaluations each run needs to reach 90 % of the best hypervolume
any run of any method found on that problem; the ratios sobol / optloop.

(problem, seed) units run in parallel worker processes (``--jobs``, default 2, one per core);
within a unit the Sobol run goes first and its evaluations are cached by design, so the
optloop run of the same seed re-uses its shared initial designs instead of simulating them
again (the simulation is deterministic). The same seeds give the same numbers.

Run from the repository root::

    .venv/bin/python experiments/bench_sample_efficiency.py            # ~20 min on 2 shared cores
    .venv/bin/python experiments/bench_sample_efficiency.py --quick    # smoke run, ~3 min

Writes ``experiments/results/sample_efficiency.md``, ``sample_efficiency.json`` (per-seed
curves and every evaluation) and ``sample_efficiency_<problem>.png``; ``--quick`` writes to a
temporary directory unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optloop.analysis import hypervolume  # noqa: E402
from optloop.config import load_config  # noqa: E402
from optloop.config.models import DesignSpaceConfig, Objective, OutcomeConstraint  # noqa: E402
from optloop.optimiser import Observation, Optimiser, OptimiserSettings  # noqa: E402
from optloop.optimiser.features import FeatureMap  # noqa: E402
from optloop.space import Design, DesignSpace  # noqa: E402
from optloop.store.trial import Trial, TrialStatus  # noqa: E402

METHODS = ("optloop", "sobol")
PROBLEMS = ("pybamm_screen", "branin_currin", "dtlz2_mixed")
DEFAULT_SEEDS = {"pybamm_screen": 5, "branin_currin": 10, "dtlz2_mixed": 10}
THRESHOLD = 0.9
ANALYSIS_MARK = "<!-- hand-written analysis below; kept when the script rewrites this file -->\n"
SCREEN_CYCLES = 50

# dtlz2_mixed: the alloying element's transform (Sn is the only element reaching the front).
DTLZ2_CONTINUOUS = (
    "alloy.oxygen_ratio",
    "alloy.thickness_um",
    "alloy.sputtering.substrate_temperature_C",
    "alloy.sputtering.power_density_W_cm2",
    "alloy.sputtering.pressure_Pa",
    "carbon_layer.thickness_um",
)
DTLZ2_SHIFT = {"Si": 0.2, "Sn": -0.25, "Ge": 0.1, "Al": -0.1}
DTLZ2_PENALTY = {"Si": 0.3, "Sn": 0.0, "Ge": 0.15, "Al": 0.6}
BRANIN_CONTINUOUS = ("alloy.thickness_um", "carbon_layer.thickness_um")


# ------------------------------------------------------------------------------- problems


@dataclass
class Problem:
    """One benchmark problem: a space, objectives, a budget and an evaluation function."""

    name: str
    title: str
    space: DesignSpace
    objectives: list[Objective]
    constraints: list[OutcomeConstraint]
    budget: int
    initial_designs: int
    batch: int
    evaluate: Callable[[Design], tuple[Observation, str | None]]
    """An observation and, for a failed evaluation, why."""
    describe: Callable[[Design], dict[str, Any]]
    max_hv: float | None = None
    """The true front's hypervolume, when known."""
    settings: OptimiserSettings = field(default_factory=OptimiserSettings)
    notes: list[str] = field(default_factory=list)


def _synthetic_objectives(ref: list[float]) -> list[Objective]:
    # Objective validates names against the battery metrics; f1, f2 are no metric of a cell.
    return [
        Objective.model_construct(name=f"f{i + 1}", direction="minimize", reference=float(r))
        for i, r in enumerate(ref)
    ]


def _test_space(free: tuple[str, ...], elements: list[str]) -> DesignSpace:
    """A sputtered crystalline alloy film on graphite; only ``free`` continuous ones vary."""

    def b(name: str, low: float, high: float, fixed: float) -> list[float] | float:
        return [low, high] if name in free else fixed

    cfg = DesignSpaceConfig.model_validate(
        {
            "alloy_layer": {
                "alloying_elements": elements,
                "non_alloying_elements": [],
                "max_alloying_elements": 1,
                "max_non_alloying_elements": 0,
                "non_alloying_fraction": [0.0, 0.0],
                "oxygen_ratio": b("alloy.oxygen_ratio", 0.0, 0.5, 0.0),
                "thickness_um": b("alloy.thickness_um", 0.05, 3.0, 0.5),
                "structures": ["crystalline"],
                "methods": {
                    "sputtering": {
                        "substrate_temperature_C": b(
                            "alloy.sputtering.substrate_temperature_C", 25, 450, 100
                        ),
                        "power_density_W_cm2": b(
                            "alloy.sputtering.power_density_W_cm2", 1, 10, 3
                        ),
                        "pressure_Pa": b("alloy.sputtering.pressure_Pa", 0.2, 3.0, 0.5),
                    }
                },
            },
            "carbon_layer": {
                "mode": "required",
                "thickness_um": b("carbon_layer.thickness_um", 20, 80, 40),
                "porosity": 0.35,
            },
            "lithium_layer": {"mode": "absent"},
            "cell": {"positive_electrodes": ["NMC811"], "np_ratio": 1.1, "min_np_ratio": 1.05},
        }
    )
    return DesignSpace(cfg, "one_hot")


def _unit_inputs(fm: FeatureMap, names: tuple[str, ...]) -> Callable[[Design], np.ndarray]:
    idx = [fm.names.index(n) for n in names]

    def x(design: Design) -> np.ndarray:
        return np.clip(fm.encode([design])[0, idx], 0.0, 1.0)

    return x


def _branin_currin(budget: int, initial: int) -> Problem:
    import torch
    from botorch.test_functions.multi_objective import BraninCurrin

    fn = BraninCurrin()
    space = _test_space(BRANIN_CONTINUOUS, ["Si"])
    x_of = _unit_inputs(FeatureMap(space), BRANIN_CONTINUOUS)

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        x = torch.as_tensor(x_of(design), dtype=torch.double).unsqueeze(0)
        f = fn.evaluate_true(x)[0].tolist()
        return Observation(design, {"f1": f[0], "f2": f[1]}), None

    def describe(design: Design) -> dict[str, Any]:
        return {"x": [round(float(v), 6) for v in x_of(design)]}

    return Problem(
        "branin_currin",
        "BraninCurrin (2 continuous inputs, 2 objectives)",
        space,
        _synthetic_objectives(fn.ref_point.tolist()),
        [],
        budget,
        initial,
        2,
        evaluate,
        describe,
        max_hv=float(fn._max_hv),
        notes=[
            "x1 = alloy thickness (0.05-3 um, log), x2 = graphite thickness (20-80 um); all "
            "other parameters fixed (Si, crystalline, sputtered, no oxygen, N/P 1.1)"
        ],
    )


def _dtlz2_mixed(budget: int, initial: int) -> Problem:
    import torch
    from botorch.test_functions.multi_objective import DTLZ2

    fn = DTLZ2(dim=len(DTLZ2_CONTINUOUS), num_objectives=2)
    space = _test_space(DTLZ2_CONTINUOUS, list(DTLZ2_SHIFT))
    x_of = _unit_inputs(FeatureMap(space), DTLZ2_CONTINUOUS)

    def element(design: Design) -> str:
        assert design.alloy_layer is not None
        (sym,) = design.alloy_layer.composition
        return sym

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        e = element(design)
        x = x_of(design)
        x[1:] = x[1:] + DTLZ2_SHIFT[e]
        # The shift may take x2..x6 out of [0, 1], where DTLZ2's formula still holds but
        # evaluate_true refuses: call the formula itself.
        f = fn._evaluate_true(torch.as_tensor(x, dtype=torch.double).unsqueeze(0))[0]
        f = (f * (1.0 + DTLZ2_PENALTY[e])).tolist()
        return Observation(design, {"f1": f[0], "f2": f[1]}), None

    def describe(design: Design) -> dict[str, Any]:
        return {"x": [round(float(v), 6) for v in x_of(design)], "element": element(design)}

    return Problem(
        "dtlz2_mixed",
        "DTLZ2 mixed (6 continuous inputs + a 4-level categorical, 2 objectives)",
        space,
        _synthetic_objectives(fn.ref_point.tolist()),
        [],
        budget,
        initial,
        2,
        evaluate,
        describe,
        max_hv=float(fn._max_hv),
        notes=[
            "x = unit-cube features of " + ", ".join(DTLZ2_CONTINUOUS) + "; the alloying "
            "element shifts x2..x6 by "
            + ", ".join(f"{k} {v:+g}" for k, v in DTLZ2_SHIFT.items())
            + " and scales both objectives by 1 + "
            + ", ".join(f"{k} {v:g}" for k, v in DTLZ2_PENALTY.items())
        ],
    )


_SIMULATOR: Any = None


def _pybamm_screen(budget: int | None, initial: int | None) -> Problem:
    from optloop.evaluators.pybamm import PybammOptions

    config = load_config(ROOT / "configs/default.yaml")
    space = DesignSpace.from_campaign(config)
    opts = dict(config.evaluator.options)
    opts.update(screen_cycles=SCREEN_CYCLES)  # in-process CellSimulator: no workers
    options = PybammOptions.from_dict(opts)

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        global _SIMULATOR
        if _SIMULATOR is None:
            from optloop.evaluators.pybamm import CellSimulator

            _SIMULATOR = CellSimulator(options)
        try:
            out = _SIMULATOR.run(design, "screen")
        except Exception as exc:  # noqa: BLE001 - as PybammEvaluator: a raising job is FAILED
            return Observation(design, {}, {}, failed=True), (
                f"CellSimulator.run raised {type(exc).__name__}: {exc}"
            )
        if not out.ok:
            return Observation(design, {}, {}, failed=True), out.reason
        return Observation(design, dict(out.metrics), dict(out.censored)), None

    def describe(design: Design) -> dict[str, Any]:
        return {"design": design.to_dict()}

    return Problem(
        "pybamm_screen",
        f"default PyBaMM campaign, screen fidelity ({SCREEN_CYCLES} cycles)",
        space,
        list(config.objectives),
        list(config.outcome_constraints),
        budget or config.optimiser.budget,
        initial or config.optimiser.initial_designs,
        config.optimiser.batch_size,
        evaluate,
        describe,
        notes=[
            f"configs/default.yaml space ({config.optimiser.encoding} encoding), objectives, "
            f"reference point and constraint; PyBaMM {options.model}, coarse mesh, screen "
            f"fidelity = {SCREEN_CYCLES} cycles, so cycle life is at most {SCREEN_CYCLES} "
            "(censored values count at that bound)"
        ],
    )


def build_problem(name: str, quick: bool) -> Problem:
    """Return the problem ``name`` with the full or the ``--quick`` budget."""
    if name == "pybamm_screen":
        return _pybamm_screen(8, 4) if quick else _pybamm_screen(None, None)
    if name == "branin_currin":
        return _branin_currin(12, 6) if quick else _branin_currin(30, 8)
    if name == "dtlz2_mixed":
        return _dtlz2_mixed(12, 6) if quick else _dtlz2_mixed(30, 8)
    raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")


# ------------------------------------------------------------------------------- runs


def _trial(i: int, o: Observation) -> Trial:
    return Trial(
        id=i + 1,
        design=o.design,
        status=TrialStatus.FAILED if o.failed else TrialStatus.COMPLETED,
        origin="",
        iteration=0,
        batch_index=0,
        outcomes=dict(o.outcomes),
        censored=dict(o.censored),
    )


def run_method(
    p: Problem, method: str, seed: int, cache: dict[str, Any], tag: str
) -> dict[str, Any]:
    """Run one method on one problem with one seed; return its evaluations and curve."""
    initial = p.initial_designs if method == "optloop" else p.budget
    opt = Optimiser(
        p.space, p.objectives, p.constraints, initial_designs=initial, seed=seed,
        settings=p.settings,
    )
    observations: list[Observation] = []
    evals: list[dict[str, Any]] = []
    propose_s = eval_s = 0.0
    batch_s: list[float] = []
    reused = 0
    iteration = 0
    keep = [o.name for o in p.objectives] + [c.metric for c in p.constraints]
    t_run = time.perf_counter()
    while len(observations) < p.budget:
        n = min(p.batch, p.budget - len(observations))
        t0 = time.perf_counter()
        proposals, _ = opt.propose(observations, [], n, iteration=iteration)
        batch_s.append(time.perf_counter() - t0)
        propose_s += batch_s[-1]
        if not proposals:
            print(f"{tag} no proposal after {len(observations)} evaluations; stopping", flush=True)
            break
        t0 = time.perf_counter()
        for prop in proposals:
            key = prop.design.key()
            if key in cache:
                obs, reason = cache[key]
                reused += 1
            else:
                obs, reason = cache[key] = p.evaluate(prop.design)
            observations.append(obs)
            evals.append(
                {
                    "origin": prop.origin,
                    "iteration": iteration,
                    "failed": obs.failed,
                    "outcomes": {k: obs.outcomes[k] for k in keep if k in obs.outcomes},
                    "censored": {k: v for k, v in obs.censored.items() if v},
                    **({"reason": reason} if obs.failed else {}),
                    **p.describe(prop.design),
                }
            )
        eval_s += time.perf_counter() - t0
        iteration += 1
        hv = hypervolume(
            [_trial(i, o) for i, o in enumerate(observations)], p.objectives, p.constraints
        )
        print(
            f"{tag} {len(observations):3d}/{p.budget} evals  hv {hv:.4g}  "
            f"({proposals[-1].origin}; propose {propose_s:.0f} s, evaluate {eval_s:.0f} s)",
            flush=True,
        )
    trials = [_trial(i, o) for i, o in enumerate(observations)]
    curve = [hypervolume(trials[: k + 1], p.objectives, p.constraints) for k in range(len(trials))]
    return {
        "hv": curve,
        "evaluations": evals,
        "failed": sum(o.failed for o in observations),
        "propose_s": propose_s,
        "propose_s_batches": batch_s,
        "evaluate_s": eval_s,
        "wall_s": time.perf_counter() - t_run,
        "reused_evaluations": reused,
    }


def run_unit(args: tuple[str, int, bool]) -> dict[str, Any]:
    """Run every method on one (problem, seed): Sobol first, its evaluations cached."""
    name, seed, quick = args
    p = build_problem(name, quick)
    cache: dict[str, Any] = {}
    runs = {}
    for method in ("sobol", "optloop"):
        runs[method] = run_method(p, method, seed, cache, f"[{name} seed {seed} {method}]")
    return {"problem": name, "seed": seed, "runs": runs}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


# ------------------------------------------------------------------------------- analysis


def evals_to(curve: list[float], target: float) -> float:
    """Return the first evaluation count whose hypervolume reaches ``target`` (inf: never)."""
    for k, v in enumerate(curve, start=1):
        if v >= target and v > 0:
            return float(k)
    return math.inf


def summarise(p: Problem, units: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: curves' median and IQR, final HV, evaluations to 90 % of the best."""
    curves = {
        m: np.array([u["runs"][m]["hv"] for u in units], dtype=float) for m in METHODS
    }
    best = max(float(c.max()) for c in curves.values())
    target = THRESHOLD * best
    out: dict[str, Any] = {"best_hv": best, "target_hv": target, "methods": {}}
    for m in METHODS:
        c = curves[m]
        reach = [evals_to(list(row), target) for row in c]
        out["methods"][m] = {
            "median": np.median(c, axis=0).tolist(),
            "q25": np.percentile(c, 25, axis=0).tolist(),
            "q75": np.percentile(c, 75, axis=0).tolist(),
            "final": c[:, -1].tolist(),
            "evals_to_target": [None if math.isinf(r) else r for r in reach],
            "evals_to_target_median": _median_inf(reach),
            "never_reached": sum(math.isinf(r) for r in reach),
            "failed_median": float(np.median([u["runs"][m]["failed"] for u in units])),
            "propose_s_median": float(np.median([u["runs"][m]["propose_s"] for u in units])),
            "evaluate_s_median": float(np.median([u["runs"][m]["evaluate_s"] for u in units])),
        }
    reasons: dict[str, int] = {}
    for u in units:
        for m in METHODS:
            for e in u["runs"][m]["evaluations"]:
                if e["failed"]:
                    r = " ".join(str(e.get("reason")).split())[:240]
                    reasons[r] = reasons.get(r, 0) + 1
    out["failure_reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))
    o, s = out["methods"]["optloop"], out["methods"]["sobol"]
    paired = []
    for a, b in zip(o["evals_to_target"], s["evals_to_target"], strict=True):
        a_ = math.inf if a is None else a
        b_ = math.inf if b is None else b
        paired.append("earlier" if a_ < b_ else "later" if a_ > b_ else "same")
    out["paired"] = {k: paired.count(k) for k in ("earlier", "same", "later")}
    out["ratio_evals"] = _ratio(s["evals_to_target_median"], o["evals_to_target_median"])
    # Evaluations to match what Sobol's median run has at the end of the budget.
    level = s["median"][-1]
    n_s, n_o = evals_to(s["median"], level), evals_to(o["median"], level)
    out["match_sobol"] = {
        "level": level,
        "sobol_evals": n_s,
        "optloop_evals": n_o,
        "ratio": None if math.isinf(n_s) or math.isinf(n_o) else n_s / n_o,
    }
    c_o, c_s = curves["optloop"], curves["sobol"]
    after = slice(p.initial_designs, p.budget)
    out["behind"] = {
        "seeds_final_lower": [
            u["seed"] for u, a, b in zip(units, c_o[:, -1], c_s[:, -1], strict=True) if a < b
        ],
        "seeds_ever_lower": [
            u["seed"]
            for u, a, b in zip(units, c_o[:, after], c_s[:, after], strict=True)
            if bool((a < b).any())
        ],
        "seed_evals_lower": int((c_o[:, after] < c_s[:, after]).sum()),
        "seed_evals": int(c_o[:, after].size),
    }
    fo, fs = float(np.median(o["final"])), float(np.median(s["final"]))
    out["ratio_final_hv"] = fs / fo if fo > 0 else None
    return out


def _median_inf(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    if n % 2:
        return v[n // 2]
    a, b = v[n // 2 - 1], v[n // 2]
    return math.inf if math.isinf(a) or math.isinf(b) else (a + b) / 2


def _ratio(sobol: float, optloop: float) -> dict[str, Any]:
    """sobol / optloop of evaluations-to-target; a bound when one side never got there."""
    if math.isinf(sobol) and math.isinf(optloop):
        return {"value": None, "kind": "neither reached"}
    if math.isinf(sobol):
        return {"value": None, "kind": "sobol never reached (median)"}
    if math.isinf(optloop):
        return {"value": None, "kind": "optloop never reached (median)"}
    return {"value": sobol / optloop, "kind": "exact"}


# ------------------------------------------------------------------------------- output


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "never"
    return f"{x:.{digits}g}"


def _checkpoints(budget: int, initial: int) -> list[int]:
    pts = {initial, budget}
    step = 10 if budget >= 30 else 4
    pts |= set(range(step, budget + 1, step))
    return sorted(k for k in pts if 1 <= k <= budget)


def _ratio_text(r: dict[str, Any], budget: int, o_med: float, s_med: float) -> str:
    if r["kind"] == "exact":
        return f"{r['value']:.2f}"
    if r["kind"].startswith("sobol never"):
        return f"> {budget / o_med:.2f} (Sobol's median run never reached it in {budget})"
    if r["kind"].startswith("optloop never"):
        return f"< {s_med / budget:.2f} (optloop's median run never reached it in {budget})"
    return "n/a (neither median run reached it)"


def write_markdown(
    path: Path, problems: dict[str, Problem], summ: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Write the results page: a table per problem, the ratios and how it was run."""
    L = ["# Sample efficiency: optloop against Sobol search", ""]
    L += [
        f"Date: {meta['date']}. Command: `{meta['command']}` (total wall time "
        f"{meta['wall_s'] / 60:.1f} min, {meta['jobs']} worker processes).",
        "",
        f"Machine: {meta['machine']}; load average at start {meta['load_start']}, at end "
        f"{meta['load_end']} (the 2 cores are shared, so wall times are inflated). "
        f"{meta['versions']}.",
        "",
        "Methods: **optloop** = `Optimiser` with the problem's `initial_designs` feasible Sobol "
        "designs, then BoTorch (qLogNEHVI over the candidate pool), default "
        "`OptimiserSettings`; **sobol** = the same `Optimiser` with `initial_designs = budget`, "
        "i.e. only the feasible subsequence of the scrambled Sobol sequence (the space-filling "
        "random-search baseline; it is optloop's own initial sequence, so both methods share "
        "their first `initial_designs` evaluations for a given seed). Batches of q = 2, each "
        "evaluated before the next is proposed. Seeds 0, 1, ...: "
        + ", ".join(f"{len(v)} for {k}" for k, v in meta["seeds"].items())
        + ". The evaluations of a seed's Sobol run are cached by design and re-used by its "
        "optloop run (the shared initial designs are simulated once; every evaluation here "
        "is deterministic).",
        "",
        "Hypervolume = `optloop.analysis.hypervolume` of the trials so far (failed "
        "and constraint-breaking trials do not count; censored cycle lives count at their "
        "lower bound). Cells are median [25th–75th percentile] across seeds. *Evals to 90 %* "
        "= evaluations a run needs until its hypervolume reaches 90 % of the best hypervolume "
        "any run of any method found on the problem; median across seeds, a run that never "
        "reaches it counting as worse than the budget (\"never\").",
        "",
        "## Sample-efficiency ratios",
        "",
        "| problem | budget | evals to 90 %: optloop | sobol | **ratio sobol / optloop** "
        "| optloop earlier / same / later (paired by seed) | final HV: optloop | sobol "
        "| **ratio sobol / optloop** |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in problems.items():
        s = summ[name]
        o, b = s["methods"]["optloop"], s["methods"]["sobol"]
        pr = s["paired"]
        n = len(o["final"])
        L.append(
            f"| {name} | {p.budget} | {_fmt(o['evals_to_target_median'])} "
            f"({n - o['never_reached']}/{n} reach) | {_fmt(b['evals_to_target_median'])} "
            f"({n - b['never_reached']}/{n} reach) | "
            f"{_ratio_text(s['ratio_evals'], p.budget, o['evals_to_target_median'], b['evals_to_target_median'])} "  # noqa: E501
            f"| {pr['earlier']} / {pr['same']} / {pr['later']} | "
            f"{_fmt(float(np.median(o['final'])))} | {_fmt(float(np.median(b['final'])))} | "
            f"{_fmt(s['ratio_final_hv'], 3)} |"
        )
    L += [
        "",
        "A ratio of evaluations above 1 means Sobol needs that many times the evaluations "
        "optloop needs; a ratio of final hypervolume below 1 means optloop ends higher. "
        "\"earlier / same / later\": seeds in which optloop reaches the 90 % target earlier "
        "than Sobol, at the same evaluation or neither within the budget, later.",
        "",
        "The 90 % target is set by the single best run, so with a small budget most runs of "
        "both methods may miss it. A second, robust ratio: the evaluations each method's "
        "median curve needs to reach the hypervolume Sobol's median curve has at the end of "
        "the budget (first evaluation at which the median reaches that level).",
        "",
        "| problem | Sobol's median HV at the budget | Sobol's median reaches it at | optloop's "
        "median reaches it at | **ratio sobol / optloop** |",
        "|---|---|---|---|---|",
    ]
    for name, _p in problems.items():
        ms = summ[name]["match_sobol"]
        ratio = "n/a (Sobol's median stays 0)" if ms["level"] <= 0 else _fmt(ms["ratio"], 3)
        L.append(
            f"| {name} | {_fmt(ms['level'])} | {_fmt(ms['sobol_evals'])} | "
            f"{_fmt(ms['optloop_evals'])} | {ratio} |"
        )
    L.append("")
    for name, p in problems.items():
        s = summ[name]
        cps = _checkpoints(p.budget, p.initial_designs)
        L += [f"## {name}: {p.title}", ""]
        L += [f"- {note}" for note in p.notes]
        L.append(
            f"- budget {p.budget} evaluations, optloop's initial Sobol designs "
            f"{p.initial_designs}, batch {p.batch}; best hypervolume found "
            f"{_fmt(s['best_hv'])}, 90 % target {_fmt(s['target_hv'])}"
            + (
                f"; the true front's hypervolume is {_fmt(p.max_hv)}"
                if p.max_hv is not None
                else ""
            )
        )
        if s["failure_reasons"]:
            L.append(
                "- failed evaluations (all runs, both methods; a design shared by both "
                "counts twice): "
                + "; ".join(f"{n} x `{r}`" for r, n in s["failure_reasons"].items())
            )
        L += [f"- plot: `sample_efficiency_{name}.png`", ""]
        head = "| method | " + " | ".join(f"HV @ {k}" for k in cps)
        head += " | evals to 90 % | failed evals | propose s / run | evaluate s / run |"
        L += [head, "|---" * (len(cps) + 5) + "|"]
        for m in METHODS:
            d = s["methods"][m]
            cells = [
                f"{_fmt(d['median'][k - 1])} [{_fmt(d['q25'][k - 1], 3)}–"
                f"{_fmt(d['q75'][k - 1], 3)}]"
                for k in cps
            ]
            n = len(d["final"])
            per_seed = ", ".join("–" if r is None else f"{r:.0f}" for r in d["evals_to_target"])
            L.append(
                f"| {m} | " + " | ".join(cells) + f" | {_fmt(d['evals_to_target_median'])} "
                f"({n - d['never_reached']}/{n} reach; per seed {per_seed}) | "
                f"{d['failed_median']:.0f} | {d['propose_s_median']:.0f} | "
                f"{d['evaluate_s_median']:.0f} |"
            )
        L.append("")
    L += ["## Where optloop does not beat Sobol (from the numbers)", "", meta["discussion"], ""]
    kept = ""
    if path.exists():
        old = path.read_text()
        if ANALYSIS_MARK in old:
            kept = old[old.index(ANALYSIS_MARK) + len(ANALYSIS_MARK) :]
    L += [ANALYSIS_MARK.rstrip("\n")]
    path.write_text("\n".join(L) + "\n" + kept.lstrip("\n"))


def plot(path: Path, p: Problem, s: dict[str, Any]) -> None:
    """Median hypervolume with its interquartile band per method, against evaluations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"optloop": "tab:blue", "sobol": "tab:orange"}
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    x = np.arange(1, p.budget + 1)
    n = len(s["methods"]["optloop"]["final"])
    for m in METHODS:
        d = s["methods"][m]
        ax.plot(
            x, d["median"], color=colours[m], lw=2, drawstyle="steps-post",
            label=f"{m}: median of {n} seeds, 25–75 % band",
        )
        ax.fill_between(
            x, d["q25"], d["q75"], color=colours[m], alpha=0.2, lw=0, step="post"
        )
    ax.axhline(s["target_hv"], color="grey", ls="--", lw=1, label="90 % of best found")
    if p.max_hv is not None:
        ax.axhline(p.max_hv, color="black", ls=":", lw=1, label="true front")
    ax.axvline(p.initial_designs + 0.5, color="tab:blue", ls=":", lw=1)
    ax.text(
        p.initial_designs + 0.7, ax.get_ylim()[0], " BoTorch starts", color="tab:blue",
        fontsize=8, va="bottom",
    )
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume")
    ax.set_title(f"{p.name}: {p.title}", fontsize=10)
    ax.set_xlim(1, p.budget)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def discussion(problems: dict[str, Problem], summ: dict[str, Any]) -> str:
    """Name, from the numbers, the problems and budgets where optloop is not ahead."""
    lines = []
    for name, p in problems.items():
        o, s = summ[name]["methods"]["optloop"], summ[name]["methods"]["sobol"]
        behind = [
            k + 1
            for k in range(p.initial_designs, p.budget)
            if o["median"][k] < s["median"][k]
        ]
        b = summ[name]["behind"]
        n = len(o["final"])
        median = (
            f"optloop's median hypervolume is below Sobol's after {_ranges(behind)} "
            f"evaluations (of {p.budget})"
            if behind
            else "optloop's median hypervolume is never below Sobol's after the initial designs"
        )
        ever = ", ".join(str(k) for k in b["seeds_ever_lower"])
        final = ", ".join(str(k) for k in b["seeds_final_lower"])
        lines.append(
            f"- **{name}**: {median}. Paired by seed (same initial designs), optloop is below "
            f"Sobol at {b['seed_evals_lower']} of {b['seed_evals']} (seed, evaluation) points "
            f"after the initial designs" + (f", in seeds {ever}" if ever else "")
            + (f"; it ends below Sobol in seeds {final}" if final else "; it never ends below")
            + f" (of {n} seeds)."
        )
    return "\n".join(lines)


def _ranges(ks: list[int]) -> str:
    out, start, prev = [], ks[0], ks[0]
    for k in ks[1:] + [None]:  # type: ignore[list-item]
        if k is not None and k == prev + 1:
            prev = k
            continue
        out.append(f"{start}" if start == prev else f"{start}–{prev}")
        if k is not None:
            start = prev = k
    return ", ".join(out)


def _json_ready(x: Any) -> Any:
    """Round floats to 6 significant digits; infinities ("never reached") become None."""
    if isinstance(x, dict):
        return {k: _json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_ready(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.6g}") if math.isfinite(x) else None
    return x


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, tiny budgets")
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per problem (default: 5 for pybamm_screen, 10 for the test problems; "
        "2 with --quick)",
    )
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    args = parser.parse_args()
    seeds = {
        name: list(range(args.seeds or (2 if args.quick else DEFAULT_SEEDS[name])))
        for name in args.problems
    }
    default_out = ROOT / "experiments/results"
    out = args.out or (Path(tempfile.mkdtemp(prefix="sample-eff-")) if args.quick else default_out)
    out.mkdir(parents=True, exist_ok=True)
    command = "experiments/bench_sample_efficiency.py " + shlex.join(sys.argv[1:])
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": (".venv/bin/python " + command).strip(),
        "load_start": _load(),
        "jobs": args.jobs,
        "seeds": seeds,
    }
    problems = {name: build_problem(name, args.quick) for name in args.problems}
    # Most expensive units first, so the two workers finish together.
    units = [(name, seed, args.quick) for name in args.problems for seed in seeds[name]]
    print(
        f"{len(units)} (problem, seed) units x {len(METHODS)} methods on {args.jobs} worker "
        f"processes; writing to {out}",
        flush=True,
    )
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.problems}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs, initializer=_init_worker, maxtasksperchild=None) as pool:
        for k, r in enumerate(pool.imap_unordered(run_unit, units), start=1):
            results[r["problem"]].append(r)
            o, s = r["runs"]["optloop"]["hv"][-1], r["runs"]["sobol"]["hv"][-1]
            el = time.perf_counter() - t0
            print(
                f"== unit {k}/{len(units)} done: {r['problem']} seed {r['seed']}: final hv "
                f"optloop {o:.4g}, sobol {s:.4g}  [{el / 60:.1f} min elapsed, load {_load()}]",
                flush=True,
            )
    meta["wall_s"] = time.perf_counter() - t0
    meta["load_end"] = _load()
    for name in results:
        results[name].sort(key=lambda r: r["seed"])
    summ = {name: summarise(problems[name], results[name]) for name in args.problems}

    import botorch
    import pybamm
    import torch

    meta["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    meta["versions"] = (
        f"torch {torch.__version__}, botorch {botorch.__version__}, pybamm {pybamm.__version__}"
    )
    meta["discussion"] = discussion(problems, summ)
    data = {
        "meta": meta,
        "problems": {
            name: {
                "title": p.title,
                "budget": p.budget,
                "initial_designs": p.initial_designs,
                "batch": p.batch,
                "objectives": [o.model_dump() for o in p.objectives],
                "constraints": [c.model_dump() for c in p.constraints],
                "max_hv": p.max_hv,
                "notes": p.notes,
                "summary": summ[name],
                "runs": [
                    {"seed": r["seed"], **{m: r["runs"][m] for m in METHODS}}
                    for r in results[name]
                ],
            }
            for name, p in problems.items()
        },
    }
    (out / "sample_efficiency.json").write_text(
        json.dumps(_json_ready(data), separators=(",", ":"), allow_nan=False)
    )
    for name, p in problems.items():
        plot(out / f"sample_efficiency_{name}.png", p, summ[name])
    write_markdown(out / "sample_efficiency.md", problems, summ, meta)
    print(f"done in {meta['wall_s'] / 60:.1f} min; wrote {out}/sample_efficiency.md", flush=True)
    print(meta["discussion"], flush=True)


if __name__ == "__main__":
    main()
