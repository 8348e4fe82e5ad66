"""Typed, validated campaign configuration.

A config is one YAML file (see ``configs/``): the campaign's name and seed, the design space
it may explore, its objectives and outcome constraints, the evaluator, the optimiser and the
tracking store. Every model forbids unknown keys, so a misspelt key is an error, not a silent
default. Bounds are written ``[low, high]`` (or a single number for a fixed value).
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS
from optloop.objectives import METRICS
from optloop.vocabulary import METHODS, POSITIVE_ELECTRODES, PROCESS_CONDITIONS, Method, Structure

__all__ = [
    "DERIVED_QUANTITIES",
    "EarlyStoppingConfig",
    "AlloyLayerSpace",
    "Bounds",
    "CampaignConfig",
    "CarbonLayerSpace",
    "CellSpace",
    "CostsConfig",
    "DesignSpaceConfig",
    "EvaluatorConfig",
    "ExecutorConfig",
    "LabRule",
    "LayerMode",
    "LivesConfig",
    "LithiumLayerSpace",
    "Objective",
    "OptimiserConfig",
    "OutcomeConstraint",
    "PriorConfig",
    "StoreConfig",
    "TrackingConfig",
    "rule_quantity_names",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    """A closed interval ``[low, high]``; ``low == high`` fixes the value."""

    low: float
    high: float

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError(f"expected [low, high] or a number, got {data!r}")
        if isinstance(data, int | float):
            return {"low": data, "high": data}
        if isinstance(data, list | tuple):
            if len(data) != 2:
                raise ValueError(f"expected [low, high] with two numbers, got {list(data)!r}")
            return {"low": data[0], "high": data[1]}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"bounds must be finite, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"inverted bounds [{self.low:g}, {self.high:g}]: low must be <= high")
        return self

    @property
    def fixed(self) -> bool:
        """Return True when the interval is a single value."""
        return self.low == self.high

    def contains(self, value: float, rtol: float = 1e-9) -> bool:
        """Return True when ``value`` lies in the interval (with a relative tolerance)."""
        slack = rtol * max(1.0, abs(self.low), abs(self.high))
        return self.low - slack <= value <= self.high + slack

    def __str__(self) -> str:
        return f"{self.low:g}" if self.fixed else f"[{self.low:g}, {self.high:g}]"


def _within(lo: float, hi: float, unit: str, *, open_low: bool = False) -> AfterValidator:
    """Build a validator that keeps bounds inside the physical limits ``lo``-``hi``."""

    def check(b: Bounds) -> Bounds:
        low_ok = b.low > lo if open_low else b.low >= lo
        if not low_ok or b.high > hi:
            sign = ">" if open_low else ">="
            raise ValueError(
                f"bounds {b} {unit} exceed the physical limits: need low {sign} {lo:g} "
                f"and high <= {hi:g} {unit}"
            )
        return b

    return AfterValidator(check)


ThicknessAlloy = Annotated[Bounds, _within(0.001, 100.0, "um", open_low=False)]
ThicknessCarbon = Annotated[Bounds, _within(1.0, 300.0, "um")]
ThicknessLithium = Annotated[Bounds, _within(0.01, 50.0, "um")]
Porosity = Annotated[Bounds, _within(0.05, 0.8, "(fraction)")]
Fraction = Annotated[Bounds, _within(0.0, 0.95, "(atomic fraction)")]
OxygenRatio = Annotated[Bounds, _within(0.0, 3.0, "O per metal atom")]
NPRatio = Annotated[Bounds, _within(0.8, 3.0, "(N/P)")]
Loading = Annotated[Bounds, _within(0.1, 10.0, "mAh/cm^2")]

LayerMode = Literal["required", "optional", "absent"]


def _unique(values: list[str], field: str) -> list[str]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{field} lists {sorted(set(seen))} more than once")
    if not values:
        raise ValueError(f"{field} is empty; choose at least one")
    return values


class AlloyLayerSpace(_Strict):
    """Which alloy or complex-oxide layers a campaign may propose."""

    alloying_elements: list[str]
    """Li-alloying metals allowed (claim 3)."""
    non_alloying_elements: list[str] = Field(default_factory=list)
    """Non-alloying metals allowed (claim 4); empty for pure alloying-metal films."""
    max_alloying_elements: int = Field(default=1, ge=1, le=4)
    """How many different Li-alloying metals one film may combine."""
    max_non_alloying_elements: int = Field(default=1, ge=0, le=3)
    """How many different non-alloying metals one film may combine."""
    non_alloying_fraction: Fraction = Bounds(low=0.0, high=0.5)
    """Total atomic fraction of non-alloying metals among the metals."""
    min_element_fraction: float = Field(default=0.05, gt=0.0, le=0.5)
    """Smallest atomic fraction of an element that is present at all."""
    oxygen_ratio: OxygenRatio | None = None
    """O atoms per metal atom for complex oxides; omit for metallic films only."""
    thickness_um: ThicknessAlloy
    """Film thickness as deposited."""
    structures: list[Structure] = Field(
        default_factory=lambda: list[Structure](["amorphous", "crystalline"])
    )
    """Allowed film structures (claim 8: amorphous)."""
    methods: dict[Method, dict[str, Bounds]]
    """Allowed deposition methods (claim 7), each with bounds on its own process conditions.
    A condition left out takes the method's full physical range."""

    @field_validator("alloying_elements")
    @classmethod
    def _alloying_known(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in ALLOYING_METALS]
        if bad:
            raise ValueError(
                f"{bad} are not Li-alloying metals of the claims; allowed: {list(ALLOYING_METALS)}"
            )
        return _unique(v, "alloying_elements")

    @field_validator("non_alloying_elements")
    @classmethod
    def _non_alloying_known(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in NON_ALLOYING_METALS]
        if bad:
            raise ValueError(
                f"{bad} are not non-alloying metals of the claims; "
                f"allowed: {list(NON_ALLOYING_METALS)}"
            )
        if v:
            _unique(v, "non_alloying_elements")
        return v

    @field_validator("structures")
    @classmethod
    def _structures(cls, v: list[str]) -> list[str]:
        return _unique(v, "structures")

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: dict[str, dict[str, Bounds]]) -> dict[str, dict[str, Bounds]]:
        if not v:
            raise ValueError(f"methods is empty; choose at least one of {list(METHODS)}")
        full: dict[str, dict[str, Bounds]] = {}
        for method, conds in v.items():
            specs = PROCESS_CONDITIONS[method]
            unknown = sorted(set(conds) - set(specs))
            if unknown:
                raise ValueError(
                    f"methods.{method}: unknown condition(s) {unknown}; "
                    f"{method} has {sorted(specs)}"
                )
            filled: dict[str, Bounds] = {}
            for name, spec in specs.items():
                b = conds.get(name, Bounds(low=spec.low, high=spec.high))
                if b.low < spec.low or b.high > spec.high:
                    raise ValueError(
                        f"methods.{method}.{name} = {b} {spec.unit} exceeds the physical "
                        f"range {spec.low:g}-{spec.high:g} {spec.unit}"
                    )
                filled[name] = b
            full[method] = filled
        return full

    @model_validator(mode="after")
    def _consistent(self) -> AlloyLayerSpace:
        n_alloy, n_inactive = len(self.alloying_elements), len(self.non_alloying_elements)
        if self.max_alloying_elements > n_alloy:
            raise ValueError(
                f"max_alloying_elements = {self.max_alloying_elements} but only {n_alloy} "
                f"alloying element(s) are allowed {self.alloying_elements}"
            )
        if self.max_non_alloying_elements > n_inactive:
            raise ValueError(
                f"max_non_alloying_elements = {self.max_non_alloying_elements} but only "
                f"{n_inactive} non-alloying element(s) are allowed {self.non_alloying_elements}"
            )
        nf = self.non_alloying_fraction
        if self.max_non_alloying_elements == 0 and nf.low > 0:
            raise ValueError(
                f"non_alloying_fraction {nf} needs a non-alloying metal, but "
                "max_non_alloying_elements is 0"
            )
        if self.min_element_fraction * max(1, self.max_alloying_elements) > 1 - nf.low + 1e-12:
            raise ValueError(
                f"min_element_fraction = {self.min_element_fraction} x "
                f"{self.max_alloying_elements} alloying slots cannot fit in 1 - "
                f"non_alloying_fraction.low = {1 - nf.low:g}"
            )
        if self.max_non_alloying_elements and nf.high > 0:
            need = self.min_element_fraction
            if nf.high < need:
                raise ValueError(
                    f"non_alloying_fraction.high = {nf.high:g} is below min_element_fraction "
                    f"= {need:g}: no non-alloying metal could ever be present"
                )
        return self


