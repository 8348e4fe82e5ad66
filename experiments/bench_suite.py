"""The benchmark suite: optloop against Sobol and its peers on every problem, one command.

Problems (``suite_problems.py``): BraninCurrin, DTLZ2 (d = 6), DTLZ2 with its optimum moved
off the box centre, a mixed DTLZ2, the anode_mixed problem (two categoricals of 9 and 10
levels, a composition simplex, conditional process inputs, feasibility rules that bind), noisy
versions of dtlz2_shifted and anode_mixed (hypervolume on the true values), and, only when
named, the PyBaMM screen campaign. Budget 40, batches of q = 4, 8 initial designs for every
method (``--quick``: budget 12, 4 initial). Methods (``suite_peers.py``): optloop, sobol, ax,
baybe, botorch, optuna_tpe, optuna_gp.

Each (problem, method, seed) run is saved as ``DIR/runs/<problem>__<method>__<seed>.json`` the
moment it finishes; a run whose file exists is skipped, so a run can be resumed or split
across invocations (peers now, optloop later) into the same ``--out``. ``--report-only``
aggregates ``runs/`` into ``suite.md``, ``suite.json`` and ``suite_<problem>.png`` without
running anything.

Run from the repository root::

    .venv/bin/python experiments/bench_suite.py                       # everything
    .venv/bin/python experiments/bench_suite.py --methods ax baybe botorch optuna_tpe optuna_gp
    .venv/bin/python experiments/bench_suite.py --methods optloop sobol
    .venv/bin/python experiments/bench_suite.py --report-only
    .venv/bin/python experiments/bench_suite.py --quick --seeds 1 --jobs 1 --out /tmp/suite_quick
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
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_sample_efficiency as bse  # noqa: E402
import suite_peers  # noqa: E402
import suite_problems  # noqa: E402

ROOT = bse.ROOT
log = logging.getLogger("bench_suite")
METHODS = suite_peers.METHODS
PEERS = tuple(m for m in METHODS if m not in ("optloop", "sobol"))
THRESHOLD = 0.9
NEAR_MAX = 0.03  # the best peer within 3 % of the known maximum ...
WITHIN_MAX = 0.01  # ... then optloop must be within 1 % of it
COLOURS = {
    "optloop": "tab:blue", "sobol": "tab:orange", "ax": "tab:brown", "baybe": "tab:pink",
    "botorch": "tab:red", "optuna_tpe": "tab:green", "optuna_gp": "tab:purple",
}


# ------------------------------------------------------------------------------- runs


def run_path(out: Path, problem: str, method: str, seed: int) -> Path:
    """Where the record of one (problem, method, seed) run is saved."""
    return out / "runs" / f"{problem}__{method}__{seed}.json"


def pending_units(
    out: Path, problems: list[str], methods: list[str], seeds: list[int], quick: bool
) -> list[tuple[str, str, int, bool, str]]:
    """The (problem, method, seed) runs whose file does not exist yet."""
    return [
        (p, m, s, quick, str(out))
        for p in problems
        for s in seeds
        for m in methods
        if not run_path(out, p, m, s).exists()
    ]


def run_unit(unit: tuple[str, str, int, bool, str]) -> dict[str, Any]:
    """Run one (problem, method, seed) and save its record; return a short summary."""
    name, method, seed, quick, out = unit
    path = run_path(Path(out), name, method, seed)
    t0 = time.perf_counter()
    try:
        p = suite_problems.build_problem(name, quick, seed=seed)
        rec = suite_peers.RUNNERS[method](p, seed)
    except Exception as exc:  # noqa: BLE001 - one crashing run must not lose the others
        import traceback

        traceback.print_exc()
        return {"unit": unit[:3], "error": f"{type(exc).__name__}: {exc}"}
    rec["quick"] = quick
    rec["max_hv"] = p.max_hv
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(bse._json_ready(rec), separators=(",", ":"), default=str))
    tmp.replace(path)
    return {"unit": unit[:3], "hv": rec["hv"][-1] if rec["hv"] else 0.0,
            "s": time.perf_counter() - t0}


def _init_worker(level: int) -> None:
    import torch

    torch.set_num_threads(1)
    _logging(level)


def _logging(level: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", force=True)
    log.setLevel(level)


def load_runs(out: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every saved run, by problem and method, sorted by seed."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for f in sorted((out / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        runs.setdefault(r["problem"], {}).setdefault(r["method"], []).append(r)
    for by_m in runs.values():
        for rs in by_m.values():
            rs.sort(key=lambda r: r["seed"])
    return runs


# ------------------------------------------------------------------------------- analysis


def _curve(r: dict[str, Any], budget: int) -> list[float]:
    hv = [0.0 if v is None else float(v) for v in r["hv"]]
    return (hv + [hv[-1] if hv else 0.0] * budget)[:budget]


def summarise(
    runs: dict[str, list[dict[str, Any]]], carried: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Per method: curves' median / IQR, final HV, worst seed, evals to 90 %, times, boundary.

    ``carried``: an earlier report's summary of this problem (its ``suite.json`` entry); its
    methods without runs here are taken over as they stand, marked ``carried``. Their
    evaluations to 90 % stay measured against the earlier report's best hypervolume.
    """
    old = {m: d for m, d in (carried or {}).get("methods", {}).items() if m not in runs}
    budgets = [r["budget"] for rs in runs.values() for r in rs]
    if old and carried is not None:
        budgets.append(int(carried["budget"]))
    budget = max(budgets)
    curves = {m: np.array([_curve(r, budget) for r in rs]) for m, rs in runs.items() if rs}
    best = max(
        [float(c.max()) for c in curves.values()] + [max(d["final"]) for d in old.values()]
    )
    target = THRESHOLD * best
    max_hv = next((r.get("max_hv") for rs in runs.values() for r in rs), None)
    if max_hv is None and carried is not None:
        max_hv = carried.get("max_hv")
    out: dict[str, Any] = {"budget": budget, "best_hv": best, "target_hv": target,
                           "max_hv": max_hv, "methods": {}}
    for m in METHODS:
        if m in old:
            out["methods"][m] = {**old[m], "carried": True}
            continue
        if m not in curves:
            continue
        c, rs = curves[m], runs[m]
        reach = [bse.evals_to(list(row), target) if best > 0 else math.inf for row in c]
        # Model batches: those after the initial designs (all batches for sobol).
        batches = [
            s for r in rs for s in r["propose_s_batches"][r["initial_designs"] // r["batch"] :]
        ] or [s for r in rs for s in r["propose_s_batches"]]
        near = sum(r["boundary"]["near"] for r in rs)
        coords = sum(r["boundary"]["coords"] for r in rs)
        out["methods"][m] = {
            "seeds": [r["seed"] for r in rs],
            "median": np.median(c, axis=0).tolist(),
            "q25": np.percentile(c, 25, axis=0).tolist(),
            "q75": np.percentile(c, 75, axis=0).tolist(),
            "final": c[:, -1].tolist(),
            "final_median": float(np.median(c[:, -1])),
            "final_q25": float(np.percentile(c[:, -1], 25)),
            "final_q75": float(np.percentile(c[:, -1], 75)),
            "worst": float(c[:, -1].min()),
            "evals_to_target": [None if math.isinf(x) else x for x in reach],
            "evals_to_target_median": bse._median_inf(reach),
            "batch_s_median": float(np.median(batches)) if batches else 0.0,
            "run_s_median": float(np.median([r["wall_s"] for r in rs])),
            "infeasible": sum(r["infeasible"] for r in rs),
            "infeasible_median": float(np.median([r["infeasible"] for r in rs])),
            "boundary_share": near / coords if coords else None,
            "settings": rs[0].get("settings", ""),
        }
    return out


def headline_row(summ: dict[str, Any]) -> dict[str, Any]:
    """optloop against the best peer and Sobol on one problem: the issue's two targets."""
    ms = summ["methods"]
    o = ms.get("optloop")
    peers = {m: d["final_median"] for m, d in ms.items() if m in PEERS}
    row: dict[str, Any] = {"optloop": None if o is None else o["final_median"]}
    if peers:
        best = max(peers, key=lambda m: peers[m])
        row.update(best_peer=best, best_peer_median=peers[best])
    if o is None or not peers:
        row.update(target=None, sobol_target=None)
        return row
    bp, om, mx = peers[best], o["final_median"], summ.get("max_hv")
    row["ratio"] = om / bp if bp > 0 else None
    near = mx is not None and mx > 0 and bp >= (1 - NEAR_MAX) * mx
    row["peer_near_max"] = near
    row["target"] = bool(om >= bp or (near and om >= (1 - WITHIN_MAX) * mx))
    s = ms.get("sobol")
    row["sobol_median"] = None if s is None else s["final_median"]
    row["optloop_worst"] = o["worst"]
    row["sobol_target"] = None if s is None else bool(o["worst"] >= s["final_median"])
    return row


# ------------------------------------------------------------------------------- output


def _f(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "—"
    return f"{x:.{digits}g}"


def _met(x: bool | None) -> str:
    return "n/a" if x is None else ("**met**" if x else "**missed**")


def write_markdown(path: Path, summ: dict[str, Any], meta: dict[str, Any]) -> None:
    """The results page: setup, headline, one table per problem, boundary shares, discussion."""
    L = ["# Benchmark suite: optloop against Sobol, Ax, BayBE, a plain BoTorch loop and Optuna",
         ""]
    L += [
        "## Setup",
        "",
        f"- Date {meta['date']}; machine {meta['machine']}; {meta['versions']}.",
        f"- Command (this report): `{meta['command']}`. The runs in `runs/` may come from "
        "several invocations (each run's file is written when it finishes and skipped when it "
        "exists); seeds and settings are read from the files."
        + (
            f" Summaries carried over unchanged from the report of {meta['carried']['date']} "
            f"(its runs are not in `runs/`; marked † below): "
            + ", ".join(meta["carried"]["runs"]) + "."
            if meta.get("carried", {}).get("runs")
            else ""
        ),
        "- Budgets: " + "; ".join(
            f"{n}: {s['budget']} evaluations, {len(next(iter(s['methods'].values()))['seeds'])}"
            " seeds" for n, s in summ.items()
        ) + f". Batches of q = {meta['batch']}, each evaluated before the next is asked for; "
        f"every method starts with {meta['initial']} initial (space-filling or random) "
        "designs.",
        "- Hypervolume of the feasible evaluations so far (true, noiseless values on the noisy "
        "problems), reference point per problem. Infeasible proposals (a peer's design that "
        "cannot be built or breaks a feasibility rule) are not evaluated, are told back as "
        "failed and count against the budget.",
        "- Evals to 90 % = evaluations to reach 90 % of the best final hypervolume any run "
        "found on the problem (median over seeds; — = the median run never did). Seconds per "
        "batch = median wall time of one proposal batch after the initial designs (machine load "
        "inflates it; worker processes use 1 torch thread). Boundary share = fraction of "
        "active continuous unit coordinates within 0.02 of a bound among the proposals after "
        "the initial designs.",
        "- Methods and their settings:",
        *[f"  - `{m}`: {s}" for m, s in meta["settings"].items()],
        "",
        "## Headline",
        "",
        "Target (issue 12): optloop's median final hypervolume ≥ the best peer's median, or "
        f"within {WITHIN_MAX:.0%} of the known maximum where the best peer is within "
        f"{NEAR_MAX:.0%} of it; and optloop's worst seed ≥ Sobol's median.",
        "",
        "| problem | optloop median | best peer median (peer) | ratio | target | optloop worst "
        "| Sobol median | worst ≥ Sobol |",
        "|---|---|---|---|---|---|---|---|",
    ]
    heads = {}
    for name, s in summ.items():
        h = heads[name] = headline_row(s)
        L.append(
            f"| {name} | {_f(h.get('optloop'))} | {_f(h.get('best_peer_median'))} "
            f"({h.get('best_peer', '—')}) | {_f(h.get('ratio'), 3)} | {_met(h['target'])} | "
            f"{_f(h.get('optloop_worst'))} | {_f(h.get('sobol_median'))} | "
            f"{_met(h['sobol_target'])} |"
        )
    L += ["", "## Discussion (generated from the numbers)", "", discussion(summ, heads), ""]
    for name, s in summ.items():
        L += [f"## {name}", ""]
        L.append(
            f"Best final hypervolume seen {_f(s['best_hv'])}, 90 % target {_f(s['target_hv'])}"
            + (f", known maximum {_f(s['max_hv'])}" if s["max_hv"] is not None else "")
            + f". Plot: `suite_{name}.png`."
        )
        L += [
            "",
            "| method | median final HV | IQR | worst seed | evals to 90 % | s / batch | "
            "infeasible (all seeds) | boundary share |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m, d in s["methods"].items():
            b = d["boundary_share"]
            L.append(
                f"| {m}{' †' if d.get('carried') else ''} | {_f(d['final_median'])} | "
                f"{_f(d['final_q25'], 3)}–"
                f"{_f(d['final_q75'], 3)} | {_f(d['worst'])} | "
                f"{_f(d['evals_to_target_median'], 3)} | {d['batch_s_median']:.2f} | "
                f"{d['infeasible']} | {'—' if b is None else f'{b:.0%}'} |"
            )
        L.append("")
    path.write_text("\n".join(L) + "\n")


def discussion(summ: dict[str, Any], heads: dict[str, dict[str, Any]]) -> str:
    """Where optloop meets or misses each target, and by how much, from the measured values."""
    lines = []
    for name, h in heads.items():
        if h.get("target") is None:
            lines.append(f"- **{name}**: optloop or the peers have no runs yet.")
            continue
        ms = summ[name]["methods"]
        bits = [
            f"optloop's median {_f(h['optloop'])} is "
            + (f"{h['ratio']:.2f}×" if h.get("ratio") is not None else "n/a of")
            + f" the best peer's ({h['best_peer']}, {_f(h['best_peer_median'])})"
        ]
        if h["peer_near_max"]:
            bits.append(f"that peer is within {NEAR_MAX:.0%} of the known maximum "
                        f"{_f(summ[name]['max_hv'])}")
        bits.append("target " + ("met" if h["target"] else "missed"))
        if h["sobol_target"] is not None:
            bits.append(
                f"optloop's worst seed {_f(h['optloop_worst'])} is "
                + ("≥" if h["sobol_target"] else "<")
                + f" Sobol's median {_f(h['sobol_median'])}"
            )
        o = ms["optloop"]
        bs = [(m, d["boundary_share"]) for m, d in ms.items() if d["boundary_share"] is not None]
        if o["boundary_share"] is not None and bs:
            hi = max(bs, key=lambda kv: kv[1])
            bits.append(f"boundary share optloop {o['boundary_share']:.0%} (highest: {hi[0]} "
                        f"{hi[1]:.0%})")
        lines.append(f"- **{name}**: " + "; ".join(bits) + ".")
    return "\n".join(lines)


def plot(path: Path, name: str, s: dict[str, Any]) -> None:
    """Median hypervolume and IQR band per method against evaluations; dashed known max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    x = np.arange(1, s["budget"] + 1)
    for m, d in s["methods"].items():
        ax.plot(x, d["median"], color=COLOURS.get(m), lw=2, drawstyle="steps-post",
                label=f"{m} (median of {len(d['final'])}, IQR band)")
        ax.fill_between(x, d["q25"], d["q75"], color=COLOURS.get(m), alpha=0.15, lw=0,
                        step="post")
    if s["max_hv"] is not None:
        ax.axhline(s["max_hv"], color="black", ls="--", lw=1, label="known maximum")
    ax.set_xlabel("evaluations (infeasible proposals count)")
    ax.set_ylabel("hypervolume")
    ax.set_title(name)
    ax.set_xlim(1, s["budget"])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _versions() -> str:
    import importlib.metadata as md

    out = []
    for dist in ("torch", "botorch", "ax-platform", "baybe", "optuna"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            out.append(f"{dist} not installed")
    return ", ".join(out)


def report(
    out: Path, command: str, problems: list[str] | None = None, carry: Path | None = None
) -> dict[str, Any]:
    """Aggregate ``out/runs`` into suite.md, suite.json and the plots.

    ``carry``: an earlier ``suite.json`` whose (problem, method) summaries stand in for runs
    that are not in ``out/runs`` (e.g. the peers, when only optloop was re-run); the report
    says which.
    """
    runs = load_runs(out)
    old = json.loads(carry.read_text()) if carry is not None else {}
    old_problems = old.get("problems", {})
    known = set(runs) | set(old_problems)
    order = [p for p in (*suite_problems.PROBLEMS, *suite_problems.SLOW_PROBLEMS) if p in known]
    if problems:
        order = [p for p in order if p in problems]
    summ = {name: summarise(runs.get(name, {}), old_problems.get(name)) for name in order}
    settings: dict[str, str] = dict(old.get("meta", {}).get("settings", {}))
    for name in order:
        for m, rs in runs.get(name, {}).items():
            settings[m] = rs[0].get("settings", "")
    carried = sorted({(n, m) for n, s_ in summ.items() for m, d in s_["methods"].items()
                      if d.get("carried")})
    first = next((rs[0] for n in order for rs in runs.get(n, {}).values() if rs), {})
    meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, load "
        + "/".join(f"{x:.1f}" for x in os.getloadavg()),
        "versions": _versions(),
        "batch": first.get("batch", old.get("meta", {}).get("batch")),
        "initial": first.get("initial_designs", old.get("meta", {}).get("initial")),
        "carried": {
            "from": None if carry is None else str(carry.name),
            "date": old.get("meta", {}).get("date"),
            "runs": [f"{n}/{m}" for n, m in carried],
        },
        "settings": {m: settings[m] for m in METHODS if m in settings},
    }
    out.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "problems": summ,
            "headline": {n: headline_row(s) for n, s in summ.items()}}
    (out / "suite.json").write_text(json.dumps(bse._json_ready(data), indent=1))
    for name, s in summ.items():
        plot(out / f"suite_{name}.png", name, s)
    write_markdown(out / "suite.md", summ, meta)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="budget 12, 4 initial designs")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--problems", nargs="+", default=list(suite_problems.PROBLEMS),
                        choices=[*suite_problems.PROBLEMS, *suite_problems.SLOW_PROBLEMS])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/results/suite")
    parser.add_argument("--report-only", action="store_true", help="aggregate runs/ only")
    parser.add_argument("--carry", type=Path, help="an earlier suite.json whose summaries "
                        "stand in for (problem, method) pairs with no runs in OUT/runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    args = parser.parse_args()
    level = logging.DEBUG if args.verbose else logging.INFO
    _logging(level)
    command = "python experiments/bench_suite.py " + shlex.join(sys.argv[1:])
    if not args.report_only:
        units = pending_units(args.out, args.problems, args.methods, list(range(args.seeds)),
                              args.quick)
        log.info("%d runs to do on %d worker processes; writing to %s/runs", len(units),
                 args.jobs, args.out)
        t0 = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(level,)) as pool:
            for k, r in enumerate(pool.imap_unordered(run_unit, units), start=1):
                name, method, seed = r["unit"]
                if "error" in r:
                    log.error("run %d/%d FAILED: %s %s seed %d: %s", k, len(units), name,
                              method, seed, r["error"])
                    continue
                log.info("run %d/%d: %s %s seed %d: final hv %.4g, %.0f s  [%.1f min]", k,
                         len(units), name, method, seed, r["hv"], r["s"],
                         (time.perf_counter() - t0) / 60)
    carry = None
    if args.carry is not None:
        # Read before the report overwrites it (it may be OUT/suite.json itself).
        carry = Path("/tmp") / f"suite_carry_{os.getpid()}.json"
        carry.write_text(args.carry.read_text())
    data = report(args.out, command, args.problems, carry)
    log.info("wrote %s/suite.md", args.out)
    for n, h in data["headline"].items():
        log.info("%s: %s", n, h)


if __name__ == "__main__":
    main()
