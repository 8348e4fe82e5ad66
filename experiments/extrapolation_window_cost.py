"""Time one life with drift windows 1 and 4, side by side in one process.

Designs alternate between the two windows, two repeats each, cycle cap 3000. Run from the
repository root (~3 CPU-minutes)::

    PYTHONPATH=. .venv/bin/python experiments/extrapolation_window_cost.py

The output measured on 2026-12-06 is kept in ``experiments/results/extrapolation_window_cost.md``.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optloop.evaluators.pybamm import CellSimulator, PybammOptions  # noqa: E402

NAMES = ["sampled 16", "sampled 08", "graphite 80 um + a-Si 0.1 um"]


def main() -> None:
    """Print each run's life and CPU seconds, then the medians."""
    spec = importlib.util.spec_from_file_location(
        "bench_extrapolation", ROOT / "experiments" / "bench_extrapolation.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    items = dict(bench.designs(16))
    sims = {
        w: CellSimulator(PybammOptions(cycle_cap=3000, timeout_s=7200.0,
                                       extrapolation_drift_window=w))
        for w in (1, 4)
    }
    for sim in sims.values():
        sim.run(items[NAMES[0]], "screen")  # set-up, not counted
    cpu: dict[tuple[str, int], list[float]] = {}
    for rep in range(2):
        for name in NAMES:
            for w, sim in sims.items():
                c0 = time.process_time()
                out = sim.run(items[name], "full")
                dt = time.process_time() - c0
                assert out.protocol is not None and out.frame is not None
                m = out.protocol.compute(out.frame)
                cpu.setdefault((name, w), []).append(dt)
                print(rep, name, "window", w, "life", m.cycle_life, "censored",
                      m.cycle_life_censored, f"cpu {dt:.1f}", "load", os.getloadavg()[0],
                      flush=True)
    for (name, w), v in cpu.items():
        print((name, w), f"median cpu {statistics.median(v):.1f}")


if __name__ == "__main__":
    main()
