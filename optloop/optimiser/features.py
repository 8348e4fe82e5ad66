"""The surrogates' input space: encoded designs mapped onto the unit cube.

:meth:`optloop.space.DesignSpace.encode` gives a vector in physical units (one-hot or
descriptor columns for categories). Here every column is mapped to [0, 1] by its bounds with
:meth:`optloop.space.parameters.Parameter.to_unit` (log-spaced for ``log_scale`` columns), and
columns that cannot vary (equal bounds, e.g. a descriptor every allowed element shares) are
dropped. Candidates are always designs, so the map is only ever applied forwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optloop.space.design import Design
from optloop.space.encoding import Column
from optloop.space.parameters import Parameter
from optloop.space.space import DesignSpace

__all__ = ["FeatureMap"]


class FeatureMap:
    """Map designs to unit-cube feature vectors for the surrogates."""

    def __init__(self, space: DesignSpace) -> None:
        self.space = space
        enc = space.encoder
        kept = [i for i, c in enumerate(enc.columns) if c.high > c.low]
        self._idx = np.array(kept, dtype=int)
        cols = [enc.columns[i] for i in kept]
        #: The encoder's columns behind the features, in feature order.
        self.columns: list[Column] = cols
        # Each column's unit mapping is that of a parameter with the column's bounds and scale.
        #: Each feature's unit mapping (``to_unit`` forwards, ``from_unit`` back to the value).
        self.maps: list[Parameter] = [
            Parameter.continuous(c.name, c.low, c.high, log_scale=c.log_scale) for c in cols
        ]
        #: Column names, as in the encoder.
        self.names: list[str] = [c.name for c in cols]
        #: Feature indices of binary category columns (one-hot and "slot present").
        self.categorical: list[int] = [
            j for j, c in enumerate(cols) if c.kind in ("one_hot", "present")
        ]

    @property
    def dim(self) -> int:
        """Return the number of features."""
        return len(self.maps)

    def from_encoded(self, x: np.ndarray) -> np.ndarray:
        """Map encoder vectors (``n x D`` or ``D``) to features (``n x d`` or ``d``)."""
        x = np.asarray(x, dtype=float)[..., self._idx]
        out = np.empty_like(x)
        for j, m in enumerate(self.maps):
            out[..., j] = m.to_unit(x[..., j])
        return out

    def encode(self, designs: Sequence[Design]) -> np.ndarray:
        """Return the ``n x d`` feature matrix of ``designs``.

        Raises:
            ValueError: when a design cannot be encoded in this space (no alloy layer, more
                elements than slots).
        """
        if not designs:
            return np.zeros((0, self.dim))
        raw = np.stack([self.space.encode(d) for d in designs])
        return self.from_encoded(raw)
