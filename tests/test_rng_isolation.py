"""Library code never seeds or advances the global random generators of torch, numpy or random."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from optloop.prediction import CycleLifePredictor
from optloop.reports import surrogate

_LIBRARY = Path(__file__).resolve().parent.parent / "optloop"


def _examples(seed: int, count: int = 10) -> list[tuple[np.ndarray, np.ndarray, int, bool]]:
    """Seeded fade curves: capacity falling linearly, each to 80 % at its own cycle."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        life = int(rng.integers(40, 200))
        n = np.arange(1, life + 6, dtype=float)
        q = 1.0 - 0.2 * (n - 1) / (life - 0.5) + 0.002 * rng.standard_normal(n.size)
        q[0] = 1.0
        ce = 1.0 - 0.2 / life + 1e-4 * rng.standard_normal(n.size)
        crossed = int(np.flatnonzero(q < 0.8)[0]) + 1
        out.append((q, ce, crossed, False))
    return out


def _global_states() -> tuple[torch.Tensor, tuple[object, ...], object]:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _assert_unchanged(before: tuple[torch.Tensor, tuple[object, ...], object]) -> None:
    torch_state, np_state, py_state = _global_states()
    assert torch.equal(torch_state, before[0]), "torch's global RNG state changed"
    assert np_state[0] == before[1][0]
    np.testing.assert_array_equal(np_state[1], before[1][1])  # type: ignore[arg-type]
    assert np_state[2:] == before[1][2:], "numpy's global RNG state changed"
    assert py_state == before[2], "random's global state changed"


def test_cycle_life_predictor_fit_leaves_global_rng_alone() -> None:
    torch.manual_seed(1234)
    np.random.seed(1234)  # noqa: NPY002 - the test sets the global state it then checks
    random.seed(1234)
    before = _global_states()
    first = CycleLifePredictor(10, seed=5).fit(_examples(0))
    _assert_unchanged(before)
    # Still reproducible from its own seed, whatever the global state.
    torch.manual_seed(99)
    second = CycleLifePredictor(10, seed=5).fit(_examples(0))
    q, ce, _, _ = _examples(1, count=1)[0]
    a = first.predict(q[:10], ce[:10])
    b = second.predict(q[:10], ce[:10])
    assert a.mean_cycles == pytest.approx(b.mean_cycles, rel=1e-9)
    assert first.std_inflation == pytest.approx(second.std_inflation, rel=1e-9)


def test_report_gp_fit_leaves_global_rng_alone() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((12, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.standard_normal(12)
    torch.manual_seed(4321)
    before = _global_states()
    model = surrogate._fit_gp(X, y, seed=3)
    _assert_unchanged(before)
    torch.manual_seed(7)
    again = surrogate._fit_gp(X, y, seed=3)
    np.testing.assert_allclose(
        surrogate._posterior_mean(model, X), surrogate._posterior_mean(again, X), rtol=1e-9
    )


def test_no_library_module_seeds_a_global_generator() -> None:
    pattern = re.compile(r"\b(torch\.(random\.)?manual_seed|np\.random\.seed|random\.seed)\(")
    offenders = [
        f"{path.relative_to(_LIBRARY.parent)}:{i}: {line.strip()}"
        for path in sorted(_LIBRARY.rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
