"""The benchmark suite (experiments/bench_suite.py): problems, run cache, headline logic."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import bench_sample_efficiency as bse  # noqa: E402
import bench_suite  # noqa: E402
import suite_peers  # noqa: E402
import suite_problems as sp  # noqa: E402

from optloop.analysis import hypervolume  # noqa: E402
from optloop.optimiser import Observation  # noqa: E402
from optloop.space.sampling import sample_designs  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def _hv(p: sp.SuiteProblem, designs: list) -> float:
    truth = p.truth or (lambda d: p.evaluate(d)[0].outcomes)
    obs = [Observation(d, truth(d)) for d in designs]
    return hypervolume([bse._trial(i, o) for i, o in enumerate(obs)], p.objectives, [])


@pytest.mark.parametrize("quick", [True, False])
def test_problems_build(quick: bool) -> None:
    for name in sp.PROBLEMS:
        p = sp.build_problem(name, quick)
        assert p.name == name
        assert (p.budget, p.initial_designs, p.batch) == ((12, 4, 4) if quick else (40, 8, 4))
        assert p.max_hv is not None and p.max_hv > 0
    assert "pybamm_screen" not in sp.PROBLEMS


@pytest.mark.parametrize("name", [n for n in sp.PROBLEMS if n != "branin_currin"])
def test_known_max_reached_by_optimum_not_exceeded_by_random(name: str) -> None:
    p = sp.build_problem(name, False)
    assert p.max_hv is not None
    random = sample_designs(p.space.config, 200, seed=3)
    assert _hv(p, random) <= p.max_hv
    if p.optimum is not None:
        front = [p.optimum(t) for t in np.linspace(0, 1, 101)]
        assert all(not p.space.violations(d) for d in front)
        hv = _hv(p, front)
        assert 0.99 * p.max_hv <= hv <= p.max_hv + 1e-9


def test_branin_currin_random_below_max() -> None:
    p = sp.build_problem("branin_currin", False)
    assert _hv(p, sample_designs(p.space.config, 200, seed=3)) <= p.max_hv  # type: ignore[operator]


def test_dtlz2_shifted_optimum_at_027() -> None:
    p = sp.build_problem("dtlz2_shifted", False)
    assert p.optimum is not None
    d = p.optimum(0.4)
    x = p.describe(d)["x"]
    assert x[1:] == pytest.approx([0.27] * 5, abs=1e-6)
    f = p.evaluate(d)[0].outcomes
    assert math.hypot(f["f1"], f["f2"]) == pytest.approx(1.0)
    # The box centre is not on the front.
    centre = sp.build_problem("dtlz2", False).optimum(0.4)  # type: ignore[misc]
    fc = p.evaluate(centre)[0].outcomes
    assert math.hypot(fc["f1"], fc["f2"]) > 1.2


def test_anode_optimum_pair_feasible_rare_and_rule_binds() -> None:
    from optloop.space.encoding import from_values, to_values

    p = sp.build_problem("anode_mixed", False)
    assert p.optimum is not None
    best = p.optimum(0.5)
    assert not p.space.violations(best)
    a = sp.anode_inputs(best)
    assert (a["element"], a["metal"], a["method"]) == (*sp.ANODE_OPT_PAIR, "sputtering")
    assert sp.anode_penalty(*sp.ANODE_OPT_PAIR) == 0.0
    params = list(p.space.parameters)
    # The silicide rule binds: more Ni than 1/3 leaves no active Si.
    v = to_values(best, params, p.space.config)
    v.update({"alloy.alloying_1.fraction": 0.5, "alloy.non_alloying_1.fraction": 0.5})
    rules = {x.rule for x in p.space.violations(from_values(v, p.space.config))}
    assert "alloy_stores_lithium" in rules
    # Plating cannot deposit Si.
    v = to_values(best, params, p.space.config)
    v["alloy.method"] = "plating"
    rules = {x.rule for x in p.space.violations(from_values(v, p.space.config))}
    assert "plating_elements" in rules
    # The optimal pair is not the most frequent one under uniform (feasible) sampling.
    pairs = Counter(
        (sp.anode_inputs(d)["element"], sp.anode_inputs(d)["metal"])
        for d in sample_designs(p.space.config, 900, seed=1)
    )
    assert pairs[sp.ANODE_OPT_PAIR] < max(pairs.values())


@pytest.mark.parametrize("name", ["dtlz2_shifted_noisy", "anode_mixed_noisy"])
def test_noisy_problems_score_on_truth(name: str) -> None:
    p = sp.build_problem(name, True, seed=2)
    assert p.truth is not None and p.optimum is not None
    d = p.optimum(0.5)
    noisy = p.evaluate(d)[0].outcomes
    assert noisy == p.evaluate(d)[0].outcomes  # seeded by design and seed
    assert noisy != sp.build_problem(name, True, seed=3).evaluate(d)[0].outcomes
    assert noisy != p.truth(d)
    rec = suite_peers.Recorder(p, "x", 2)
    designs = [p.optimum(t) for t in (0.2, 0.5, 0.8)]
    for x in designs:
        rec.evaluate(x, None)
    assert rec.hv() == pytest.approx(_hv(p, designs))


def test_run_cache_skips_existing(tmp_path: Path) -> None:
    units = bench_suite.pending_units(tmp_path, ["branin_currin"], ["sobol"], [0, 1], True)
    assert len(units) == 2
    r = bench_suite.run_unit(units[0])
    assert "error" not in r
    path = bench_suite.run_path(tmp_path, "branin_currin", "sobol", 0)
    rec = json.loads(path.read_text())
    assert len(rec["hv"]) == 12 and rec["initial_designs"] == 4
    left = bench_suite.pending_units(tmp_path, ["branin_currin"], ["sobol"], [0, 1], True)
    assert [u[:3] for u in left] == [("branin_currin", "sobol", 1)]
    data = bench_suite.report(tmp_path, "test")
    assert "branin_currin" in data["problems"]
    assert (tmp_path / "suite.md").exists() and (tmp_path / "suite_branin_currin.png").exists()

    # A later invocation re-runs only some methods: an earlier report's summaries stand in
    # for the rest, marked as carried, and count towards the best hypervolume.
    old = json.loads((tmp_path / "suite.json").read_text())
    peer = dict(old["problems"]["branin_currin"]["methods"]["sobol"])
    peer["final"] = [f + 100.0 for f in peer["final"]]
    peer["final_median"] = float(np.median(peer["final"]))
    old["problems"]["branin_currin"]["methods"]["ax"] = peer
    carry = tmp_path / "old.json"
    carry.write_text(json.dumps(old))
    again = bench_suite.report(tmp_path, "test", carry=carry)
    ms = again["problems"]["branin_currin"]["methods"]
    assert ms["ax"]["carried"] is True and "carried" not in ms["sobol"]
    assert again["problems"]["branin_currin"]["best_hv"] == pytest.approx(max(peer["final"]))
    assert again["headline"]["branin_currin"]["best_peer"] == "ax"
    assert "ax †" in (tmp_path / "suite.md").read_text()


def _summ(optloop: list[float], peer: float, sobol: float, max_hv: float | None) -> dict:
    def m(final: list[float]) -> dict:
        return {"final_median": float(np.median(final)), "worst": min(final)}

    return {
        "max_hv": max_hv,
        "methods": {"optloop": m(optloop), "ax": m([peer]), "optuna_tpe": m([peer / 2]),
                    "sobol": m([sobol])},
    }


def test_headline_logic() -> None:
    h = bench_suite.headline_row(_summ([0.5, 0.6, 0.7], 0.55, 0.4, None))
    assert h["best_peer"] == "ax" and h["target"] and h["sobol_target"]
    h = bench_suite.headline_row(_summ([0.3, 0.5, 0.7], 0.55, 0.4, None))
    assert not h["target"] and not h["sobol_target"]
    # The best peer within 3 % of the max: optloop within 1 % of it is enough ...
    h = bench_suite.headline_row(_summ([0.995, 0.995, 0.995], 0.999, 0.9, 1.0))
    assert h["peer_near_max"] and h["target"]
    # ... but not 2 % below it,
    h = bench_suite.headline_row(_summ([0.98, 0.98, 0.98], 0.999, 0.9, 1.0))
    assert not h["target"]
    # and the clause does not apply when the peer is more than 3 % below the max.
    h = bench_suite.headline_row(_summ([0.95, 0.95, 0.95], 0.96, 0.9, 1.0))
    assert not h["peer_near_max"] and not h["target"]


def test_peer_space_rejects_infeasible() -> None:
    p = sp.build_problem("anode_mixed", True)
    ps = suite_peers.PeerSpace.of(p)
    assert ps.simplex == list(suite_peers.SIMPLEX)
    values = {
        "alloy.alloying_1.element": "Si", "alloy.non_alloying_1.element": "Ni",
        "alloy.alloying_1.fraction": 0.8, "alloy.non_alloying_1.fraction": 0.2,
        "alloy.thickness_um": 1.0, "alloy.method": "plating",
        "alloy.sputtering.substrate_temperature_C": 100.0,
        "alloy.sputtering.power_density_W_cm2": 3.0,
        "alloy.plating.current_density_mA_cm2": 10.0,
    }
    design, why = ps.design(values)
    assert design is None and why is not None and "plating_elements" in why
    design, why = ps.design({**values, "alloy.method": "sputtering"})
    assert design is not None and why is None


def test_boundary_share_counts_active_continuous_coordinates() -> None:
    p = sp.build_problem("branin_currin", True)
    ps = suite_peers.PeerSpace.of(p)
    # carbon_layer.thickness_um is active through a fixed parameter (carbon_layer.present).
    free = {q.name: q for q in ps.free}
    values = {n: q.low for n, q in free.items()}
    assert ps.unit_coords(values) == [0.0] * len(free) and len(free) == 2
