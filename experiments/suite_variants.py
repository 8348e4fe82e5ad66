"""Optimiser settings side by side on the benchmark suite's problems (which default to keep).

Runs optloop (``suite_peers.run_optloop``, budget 40, q = 4, 8 initial designs) with each
variant of :class:`~optloop.optimiser.OptimiserSettings` on each problem and seed, prints one
``RESULT`` line per run (final hypervolume, share of proposed continuous coordinates within
0.02 of a bound, median seconds per batch) and, at the end, a Markdown table of medians.
``--from-log FILE`` rebuilds the table from the ``RESULT`` lines of an earlier run (plus,
with ``--default-runs DIR``, the defaults' final hypervolumes from a suite ``runs/`` folder).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python experiments/suite_variants.py \\
        --problems anode_mixed dtlz2_shifted dtlz2 dtlz2_mixed branin_currin --seeds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import statistics
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RANDOM_POOL: dict[str, object] = {"static_pool": 768, "fresh_pool": 256}
"""The pool before the local default: 768 seeded and 256 fresh random feasible designs."""

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "random_pool": RANDOM_POOL,
    "off": {**RANDOM_POOL, "refine_starts": 0},
    "warp": {**RANDOM_POOL, "kernel": "rbf_warp"},
    "warp_off": {**RANDOM_POOL, "kernel": "rbf_warp", "refine_starts": 0},
    "local": {**RANDOM_POOL, "refine_radius": 0.1},
    "mixed": {**RANDOM_POOL, "kernel": "mixed"},
    "tr": {"refine_radius": 0.1},
    "tr_fresh": {"fresh_pool": 64},
    "tr_mixed": {"kernel": "mixed"},
    "tr_auto": {"kernel": "auto"},
    "tr_post": {"incumbents_from": "posterior"},
    "tr_auto_post": {"kernel": "auto", "incumbents_from": "posterior"},
}
"""``default``: today's settings, a pool of the incumbents' mutations only, gradient refinement;
``random_pool``: the former default, random designs in the pool; ``off``: ``random_pool``
without gradient refinement; ``warp``: ``random_pool`` with BoTorch's ``Warp`` input transform
(Kumaraswamy CDF per continuous feature) on the ``rbf`` GP; ``local``: ``random_pool`` with
refinement moving each feature at most 0.1 (unit cube) from its start; ``mixed``:
``random_pool`` with ``MixedSingleTaskGP``; ``tr``: ``default`` with refinement within 0.1 of
its start; ``tr_fresh``: ``default`` plus 64 fresh random designs per proposal;
``tr_mixed``: ``default`` with ``MixedSingleTaskGP``; ``tr_auto``: ``default`` choosing
``rbf`` or ``MixedSingleTaskGP`` per metric and fit by leave-one-out predictive density;
``tr_post``: ``default`` ranking the incumbents by the GP's posterior means instead of the
observed values; ``tr_auto_post``: both."""

LINE = re.compile(r"RESULT (\S+) (\S+) seed=(\d+) hv=(\S+) boundary=(\S+)")


def run(problems: list[str], variants: list[str], seeds: int) -> list[str]:
    """Run every (problem, variant, seed) and return the RESULT lines."""
    import suite_peers as peers
    import suite_problems as sp
    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    lines = []
    for name in problems:
        for v in variants:
            for seed in range(seeds):
                p = sp.build_problem(name, quick=False, seed=seed)
                p.settings = dataclasses.replace(p.settings, **VARIANTS[v])  # type: ignore[arg-type]
                r = peers.run_optloop(p, seed)
                b = r["boundary"]
                batches = sorted(r["propose_s_batches"])
                lines.append(
                    f"RESULT {name} {v} seed={seed} hv={r['hv'][-1]:.4f} "
                    f"boundary={b['near'] / max(b['coords'], 1):.2f} "
                    f"batch_s={batches[len(batches) // 2]:.1f}"
                )
                print(lines[-1], flush=True)
    return lines


def table(lines: list[str], default_runs: Path | None, seeds: int) -> str:
    """Markdown: per problem and variant, median and worst final hypervolume over seeds."""
    hv: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for line in lines:
        m = LINE.search(line)
        if m:
            hv[(m[1], m[2])][int(m[3])] = float(m[4])
    if default_runs is not None:
        for f in default_runs.glob("*__optloop__*.json"):
            r = json.loads(f.read_text())
            if r["seed"] < seeds:
                hv[(r["problem"], "default")][r["seed"]] = r["hv"][-1]
    problems = sorted({p for p, _ in hv})
    names = [v for v in VARIANTS if any((p, v) in hv for p in problems)]
    out = ["| problem | " + " | ".join(f"{v} median (worst)" for v in names) + " |",
           "|---|" + "---:|" * len(names)]
    for p in problems:
        cells = []
        for v in names:
            xs = list(hv.get((p, v), {}).values())
            cells.append(f"{statistics.median(xs):.4g} ({min(xs):.4g})" if xs else "—")
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+",
                    default=["anode_mixed", "dtlz2_shifted", "dtlz2", "dtlz2_mixed",
                             "branin_currin"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--from-log", type=Path, help="build the table from RESULT lines")
    ap.add_argument("--default-runs", type=Path, help="a suite runs/ folder for 'default'")
    args = ap.parse_args()
    lines = (args.from_log.read_text().splitlines() if args.from_log
             else run(args.problems, args.variants, args.seeds))
    print(table(lines, args.default_runs, args.seeds))


if __name__ == "__main__":
    main()
