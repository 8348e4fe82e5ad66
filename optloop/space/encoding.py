"""Numeric encoding of designs for the optimiser, and back.

Two steps, each loss-free: a :class:`~optloop.space.design.Design` becomes a flat mapping of
parameter values (:func:`to_values` / :func:`from_values`), and the values become a vector
(:class:`Encoder`). Continuous parameters are kept in their physical units (the optimiser
normalises with the column bounds). Categorical parameters are one-hot columns; element
parameters may instead be encoded by physical descriptors from pymatgen (electronegativity,
radius, molar volume, ...), which lets a surrogate share strength between similar elements.
Parameters that can take one value only are not encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optloop.config.models import DesignSpaceConfig
from optloop.materials import DESCRIPTOR_NAMES, element_descriptors
from optloop.space.design import PROCESS_CONDITIONS, Design
from optloop.space.parameters import NONE, Parameter

__all__ = ["Column", "Encoder", "Encoding", "from_values", "to_values"]

Encoding = Literal["one_hot", "descriptors"]
Value = float | str


def _slot_names(space: DesignSpaceConfig) -> tuple[list[str], list[str]]:
    a = space.alloy_layer
    alloy = [f"alloy.alloying_{i}" for i in range(1, a.max_alloying_elements + 1)]
    inactive = [f"alloy.non_alloying_{j}" for j in range(1, a.max_non_alloying_elements + 1)]
    return alloy, inactive


def to_values(
    design: Design, params: list[Parameter], space: DesignSpaceConfig
) -> dict[str, Value]:
    """Flatten a design into parameter values (canonical slots; inactive ones at their low).

    Raises:
        ValueError: when the design does not fit the space's slots (too many elements).
    """
    layer = design.alloy_layer
    if layer is None:
        raise ValueError("a design without an alloy layer cannot be encoded in this space")
    by_name = {p.name: p for p in params}
    v: dict[str, Value] = {}
    alloy_slots, inactive_slots = _slot_names(space)
    for slots, members in ((alloy_slots, layer.alloying), (inactive_slots, layer.non_alloying)):
        ordered = sorted(members.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ordered) > len(slots):
            raise ValueError(
                f"composition {layer.composition} has {len(ordered)} elements of a kind "
                f"but the space has {len(slots)} slot(s)"
            )
        for k, slot in enumerate(slots):
            sym, frac = ordered[k] if k < len(ordered) else (NONE, 0.0)
            v[f"{slot}.element"] = sym
            v[f"{slot}.fraction"] = frac
    if "alloy.oxygen_ratio" in by_name:
        v["alloy.oxygen_ratio"] = layer.oxygen_ratio
    v["alloy.thickness_um"] = layer.thickness_um
    v["alloy.structure"] = layer.structure
    v["alloy.method"] = layer.method
    for method in space.alloy_layer.methods:
        for cond in PROCESS_CONDITIONS[method]:
            name = f"alloy.{method}.{cond}"
            v[name] = layer.conditions[cond] if method == layer.method else by_name[name].low
    for layer_name, present in (
        ("carbon_layer", design.carbon_layer),
        ("lithium_layer", design.lithium_layer),
    ):
        if f"{layer_name}.present" not in by_name:
            continue
        v[f"{layer_name}.present"] = "yes" if present is not None else "no"
        for attr in ("thickness_um", "porosity"):
            name = f"{layer_name}.{attr}"
            if name in by_name:
                v[name] = getattr(present, attr) if present is not None else by_name[name].low
    v["cell.positive_electrode"] = design.cell.positive_electrode
    if "cell.np_ratio" in by_name:
        v["cell.np_ratio"] = design.cell.np_ratio  # type: ignore[assignment]
    else:
        v["cell.positive_loading_mAh_cm2"] = design.cell.positive_loading_mAh_cm2  # type: ignore[assignment]
    return v


def from_values(values: Mapping[str, Value], space: DesignSpaceConfig) -> Design:
    """Rebuild a design from parameter values (duplicate slot elements are merged).

    Fractions are renormalised to sum to one, so small numerical drift from an optimiser is
    absorbed; a value that is not a float where one is needed raises ``DesignError``.
    """
    alloy_slots, inactive_slots = _slot_names(space)
    comp: dict[str, float] = {}
    for slot in alloy_slots + inactive_slots:
        sym = str(values[f"{slot}.element"])
        frac = max(0.0, float(values[f"{slot}.fraction"]))
        if sym != NONE and frac > 0:
            comp[sym] = comp.get(sym, 0.0) + frac
    total = sum(comp.values())
    if total > 0 and abs(total - 1.0) > 1e-12:
        comp = {s: x / total for s, x in comp.items()}
    method = str(values["alloy.method"])
    conditions = {c: float(values[f"alloy.{method}.{c}"]) for c in PROCESS_CONDITIONS[method]}
    data: dict[str, Any] = {
        "alloy_layer": {
            "composition": comp,
            "oxygen_ratio": float(values.get("alloy.oxygen_ratio", 0.0)),
            "thickness_um": float(values["alloy.thickness_um"]),
            "structure": values["alloy.structure"],
            "method": method,
            "conditions": conditions,
        },
        "carbon_layer": None,
        "lithium_layer": None,
        "cell": {"positive_electrode": values["cell.positive_electrode"]},
    }
    if values.get("carbon_layer.present") == "yes":
        data["carbon_layer"] = {
            "thickness_um": float(values["carbon_layer.thickness_um"]),
            "porosity": float(values["carbon_layer.porosity"]),
        }
    if values.get("lithium_layer.present") == "yes":
        data["lithium_layer"] = {"thickness_um": float(values["lithium_layer.thickness_um"])}
    for key in ("np_ratio", "positive_loading_mAh_cm2"):
        if f"cell.{key}" in values:
            data["cell"][key] = float(values[f"cell.{key}"])
    return Design.from_dict(data)


@dataclass(frozen=True)
class Column:
    """One column of the encoded vector."""

    name: str
    parameter: str
    kind: Literal["continuous", "one_hot", "descriptor", "present"]
    low: float
    high: float
    choice: str | None = None
    log_scale: bool = False


class Encoder:
    """Map parameter values to a float vector and back, for one space and encoding."""

    def __init__(self, params: list[Parameter], encoding: Encoding = "one_hot") -> None:
        self.params = params
        self.encoding = encoding
        self.columns: list[Column] = []
        self._descr: dict[str, np.ndarray] = {}
        for p in params:
            if p.fixed:
                continue
            if p.kind == "continuous":
                self.columns.append(
                    Column(p.name, p.name, "continuous", p.low, p.high, log_scale=p.log_scale)
                )
            elif p.is_element and encoding == "descriptors":
                self._add_descriptor_columns(p)
            else:
                for c in p.choices:
                    self.columns.append(Column(f"{p.name}={c}", p.name, "one_hot", 0.0, 1.0, c))
        self._index = {c.name: i for i, c in enumerate(self.columns)}

    def _add_descriptor_columns(self, p: Parameter) -> None:
        elements = [c for c in p.choices if c != NONE]
        table = np.array([[element_descriptors(e)[d] for d in DESCRIPTOR_NAMES] for e in elements])
        for k, d in enumerate(DESCRIPTOR_NAMES):
            lo, hi = float(table[:, k].min()), float(table[:, k].max())
            self.columns.append(Column(f"{p.name}:{d}", p.name, "descriptor", lo, hi))
        if NONE in p.choices:
            self.columns.append(Column(f"{p.name}:present", p.name, "present", 0.0, 1.0))
        for e, row in zip(elements, table, strict=True):
            self._descr[f"{p.name}|{e}"] = row

    @property
    def dim(self) -> int:
        """Return the length of an encoded vector."""
        return len(self.columns)

    @property
    def bounds(self) -> np.ndarray:
        """Return the ``2 x d`` array of column bounds."""
        return np.array([[c.low for c in self.columns], [c.high for c in self.columns]])

    def encode(self, values: Mapping[str, Value]) -> np.ndarray:
        """Encode parameter values as a ``d``-vector."""
        x = np.zeros(self.dim)
        for i, c in enumerate(self.columns):
            v = values[c.parameter]
            if c.kind == "continuous":
                x[i] = float(v)
            elif c.kind == "one_hot":
                x[i] = 1.0 if v == c.choice else 0.0
            elif c.kind == "present":
                x[i] = 0.0 if v == NONE else 1.0
        for p in self.params:
            if p.is_element and self.encoding == "descriptors" and not p.fixed:
                sym = values[p.name]
                for k, d in enumerate(DESCRIPTOR_NAMES):
                    i = self._index[f"{p.name}:{d}"]
                    # An empty slot sits at the columns' lower bounds; "present" says it is empty.
                    x[i] = (
                        self.columns[i].low if sym == NONE else self._descr[f"{p.name}|{sym}"][k]
                    )
        return x

    def decode(self, x: np.ndarray) -> dict[str, Value]:
        """Decode a vector (possibly relaxed, from an optimiser) into parameter values.

        One-hot groups take their largest column; descriptor groups the nearest element in
        range-normalised descriptor space (exact for encoded vectors).
        """
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"expected a vector of length {self.dim}, got shape {x.shape}")
        out: dict[str, Value] = {}
        for p in self.params:
            if p.fixed:
                out[p.name] = p.choices[0] if p.kind == "categorical" else p.low
            elif p.kind == "continuous":
                out[p.name] = float(x[self._index[p.name]])
            elif p.is_element and self.encoding == "descriptors":
                out[p.name] = self._nearest_element(p, x)
            else:
                scores = [x[self._index[f"{p.name}={c}"]] for c in p.choices]
                out[p.name] = p.choices[int(np.argmax(scores))]
        return out

    def _nearest_element(self, p: Parameter, x: np.ndarray) -> str:
        if NONE in p.choices and x[self._index[f"{p.name}:present"]] < 0.5:
            return NONE
        idx = [self._index[f"{p.name}:{d}"] for d in DESCRIPTOR_NAMES]
        span = np.array([max(self.columns[i].high - self.columns[i].low, 1e-12) for i in idx])
        best, best_d = "", np.inf
        for c in p.choices:
            if c == NONE:
                continue
            d = float(np.sum(((x[idx] - self._descr[f"{p.name}|{c}"]) / span) ** 2))
            if d < best_d:
                best, best_d = c, d
        return best