class CarbonLayerSpace(_Strict):
    """The optional carbon-based (graphite) layer (claims 5, 6)."""

    mode: LayerMode = "optional"
    thickness_um: ThicknessCarbon = Bounds(low=20.0, high=80.0)
    porosity: Porosity = Bounds(low=0.25, high=0.45)


class LithiumLayerSpace(_Strict):
    """The optional lithium metal layer (claim 9)."""

    mode: LayerMode = "optional"
    thickness_um: ThicknessLithium = Bounds(low=0.5, high=10.0)


class CellSpace(_Strict):
    """The cell around the anode: positive electrode and balance (claim 10).

    Give ``np_ratio`` (the positive loading follows from the anode) or
    ``positive_loading_mAh_cm2`` (the N/P ratio follows and must reach ``min_np_ratio``).
    """

    positive_electrodes: list[str] = Field(default_factory=lambda: ["NMC811"])
    np_ratio: NPRatio | None = None
    positive_loading_mAh_cm2: Loading | None = None
    min_np_ratio: float = Field(default=1.05, ge=0.8, le=3.0)
    """Smallest N/P a design may have (lithium plating guard, alloy-anode-physics.md §6)."""

    @field_validator("positive_electrodes")
    @classmethod
    def _positives(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in POSITIVE_ELECTRODES]
        if bad:
            raise ValueError(f"{bad} unknown; allowed positive electrodes: {POSITIVE_ELECTRODES}")
        return _unique(v, "positive_electrodes")

    @model_validator(mode="after")
    def _one_balance(self) -> CellSpace:
        if (self.np_ratio is None) == (self.positive_loading_mAh_cm2 is None):
            raise ValueError(
                "give exactly one of np_ratio or positive_loading_mAh_cm2 "
                f"(got np_ratio={self.np_ratio}, "
                f"positive_loading_mAh_cm2={self.positive_loading_mAh_cm2})"
            )
        if self.np_ratio is not None and self.np_ratio.low < self.min_np_ratio:
            raise ValueError(
                f"np_ratio {self.np_ratio} goes below min_np_ratio = {self.min_np_ratio:g}"
            )
        return self


