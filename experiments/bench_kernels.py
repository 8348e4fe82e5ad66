"""Time one proposal (q = 4) per kernel setting at 200 and 1000 observations, side by side.

The default space (`configs/default.yaml`) and the synthetic outcomes of
`experiments/bench_optimiser.py` (3 metric GPs and the failure classifier); for each size and
data set (seeded), every kernel setting proposes from the same data in turn, so their times
are measured under the same load. Reports the median fit / acquisition / total CPU seconds
(process time, which load inflates less than the wall clock) and the wall clock, and which
model ``auto`` chose per metric. Writes ``experiments/results/bench_kernels.md``:

    PYTHONPATH=. .venv/bin/python experiments/bench_kernels.py [--repeats 3] [--sizes 200 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_optimiser import Synthetic, load  # noqa: E402

from optloop.config import load_config  # noqa: E402
from optloop.optimiser import Optimiser, OptimiserSettings  # noqa: E402
from optloop.optimiser.features import FeatureMap  # noqa: E402
from optloop.space import DesignSpace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("auto", "rbf", "mixed")


def main() -> None:
    """Time the kernels and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--out", default=str(ROOT / "experiments/results/bench_kernels.md"))
    args = ap.parse_args()
    cfg = load_config(ROOT / "configs/default.yaml")
    space = DesignSpace.from_campaign(cfg)
    features = FeatureMap(space)
    outcome = Synthetic(features, seed=0)
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    chosen: dict[int, Counter[str]] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    loads = [load()]
    for n in args.sizes:
        for r in range(args.repeats):
            obs = outcome(space.sample(n, seed=1000 * n + r), np.random.default_rng(1000 * n + r))
            pending = space.sample(2, seed=7 + r)
            for kernel in KERNELS:
                settings = dataclasses.replace(OptimiserSettings(), kernel=kernel)
                opt = Optimiser(space, list(cfg.objectives), list(cfg.outcome_constraints),
                                initial_designs=8, seed=cfg.seed, settings=settings)
                opt.propose(obs[:30], [], 4, iteration=99)  # warm-up: imports, pools
                t = time.perf_counter()
                _, timing = opt.propose(obs, pending, 4, iteration=r)
                wall = time.perf_counter() - t
                rows.setdefault((n, kernel), []).append({
                    "fit": timing.fit_cpu_seconds, "acq": timing.acquisition_cpu_seconds,
                    "total": timing.fit_cpu_seconds + timing.acquisition_cpu_seconds,
                    "wall": wall,
                })
                if kernel == "auto":
                    chosen.setdefault(n, Counter()).update(opt.last_kernels.values())
                print(n, r, kernel, rows[(n, kernel)][-1], flush=True)
            loads.append(load())
    lines = [
        "# Proposal time per kernel setting (q = 4, 2 pending), side by side\n",
        f"Run {started}, {os.cpu_count()} cores, load average during the run "
        f"{', '.join(loads)}; `python experiments/bench_kernels.py --repeats {args.repeats}`. "
        "Each data set is proposed from by every setting in turn. CPU seconds (process time; "
        "load inflates them less than the wall clock), median over the data sets.\n",
        "| observations | kernel | fit CPU s | acquisition CPU s | total CPU s | wall s | "
        "ratio to rbf (total CPU) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in args.sizes:
        base = statistics.median(x["total"] for x in rows[(n, "rbf")])
        for kernel in KERNELS:
            runs = rows[(n, kernel)]
            m = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
            lines.append(f"| {n} | {kernel} | {m['fit']:.2f} | {m['acq']:.2f} | {m['total']:.2f} "
                         f"| {m['wall']:.2f} | {m['total'] / base:.2f} |")
    lines.append("")
    for n, c in chosen.items():
        lines.append(f"- `auto` at {n} observations chose: "
                     + ", ".join(f"{k} {v}x" for k, v in sorted(c.items()))
                     + " (metric fits over all data sets).")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
