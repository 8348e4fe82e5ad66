"""Space-filling feasible initial designs: a scrambled Sobol sequence over the parameters.

Each Sobol point in the unit cube of the space's parameters becomes parameter values
(categorical: equal bins over the choices; continuous:
:meth:`~optloop.space.parameters.Parameter.from_unit`, log-spaced where the parameter is
``log_scale``), then a design through :func:`optloop.space.encoding.from_values`.
Only designs that break no rule are kept, in Sobol order: the feasible subsequence of a
Sobol sequence, never a repaired point.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.stats import qmc

from optloop.exceptions import DesignError
from optloop.space.design import Design
from optloop.space.encoding import from_values
from optloop.space.parameters import Parameter
from optloop.space.space import DesignSpace

__all__ = ["SobolDesigns", "unit_to_values"]

_CHUNK = 256


def _value(p: Parameter, u: float) -> float | str:
    if p.kind == "categorical":
        return p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
    return float(p.from_unit(u))


def unit_to_values(params: list[Parameter], u: np.ndarray) -> dict[str, float | str]:
    """Map a point of the unit cube over the non-fixed parameters to parameter values."""
    out: dict[str, float | str] = {}
    k = 0
    for p in params:
        if p.fixed:
            out[p.name] = p.choices[0] if p.kind == "categorical" else p.low
        else:
            out[p.name] = _value(p, float(u[k]))
            k += 1
    return out


class SobolDesigns:
    """The feasible designs of a scrambled Sobol sequence over a space, in sequence order.

    The sequence depends only on the space and the seed; it is drawn lazily, in chunks, and
    remembered, so later calls continue where earlier ones stopped.
    """

    def __init__(self, space: DesignSpace, seed: int, *, max_points: int = 2**16) -> None:
        self.space = space
        self.seed = seed
        self.max_points = max_points
        self._dims = sum(not p.fixed for p in space.parameters)
        self._engine = qmc.Sobol(d=max(self._dims, 1), scramble=True, seed=seed)
        self._drawn = 0
        self._feasible: list[Design] = []

    @property
    def points_examined(self) -> int:
        """Return how many Sobol points have been mapped and checked so far."""
        return self._drawn

    def _extend(self) -> bool:
        if self._drawn >= self.max_points:
            return False
        u = self._engine.random(_CHUNK)
        self._drawn += _CHUNK
        for row in u:
            values = unit_to_values(self.space.parameters, row)
            try:
                design = from_values(values, self.space.config)
            except (DesignError, ValueError):
                continue
            if not self.space.violations(design):
                self._feasible.append(design)
        return True

    def __iter__(self) -> Iterator[Design]:
        i = 0
        while True:
            while i >= len(self._feasible):
                if not self._extend():
                    return
            yield self._feasible[i]
            i += 1

    def take(self, n: int, exclude: set[str]) -> list[Design]:
        """Return the first ``n`` feasible designs whose keys are not in ``exclude``.

        Fewer are returned only when ``max_points`` Sobol points hold no more.
        """
        out: list[Design] = []
        seen = set(exclude)
        for design in self:
            if len(out) >= n:
                break
            key = design.key()
            if key in seen:
                continue
            seen.add(key)
            out.append(design)
        return out
