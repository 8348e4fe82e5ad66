"""The design space's parameters, derived from a config.

An alloy film's composition is written as *slots*: ``alloying_1`` .. ``alloying_k`` and
``non_alloying_1`` .. ``non_alloying_m``, each an element (categorical) with an atomic
fraction (continuous); the fractions of all slots sum to one. Slots after the first alloying
one may hold ``"none"``. A design fills its slots in a canonical order (by decreasing
fraction, then symbol) so that every composition has exactly one slot assignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from optloop.config.models import DesignSpaceConfig
from optloop.space.design import PROCESS_CONDITIONS

if TYPE_CHECKING:
    import torch

__all__ = ["LOG_SCALE_RATIO", "NONE", "Parameter", "build_parameters"]

#: The choice that leaves an optional slot empty.
NONE = "none"
#: A positive range spanning this factor or more is mapped on a log scale by default.
LOG_SCALE_RATIO = 10.0
#: Floor before a log, so a value at or below 0 maps far below the range instead of to NaN.
_LOG_FLOOR = 1e-300

#: A scalar, a numpy array or a torch tensor: what the unit mapping accepts and returns.
Values = TypeVar("Values", float, np.ndarray, "torch.Tensor")


def _is_torch(x: object) -> bool:
    # Checked by module name so that the space never imports torch itself.
    return type(x).__module__.split(".", 1)[0] == "torch"


def _log(x: Any) -> Any:
    if _is_torch(x):
        floor = max(_LOG_FLOOR, float(__import__("torch").finfo(x.dtype).tiny))
        return x.clamp_min(floor).log()
    if isinstance(x, np.ndarray):
        return np.log(np.maximum(x, _LOG_FLOOR))
    return math.log(max(float(x), _LOG_FLOOR))


def _exp(x: Any) -> Any:
    if _is_torch(x):
        return x.exp()
    if isinstance(x, np.ndarray):
        return np.exp(x)
    return math.exp(x)


def _clip(x: Any, low: float, high: float) -> Any:
    if _is_torch(x):
        return x.clamp(low, high)
    if isinstance(x, np.ndarray):
        return np.clip(x, low, high)
    return min(max(float(x), low), high)


@dataclass(frozen=True)
class Parameter:
    """One parameter of the space: continuous with bounds, or categorical with choices."""

    name: str
    kind: Literal["continuous", "categorical"]
    unit: str = ""
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()
    active_when: str = ""
    """Human-readable condition under which the parameter matters (empty: always)."""
    log_scale: bool = False
    is_element: bool = False
    description: str = ""
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind == "continuous":
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise ValueError(
                    f"parameter {self.name!r}: bounds [{self.low!r}, {self.high!r}]; "
                    "limit: finite numbers"
                )
            if self.low > self.high:
                raise ValueError(
                    f"parameter {self.name!r}: low={self.low!r} > high={self.high!r}; "
                    "limit: low <= high"
                )
            if self.log_scale and self.low <= 0:
                raise ValueError(
                    f"parameter {self.name!r}: log_scale with low={self.low!r}; limit: low > 0"
                )

    @classmethod
    def continuous(
        cls,
        name: str,
        low: float,
        high: float,
        *,
        unit: str = "",
        description: str = "",
        active_when: str = "",
        log_scale: bool | None = None,
    ) -> Parameter:
        """Build a continuous parameter; by default log-scaled when it spans a decade or more.

        Args:
            name: The parameter's name.
            low: Lower bound.
            high: Upper bound.
            unit: Unit of the values.
            description: What the parameter is, for a human.
            active_when: Condition under which the parameter matters (empty: always).
            log_scale: Force the scale; ``None`` picks log when ``low > 0`` and
                ``high / low >= LOG_SCALE_RATIO``.
        """
        if log_scale is None:
            log_scale = low > 0 and high / low >= LOG_SCALE_RATIO
        return cls(
            name,
            "continuous",
            unit,
            low,
            high,
            active_when=active_when,
            log_scale=log_scale,
            description=description,
        )

    @property
    def fixed(self) -> bool:
        """Return True when the parameter can take only one value."""
        if self.kind == "categorical":
            return len(self.choices) == 1
        return self.low == self.high

    def _scaled_bounds(self) -> tuple[float, float]:
        if self.kind != "continuous":
            raise ValueError(
                f"parameter {self.name!r} is {self.kind}; only a continuous one has a unit "
                "mapping"
            )
        if self.log_scale:
            return math.log(self.low), math.log(self.high)
        return self.low, self.high

    def to_unit(self, value: Values, *, clip: bool = False) -> Values:
        """Map values in the parameter's units to the unit interval (log-spaced if log-scaled).

        ``low`` maps to 0 and ``high`` to 1; values outside the bounds map outside [0, 1]
        unless ``clip`` (then they are first clipped to the bounds). A fixed parameter maps
        everything to 0. Works element-wise on a float, a numpy array or a torch tensor and
        returns the same kind.

        Raises:
            ValueError: If the parameter is categorical.
        """
        lo, hi = self._scaled_bounds()
        if clip:
            value = _clip(value, self.low, self.high)
        x = _log(value) if self.log_scale else value
        if hi == lo:
            return x * 0.0  # a fixed parameter has no range to map
        return (x - lo) / (hi - lo)

    def from_unit(self, u: Values) -> Values:
        """Map points of the unit interval to values in the parameter's units.

        The inverse of :meth:`to_unit`: 0 maps to ``low``, 1 to ``high``, log-spaced when the
        parameter is log-scaled. ``u`` is clipped to [0, 1] first, so the result lies
        within the bounds (up to the rounding of the exponential, one ulp, on a log scale).
        Works element-wise on a float, a numpy array or a torch tensor.

        Raises:
            ValueError: If the parameter is categorical.
        """
        lo, hi = self._scaled_bounds()
        u = _clip(u, 0.0, 1.0)
        x = lo + u * (hi - lo)
        if not self.log_scale:
            return x
        # The bounds themselves exactly (exp(log(high)) can be one ulp short of high), so a
        # design on a bound (an optimiser's optimum often is) can be proposed.
        return _snap(_clip(_exp(x), self.low, self.high), u, self.low, self.high)


def _snap(x: Any, u: Any, low: float, high: float) -> Any:
    """Return ``x`` with ``low`` where ``u`` is 0 and ``high`` where ``u`` is 1."""
    if _is_torch(x):
        where = __import__("torch").where
        return where(u <= 0, low, where(u >= 1, high, x))
    if isinstance(x, np.ndarray):
        return np.where(u <= 0, low, np.where(u >= 1, high, x))
    return low if u <= 0 else high if u >= 1 else x


def _cont(
    name: str, low: float, high: float, unit: str, description: str, active_when: str = ""
) -> Parameter:
    return Parameter.continuous(
        name, low, high, unit=unit, description=description, active_when=active_when
    )


def build_parameters(space: DesignSpaceConfig) -> list[Parameter]:
    """List the parameters of a design space, in a fixed order."""
    a = space.alloy_layer
    params: list[Parameter] = []
    for i in range(1, a.max_alloying_elements + 1):
        choices = tuple(a.alloying_elements) + (() if i == 1 else (NONE,))
        params.append(
            Parameter(
                f"alloy.alloying_{i}.element",
                "categorical",
                choices=choices,
                is_element=True,
                description=f"Li-alloying metal #{i}",
            )
        )
    for j in range(1, a.max_non_alloying_elements + 1):
        params.append(
            Parameter(
                f"alloy.non_alloying_{j}.element",
                "categorical",
                choices=tuple(a.non_alloying_elements) + (NONE,),
                is_element=True,
                description=f"non-alloying metal #{j}",
            )
        )
    for i in range(1, a.max_alloying_elements + 1):
        params.append(
            _cont(
                f"alloy.alloying_{i}.fraction",
                0.0,
                1.0,
                "at. frac.",
                f"atomic fraction of alloying metal #{i}",
            )
        )
    for j in range(1, a.max_non_alloying_elements + 1):
        params.append(
            _cont(
                f"alloy.non_alloying_{j}.fraction",
                0.0,
                a.non_alloying_fraction.high,
                "at. frac.",
                f"atomic fraction of non-alloying metal #{j}",
            )
        )
    if a.oxygen_ratio is not None:
        params.append(
            _cont(
                "alloy.oxygen_ratio",
                a.oxygen_ratio.low,
                a.oxygen_ratio.high,
                "O per metal",
                "oxygen of a complex oxide",
            )
        )
    params.append(
        _cont(
            "alloy.thickness_um",
            a.thickness_um.low,
            a.thickness_um.high,
            "um",
            "alloy film thickness as deposited",
        )
    )
    params.append(
        Parameter(
            "alloy.structure",
            "categorical",
            choices=tuple(a.structures),
            description="film structure",
        )
    )
    params.append(
        Parameter(
            "alloy.method",
            "categorical",
            choices=tuple(a.methods),
            description="deposition method",
        )
    )
    for method, conds in a.methods.items():
        for name, b in conds.items():
            spec = PROCESS_CONDITIONS[method][name]
            params.append(
                _cont(
                    f"alloy.{method}.{name}",
                    b.low,
                    b.high,
                    spec.unit,
                    spec.description,
                    active_when=f"alloy.method == {method}",
                )
            )
    for layer_name, cfg_layer in (
        ("carbon_layer", space.carbon_layer),
        ("lithium_layer", space.lithium_layer),
    ):
        mode = cfg_layer.mode
        if mode == "absent":
            continue
        choices = ("yes", "no") if mode == "optional" else ("yes",)
        params.append(
            Parameter(
                f"{layer_name}.present",
                "categorical",
                choices=choices,
                description=f"{layer_name.replace('_', ' ')} present ({mode})",
            )
        )
        when = f"{layer_name}.present == yes"
        t = cfg_layer.thickness_um
        params.append(
            _cont(
                f"{layer_name}.thickness_um",
                t.low,
                t.high,
                "um",
                f"{layer_name.replace('_', ' ')} thickness",
                when,
            )
        )
        if layer_name == "carbon_layer":
            p = space.carbon_layer.porosity
            params.append(
                _cont(
                    "carbon_layer.porosity",
                    p.low,
                    p.high,
                    "fraction",
                    "carbon layer porosity",
                    when,
                )
            )
    c = space.cell
    params.append(
        Parameter(
            "cell.positive_electrode",
            "categorical",
            choices=tuple(c.positive_electrodes),
            description="positive electrode",
        )
    )
    if c.np_ratio is not None:
        params.append(
            _cont(
                "cell.np_ratio",
                c.np_ratio.low,
                c.np_ratio.high,
                "1",
                "N/P areal capacity ratio (positive loading follows)",
            )
        )
    else:
        assert c.positive_loading_mAh_cm2 is not None
        b = c.positive_loading_mAh_cm2
        params.append(
            _cont(
                "cell.positive_loading_mAh_cm2",
                b.low,
                b.high,
                "mAh/cm^2",
                "positive areal capacity (N/P follows)",
            )
        )
    return params
