"""Surrogate choices by measurement: held-out predictive quality of each GP variant.

For each problem, seed and training size ``n``: ``n`` training designs from the optimiser's
initial design (:class:`~optloop.optimiser.initial.StratifiedDesigns`, seeded by the seed)
and 200 held-out designs from the same design under another seed (training designs
excluded); every objective is evaluated on both. Each variant is fitted on the training
objectives through :func:`optloop.optimiser.surrogate.fit_metric_model` (the optimiser's own
fitting path and iteration budget) and scored on the held-out ones:

* NLPD: mean negative log predictive density of the held-out values under the GP's
  predictive with observation noise (lower is better), in the objective's own units,
  averaged over the objectives;
* Spearman: rank correlation between predictive mean and held-out value (higher is better),
  averaged over the objectives;
* fit seconds: wall time of fitting all objectives' GPs.

Reported: the median over seeds. Variants:

* ``current``: ``SingleTaskGP`` over all features, BoTorch's dimension-scaled lengthscale
  prior (``kernel="rbf"``), the problem's own encoding (the optimiser's default);
* ``mixed``: ``MixedSingleTaskGP`` (``kernel="mixed"``) on one-hot features (it falls back
  to ``current`` where a problem has no categorical column);
* ``warp``: ``current`` plus BoTorch's ``Warp`` input transform on the non-categorical
  features (``kernel="rbf_warp"``);
* ``descriptors`` / ``one_hot``: ``current`` with the other element encoding
  (``DesignSpace(config, encoding=...)``);
* ``matern_gamma``: ``SingleTaskGP`` with BoTorch's former default priors: Matern-5/2,
  Gamma(3, 6) lengthscales, Gamma(1.1, 0.05) noise (``kernel="matern_gamma"``).

Problems: ``branin_currin`` and ``dtlz2_mixed`` from ``bench_sample_efficiency.py``;
``anode_default``, the default campaign's space (descriptor encoding) with the synthetic
anode physics of ``bench_optimiser.py`` (log cycle life, areal capacity); and the benchmark
suite's problems from ``experiments/suite_problems.py`` (skipped, as the output says, if they
cannot be built).

Run from the repository root::

    .venv/bin/python experiments/bench_models.py             # ~5 min on 2 shared cores
    .venv/bin/python experiments/bench_models.py --quick     # smoke run: 2 seeds, n = 16

It also tabulates the initial design's level shares (first 8 / 40 designs) before (the
former feasible Sobol by rejection, re-implemented here) and after
(:class:`~optloop.optimiser.initial.StratifiedDesigns`) on the default space, a space where
the silicide rule rejects most Si films, and the ``dtlz2_mixed`` space
(``--shares-only``: just that, to stdout).

Writes ``experiments/results/bench_models.md`` (``--quick``: to ``--out`` or stdout only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

import bench_sample_efficiency as bse  # noqa: E402
import torch  # noqa: E402
from scipy.stats import qmc, spearmanr  # noqa: E402

from optloop.exceptions import DesignError  # noqa: E402
from optloop.optimiser import OptimiserSettings  # noqa: E402
from optloop.optimiser.features import FeatureMap  # noqa: E402
from optloop.optimiser.initial import StratifiedDesigns, unit_to_values  # noqa: E402
from optloop.optimiser.surrogate import MetricData, fit_metric_model  # noqa: E402
from optloop.space import Design, DesignSpace  # noqa: E402
from optloop.space.encoding import from_values, to_values  # noqa: E402

SIZES = (16, 40)
HELD_OUT = 200
SEEDS = 5
HELD_OUT_SEED = 10_000


@dataclass(frozen=True)
class Variant:
    """One surrogate variant: a kernel option and an element encoding (None: the problem's)."""

    name: str
    kernel: str
    encoding: str | None


def variants(own: str) -> list[Variant]:
    """Return the variants for a problem whose space uses encoding ``own``."""
    other = "one_hot" if own == "descriptors" else "descriptors"
    return [
        Variant("current", "rbf", None),
        Variant("mixed", "mixed", "one_hot"),
        Variant("warp", "rbf_warp", None),
        Variant(other, "rbf", other),
        Variant("matern_gamma", "matern_gamma", None),
    ]


@dataclass
class Case:
    """A problem as this benchmark needs it."""

    name: str
    space: DesignSpace
    objectives: list[tuple[str, bool]]
    """(metric, maximise) per objective."""
    evaluate: Callable[[Design], dict[str, float] | None]
    note: str = ""


def _from_bse(name: str) -> Case:
    p = bse.build_problem(name, quick=False)

    def evaluate(design: Design) -> dict[str, float] | None:
        obs, _ = p.evaluate(design)
        return None if obs.failed else dict(obs.outcomes)

    return Case(
        name,
        p.space,
        [(o.name, o.direction == "maximize") for o in p.objectives],
        evaluate,
        p.title,
    )


def _anode_default() -> Case:
    from bench_optimiser import anode

    from optloop.config import load_config

    config = load_config(ROOT / "configs/default.yaml")
    space = DesignSpace.from_campaign(config, probe=False)

    def evaluate(design: Design) -> dict[str, float] | None:
        m = anode(design)
        # The optimiser models cycle life as log(cycle life): so does this benchmark.
        return {
            "cycle_life": math.log(m["cycle_life"]),
            "areal_capacity_mAh_cm2": m["areal_capacity_mAh_cm2"],
        }

    return Case(
        "anode_default",
        space,
        [("cycle_life", True), ("areal_capacity_mAh_cm2", True)],
        evaluate,
        "configs/default.yaml space (descriptor encoding; 3 element slots, structure, method, "
        "optional graphite and lithium layers, 10-14 active continuous inputs) with "
        "`bench_optimiser.anode`'s synthetic physics: log cycle life and areal capacity",
    )


def _suite_cases(skip: list[str]) -> list[Case]:
    """The benchmark suite's problems (``suite_problems.py``) not already in ``bse``."""
    try:
        import suite_problems as module

        build = module.build_problem
        names = [n for n in module.PROBLEMS if n not in {c for c in bse.PROBLEMS}]
        out = []
        for n in names:
            p = build(n, quick=False)

            def evaluate(design: Design, p: Any = p) -> dict[str, float] | None:
                obs, _ = p.evaluate(design)
                return None if obs.failed else dict(obs.outcomes)

            out.append(
                Case(
                    n,
                    p.space,
                    [(o.name, o.direction == "maximize") for o in p.objectives],
                    evaluate,
                    p.title,
                )
            )
        return out
    except Exception as exc:  # noqa: BLE001 - an unknown interface is reported, not fatal
        skip.append(f"`suite_problems.py`: could not use it ({type(exc).__name__}: {exc})")
        return []


def _data(case: Case, designs: list[Design]) -> tuple[list[Design], dict[str, np.ndarray]]:
    kept, ys = [], []
    for d in designs:
        m = case.evaluate(d)
        if m is not None:
            kept.append(d)
            ys.append(m)
    return kept, {name: np.array([m[name] for m in ys]) for name, _ in case.objectives}


def score(
    case: Case, variant: Variant, seed: int, train: list[Design], y: dict[str, np.ndarray],
    test: list[Design], y_test: dict[str, np.ndarray], settings: OptimiserSettings,
) -> dict[str, float]:
    """Fit ``variant`` on the training designs and score it on the held-out ones."""
    space = case.space
    if variant.encoding is not None and variant.encoding != space.encoder.encoding:
        space = DesignSpace(space.config, variant.encoding)  # type: ignore[arg-type]
    fm = FeatureMap(space)
    X, X_test = fm.encode(train), fm.encode(test)
    nlpd, rho, seconds = [], [], 0.0
    for name, maximise in case.objectives:
        md = MetricData(name, X, y[name], np.zeros(len(train), dtype=bool), False, maximise)
        small = len(train) <= settings.small_fit
        maxiter = settings.fit_maxiter_small if small else settings.fit_maxiter
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        model, _, _ = fit_metric_model(
            md,
            kernel=variant.kernel,
            cat_dims=fm.categorical,
            max_fit_points=settings.max_fit_points,
            seed=seed,
            maxiter=maxiter,
        )
        seconds += time.perf_counter() - t0
        with torch.no_grad():
            post = model.posterior(
                torch.as_tensor(X_test, dtype=torch.float64), observation_noise=True
            )
            mu = post.mean.squeeze(-1).numpy()
            var = post.variance.squeeze(-1).clamp_min(1e-12).numpy()
        t = y_test[name]
        nlpd.append(float(np.mean(0.5 * np.log(2 * math.pi * var) + (t - mu) ** 2 / (2 * var))))
        rho.append(float(spearmanr(mu, t).statistic))
    return {"nlpd": float(np.mean(nlpd)), "rho": float(np.mean(rho)), "seconds": seconds}


def run(cases: list[Case], seeds: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Return ``results[case][n][variant] = list of per-seed scores``."""
    settings = OptimiserSettings()
    out: dict[str, Any] = {}
    # Warm-up (imports, first-call compilation) so that no variant's fit time carries it.
    case = cases[0]
    warm = StratifiedDesigns(case.space, 0).take(8, set())
    train, y = _data(case, warm)
    for v in variants(case.space.encoder.encoding):
        score(case, v, 0, train, y, train, y, settings)
    for case in cases:
        out[case.name] = {n: {} for n in sizes}
        vs = variants(case.space.encoder.encoding)
        for seed in range(seeds):
            pool = StratifiedDesigns(case.space, seed).take(max(sizes), set())
            held = StratifiedDesigns(case.space, HELD_OUT_SEED + seed).take(
                HELD_OUT, {d.key() for d in pool}
            )
            test, y_test = _data(case, held)
            for n in sizes:
                train, y = _data(case, pool[:n])
                for v in vs:
                    s = score(case, v, seed, train, y, test, y_test, settings)
                    out[case.name][n].setdefault(v.name, []).append(s)
                    print(
                        f"{case.name} seed {seed} n {n} {v.name}: NLPD {s['nlpd']:.3f} "
                        f"rho {s['rho']:.3f} fit {s['seconds']:.2f}s",
                        flush=True,
                    )
    return out


# ------------------------------------------------------------------- initial design


def rejection_sobol(space: DesignSpace, seed: int, n: int) -> list[Design]:
    """The former initial design: the feasible designs of a Sobol sequence over the space."""
    dims = sum(not p.fixed for p in space.parameters)
    engine = qmc.Sobol(d=max(dims, 1), scramble=True, seed=seed)
    out: list[Design] = []
    for _ in range(256):  # at most 2**16 points, as before
        for row in engine.random(256):
            try:
                design = from_values(unit_to_values(space.parameters, row), space.config)
            except (DesignError, ValueError):
                continue
            if not space.violations(design):
                out.append(design)
                if len(out) == n:
                    return out
    return out


def _share_spaces() -> list[tuple[str, str, DesignSpace]]:
    from optloop.config import load_config
    from optloop.config.models import DesignSpaceConfig

    config = load_config(ROOT / "configs/default.yaml")
    data = config.space.model_dump()
    data["alloy_layer"].update(
        non_alloying_elements=["Ni"],
        non_alloying_fraction=[0.25, 0.6],
        max_alloying_elements=1,
        max_non_alloying_elements=1,
        methods={"sputtering": data["alloy_layer"]["methods"]["sputtering"]},
    )
    return [
        ("default", "configs/default.yaml", DesignSpace.from_campaign(config, probe=False)),
        (
            "silicide",
            "default space, one alloying slot, Ni required at 0.25-0.6 (NiSi2 binds all Si "
            "unless Ni < 1/3: most Si films break `alloy_stores_lithium`), sputtering only",
            DesignSpace(DesignSpaceConfig.model_validate(data)),
        ),
        ("dtlz2_mixed", "bench_sample_efficiency's dtlz2_mixed space",
         bse.build_problem("dtlz2_mixed", quick=False).space),
    ]


def level_shares(seeds: int, sizes: tuple[int, ...] = (8, 40)) -> str:
    """Level shares of each categorical in the first n initial designs, before vs after."""
    lines = [
        "## Initial design: level shares (before: feasible Sobol by rejection; after: "
        "StratifiedDesigns)",
        "",
        f"Share of each level among the first n designs, pooled over seeds 0..{seeds - 1}; "
        "'missing' counts (level, seed) pairs where the level never appears; s/seed is the "
        "median time to draw the n designs.",
        "",
    ]
    logging.disable(logging.WARNING)  # the silicide space's impossible 'none' is expected
    for name, note, space in _share_spaces():
        lines += [f"### {name}", "", note, ""]
        cats = [p for p in space.parameters if p.kind == "categorical" and not p.fixed]
        lines += ["| categorical | n | before | after |", "|---|---:|---|---|"]
        for n in sizes:
            per: dict[str, dict[str, Any]] = {}
            for label, draw in (
                ("before", lambda s, n=n, sp=space: rejection_sobol(sp, s, n)),
                ("after", lambda s, n=n, sp=space: StratifiedDesigns(sp, s).take(n, set())),
            ):
                counts = {p.name: {c: 0 for c in p.choices} for p in cats}
                missing = dict.fromkeys(counts, 0)
                times = []
                for seed in range(seeds):
                    t0 = time.perf_counter()
                    designs = draw(seed)
                    times.append(time.perf_counter() - t0)
                    seen: dict[str, set[str]] = {p.name: set() for p in cats}
                    for d in designs:
                        v = to_values(d, space.parameters, space.config)
                        for p in cats:
                            counts[p.name][str(v[p.name])] += 1
                            seen[p.name].add(str(v[p.name]))
                    for p in cats:
                        missing[p.name] += len(set(p.choices) - seen[p.name])
                per[label] = {"counts": counts, "missing": missing, "t": np.median(times)}
            for p in cats:
                cells = []
                for label in ("before", "after"):
                    c = per[label]["counts"][p.name]
                    total = max(sum(c.values()), 1)
                    cells.append(
                        " ".join(f"{k} {100 * x / total:.1f}%" for k, x in c.items())
                        + f" (missing {per[label]['missing'][p.name]})"
                    )
                lines.append(f"| {p.name} | {n} | {cells[0]} | {cells[1]} |")
            lines.append(
                f"| (s/seed) | {n} | {per['before']['t']:.2f} | {per['after']['t']:.2f} |"
            )
        lines.append("")
    logging.disable(logging.NOTSET)
    return "\n".join(lines)


def _med(xs: list[dict[str, float]], key: str) -> float:
    return float(np.median([x[key] for x in xs]))


def markdown(
    cases: list[Case], res: dict[str, Any], seeds: int, sizes: tuple[int, ...],
    command: str, started: str, loads: tuple[tuple[float, ...], tuple[float, ...]],
    wall: float, skip: list[str],
) -> str:
    """Render the results as Markdown."""
    lines = [
        "# Surrogate variants: held-out predictive quality",
        "",
        f"Command: `{command}`  ",
        f"Started {started} UTC; wall time {wall / 60:.1f} min; machine: {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, torch "
        f"{torch.__version__} ({torch.get_num_threads()} thread); load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in loads[0])} at the start, "
        f"{'/'.join(f'{x:.2f}' for x in loads[1])} at the end (shared machine).",
        "",
        f"Training: the first n of the optimiser's initial design (StratifiedDesigns, seed s); "
        f"held out: {HELD_OUT} designs of the same design under seed {HELD_OUT_SEED} + s "
        f"(training designs excluded). Seeds s = 0..{seeds - 1}; every number is the median "
        "over seeds. NLPD: mean negative log predictive density of the held-out objective "
        "values (predictive with observation noise, objective units; lower is better), "
        "averaged over the objectives. rho: Spearman rank correlation of predictive mean and "
        "held-out value (higher is better), averaged over the objectives. fit s: seconds to "
        "fit all objectives' GPs. Fits go through `fit_metric_model` with the optimiser's "
        "default iteration budget.",
        "",
    ]
    if skip:
        lines += ["Skipped: " + "; ".join(skip), ""]
    for case in cases:
        lines += [f"## {case.name}", "", case.note, ""]
        head = "| variant |" + "".join(f" NLPD n={n} | rho n={n} | fit s n={n} |" for n in sizes)
        lines += [head, "|---|" + "---:|" * (3 * len(sizes))]
        names = list(res[case.name][sizes[0]])
        for v in names:
            row = f"| {v} |"
            for n in sizes:
                xs = res[case.name][n][v]
                row += f" {_med(xs, 'nlpd'):.3f} | {_med(xs, 'rho'):.3f} |"
                row += f" {_med(xs, 'seconds'):.2f} |"
            lines.append(row)
        lines.append("")
        for n in sizes:
            r = res[case.name][n]
            best_nlpd = min(r, key=lambda v: _med(r[v], "nlpd"))
            best_rho = max(r, key=lambda v: _med(r[v], "rho"))
            cur = r["current"]
            lines.append(
                f"- n = {n}: lowest NLPD **{best_nlpd}** ({_med(r[best_nlpd], 'nlpd'):.3f} vs "
                f"current {_med(cur, 'nlpd'):.3f}); highest rho **{best_rho}** "
                f"({_med(r[best_rho], 'rho'):.3f} vs current {_med(cur, 'rho'):.3f})"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write the Markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, n = 16 only")
    ap.add_argument("--seeds", type=int, default=None, help=f"seeds (default {SEEDS})")
    ap.add_argument("--out", type=Path, default=None, help="Markdown output path")
    ap.add_argument(
        "--shares-only", action="store_true", help="only the initial design's level shares"
    )
    args = ap.parse_args()
    if args.seeds is not None and args.seeds < 1:
        ap.error(f"--seeds = {args.seeds}; limit: >= 1")
    seeds = args.seeds or (2 if args.quick else SEEDS)
    sizes = (16,) if args.quick else SIZES
    out = args.out or (None if args.quick else ROOT / "experiments/results/bench_models.md")
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)  # a shared 2-core machine: one core, comparable timings
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    skip: list[str] = []
    cases = [
        _from_bse("branin_currin"),
        _from_bse("dtlz2_mixed"),
        _anode_default(),
        *_suite_cases(skip),
    ]
    shares = level_shares(seeds)
    if args.shares_only:
        print(shares)
        return
    res = run(cases, seeds, sizes)
    command = "python experiments/bench_models.py " + shlex.join(sys.argv[1:])
    text = markdown(
        cases, res, seeds, sizes, command.strip(), started, (load0, os.getloadavg()),
        time.perf_counter() - t0, skip,
    )
    text += "\n" + shares + "\n"
    if out is None:
        print(text)
    else:
        keep = ""
        if out.exists() and bse.ANALYSIS_MARK in out.read_text():
            keep = out.read_text().split(bse.ANALYSIS_MARK, 1)[1]
        out.write_text(text + "\n" + bse.ANALYSIS_MARK + keep)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
