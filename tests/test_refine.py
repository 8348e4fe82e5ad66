"""Gradient refinement of candidates: feasible, on the simplex, bounds reachable, rules exact."""

from __future__ import annotations

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from torch import Tensor

from optloop.config import load_config
from optloop.optimiser.features import FeatureMap
from optloop.optimiser.refine import refine
from optloop.space import Design, DesignSpace
from optloop.space.encoding import to_values
from optloop.space.rules import Violation
from optloop.vocabulary import SIMPLEX_TOL


class Linear(AcquisitionFunction):
    """An acquisition rising along a direction in feature space (its optimum on the bounds)."""

    def __init__(self, weights: Tensor) -> None:
        torch.nn.Module.__init__(self)
        self.weights = weights

    def forward(self, X: Tensor) -> Tensor:
        return (X * self.weights).sum(-1).sum(-1)


def _space(name: str) -> DesignSpace:
    return DesignSpace.from_campaign(load_config(f"configs/{name}.yaml"), probe=False)


def _weights(fm: FeatureMap, **by_name: float) -> Tensor:
    w = torch.zeros(fm.dim, dtype=torch.float64)
    for name, value in by_name.items():
        w[fm.names.index(name)] = value
    return w


def _categoricals(space: DesignSpace, d: Design) -> dict[str, float | str]:
    values = to_values(d, space.parameters, space.config)
    return {p.name: values[p.name] for p in space.parameters if p.kind == "categorical"}


def test_refinement_reaches_a_bound_exactly_and_keeps_the_categories() -> None:
    space = _space("quick")
    fm = FeatureMap(space)
    starts = space.sample(4, seed=3)
    # Thicker alloy films score higher: the optimum is the upper thickness bound.
    acq = Linear(_weights(fm, **{"alloy.thickness_um": 1.0}))
    out = refine(acq, space, fm, starts, maxiter=50)
    assert out.starts == 4 and len(out.designs) == 4
    high = space.config.alloy_layer.thickness_um.high
    for start, d in zip(starts, out.designs, strict=True):
        assert space.violations(d) == []
        assert d.alloy_layer is not None and d.alloy_layer.thickness_um == high
        assert _categoricals(space, d) == _categoricals(space, start)


def test_refined_compositions_stay_on_the_simplex_and_within_the_rules() -> None:
    space = _space("default")
    fm = FeatureMap(space)
    starts = [
        d
        for d in space.sample(60, seed=7)
        if d.alloy_layer is not None and len(d.alloy_layer.composition) >= 2
    ][:6]
    assert len(starts) >= 3
    # More of the second alloying slot and of the non-alloying metal, thinner films: every
    # active fraction wants to move, and only the simplex and the rules stop them.
    acq = Linear(
        _weights(
            fm,
            **{
                "alloy.alloying_2.fraction": 1.0,
                "alloy.non_alloying_1.fraction": 2.0,
                "alloy.thickness_um": -0.5,
            },
        )
    )
    out = refine(acq, space, fm, starts, maxiter=60)
    assert out.designs, "no refined design survived"
    for d in out.designs:
        assert space.violations(d) == []
        comp = d.alloy_layer.composition  # type: ignore[union-attr]
        assert abs(sum(comp.values()) - 1.0) <= SIMPLEX_TOL
        assert all(x > 0 for x in comp.values())
    moved = [fm.encode([d])[0] for d in out.designs]
    assert any(abs(m - s).max() > 1e-3 for m, s in zip(moved, fm.encode(starts), strict=False))


def test_a_rule_the_gradient_cannot_see_is_kept_by_backtracking() -> None:
    space = _space("quick")
    fm = FeatureMap(space)
    starts = [d for d in space.sample(20, seed=5) if d.alloy_layer.thickness_um < 0.3][:3]  # type: ignore[union-attr]
    assert starts
    limit = 0.4

    class Lab(DesignSpace):
        """The quick space plus a lab rule: no alloy film thicker than 0.4 um."""

        def violations(self, design: Design) -> list[Violation]:
            found = super().violations(design)
            t = design.alloy_layer.thickness_um  # type: ignore[union-attr]
            if t > limit:
                found.append(Violation("lab_thickness", f"thickness {t} > {limit}"))
            return found

    lab = Lab(space.config, encoding=space.encoder.encoding)
    acq = Linear(_weights(fm, **{"alloy.thickness_um": 1.0}))
    out = refine(acq, lab, fm, starts, maxiter=50)
    assert out.repaired + out.dropped == len(starts)
    assert out.repaired >= 1
    for d in out.designs:
        assert lab.violations(d) == []
        assert d.alloy_layer.thickness_um <= limit  # type: ignore[union-attr]


def test_same_inputs_give_the_same_refinement() -> None:
    space = _space("default")
    fm = FeatureMap(space)
    starts = space.sample(5, seed=11)
    acq = Linear(_weights(fm, **{"alloy.thickness_um": -1.0, "carbon_layer.thickness_um": 0.3}))
    a = refine(acq, space, fm, starts, maxiter=30)
    b = refine(acq, space, fm, starts, maxiter=30)
    assert [d.key() for d in a.designs] == [d.key() for d in b.designs]


def test_refined_points_keep_their_value_once_re_encoded() -> None:
    # Wanting more of the second alloying slot would swap the slots; the slot-order constraint
    # stops at equal fractions, so the design's own encoding scores what the optimiser saw.
    space = _space("default")
    fm = FeatureMap(space)
    starts = [
        d
        for d in space.sample(80, seed=2)
        if d.alloy_layer is not None and len(d.alloy_layer.alloying) == 2
    ][:4]
    assert starts
    acq = Linear(_weights(fm, **{"alloy.alloying_2.fraction": 1.0}))
    out = refine(acq, space, fm, starts, maxiter=60)
    assert out.designs
    a1 = fm.names.index("alloy.alloying_1.fraction")
    a2 = fm.names.index("alloy.alloying_2.fraction")
    z0 = torch.as_tensor(fm.encode(starts), dtype=torch.float64).unsqueeze(-2)
    z1 = torch.as_tensor(fm.encode(out.designs), dtype=torch.float64).unsqueeze(-2)
    assert float(acq(z1).max()) > float(acq(z0).max())
    for d in out.designs:
        values = fm.encode([d])[0]
        lo = [fm.columns[a1].low, fm.columns[a2].low]
        hi = [fm.columns[a1].high, fm.columns[a2].high]
        f1 = lo[0] + values[a1] * (hi[0] - lo[0])
        f2 = lo[1] + values[a2] * (hi[1] - lo[1])
        assert f1 >= f2 - 1e-9


def test_neighbours_change_one_categorical_and_are_feasible() -> None:
    from optloop.optimiser.candidates import neighbours

    space = _space("default")
    start = space.sample(1, seed=4)[0]
    base = _categoricals(space, start)
    moves = neighbours(space, start)
    assert len(moves) >= 5
    for d in moves:
        assert space.violations(d) == []
        changed = [k for k, v in _categoricals(space, d).items() if v != base[k]]
        # One choice changed (a slot emptied or filled may reorder the slots: up to two).
        assert 1 <= len(changed) <= 2, changed