#: Derived properties of a design a lab rule may bound (the scalar fields of
#: :class:`optloop.space.DerivedProperties`; a test keeps the two lists equal).
DERIVED_QUANTITIES: tuple[str, ...] = (
    "film_relative_density",
    "alloy_areal_capacity_mAh_cm2",
    "carbon_areal_capacity_mAh_cm2",
    "negative_areal_capacity_mAh_cm2",
    "irreversible_loss_mAh_cm2",
    "lithium_areal_capacity_mAh_cm2",
    "lithium_excess_mAh_cm2",
    "positive_loading_mAh_cm2",
    "positive_first_charge_mAh_cm2",
    "plated_lithium_mAh_cm2",
    "np_ratio",
    "anode_thickness_um",
    "swollen_thickness_um",
    "anode_mass_mg_cm2",
    "anode_specific_capacity_mAh_g",
    "anode_volumetric_capacity_mAh_cm3",
    "first_cycle_efficiency_max",
    "first_cycle_efficiency_estimate",
    "positive_cyclable_fraction",
)
_LAYER_NAMES = ("alloy_layer", "carbon_layer", "lithium_layer")


@functools.cache
def rule_quantity_names() -> frozenset[str]:
    """Return the names a lab rule may bound: design fields (dotted) and derived properties."""
    names = {
        "alloy_layer.thickness_um",
        "alloy_layer.oxygen_ratio",
        "alloy_layer.structure",
        "alloy_layer.method",
        "carbon_layer.thickness_um",
        "carbon_layer.porosity",
        "lithium_layer.thickness_um",
        "cell.positive_electrode",
        "cell.np_ratio",
        "cell.positive_loading_mAh_cm2",
        *_LAYER_NAMES,
        *DERIVED_QUANTITIES,
    }
    names |= {f"alloy_layer.composition.{s}" for s in (*ALLOYING_METALS, *NON_ALLOYING_METALS)}
    names |= {
        f"alloy_layer.conditions.{c}" for specs in PROCESS_CONDITIONS.values() for c in specs
    }
    return frozenset(names)


