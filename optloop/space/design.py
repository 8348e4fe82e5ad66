"""The anode design: a stack of layers on a current collector, and the cell around it.

Layer order, from the current collector outwards, follows the patent's abstract
(US 7,285,359 B2): an optional carbon-based layer, the alloy or complex-oxide layer, an
optional lithium metal layer. Every quantity carries its unit in its name.

A :class:`Design` is only *well-formed* here (types, known symbols, physical ranges, the
composition simplex). Whether it is *feasible* inside a campaign's space is decided by
:mod:`optloop.space.rules`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from optloop.exceptions import DesignError, format_validation_error
from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS
from optloop.vocabulary import (
    METHODS,
    POSITIVE_ELECTRODES,
    PROCESS_CONDITIONS,
    SIMPLEX_TOL,
    STRUCTURES,
    ConditionSpec,
    Method,
    Structure,
)

__all__ = [
    "ALLOYING_METALS",
    "METHODS",
    "NON_ALLOYING_METALS",
    "PROCESS_CONDITIONS",
    "POSITIVE_ELECTRODES",
    "STRUCTURES",
    "AlloyLayer",
    "CarbonLayer",
    "Cell",
    "ConditionSpec",
    "Design",
    "LithiumLayer",
    "Method",
    "Structure",
]


class _Frozen(BaseModel):
    # strict: a design file giving "0.5" (a string) for a number is refused, not coerced.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class AlloyLayer(_Frozen):
    """The layer of alloy or complex oxide (claims 1-4, 7, 8).

    ``composition`` maps each metal to its atomic fraction among the metals; the fractions
    sum to one. Oxygen, for a complex oxide, is given separately as O atoms per metal atom.
    """

    composition: dict[str, float]
    oxygen_ratio: float = Field(default=0.0, ge=0.0, le=3.0)
    thickness_um: float = Field(gt=0.0, le=500.0)
    structure: Structure
    method: Method
    conditions: dict[str, float]

    @field_validator("composition")
    @classmethod
    def _composition_on_simplex(cls, value: dict[str, float]) -> dict[str, float]:
        known = set(ALLOYING_METALS) | set(NON_ALLOYING_METALS)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown element(s) {unknown}; allowed: alloying {list(ALLOYING_METALS)}, "
                f"non-alloying {list(NON_ALLOYING_METALS)}"
            )
        for symbol, fraction in value.items():
            if not math.isfinite(fraction) or fraction <= 0.0 or fraction > 1.0:
                raise ValueError(
                    f"fraction of {symbol} is {fraction!r}; each present element needs 0 < x <= 1 "
                    "(leave absent elements out)"
                )
        if not any(s in ALLOYING_METALS for s in value):
            raise ValueError(
                f"composition {value} has no Li-alloying metal; needs at least one of "
                f"{list(ALLOYING_METALS)}"
            )
        total = sum(value.values())
        if abs(total - 1.0) > SIMPLEX_TOL:
            raise ValueError(
                f"atomic fractions sum to {total:.9g}; they must sum to 1 "
                f"(tolerance {SIMPLEX_TOL})"
            )
        return value

    @model_validator(mode="after")
    def _conditions_match_method(self) -> AlloyLayer:
        specs = PROCESS_CONDITIONS[self.method]
        missing = sorted(set(specs) - set(self.conditions))
        extra = sorted(set(self.conditions) - set(specs))
        if missing or extra:
            raise ValueError(
                f"conditions for method {self.method!r} must be exactly {sorted(specs)}; "
                f"missing {missing}, not applicable {extra}"
            )
        for name, val in self.conditions.items():
            spec = specs[name]
            if not math.isfinite(val) or not spec.low <= val <= spec.high:
                raise ValueError(
                    f"conditions.{name} = {val!r} {spec.unit} is outside the physical range "
                    f"{spec.low:g}-{spec.high:g} {spec.unit} for {self.method}"
                )
        return self

    @property
    def alloying(self) -> dict[str, float]:
        """Return the Li-alloying metals and their fractions."""
        return {s: x for s, x in self.composition.items() if s in ALLOYING_METALS}

    @property
    def non_alloying(self) -> dict[str, float]:
        """Return the non-alloying metals and their fractions."""
        return {s: x for s, x in self.composition.items() if s in NON_ALLOYING_METALS}

    @property
    def formula(self) -> str:
        """Return a formula such as ``Si0.7Cu0.3O0.2`` (metals by decreasing fraction)."""
        parts = sorted(self.composition.items(), key=lambda kv: (-kv[1], kv[0]))
        text = "".join(f"{s}{x:.4g}" for s, x in parts)
        if self.oxygen_ratio > 0:
            text += f"O{self.oxygen_ratio:.4g}"
        return text


class CarbonLayer(_Frozen):
    """The optional carbon-based (graphite) layer on the current collector (claims 5, 6)."""

    thickness_um: float = Field(gt=0.0, le=500.0)
    porosity: float = Field(gt=0.0, lt=1.0)


class LithiumLayer(_Frozen):
    """The optional lithium metal layer on top of the stack (claim 9)."""

    thickness_um: float = Field(gt=0.0, le=100.0)


class Cell(_Frozen):
    """The cell around the anode (claim 10): its positive electrode and its balance.

    Exactly one of ``np_ratio`` (negative over positive reversible areal capacity, the
    positive loading follows) or ``positive_loading_mAh_cm2`` (the N/P ratio follows) is set.
    """

    positive_electrode: str
    np_ratio: float | None = Field(default=None, gt=0.0, le=10.0)
    positive_loading_mAh_cm2: float | None = Field(default=None, gt=0.0, le=20.0)

    @field_validator("positive_electrode")
    @classmethod
    def _known_positive(cls, value: str) -> str:
        if value not in POSITIVE_ELECTRODES:
            raise ValueError(
                f"positive electrode {value!r} unknown; allowed: {POSITIVE_ELECTRODES}"
            )
        return value

    @model_validator(mode="after")
    def _one_balance(self) -> Cell:
        if (self.np_ratio is None) == (self.positive_loading_mAh_cm2 is None):
            raise ValueError(
                "set exactly one of np_ratio or positive_loading_mAh_cm2 "
                f"(got np_ratio={self.np_ratio}, "
                f"positive_loading_mAh_cm2={self.positive_loading_mAh_cm2})"
            )
        return self


class Design(_Frozen):
    """One anode design: the layer stack and its cell.

    ``alloy_layer`` may be absent only for reference cells (e.g. a pure graphite baseline
    measured by a chemist); such a design practises none of the patent's claims.
    """

    alloy_layer: AlloyLayer | None
    carbon_layer: CarbonLayer | None = None
    lithium_layer: LithiumLayer | None = None
    cell: Cell

    @model_validator(mode="after")
    def _has_an_active_layer(self) -> Design:
        if self.alloy_layer is None and self.carbon_layer is None:
            raise ValueError("a design needs an alloy layer, a carbon layer, or both")
        return self

    @classmethod
    def from_dict(cls, data: Any) -> Design:
        """Build a design from plain data, raising :class:`DesignError` with field paths."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DesignError(format_validation_error(exc)) from None

    @classmethod
    def from_json(cls, text: str) -> Design:
        """Build a design from a JSON document."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DesignError([f"not valid JSON: {exc}"]) from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the design as plain JSON-ready data (the stable design schema)."""
        return self.model_dump(mode="json")

    def key(self) -> str:
        """Return a canonical JSON string; equal designs have equal keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
