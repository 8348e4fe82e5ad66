"""Feasible random designs, reproducible from a seed.

Sampling is constructive where the physics allows it (a method first, then only elements that
method can deposit; a structure only when it is reachable) and every candidate is then
checked against all rules, so a sampled design is always feasible. Thicknesses spanning a
decade or more are drawn log-uniformly, as a thin-film scientist would space them.
"""

from __future__ import annotations

import numpy as np

from optloop.config.models import Bounds, DesignSpaceConfig
from optloop.exceptions import DesignError, InfeasibleDesignError
from optloop.space.design import AlloyLayer, Design
from optloop.space.parameters import Parameter
from optloop.space.rules import (
    CVD_ELEMENTS,
    PLATING_INFEASIBLE,
    W_INDUCERS,
    amorphous_blocker,
    check_design,
)
from optloop.vocabulary import Method

__all__ = ["depositable", "sample_designs"]


def depositable(method: str, elements: list[str]) -> list[str]:
    """Return the elements of ``elements`` that ``method`` can deposit."""
    if method == "plating":
        return [e for e in elements if e not in PLATING_INFEASIBLE]
    if method == "cvd":
        return [e for e in elements if e in CVD_ELEMENTS]
    return list(elements)


def _uniform(rng: np.random.Generator, b: Bounds, log: bool = False) -> float:
    """Draw uniformly within ``b``; log-uniformly if ``log`` and the bounds span a decade."""
    if b.fixed:
        return b.low
    # One draw in [0, 1) through the parameter's unit mapping, the same stream and values as
    # ``rng.uniform(low, high)`` (numpy computes ``low + (high - low) * u`` as well).
    p = Parameter.continuous("bounds", b.low, b.high, log_scale=None if log else False)
    return float(p.from_unit(float(rng.random())))


def _split(rng: np.random.Generator, total: float, k: int, floor: float) -> list[float] | None:
    """Split ``total`` into ``k`` parts, each >= ``floor``, uniformly on the simplex."""
    spare = total - k * floor
    if spare < -1e-12:
        return None
    w = rng.dirichlet(np.ones(k))
    return [floor + max(spare, 0.0) * float(wi) for wi in w]


def _composition(
    rng: np.random.Generator, space: DesignSpaceConfig, method: str
) -> dict[str, float] | str:
    """Draw a composition ``method`` can deposit, or return why none fits."""
    a = space.alloy_layer
    alloying = depositable(method, a.alloying_elements)
    inactive = depositable(method, a.non_alloying_elements)
    if method == "plating" and not any(e in W_INDUCERS for e in inactive):
        inactive = [e for e in inactive if e != "W"]
    if not alloying:
        return f"{method} can deposit none of the alloying elements {a.alloying_elements}"
    k_a = int(rng.integers(1, min(a.max_alloying_elements, len(alloying)) + 1))
    nf = a.non_alloying_fraction
    k_n_max = min(a.max_non_alloying_elements, len(inactive))
    k_n_min = 1 if nf.low > 0 else 0
    if k_n_max < k_n_min:
        return f"{method} can deposit none of the non-alloying elements the fraction bounds need"
    k_n = int(rng.integers(k_n_min, k_n_max + 1))
    floor = a.min_element_fraction
    f_n = 0.0
    if k_n:
        lo = max(nf.low, k_n * floor)
        hi = min(nf.high, 1.0 - k_a * floor)
        if lo > hi:
            return f"no non-alloying fraction fits [{lo:g}, {hi:g}]"
        f_n = float(rng.uniform(lo, hi))
    parts_a = _split(rng, 1.0 - f_n, k_a, floor)
    parts_n = _split(rng, f_n, k_n, floor) if k_n else []
    if parts_a is None or parts_n is None:
        return "min_element_fraction leaves no room on the simplex"
    picks_a = [str(e) for e in rng.choice(alloying, size=k_a, replace=False)]
    picks_n = [str(e) for e in rng.choice(inactive, size=k_n, replace=False)] if k_n else []
    comp = dict(zip(picks_a, parts_a, strict=True)) | dict(zip(picks_n, parts_n, strict=True))
    # Remove float drift so the fractions sum to one exactly enough for the simplex check.
    total = sum(comp.values())
    return {s: x / total for s, x in comp.items()}


