"""The initial design: every categorical level evenly, feasible, space-filling, reproducible."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from optloop.config import load_config
from optloop.config.models import DesignSpaceConfig
from optloop.optimiser.initial import SobolDesigns, StratifiedDesigns
from optloop.space import Design, DesignSpace
from optloop.space.encoding import from_values, to_values
from optloop.space.parameters import Parameter

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = load_config(ROOT / "configs/default.yaml")


def _space(**alloy: Any) -> DesignSpace:
    """The default campaign's space with some alloy-layer settings replaced."""
    data = DEFAULT.space.model_dump()
    data["alloy_layer"].update(alloy)
    return DesignSpace(DesignSpaceConfig.model_validate(data))


SPUTTER = {"sputtering": DEFAULT.space.model_dump()["alloy_layer"]["methods"]["sputtering"]}


def silicide_space() -> DesignSpace:
    """Ni is required at 0.25-0.6: NiSi2 binds all Si unless Ni < 1/3, so most Si films fail."""
    return _space(
        non_alloying_elements=["Ni"],
        non_alloying_fraction=[0.25, 0.6],
        max_alloying_elements=1,
        max_non_alloying_elements=1,
        methods=SPUTTER,
    )


def categoricals(space: DesignSpace) -> list[Parameter]:
    return [p for p in space.parameters if p.kind == "categorical" and not p.fixed]


def level_counts(space: DesignSpace, designs: list[Design]) -> dict[str, Counter[str]]:
    """Count each categorical's levels in the designs' canonical values."""
    out: dict[str, Counter[str]] = {p.name: Counter() for p in categoricals(space)}
    for d in designs:
        values = to_values(d, space.parameters, space.config)
        for name, counter in out.items():
            counter[str(values[name])] += 1
    return out


def assert_even(space: DesignSpace, designs: list[Design], skipped: dict[str, list[str]],
                names: list[str] | None = None, slack: int = 0) -> None:
    """Each live level of each categorical appears floor(n / k) or ceil(n / k) times.

    With ``slack``, that many more or fewer.
    """
    n = len(designs)
    counts = level_counts(space, designs)
    for p in categoricals(space):
        if names is not None and p.name not in names:
            continue
        live = [c for c in p.choices if c not in skipped.get(p.name, [])]
        k = len(live)
        got = {c: counts[p.name][c] for c in live}
        assert set(counts[p.name]) <= set(live), (p.name, counts[p.name], live)
        assert all(n // k - slack <= x <= -(-n // k) + slack for x in got.values()), (
            p.name, n, got)


def assert_feasible(space: DesignSpace, designs: list[Design]) -> None:
    for d in designs:
        assert space.violations(d) == [], d
        assert d.alloy_layer is not None
        assert sum(d.alloy_layer.composition.values()) == pytest.approx(1.0, abs=1e-9)


def test_the_silicide_rule_rejects_most_si_films_in_the_test_space() -> None:
    # The premise of the next test: Si-Ni films fail unless Ni < 1/3 (NiSi2 binds 2 Si per Ni).
    space = silicide_space()
    base = to_values(StratifiedDesigns(space, 0).take(1, set())[0], space.parameters,
                     space.config)
    ni = np.linspace(0.25, 0.6, 36)
    bad = 0
    for f in ni:
        values = base | {
            "alloy.alloying_1.element": "Si",
            "alloy.alloying_1.fraction": 1.0 - f,
            "alloy.non_alloying_1.element": "Ni",
            "alloy.non_alloying_1.fraction": f,
        }
        bad += any(v.rule == "alloy_stores_lithium"
                   for v in space.violations(from_values(values, space.config)))
    assert bad / len(ni) > 0.7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_level_evenly_where_a_rule_rejects_most_of_one(seed: int) -> None:
    space = silicide_space()
    sampler = StratifiedDesigns(space, seed)
    designs = sampler.take(40, set())
    assert len(designs) == 40
    assert_feasible(space, designs)
    # Required Ni: an empty non-alloying slot is impossible, found and skipped.
    assert sampler.skipped == {"alloy.non_alloying_1.element": ["none"]}
    for n in (4, 8, 13, 40):  # every prefix is balanced, not just the whole
        # The first categorical in parameter order is released last: exactly even. The
        # others may be released when the rules leave no combination of their least-used
        # levels (here: Si films need the graphite layer), so within one of even.
        assert_even(space, designs[:n], sampler.skipped, ["alloy.alloying_1.element"])
        assert_even(space, designs[:n], sampler.skipped, slack=1)
    si = level_counts(space, designs)["alloy.alloying_1.element"]["Si"]
    assert si == 10


