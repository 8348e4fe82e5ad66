"""The design space's parameters, derived from a config.

An alloy film's composition is written as *slots*: ``alloying_1`` .. ``alloying_k`` and
``non_alloying_1`` .. ``non_alloying_m``, each an element (categorical) with an atomic
fraction (continuous); the fractions of all slots sum to one. Slots after the first alloying
one may hold ``"none"``. A design fills its slots in a canonical order (by decreasing
fraction, then symbol) so that every composition has exactly one slot assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from optloop.config.models import DesignSpaceConfig
from optloop.space.design import PROCESS_CONDITIONS

__all__ = ["NONE", "Parameter", "build_parameters"]

#: The choice that leaves an optional slot empty.
NONE = "none"


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

    @property
    def fixed(self) -> bool:
        """Return True when the parameter can take only one value."""
        if self.kind == "categorical":
            return len(self.choices) == 1
        return self.low == self.high


def _cont(
    name: str, low: float, high: float, unit: str, description: str, active_when: str = ""
) -> Parameter:
    log = low > 0 and high / low >= 10.0
    return Parameter(
        name,
        "continuous",
        unit,
        low,
        high,
        active_when=active_when,
        log_scale=log,
        description=description,
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
