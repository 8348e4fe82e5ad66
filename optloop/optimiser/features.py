"""The surrogates' input space: encoded designs mapped onto the unit cube.

:meth:`optloop.space.DesignSpace.encode` gives a vector in physical units (one-hot or
descriptor columns for categories). Here ``log_scale`` columns are log-transformed, every
column is scaled by its bounds to [0, 1], and columns that cannot vary (equal bounds, e.g. a
descriptor every allowed element shares) are dropped. Candidates are always designs, so the
map is only ever applied forwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optloop.space.design import Design
from optloop.space.space import DesignSpace

__all__ = ["FeatureMap"]


@dataclass(frozen=True)
class _Kept:
    index: int  # column in the encoder's vector
    low: float  # bound after the log, if any
    high: float
    log: bool


class FeatureMap:
    """Map designs to unit-cube feature vectors for the surrogates."""

    def __init__(self, space: DesignSpace) -> None:
        self.space = space
        enc = space.encoder
        kept: list[_Kept] = []
        for i, c in enumerate(enc.columns):
            log = c.log_scale and c.low > 0
            lo, hi = (np.log(c.low), np.log(c.high)) if log else (c.low, c.high)
            if hi > lo:
                kept.append(_Kept(i, float(lo), float(hi), log))
        self._kept = kept
        self._idx = np.array([k.index for k in kept], dtype=int)
        self._lo = np.array([k.low for k in kept])
        self._span = np.array([k.high - k.low for k in kept])
        self._log = np.array([k.log for k in kept], dtype=bool)
        cols = [enc.columns[k.index] for k in kept]
        #: Column names, as in the encoder.
        self.names: list[str] = [c.name for c in cols]
        #: Feature indices of binary category columns (one-hot and "slot present").
        self.categorical: list[int] = [
            j for j, c in enumerate(cols) if c.kind in ("one_hot", "present")
        ]

    @property
    def dim(self) -> int:
        """Return the number of features."""
        return len(self._kept)

    def from_encoded(self, x: np.ndarray) -> np.ndarray:
        """Map encoder vectors (``n x D`` or ``D``) to features (``n x d`` or ``d``)."""
        x = np.asarray(x, dtype=float)[..., self._idx]
        x = np.where(self._log, np.log(np.where(self._log, np.maximum(x, 1e-300), 1.0)), x)
        return np.asarray((x - self._lo) / self._span)

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