@pytest.mark.parametrize("seed", [0, 1])
def test_default_campaign_balances_element_slots_and_structure(seed: int) -> None:
    space = DesignSpace.from_campaign(DEFAULT, probe=False)
    sampler = StratifiedDesigns(space, seed)
    designs = sampler.take(24, set())
    assert len(designs) == 24
    assert_feasible(space, designs)
    assert sampler.skipped == {}
    names = [
        "alloy.alloying_1.element",
        "alloy.alloying_2.element",
        "alloy.non_alloying_1.element",
        "alloy.structure",
    ]
    for n in (8, 24):
        assert_even(space, designs[:n], {}, names[:1])
        # A slot that meets the first slot's element (Si, Si) may be released: within one.
        assert_even(space, designs[:n], {}, names, slack=1)
    # Plating deposits only Sn of the alloying metals: the method cannot be balanced as well
    # while the elements are (plated films are at most 1/4 of designs), but it is not
    # starved either (feasible Sobol by rejection: 3 % plated).
    method = level_counts(space, designs)["alloy.method"]
    assert 2 <= method["plating"] <= 6, method


def test_same_seed_same_designs_whatever_the_batch_sizes() -> None:
    space = DesignSpace.from_campaign(DEFAULT, probe=False)
    eight = [d.key() for d in StratifiedDesigns(space, 3).take(8, set())]
    sampler = StratifiedDesigns(space, 3)
    first = sampler.take(3, set())
    rest = sampler.take(5, {d.key() for d in first})
    assert [d.key() for d in first + rest] == eight
    # take() re-reads the remembered sequence: the same first designs again.
    assert [d.key() for d in sampler.take(8, set())] == eight
    other = [d.key() for d in StratifiedDesigns(space, 4).take(8, set())]
    assert other != eight


def test_excluded_designs_are_skipped_and_the_sequence_continues() -> None:
    space = silicide_space()
    ten = StratifiedDesigns(space, 0).take(10, set())
    got = StratifiedDesigns(space, 0).take(5, {d.key() for d in ten[:3]})
    assert [d.key() for d in got] == [d.key() for d in ten[3:8]]


def test_a_level_infeasible_everywhere_is_logged_once_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Aqueous plating deposits neither Si nor Ge: no plated design exists in this space.
    space = _space(
        alloying_elements=["Si", "Ge"],
        methods=SPUTTER | {"plating": {"bath_temperature_C": [20, 70],
                                       "current_density_mA_cm2": [1, 50]}},
    )
    sampler = StratifiedDesigns(space, 0)
    with caplog.at_level(logging.WARNING, logger="optloop.optimiser.initial"):
        designs = sampler.take(12, set())
        designs += sampler.take(12, {d.key() for d in designs})
    assert len(designs) == 24
    assert_feasible(space, designs)
    assert sampler.skipped == {"alloy.method": ["plating"]}
    records = [r for r in caplog.records if "plating" in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    assert "alloy.method" in records[0].getMessage()
    assert all(d.alloy_layer is not None and d.alloy_layer.method == "sputtering"
               for d in designs)
    assert_even(space, designs, sampler.skipped,
                ["alloy.alloying_1.element", "alloy.alloying_2.element"])


def test_fractions_are_uniform_on_the_simplex_of_the_filled_slots() -> None:
    # Two alloying slots, no non-alloying one: the minor fraction of a two-metal film is
    # uniform on [floor, 1/2] when the pair is uniform on the simplex of fractions >= floor.
    space = _space(non_alloying_elements=[], max_non_alloying_elements=0,
                   non_alloying_fraction=[0.0, 0.0], methods=SPUTTER)
    floor = space.config.alloy_layer.min_element_fraction
    designs = StratifiedDesigns(space, 0).take(160, set())
    minor = [min(d.alloy_layer.composition.values()) for d in designs  # type: ignore[union-attr]
             if len(d.alloy_layer.composition) == 2]  # type: ignore[union-attr]
    assert len(minor) >= 100  # 4 of 5 designs fill the second slot
    # Kolmogorov-Smirnov against U(floor, 0.5); a seeded draw, p stated: 0.01.
    assert stats.kstest(minor, "uniform", args=(floor, 0.5 - floor)).pvalue > 0.01


def test_the_sequence_is_finite() -> None:
    space = silicide_space()
    sampler = StratifiedDesigns(space, 0, max_points=5000)
    designs = sampler.take(100, set())
    assert 0 < len(designs) < 100
    assert sampler.points_examined <= 5000
    assert_feasible(space, designs)
    assert sampler.take(100, set()) == designs  # asking again draws nothing new


@pytest.mark.parametrize("field", ["max_points", "draws_per_assignment",
                                   "assignments_per_stage"])
def test_bad_settings_are_refused_naming_the_field(field: str) -> None:
    space = silicide_space()
    with pytest.raises(ValueError, match=rf"{field} = 0; limit: >= 1"):
        StratifiedDesigns(space, 0, **{field: 0})  # type: ignore[arg-type]


def test_the_optimiser_keeps_its_import_name() -> None:
    assert SobolDesigns is StratifiedDesigns
