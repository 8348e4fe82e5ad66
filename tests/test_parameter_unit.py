"""The one unit / log mapping of a parameter: ``Parameter.to_unit`` / ``Parameter.from_unit``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optloop.config import load_config
from optloop.optimiser.features import FeatureMap
from optloop.optimiser.initial import unit_to_values
from optloop.space import DesignSpace
from optloop.space.parameters import Parameter

_REL = 1e-9

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def parameters(draw: st.DrawFn) -> Parameter:
    """A continuous parameter with a non-empty range, on a linear or a log scale."""
    if draw(st.booleans()):
        low = draw(positive)
        high = low * draw(st.floats(min_value=1.001, max_value=1e4))
        return Parameter.continuous("p", low, high, log_scale=True)
    low = draw(finite)
    # A span of at least 1e-3 of the bounds' size, so the round trip is not mere cancellation.
    high = low + max(abs(low), 1.0) * draw(st.floats(min_value=1e-3, max_value=1e3))
    return Parameter.continuous("p", low, high, log_scale=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(parameters(), unit)
def test_from_unit_stays_in_bounds_and_round_trips(p: Parameter, u: float) -> None:
    v = p.from_unit(u)
    tol = _REL * max(abs(p.low), abs(p.high))
    assert p.low - tol <= v <= p.high + tol
    assert p.to_unit(v) == pytest.approx(u, abs=1e-9)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(parameters(), unit)
def test_to_unit_round_trips_values_in_bounds(p: Parameter, w: float) -> None:
    v = min(max(p.low + w * (p.high - p.low), p.low), p.high)
    u = p.to_unit(v)
    assert -1e-12 <= u <= 1 + 1e-12
    assert p.from_unit(u) == pytest.approx(v, rel=_REL, abs=1e-12)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(parameters())
def test_bounds_map_to_the_ends_of_the_unit_interval(p: Parameter) -> None:
    assert p.from_unit(0.0) == pytest.approx(p.low, rel=1e-12)
    assert p.from_unit(1.0) == pytest.approx(p.high, rel=1e-12)
    assert p.to_unit(p.low) == pytest.approx(0.0, abs=1e-12)
    assert p.to_unit(p.high) == pytest.approx(1.0, abs=1e-12)
    # Outside the unit interval is clipped, and clip=True clips values to the bounds.
    assert p.from_unit(-0.5) == p.from_unit(0.0)
    assert p.from_unit(1.5) == p.from_unit(1.0)
    beyond = p.high + (p.high - p.low)
    assert p.to_unit(beyond) > 1.0
    assert p.to_unit(beyond, clip=True) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(parameters(), st.lists(unit, min_size=1, max_size=8))
def test_numpy_and_torch_match_the_scalar_map(p: Parameter, us: list[float]) -> None:
    scalar = np.array([p.from_unit(u) for u in us])
    arr = p.from_unit(np.array(us))
    ten = p.from_unit(torch.tensor(us, dtype=torch.float64))
    assert isinstance(arr, np.ndarray)
    assert isinstance(ten, torch.Tensor)
    np.testing.assert_allclose(arr, scalar, rtol=1e-12)
    np.testing.assert_allclose(ten.numpy(), scalar, rtol=1e-12)
    back = p.to_unit(torch.as_tensor(scalar))
    assert isinstance(back, torch.Tensor)
    np.testing.assert_allclose(back.numpy(), p.to_unit(scalar), rtol=1e-12, atol=1e-12)


def test_log_scale_is_log_spaced() -> None:
    p = Parameter.continuous("thickness", 0.1, 10.0)
    assert p.log_scale  # spans a decade: log by default
    assert p.from_unit(0.5) == pytest.approx(1.0)
    assert Parameter.continuous("np", 1.05, 1.3).log_scale is False
    lin = Parameter.continuous("x", 0.1, 10.0, log_scale=False)
    assert lin.from_unit(0.5) == pytest.approx(5.05)


def test_a_fixed_parameter_maps_to_zero_and_back_to_its_value() -> None:
    p = Parameter.continuous("x", 2.0, 2.0)
    assert p.to_unit(2.0) == 0.0
    assert p.from_unit(0.7) == 2.0


def test_bad_parameters_are_refused_with_the_field_and_value() -> None:
    with pytest.raises(ValueError, match=r"'t'.*log_scale with low=0.0; limit: low > 0"):
        Parameter.continuous("t", 0.0, 5.0, log_scale=True)
    with pytest.raises(ValueError, match=r"low=2.0 > high=1.0"):
        Parameter.continuous("t", 2.0, 1.0)
    cat = Parameter("alloy.method", "categorical", choices=("a", "b"))
    with pytest.raises(ValueError, match="'alloy.method' is categorical"):
        cat.to_unit(0.5)


def test_every_mapping_of_the_space_goes_through_the_parameter() -> None:
    """Sobol points and the surrogate features use the parameters' own mapping."""
    config = load_config("configs/default.yaml")
    space = DesignSpace.from_campaign(config, probe=False)
    free = [p for p in space.parameters if not p.fixed]
    u = np.linspace(0.05, 0.95, len(free))
    values = unit_to_values(space.parameters, u)
    for p, ui in zip(free, u, strict=True):
        if p.kind == "continuous":
            assert values[p.name] == p.from_unit(float(ui))
    thickness = next(p for p in space.parameters if p.name == "alloy.thickness_um")
    assert thickness.log_scale
    fmap = FeatureMap(space)
    j = fmap.names.index("alloy.thickness_um")
    raw = np.zeros((1, space.encoder.dim))
    k = [c.name for c in space.encoder.columns].index("alloy.thickness_um")
    raw[0, k] = math.sqrt(thickness.low * thickness.high)  # the log-midpoint
    assert fmap.from_encoded(raw)[0, j] == pytest.approx(0.5, abs=1e-12)