def _candidate(rng: np.random.Generator, space: DesignSpaceConfig) -> Design | str:
    """Draw one design that fits the construction rules, or return why it did not."""
    a = space.alloy_layer
    a_methods = sorted(a.methods)
    method: Method = a_methods[int(rng.integers(len(a_methods)))]
    comp = _composition(rng, space, method)
    if isinstance(comp, str):
        return comp
    conds = {name: _uniform(rng, b) for name, b in a.methods[method].items()}
    oxygen = 0.0
    if a.oxygen_ratio is not None:
        # Metallic films and oxides are different classes: when 0 is allowed, half the
        # draws are metallic rather than almost none.
        metallic = a.oxygen_ratio.low == 0.0 and rng.random() < 0.5
        oxygen = 0.0 if metallic else _uniform(rng, a.oxygen_ratio)
    thickness = _uniform(rng, a.thickness_um, log=True)
    structures = list(a.structures)
    rng.shuffle(structures)
    layer = None
    why = ""
    for structure in structures:
        try:
            cand = AlloyLayer(
                composition=comp,
                oxygen_ratio=oxygen,
                thickness_um=thickness,
                structure=structure,
                method=method,
                conditions=conds,
            )
        except ValueError as exc:
            return f"alloy layer invalid: {exc}"
        blocker = amorphous_blocker(cand) if structure == "amorphous" else None
        if blocker is None:
            layer = cand
            break
        why = f"structure 'amorphous' is not reachable: {blocker}"
    if layer is None:
        return why
    data: dict[str, object] = {"alloy_layer": layer}
    c = space.carbon_layer
    if c.mode == "required" or (c.mode == "optional" and rng.random() < 0.5):
        data["carbon_layer"] = {
            "thickness_um": _uniform(rng, c.thickness_um),
            "porosity": _uniform(rng, c.porosity),
        }
    li = space.lithium_layer
    if li.mode == "required" or (li.mode == "optional" and rng.random() < 0.5):
        data["lithium_layer"] = {"thickness_um": _uniform(rng, li.thickness_um, log=True)}
    cell: dict[str, object] = {
        "positive_electrode": str(rng.choice(space.cell.positive_electrodes))
    }
    if space.cell.np_ratio is not None:
        cell["np_ratio"] = _uniform(rng, space.cell.np_ratio)
    else:
        assert space.cell.positive_loading_mAh_cm2 is not None
        cell["positive_loading_mAh_cm2"] = _uniform(rng, space.cell.positive_loading_mAh_cm2)
    data["cell"] = cell
    try:
        return Design.model_validate(data)
    except (ValueError, DesignError) as exc:
        return f"design invalid: {exc}"


def sample_designs(
    space: DesignSpaceConfig, n: int, seed: int, *, max_attempts_per_design: int = 2000
) -> list[Design]:
    """Draw ``n`` feasible designs; the same seed gives the same designs.

    Raises:
        InfeasibleDesignError: when no feasible design turns up within the attempt budget
            (the space is probably empty: the last rejection reasons are listed).
    """
    if n < 0:
        raise ValueError(f"n = {n}; need n >= 0")
    rng = np.random.default_rng(seed)
    out: list[Design] = []
    reasons: dict[str, tuple[int, str]] = {}  # rule -> (count, an example message)

    def note(rule: str, message: str) -> None:
        count, _ = reasons.get(rule, (0, message))
        reasons[rule] = (count + 1, message)

    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > max_attempts_per_design * max(1, n) or (
            not out and attempts > max_attempts_per_design
        ):
            top = sorted(reasons.items(), key=lambda kv: -kv[1][0])[:5]
            raise InfeasibleDesignError(
                [
                    f"found {len(out)} of {n} feasible designs in {attempts - 1} attempts; "
                    "the space may be empty or nearly so. Most frequent rejections:",
                    *[f"{count}x [{rule}] e.g. {msg}" for rule, (count, msg) in top],
                ]
            )
        cand = _candidate(rng, space)
        if isinstance(cand, str):
            note("construction", cand)
            continue
        violations = check_design(cand, space)
        for v in violations:
            note(v.rule, v.message)
        if not violations:
            out.append(cand)
    return out
