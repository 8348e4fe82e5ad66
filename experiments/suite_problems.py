"""The problems of the benchmark suite (``bench_suite.py``), each a ``bse.Problem``.

Every problem: budget 40, batches of q = 4, 8 initial designs (``quick``: budget 12, 4
initial). Objectives are minimised against a fixed reference point; ``max_hv`` is the
hypervolume of the true front.

* ``branin_currin``, ``dtlz2_mixed``: ``bench_sample_efficiency``'s, budgets overridden.
* ``dtlz2``: DTLZ2, d = 6 continuous, 2 objectives, reference (1.1, 1.1), max HV
  ``1.21 - pi / 4``; its inputs are the unit features of six continuous parameters of a test
  space (as ``dtlz2_mixed``, with the element fixed to Sn).
* ``dtlz2_shifted``: the same with x2..x6 shifted periodically, ``x' = (x + 0.23) mod 1``,
  before evaluation: the Pareto set (x'_i = 0.5) sits at x_i = 0.27, off the box centre.
* ``anode_mixed``: see :func:`_anode_mixed`.
* ``dtlz2_shifted_noisy``, ``anode_mixed_noisy``: Gaussian noise (sd 0.05) on each
  objective, drawn from a generator seeded by the design and the problem's seed; the
  optimiser sees the noisy values, the hypervolume is scored on ``truth`` (noiseless).
* ``pybamm_screen``: ``bench_sample_efficiency``'s (slow; only when asked by name).
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_sample_efficiency as bse  # noqa: E402

from optloop.config.models import DesignSpaceConfig  # noqa: E402
from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS  # noqa: E402
from optloop.optimiser import Observation  # noqa: E402
from optloop.optimiser.features import FeatureMap  # noqa: E402
from optloop.space import Design, DesignSpace  # noqa: E402

PROBLEMS = (
    "branin_currin",
    "dtlz2",
    "dtlz2_shifted",
    "dtlz2_mixed",
    "anode_mixed",
    "dtlz2_shifted_noisy",
    "anode_mixed_noisy",
)
SLOW_PROBLEMS = ("pybamm_screen",)
BUDGET, BATCH, INITIAL = 40, 4, 8
QUICK_BUDGET, QUICK_INITIAL = 12, 4
DTLZ2_MAX_HV = 1.21 - math.pi / 4
SHIFT = 0.23
NOISE_SD = 0.05


@dataclass
class SuiteProblem(bse.Problem):
    """A problem whose hypervolume is scored on ``truth`` (noiseless outcomes) when given."""

    truth: Callable[[Design], dict[str, float]] | None = None
    optimum: Callable[[float], Design] | None = None
    """A design on the true front at position ``t`` in [0, 1] (known-optimum problems)."""


def _dtlz2_f(x: np.ndarray) -> tuple[float, float]:
    """DTLZ2 with 2 objectives: x[0] the position, x[1:] the distance inputs (optimum 0.5)."""
    g = float(np.sum((x[1:] - 0.5) ** 2))
    a = x[0] * math.pi / 2
    return (1 + g) * math.cos(a), (1 + g) * math.sin(a)


def _noise(design: Design, seed: int, tag: str) -> np.random.Generator:
    h = hashlib.sha256(f"{tag}|{seed}|{design.key()}".encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def _with_noise(p: SuiteProblem, seed: int) -> SuiteProblem:
    """Return ``p`` with noisy evaluations (sd ``NOISE_SD``), scored on the noiseless truth."""
    clean = p.evaluate

    def truth(design: Design) -> dict[str, float]:
        return dict(clean(design)[0].outcomes)

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        rng = _noise(design, seed, p.name)
        f = truth(design)
        noisy = {k: v + NOISE_SD * float(rng.normal()) for k, v in f.items()}
        return Observation(design, noisy), None

    p.name += "_noisy"
    p.title += f", Gaussian noise sd {NOISE_SD} (HV on the noiseless values)"
    p.evaluate = evaluate
    p.truth = truth
    p.notes = [
        *p.notes, f"noise: N(0, {NOISE_SD}^2) on each objective, seeded by design and seed"
    ]
    return p


def _dtlz2(shift: float, budget: int, initial: int) -> SuiteProblem:
    names = bse.DTLZ2_CONTINUOUS
    space = bse._test_space(names, ["Sn"])
    fm = FeatureMap(space)
    x_of = bse._unit_inputs(fm, names)

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        x = x_of(design)
        x[1:] = np.mod(x[1:] + shift, 1.0)
        f1, f2 = _dtlz2_f(x)
        return Observation(design, {"f1": f1, "f2": f2}), None

    def describe(design: Design) -> dict[str, Any]:
        return {"x": [round(float(v), 6) for v in x_of(design)]}

    def optimum(t: float = 0.3) -> Design:
        from optloop.space.encoding import from_values, to_values

        base = to_values(_any_design(space), list(space.parameters), space.config)
        target = (0.5 - shift) % 1.0
        for i, n in enumerate(names):
            q = next(q for q in space.parameters if q.name == n)
            base[n] = _from_unit(t if i == 0 else target, q.low, q.high, q.log_scale)
        return from_values(base, space.config)

    name = "dtlz2" if shift == 0 else "dtlz2_shifted"
    title = "DTLZ2 (d = 6 continuous, 2 objectives)" + (
        f", x2..x6 shifted by {shift} (mod 1): Pareto set at x_i = {0.5 - shift:g}"
        if shift
        else ""
    )
    return SuiteProblem(
        name, title, space, bse._synthetic_objectives([1.1, 1.1]), [], budget, initial, BATCH,
        evaluate, describe, max_hv=DTLZ2_MAX_HV,
        notes=["x = unit-cube features of " + ", ".join(names) + " (element fixed to Sn)"],
        optimum=optimum,
    )


def _unit(v: float, low: float, high: float, log: bool) -> float:
    if high <= low:
        return 0.0
    if log:
        return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    return (v - low) / (high - low)


def _from_unit(u: float, low: float, high: float, log: bool) -> float:
    if log:
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def _any_design(space: DesignSpace) -> Design:
    from optloop.space.sampling import sample_designs

    return sample_designs(space.config, 1, seed=0)[0]


# ---------------------------------------------------------------------------- anode_mixed

ANODE_OPT_PAIR = ("Si", "Ni")
ANODE_METAL_MAX = 0.6  # non-alloying (metal) share of the composition: [0, 0.6]
ANODE_BOUNDS = {
    "alloy.thickness_um": (0.05, 3.0, True),
    "alloy.sputtering.substrate_temperature_C": (25.0, 450.0, True),
    "alloy.sputtering.power_density_W_cm2": (1.0, 10.0, True),
    "alloy.plating.current_density_mA_cm2": (1.0, 50.0, True),
}
# Optimum of the distance inputs (unit coordinates): metal share 0.2 (unit 1/3), substrate
# temperature unit 0.3, power unit 0.62 (sputtering); plating: metal share unit 0.4, current
# unit 0.55, but plating adds METHOD_PENALTY, so the optimum is sputtered.
ANODE_TARGET_SPUTTER = (1 / 3, 0.3, 0.62)
ANODE_TARGET_PLATING = (0.4, 0.55)
METHOD_PENALTY = {"sputtering": 0.0, "plating": 0.15}
DISTANCE_WEIGHT = 0.5


def anode_penalty(element: str, metal: str) -> float:
    """Penalty of an (element, metal) pair: 0 only for ``ANODE_OPT_PAIR``, else 0.05-0.225."""
    if (element, metal) == ANODE_OPT_PAIR:
        return 0.0
    i = ALLOYING_METALS.index(element)
    j = (list(NON_ALLOYING_METALS) + ["none"]).index(metal)
    return 0.05 + 0.025 * ((3 * i + 5 * j + 1) % 8)


def anode_space() -> DesignSpace:
    """The anode_mixed design space (9 elements x 9 metals + none, sputtering or plating)."""
    cfg = DesignSpaceConfig.model_validate(
        {
            "alloy_layer": {
                "alloying_elements": list(ALLOYING_METALS),
                "non_alloying_elements": list(NON_ALLOYING_METALS),
                "max_alloying_elements": 1,
                "max_non_alloying_elements": 1,
                "non_alloying_fraction": [0.0, ANODE_METAL_MAX],
                "oxygen_ratio": 0.0,
                "thickness_um": [0.05, 3.0],
                "structures": ["crystalline"],
                "methods": {
                    "sputtering": {
                        "substrate_temperature_C": [25, 450],
                        "power_density_W_cm2": [1, 10],
                        "pressure_Pa": 0.5,
                    },
                    "plating": {"bath_temperature_C": 40, "current_density_mA_cm2": [1, 50]},
                },
            },
            "carbon_layer": {"mode": "required", "thickness_um": 40, "porosity": 0.35},
            "lithium_layer": {"mode": "absent"},
            "cell": {"positive_electrodes": ["NMC811"], "np_ratio": 1.1, "min_np_ratio": 1.05},
        }
    )
    return DesignSpace(cfg, "one_hot")


def anode_inputs(design: Design) -> dict[str, Any]:
    """The element, metal, method and unit coordinates the anode_mixed objectives read."""
    layer = design.alloy_layer
    assert layer is not None
    (element,) = layer.alloying
    metals = list(layer.non_alloying)
    metal = metals[0] if metals else "none"
    share = sum(layer.non_alloying.values())
    c = layer.conditions
    u = {
        "position": _unit(layer.thickness_um, *ANODE_BOUNDS["alloy.thickness_um"]),
        "share": share / ANODE_METAL_MAX,
    }
    if layer.method == "sputtering":
        u["temperature"] = _unit(
            c["substrate_temperature_C"], *ANODE_BOUNDS["alloy.sputtering.substrate_temperature_C"]
        )
        u["power"] = _unit(
            c["power_density_W_cm2"], *ANODE_BOUNDS["alloy.sputtering.power_density_W_cm2"]
        )
    else:
        u["current"] = _unit(
            c["current_density_mA_cm2"], *ANODE_BOUNDS["alloy.plating.current_density_mA_cm2"]
        )
    return {"element": element, "metal": metal, "method": layer.method, "u": u}


def anode_objectives(design: Design) -> tuple[float, float]:
    """DTLZ2-like: f = (1 + g) (cos, sin)(pi/2 * thickness unit), g >= 0 (see ``_anode_mixed``)."""
    a = anode_inputs(design)
    u = a["u"]
    if a["method"] == "sputtering":
        d = np.array([u["share"], u["temperature"], u["power"]]) - ANODE_TARGET_SPUTTER
    else:
        d = np.array([u["share"], u["current"]]) - ANODE_TARGET_PLATING
    g = anode_penalty(a["element"], a["metal"]) + METHOD_PENALTY[a["method"]]
    g += DISTANCE_WEIGHT * float(d @ d)
    t = u["position"] * math.pi / 2
    return (1 + g) * math.cos(t), (1 + g) * math.sin(t)


def _anode_mixed(budget: int, initial: int) -> SuiteProblem:
    """A mixed two-objective anode problem with a known front.

    Space (a real optloop ``DesignSpace``): one alloying element of 9 (Si, Ge, Sn, Al, Pb, Pd,
    Ag, In, Cd), one non-alloying metal of 9 (Cu, Fe, B, Ni, Ti, Ta, W, Cr, Co) or none (a
    10-level categorical), the composition simplex (element and metal fractions sum to 1,
    the metal's share in [0, 0.6]), the film thickness (log), the deposition method
    (sputtering or plating) and conditional process inputs: substrate temperature and power
    density only when sputtering, current density only when plating. Feasibility rules that
    bind: ``plating_elements`` (Si, Ge, Al and the metals Ti, Ta, B cannot be plated) and
    ``alloy_stores_lithium`` (the silicide rule: Ni binds 2 Si in NiSi2, so Si-Ni needs a Ni
    share below 1/3).

    Objectives (minimised, reference (1.1, 1.1)): f1 = (1 + g) cos(pi/2 t), f2 = (1 + g)
    sin(pi/2 t), t = the thickness's unit coordinate (log scale). g = pen(element, metal) +
    pen(method) + 0.5 |u - u*|^2 where u are the distance inputs' unit coordinates: sputtering
    (metal share / 0.6, temperature, power) with u* = (1/3, 0.3, 0.62), i.e. a metal share of
    0.2; plating (metal share / 0.6, current) with u* = (0.4, 0.55) and pen(plating) = 0.15.
    pen(element, metal) is 0 only for (Si, Ni) and 0.05-0.225 for every other pair. g >= 0, so
    the true front is DTLZ2's (max HV 1.21 - pi/4), reached only by sputtered Si-Ni with Ni
    share 0.2 (feasible: 0.4 of the 0.8 Si stays active) at the target temperature and power.
    (Si, Ni) is among the least frequent pairs under uniform sampling of the space, since the
    plating and silicide rules reject many Si designs.
    """
    space = anode_space()

    def evaluate(design: Design) -> tuple[Observation, str | None]:
        f1, f2 = anode_objectives(design)
        return Observation(design, {"f1": f1, "f2": f2}), None

    def describe(design: Design) -> dict[str, Any]:
        a = anode_inputs(design)
        return {**{k: a[k] for k in ("element", "metal", "method")},
                "u": {k: round(v, 6) for k, v in a["u"].items()}}

    def optimum(t: float = 0.5) -> Design:
        from optloop.space.encoding import from_values

        e, m = ANODE_OPT_PAIR
        share = ANODE_TARGET_SPUTTER[0] * ANODE_METAL_MAX
        values = {
            "alloy.alloying_1.element": e,
            "alloy.non_alloying_1.element": m,
            "alloy.alloying_1.fraction": 1 - share,
            "alloy.non_alloying_1.fraction": share,
            "alloy.oxygen_ratio": 0.0,
            "alloy.thickness_um": _from_unit(t, *ANODE_BOUNDS["alloy.thickness_um"]),
            "alloy.structure": "crystalline",
            "alloy.method": "sputtering",
            "alloy.sputtering.substrate_temperature_C": _from_unit(
                ANODE_TARGET_SPUTTER[1], *ANODE_BOUNDS["alloy.sputtering.substrate_temperature_C"]
            ),
            "alloy.sputtering.power_density_W_cm2": _from_unit(
                ANODE_TARGET_SPUTTER[2], *ANODE_BOUNDS["alloy.sputtering.power_density_W_cm2"]
            ),
            "alloy.sputtering.pressure_Pa": 0.5,
            "alloy.plating.bath_temperature_C": 40.0,
            "alloy.plating.current_density_mA_cm2": 1.0,
            "carbon_layer.present": "yes",
            "carbon_layer.thickness_um": 40.0,
            "carbon_layer.porosity": 0.35,
            "cell.positive_electrode": "NMC811",
            "cell.np_ratio": 1.1,
        }
        return from_values(values, space.config)

    return SuiteProblem(
        "anode_mixed",
        "anode_mixed (9-level element, 10-level metal, composition simplex, conditional "
        "process inputs, 2 objectives)",
        space, bse._synthetic_objectives([1.1, 1.1]), [], budget, initial, BATCH,
        evaluate, describe, max_hv=DTLZ2_MAX_HV,
        notes=[" ".join((_anode_mixed.__doc__ or "").split())],
        optimum=optimum,
    )


def _as_suite(p: bse.Problem) -> SuiteProblem:
    return SuiteProblem(**{f: getattr(p, f) for f in bse.Problem.__dataclass_fields__})


def build_problem(name: str, quick: bool, seed: int = 0) -> SuiteProblem:
    """Return the problem ``name`` (budget 40, q 4, 8 initial; ``quick``: 12, 4, 4).

    ``seed`` seeds the noise of the noisy problems (a run's seed).
    """
    budget, initial = (QUICK_BUDGET, QUICK_INITIAL) if quick else (BUDGET, INITIAL)
    if name == "branin_currin":
        p = _as_suite(bse._branin_currin(budget, initial))
    elif name == "dtlz2_mixed":
        p = _as_suite(bse._dtlz2_mixed(budget, initial))
    elif name == "pybamm_screen":
        p = _as_suite(bse._pybamm_screen(budget, initial))
    elif name in ("dtlz2", "dtlz2_shifted", "dtlz2_shifted_noisy"):
        p = _dtlz2(0.0 if name == "dtlz2" else SHIFT, budget, initial)
    elif name in ("anode_mixed", "anode_mixed_noisy"):
        p = _anode_mixed(budget, initial)
    else:
        raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS + SLOW_PROBLEMS}")
    p.batch = BATCH
    if name.endswith("_noisy"):
        p = _with_noise(p, seed)
    return p