class LabRule(_Strict):
    """A rule the lab states: what it can build, as bounds on one quantity of a design.

    A lab rule joins the design space's feasibility rules (:mod:`optloop.space.rules`), so the
    optimiser never proposes a design the lab would have to refuse, e.g. a cathode loading
    outside the lab's stock. It is generic: ``quantity`` names a field of the design
    (``alloy_layer.thickness_um``, ``alloy_layer.conditions.pressure_Pa``,
    ``alloy_layer.composition.Si``, ``cell.positive_electrode``, ...) or one of its derived
    properties (``positive_loading_mAh_cm2``, ``anode_thickness_um``, ...; see
    :func:`optloop.space.derive`); the names are checked when the config is loaded.

    Example (``space.lab_rules``)::

        - name: cathode_stock
          quantity: positive_loading_mAh_cm2
          min: 0.5
          max: 4.0
          reason: the lab's NMC811 sheets span 0.5-4 mAh/cm2; other loadings need a custom coat
    """

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """Short name, shown in refusals as ``[lab_rules] <name>: ...``."""
    quantity: str
    """The design field or derived property the rule bounds."""
    min: float | None = None
    """Smallest allowed value (in the quantity's unit, carried by its name)."""
    max: float | None = None
    """Largest allowed value."""
    one_of: list[str | float] | None = None
    """Allowed values (e.g. positive electrodes in stock, deposition methods the lab has)."""
    when: dict[str, str | float | list[str | float]] = Field(default_factory=dict)
    """Apply only to designs whose fields have these values (a list: any of them); a layer
    name with ``present`` / ``absent``, e.g. ``{alloy_layer.method: sputtering}``."""
    reason: str = Field(min_length=1)
    """Why the lab cannot build beyond it (printed in every refusal)."""

    @model_validator(mode="after")
    def _checked(self) -> LabRule:
        names = rule_quantity_names()
        if self.quantity not in names:
            close = sorted(n for n in names if self.quantity.split(".")[-1] in n)[:8]
            raise ValueError(
                f"quantity={self.quantity!r} is not a design field or derived property; "
                f"allowed: e.g. {close or sorted(names)[:12]}"
            )
        for key in self.when:
            if key not in names:
                raise ValueError(
                    f"when: {key!r} is not a design field or derived property"
                )
        if self.min is None and self.max is None and self.one_of is None:
            raise ValueError(
                f"lab rule {self.name!r} bounds nothing; give min, max or one_of"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min={self.min:g} exceeds max={self.max:g}; limit: min <= max")
        if self.one_of is not None and not self.one_of:
            raise ValueError("one_of is empty; give at least one allowed value")
        return self


class DesignSpaceConfig(_Strict):
    """The anode designs a campaign may explore."""

    alloy_layer: AlloyLayerSpace
    carbon_layer: CarbonLayerSpace = CarbonLayerSpace()
    lithium_layer: LithiumLayerSpace = LithiumLayerSpace()
    cell: CellSpace = CellSpace(np_ratio=Bounds(low=1.1, high=1.1))
    lab_rules: list[LabRule] = Field(default_factory=list)
    """What the lab that builds the cells can make (cathode stock, film thickness per run,
    methods it has); feasibility rules like the physical ones."""

    @field_validator("lab_rules")
    @classmethod
    def _distinct_rules(cls, v: list[LabRule]) -> list[LabRule]:
        names = [r.name for r in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"lab rule name(s) {dup} used more than once")
        return v


class Objective(_Strict):
    """One objective: a metric, its direction and its hypervolume reference value."""

    name: str
    direction: Literal["maximize", "minimize"] = "maximize"
    reference: float
    """Worst value still of interest (the hypervolume reference point), in the metric's unit."""

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; allowed: {sorted(METRICS)}")
        return v


class OutcomeConstraint(_Strict):
    """A bound an outcome must satisfy for a design to count, e.g. ICE >= 0.8."""

    metric: str
    op: Literal[">=", "<="]
    value: float

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; allowed: {sorted(METRICS)}")
        return v


class EvaluatorConfig(_Strict):
    """Which evaluator scores designs and its options.

    The options are kept as JSON here and validated against the plugin's ``options_model``
    by :func:`optloop.evaluators.registry.check_evaluator_config` (``optloop validate``, and
    a campaign before it creates any file): loading the config imports no plugin.
    """

    name: str = "pybamm"
    """A registered evaluator (built-in or entry point ``optloop.evaluators``) or module:Class."""
    options: dict[str, JsonValue] = Field(default_factory=dict)
    """The plugin's own options (its ``options_model``); never the run folder, executor or
    seed, which every evaluator gets from the campaign (top-level ``executor``, ``seed``)."""
    fidelity: str = "full"
    """Fidelity the campaign asks for (the PyBaMM evaluator has ``full`` and ``screen``)."""
    max_concurrency: int | None = Field(default=None, ge=1, le=10_000)
    """Evaluations running at once; default: what the evaluator says it can run."""
    max_attempts: int = Field(default=3, ge=1, le=20)
    """Submissions of a trial whose job or cell was lost before it is given up (abandoned)."""
    max_driver_restarts: int = Field(default=5, ge=0, le=1_000)
    """Re-runs of a trial whose driver died during its evaluation (they spend no attempt);
    one death more and the trial fails: the design may be what kills its driver (memory)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("evaluator name is empty")
        return v


class OptimiserConfig(_Strict):
    """How designs are proposed: initial space-filling designs, batches, total budget."""

    initial_designs: int = Field(default=8, ge=1, le=10_000)
    batch_size: int = Field(default=2, ge=1, le=256)
    budget: int = Field(default=24, ge=1, le=100_000)
    """Total number of evaluations, initial designs included."""
    encoding: Literal["one_hot", "descriptors"] = "descriptors"
    """How categorical elements are encoded for the surrogate."""
    kernel: Literal["auto", "rbf", "mixed", "rbf_warp"] = "auto"
    """The surrogate: ``auto`` (per metric and fit, whichever of ``rbf`` and ``mixed``
    predicts the data better by leave-one-out; ``rbf`` without categorical parameters),
    ``rbf`` (SingleTaskGP over all features), ``mixed`` (BoTorch's ``MixedSingleTaskGP``, a
    categorical kernel) or ``rbf_warp`` (``rbf`` with input warping). See
    ``experiments/results/suite/variants.md``."""

    @model_validator(mode="after")
    def _fits(self) -> OptimiserConfig:
        if self.initial_designs > self.budget:
            raise ValueError(
                f"initial_designs = {self.initial_designs} exceeds budget = {self.budget}"
            )
        if self.batch_size > self.budget:
            raise ValueError(f"batch_size = {self.batch_size} exceeds budget = {self.budget}")
        return self


class StoreConfig(_Strict):
    """Where the campaign's state lives (its single source of truth)."""

    url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///runs/<name>/campaign.db``. The environment variable
    ``OPTLOOP_STORE_URL`` overrides it (credentials belong there, not in the file)."""

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).password:
            raise ValueError(
                "the store URL carries a password; set OPTLOOP_STORE_URL in the environment "
                "instead of writing it in the config"
            )
        return v


class TrackingConfig(_Strict):
    """Where MLflow tracking goes. Credentials come from the environment, never from here."""

    enabled: bool = True
    """Mirror the campaign into MLflow while ``optloop run`` / ``tick`` drive it."""
    uri: str = "sqlite:///mlflow/mlflow.db"
    artifact_location: str = "mlflow/mlartifacts"
    experiment: str | None = None
    """MLflow experiment name; defaults to the campaign name."""

    @field_validator("uri")
    @classmethod
    def _no_credentials(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.password or parts.username:
            raise ValueError(
                "the tracking URI carries credentials; put them in MLFLOW_TRACKING_USERNAME / "
                "MLFLOW_TRACKING_PASSWORD instead of the config file"
            )
        if parts.scheme not in {"sqlite", "http", "https", "file", "postgresql", "mysql", ""}:
            raise ValueError(
                f"unsupported tracking URI scheme {parts.scheme!r}; use sqlite, http(s), file, "
                "postgresql or mysql"
            )
        return v


class EarlyStoppingConfig(_Strict):
    """Stop clearly poor cells early from a prediction of their cycle life (Attia et al. 2020).

    Needs an evaluator with partial data (``supports_partial``: the simulated cycler, lab
    cyclers). Once a running cell has ``after_cycles`` cycles, a GP trained on the campaign's
    completed cells predicts its cycle life; the cell is stopped (its channel freed) only if the
    upper end of the prediction is below the reference: the lower of ``min_cycle_life`` and the
    ``reference_quantile`` of the completed cells' cycle lives. A stopped trial is recorded as
    completed with the predicted cycle life and flagged ``early_stopped`` in its metadata.
    """

    enabled: bool = False
    after_cycles: int = Field(default=30, ge=4, le=10_000)
    """Cycles of data a cell needs before its cycle life is predicted (one decision per cell)."""
    min_training_cells: int = Field(default=6, ge=3, le=10_000)
    """Completed cells (with data beyond ``after_cycles``) needed to train the predictor."""
    interval: float = Field(default=0.9, gt=0.5, lt=1.0)
    """Probability of the predicted interval."""
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)
    """One-sided probability that the cell's life is below its upper bound."""
    reference_quantile: float | None = Field(default=0.25, ge=0.0, le=1.0)
    """Quantile of the completed cells' cycle lives used as the reference (None: not used)."""
    min_cycle_life: float | None = Field(default=None, gt=0.0)
    """A fixed reference cycle life (None: only the quantile)."""
    min_completed: int = Field(default=5, ge=1, le=10_000)
    """Completed cells needed before their quantile counts as a reference."""

    @model_validator(mode="after")
    def _has_reference(self) -> EarlyStoppingConfig:
        if self.enabled and self.reference_quantile is None and self.min_cycle_life is None:
            raise ValueError(
                "early_stopping needs a reference: set reference_quantile or min_cycle_life"
            )
        return self


class ExecutorConfig(_Strict):
    """Where evaluations run: a local process pool (default) or an existing Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    """``local``: worker processes on this machine; ``dask``: the workers of a Dask scheduler."""
    address: str | None = None
    """Dask scheduler, e.g. ``tcp://host:8786``; None reads ``OPTLOOP_DASK_ADDRESS``."""
    workers: int | None = Field(default=None, ge=1, le=256)
    """Local worker processes; None: the evaluator's own default (one per core)."""
    connect_timeout_s: float = Field(default=10.0, gt=0.0, le=600.0)
    """Limit on connecting (or reconnecting) to the Dask scheduler."""

    @model_validator(mode="after")
    def _fits_kind(self) -> ExecutorConfig:
        if self.kind == "local" and self.address is not None:
            raise ValueError(f"address={self.address!r} is only used with kind 'dask'")
        if self.kind == "dask" and self.workers is not None:
            raise ValueError(
                f"workers={self.workers} is only used with kind 'local' (a Dask cluster has "
                "the workers it was started with)"
            )
        if self.address is not None:
            parts = urlsplit(self.address if "://" in self.address else "tcp://" + self.address)
            if parts.password or parts.username:
                raise ValueError("the scheduler address carries credentials; remove them")
            if not parts.hostname:
                raise ValueError(
                    f"address={self.address!r} has no host; expected e.g. tcp://host:8786"
                )
        return self


class CostsConfig(_Strict):
    """What a campaign's evaluations cost, its budget in those costs and its stop rule.

    Costs are in one currency-free cost unit (a lab may read it as euros or hours of work).
    A trial costs ``cell_build`` per cell built (a physical-cell evaluator: the simulated
    cycler, the file exchange; a rebuilt cell counts again), ``channel_day`` per day a cell
    spends on a cycler channel and ``simulation_second`` per second of simulation (PyBaMM's
    worker wall time). See :mod:`optloop.campaign.costs`.
    """

    cell_build: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    """Cost of building one cell (materials, deposition, assembly, formation)."""
    channel_day: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    """Cost of one cycler channel for one day."""
    simulation_second: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    """Cost of one second of simulation (one worker core)."""
    budget: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    """Total cost the campaign may spend; once spent it proposes nothing more (None: no
    limit besides ``optimiser.budget`` trials)."""
    stop_below_gain_per_cost: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    """Stop when a batch's expected hypervolume gain per unit of its expected cost falls below
    this (hypervolume units per cost unit; None: never)."""
    trial_cost_estimate: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    """Expected cost of one trial until finished trials with a recorded cost give their mean."""

    @property
    def any_cost(self) -> bool:
        """Return True when at least one unit cost is above zero."""
        return self.cell_build > 0 or self.channel_day > 0 or self.simulation_second > 0

    @model_validator(mode="after")
    def _something_costs(self) -> CostsConfig:
        zero = "cell_build, channel_day and simulation_second are all 0"
        if self.budget is not None and not self.any_cost:
            raise ValueError(
                f"budget = {self.budget:g} but {zero}: nothing would ever be spent; "
                "limit: at least one cost > 0"
            )
        if (
            self.stop_below_gain_per_cost is not None
            and not self.any_cost
            and self.trial_cost_estimate is None
        ):
            raise ValueError(
                f"stop_below_gain_per_cost = {self.stop_below_gain_per_cost:g} but {zero} and "
                "no trial_cost_estimate is given: a trial's cost would be unknown; limit: at "
                "least one cost > 0 or trial_cost_estimate > 0"
            )
        return self


class PriorConfig(_Strict):
    """A simulator as a prior for real cells (mode (c)): simulated twins of the designs.

    With ``simulator`` set, the campaign also runs that evaluator (an evaluator entry-point
    name such as ``pybamm``, with its own ``options``) on ``initial_simulations`` space-filling
    designs at the start, on the twin of every proposed cell design and on
    ``simulations_per_batch`` more designs per proposed batch. The simulations are stored apart
    from the cells (never trials, never budget evaluations; their simulation seconds count in
    the costs), and the optimiser models the measured outcomes with the simulations as a
    second task (:mod:`optloop.optimiser.multitask`). See :mod:`optloop.campaign.prior`.
    """

    simulator: str | None = None
    """An evaluator name (built-in, entry point or ``module:Class``); None: no prior."""
    options: dict[str, JsonValue] = Field(default_factory=dict)
    """The simulator's own options (its ``options_model``), e.g. ``cycle_cap``."""
    initial_simulations: int = Field(default=16, ge=0, le=10_000)
    """Space-filling designs simulated before (and alongside) the first cells."""
    simulations_per_batch: int = Field(default=4, ge=0, le=256)
    """Extra designs simulated per proposed batch of cells, besides each cell's twin."""
    pretrain_predictor: bool = True
    """The early-life predictor also learns from the simulated fade curves."""

    @field_validator("simulator")
    @classmethod
    def _simulator(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError(
                "simulator = '' is empty; give an evaluator name (e.g. pybamm) or null"
            )
        return v

    @model_validator(mode="after")
    def _options_need_simulator(self) -> PriorConfig:
        if self.simulator is None and self.options:
            raise ValueError(
                f"options = {dict(self.options)!r} but simulator = null: options of no "
                "simulator; set prior.simulator or remove prior.options"
            )
        return self

    @property
    def enabled(self) -> bool:
        """Return True when a simulator is set (mode (c))."""
        return self.simulator is not None


class LivesConfig(_Strict):
    """How cycle lives are obtained: measured to the end (mode a) or predicted (mode b).

    ``mode: measure`` cycles every cell to its end of life or the test's cycle count (the
    default). ``mode: predict`` reviews every running cell at ``min_cycles`` and then every
    ``review_every_cycles``: a GP trained on the campaign's measured cells predicts its cycle
    life from the cycles it has, with an interval recalibrated on cells whose life became
    known (``calibration``); the cell is stopped when the expected value of cycling it
    ``review_every_cycles`` more (the expected change of the campaign's hypervolume, as a
    fraction of it) per channel-day falls below ``min_value_per_channel_day``. The optimiser
    then learns the predicted life with its uncertainty (see :mod:`optloop.campaign.lives`).
    """

    mode: Literal["measure", "predict"] = "measure"
    """``measure``: cycle to end of life or the test's cycle count; ``predict``: mode (b)."""
    min_cycles: int = Field(default=30, ge=4, le=10_000)
    """A cell is first reviewed after this many cycles."""
    review_every_cycles: int = Field(default=25, ge=1, le=10_000)
    """And then every this many cycles."""
    interval: float = Field(default=0.9, gt=0.5, lt=1.0)
    """Probability of the reported interval."""
    min_training_cells: int = Field(default=6, ge=3, le=10_000)
    """Cells with known (or censored) lives, usable at a horizon, before predictions are used."""
    calibration: Literal["conformal", "none"] = "conformal"
    """``conformal``: recalibrate the interval on the cells whose life became known;
    ``none``: the GP's own interval (widened by its cross-validated factor)."""
    min_value_per_channel_day: float = Field(default=0.002, ge=0.0, allow_inf_nan=False)
    """Stop a cell when the expected value of continuing it (fraction of the current
    hypervolume) per channel-day is below this."""


class CampaignConfig(_Strict):
    """A whole campaign, as written in one YAML file."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    space: DesignSpaceConfig
    objectives: list[Objective] = Field(min_length=1, max_length=4)
    outcome_constraints: list[OutcomeConstraint] = Field(default_factory=list)
    evaluator: EvaluatorConfig = EvaluatorConfig()
    optimiser: OptimiserConfig = OptimiserConfig()
    store: StoreConfig = StoreConfig()
    tracking: TrackingConfig = TrackingConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    executor: ExecutorConfig = ExecutorConfig()
    costs: CostsConfig = CostsConfig()
    prior: PriorConfig = PriorConfig()
    lives: LivesConfig = LivesConfig()

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, v: list[Objective]) -> list[Objective]:
        names = [o.name for o in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"objective(s) {dup} listed more than once")
        return v

    @model_validator(mode="after")
    def _lives_mode_fits(self) -> CampaignConfig:
        if self.lives.mode != "predict":
            return self
        if self.early_stopping.enabled:
            raise ValueError(
                "lives.mode = 'predict' with early_stopping.enabled = true: predicted lives "
                "supersede early stopping; limit: set early_stopping.enabled = false"
            )
        used = {o.name for o in self.objectives} | {c.metric for c in self.outcome_constraints}
        if "cycle_life" not in used:
            raise ValueError(
                "lives.mode = 'predict' predicts cycle_life, but cycle_life is neither an "
                f"objective nor a constraint (used: {sorted(used)})"
            )
        return self

    @model_validator(mode="after")
    def _early_stopping_needs_cycle_life(self) -> CampaignConfig:
        if self.early_stopping.enabled:
            used = {o.name for o in self.objectives} | {c.metric for c in self.outcome_constraints}
            if "cycle_life" not in used:
                raise ValueError(
                    "early_stopping.enabled: predicts cycle_life, but cycle_life is neither an "
                    f"objective nor a constraint (used: {sorted(used)})"
                )
        return self
