r"""Predict a cell's cycle life, with uncertainty, from its first cycles.

:class:`CycleLifePredictor` regresses ``log(cycle_life)`` on the early-life features of
:mod:`.features` with a BoTorch ``SingleTaskGP`` (ARD RBF kernel, ``Standardize`` outcome
transform, hyperparameters by ``fit_gpytorch_mll``), the same GP and censoring treatment as
the optimiser's surrogate (:func:`optloop.optimiser.surrogate.impute_censored`). Features are
scaled to the unit cube of the training data before the GP sees them (what BoTorch's
``Normalize`` input transform does; it is applied here because the shared censoring routine
builds the GP itself).

**Censored training cells** (a test stopped before end of life: ``cycle_life`` is a lower
bound) are first included at their bound; each is then replaced by its conditional mean
``E[y | y > bound]`` under the GP's predictive given the uncensored cells, and the GP is
refitted (see the surrogate's docstring). So a censored cell never pulls a prediction below
its bound, and a censored cell that looks like long-lived cells is imputed above its bound.
Nothing is known above the largest censored bound, so a prediction whose upper end reaches it
is flagged :attr:`Prediction.at_least`: read it as "at least ``lower_cycles``".

**Known lives.** A cell whose retention already fell below the threshold has a known cycle
life: :meth:`CycleLifePredictor.predict` returns it exactly (zero width) without the model.
Such cells are left out of training when they crossed within the first ``n_cycles`` cycles
(the predictor is never asked about them, and their features were measured after end of
life), and so are censored cells stopped before ``n_cycles`` (no features).

**Prediction.** The interval is the central ``interval`` quantile range of the GP's
predictive for a new cell (observation noise included) in log space, mapped back with
``exp``; :attr:`Prediction.mean_cycles` is ``exp`` of the predictive mean, i.e. the median
in cycles. A running cell that has not crossed after ``k`` cycles lives longer than ``k``:
every value is raised to at least ``k + 1``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.utils.sampling import manual_seed

from optloop.data.metrics import CycleMetrics, end_of_life_cycle, end_of_life_cycle_with_gaps
from optloop.optimiser.surrogate import MetricData, impute_censored
from optloop.prediction.features import (
    FADE_FEATURES,
    InsufficientDataError,
    PredictionError,
    _check_window,
    fade_features,
)

__all__ = [
    "DEFAULT_FEATURES",
    "CycleLifeExample",
    "CycleLifePredictor",
    "NotReadyError",
    "Prediction",
]

_DTYPE = torch.float64
#: Fade features a predictor uses by default: the fade curve's linear and quadratic fit and
#: the coulombic inefficiency's level and scatter. With ~30 training cells, adding the other
#: features of :data:`FADE_FEATURES` made held-out synthetic predictions worse (more ARD
#: lengthscales to fit than the data support).
DEFAULT_FEATURES: tuple[str, ...] = (
    "retention_slope_per_cycle",
    "retention_intercept",
    "retention_curvature_per_cycle2",
    "log10_inefficiency_mean",
    "log10_inefficiency_var",
)
_MAXITER = 200
_CV_FOLDS = 5
# Fewest held-out cells whose z-scores the calibration trusts.
_CV_MIN_CELLS = 3


class NotReadyError(PredictionError):
    """The predictor has not been fitted, or had too few usable training cells."""


class CycleLifeExample(NamedTuple):
    """One training cell: its per-cycle data and its (possibly censored) cycle life.

    A plain 4-tuple ``(capacity_Ah, coulombic_efficiency, cycle_life, censored)`` is a valid
    example; the last three fields are optional.
    """

    capacity_Ah: Sequence[float]
    """Delivered capacity of each cycle, cycle 1 first (at least the first ``n_cycles``)."""
    coulombic_efficiency: Sequence[float | None]
    """Coulombic efficiency of each cycle, same indexing."""
    cycle_life: float
    """Cycles to end of life; a lower bound when ``censored``."""
    censored: bool
    """True when the test stopped before end of life."""
    reference_capacity_Ah: float | None = None
    """``Q_ref`` of the retention; default the capacity of cycle 1."""
    extra: Mapping[str, float] | None = None
    """Extra features by name (e.g. a delta-Q feature or design features)."""
    cycle_numbers: Sequence[int] | None = None
    """The cycle number of each value (data with gaps, ``CycleMetrics.cycle_numbers``); None:
    value ``k`` is cycle ``k + 1``."""

    @property
    def last_cycle(self) -> int:
        """Return the number of the last cycle the example holds."""
        if self.cycle_numbers is not None and len(self.cycle_numbers):
            return int(self.cycle_numbers[-1])
        return len(self.capacity_Ah)

    @classmethod
    def from_metrics(
        cls, m: CycleMetrics, extra: Mapping[str, float] | None = None
    ) -> CycleLifeExample:
        """Build an example from a finished (or stopped) cell's metrics.

        Args:
            m: The cell's metrics; its ``cycle_life`` and ``cycle_life_censored`` are the
                target.
            extra: Extra features by name.
        """
        return cls(
            capacity_Ah=m.capacity_Ah,
            coulombic_efficiency=m.coulombic_efficiency,
            cycle_life=float(m.cycle_life),
            censored=m.cycle_life_censored,
            reference_capacity_Ah=m.reference_capacity_Ah,
            extra=extra,
            cycle_numbers=m.cycle_numbers,
        )


@dataclass(frozen=True)
class Prediction:
    """A predicted cycle life with its interval."""

    mean_cycles: float
    """Point prediction: ``exp`` of the predictive mean of ``log(cycle_life)`` (its median)."""
    std_log: float
    """Predictive standard deviation of ``log(cycle_life)``; 0 for a known life."""
    lower_cycles: float
    """Lower end of the ``interval`` quantile range."""
    upper_cycles: float
    """Upper end of the ``interval`` quantile range."""
    n_train: int
    """Training cells the model used (0 for a known life)."""
    interval: float
    """Probability of the central interval, e.g. 0.9."""
    cycles_observed: int
    """Cycles of data the prediction saw."""
    known: bool = False
    """True when the cell already crossed the threshold: the values are exact."""
    at_least: bool = False
    """True when ``upper_cycles`` reaches the largest censored training life: beyond it the
    model has only lower bounds, so read the prediction as "at least ``lower_cycles``"."""

    def __str__(self) -> str:
        if self.known:
            return f"{self.mean_cycles:.0f} cycles (known: crossed the threshold)"
        text = (
            f"{self.mean_cycles:.0f} [{self.lower_cycles:.0f}, {self.upper_cycles:.0f}] cycles "
            f"({self.interval:.0%} interval, {self.n_train} training cells)"
        )
        return f"at least {self.lower_cycles:.0f} cycles; {text}" if self.at_least else text


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread, restoring the thread count afterwards.

    On matrices of a few dozen cells threads only add overhead: a fit took 0.3 s on one
    thread and 0.8-1.9 s on two, on a loaded 2-core machine.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_gp(X: np.ndarray, y: np.ndarray, censored: np.ndarray) -> SingleTaskGP:
    """Fit the GP on unit-cube features ``X`` and log lives ``y`` (censored: lower bounds)."""
    data = MetricData(name="log_cycle_life", X=X, y=y, censored=censored, log=True)
    with warnings.catch_warnings():
        # A few dozen cells: small-data warnings from the fit carry no news.
        warnings.simplefilter("ignore", UserWarning)
        model, _ = impute_censored(data, kernel="rbf", cat_dims=(), subset=None, maxiter=_MAXITER)
    return model


def _predict_log(model: SingleTaskGP, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the predictive mean and std (observation noise included) of ``log`` life."""
    with torch.no_grad():
        posterior = model.posterior(torch.as_tensor(X, dtype=_DTYPE), observation_noise=True)
        mu = posterior.mean.squeeze(-1).numpy()
        sd = posterior.variance.clamp_min(0.0).sqrt().squeeze(-1).numpy()
    return np.asarray(mu, dtype=float), np.asarray(sd, dtype=float)


def _z_quantile(p: float) -> float:
    return float(torch.special.ndtri(torch.tensor(p, dtype=_DTYPE)))


def _cv_residuals(
    X: np.ndarray, y: np.ndarray, censored: np.ndarray, seed: int, prior: np.ndarray | None = None
) -> tuple[dict[int, tuple[float, float]], list[SingleTaskGP]]:
    """Return the held-out residual and predictive std (log units) of each uncensored cell.

    The GP is refitted, hyperparameters included, in :data:`_CV_FOLDS` folds of the cells
    (rows where ``prior`` is False); prior rows are always in the training folds and never
    held out. Keys are row indices; each value is ``(y - mu, sd)`` of that row predicted by
    the fold that held it out. Also returns the fold models.
    """
    n = len(y)
    prior = np.zeros(n, dtype=bool) if prior is None else prior
    cells = np.flatnonzero(~prior)
    order = cells[np.random.default_rng(seed).permutation(cells.size)]
    out: dict[int, tuple[float, float]] = {}
    models: list[SingleTaskGP] = []
    if order.size == 0:
        return out, models
    for fold in np.array_split(order, min(_CV_FOLDS, order.size)):
        held = fold[~censored[fold]]
        train = np.setdiff1d(np.arange(n), fold)
        if held.size == 0 or (~censored[train]).sum() < 2:
            continue
        model = _fit_gp(X[train], y[train], censored[train])
        models.append(model)
        mu, sd = _predict_log(model, X[held])
        for i, m, s in zip(held.tolist(), mu.tolist(), sd.tolist(), strict=True):
            out[int(i)] = (float(y[i] - m), max(float(s), 1e-12))
    return out, models


def _cv_inflation(residuals: Mapping[int, tuple[float, float]], interval: float) -> float:
    """Return the factor on the predictive std that makes cross-validated intervals cover.

    With a few dozen cells the fitted hyperparameters make the GP overconfident, and
    leave-one-out residuals under those same hyperparameters do not show it. So the GP is
    refitted, hyperparameters included, in :data:`_CV_FOLDS` folds (:func:`_cv_residuals`);
    each uncensored held-out cell gives ``z = (y - mu) / sd``. The factor is the ``interval``
    quantile of ``|z|`` over the standard normal's, and never below 1.
    """
    z = [abs(r) / s for r, s in residuals.values()]
    if len(z) < _CV_MIN_CELLS:
        return 1.0
    return max(1.0, float(np.quantile(z, interval)) / _z_quantile(0.5 + interval / 2))


class CycleLifePredictor:
    """Predict cycle life from the first ``n_cycles`` cycles (a GP on log cycle life).

    Usage::

        predictor = CycleLifePredictor(n_cycles=40).fit(examples)
        if predictor.ready:
            prediction = predictor.predict_metrics(compute_metrics(frame, in_progress=True))

    Args:
        n_cycles: Cycles of data the features use; a cell can be predicted once it has them.
        first_cycle: First cycle of the feature window (cycle 1 is SEI formation).
        threshold: End of life is retention below it (as in ``compute_metrics``).
        interval: Probability of the central prediction interval.
        min_train: Fewest usable training cells :meth:`fit` accepts.
        min_uncensored: Fewest of them with an exact (uncensored) life: censored lives only
            bound the target, and with almost none exact the GP is confidently wrong (on 20
            PyBaMM cells with one exact life it put a cell that lived past 200 cycles at
            135 [127, 144]).
        features: Fade features to use (default :data:`DEFAULT_FEATURES`; any of
            :data:`FADE_FEATURES`).
        extra_features: Names of extra features every example and prediction supplies.
        calibrate: Widen the predictive std by a cross-validated factor (>= 1), so that the
            intervals cover; costs :data:`_CV_FOLDS` extra GP fits per :meth:`fit`.
        seed: Seeds torch and the fold split inside :meth:`fit`, so a fit is reproducible.

    Raises:
        PredictionError: If an argument is out of range or a feature name is unknown.
    """

    def __init__(
        self,
        n_cycles: int,
        *,
        first_cycle: int = 2,
        threshold: float = 0.8,
        interval: float = 0.9,
        min_train: int = 6,
        min_uncensored: int = 3,
        features: Sequence[str] | None = None,
        extra_features: Sequence[str] = (),
        calibrate: bool = True,
        seed: int = 0,
    ) -> None:
        if not (0.0 < threshold < 1.0):
            raise PredictionError(f"threshold={threshold!r}; limit: 0 < threshold < 1")
        if not (0.0 < interval < 1.0):
            raise PredictionError(f"interval={interval!r}; limit: 0 < interval < 1")
        if min_train < 3:
            raise PredictionError(f"min_train={min_train!r}; limit: >= 3")
        if not (2 <= min_uncensored <= min_train):
            raise PredictionError(
                f"min_uncensored={min_uncensored!r}; limit: 2 <= min_uncensored <= "
                f"min_train={min_train}"
            )
        names = tuple(DEFAULT_FEATURES if features is None else features)
        unknown = sorted(set(names) - set(FADE_FEATURES))
        if unknown:
            raise PredictionError(f"features {unknown} are unknown; allowed: {FADE_FEATURES}")
        clash = sorted(set(extra_features) & set(FADE_FEATURES))
        if clash:
            raise PredictionError(f"extra_features {clash} clash with fade feature names")
        if not names and not extra_features:
            raise PredictionError("features and extra_features are both empty; need >= 1")
        _check_window(n_cycles, first_cycle)
        self.n_cycles = n_cycles
        self.first_cycle = first_cycle
        self.threshold = threshold
        self.interval = interval
        self.min_train = min_train
        self.min_uncensored = min_uncensored
        self.features = names
        self.extra_features = tuple(extra_features)
        self.calibrate = calibrate
        self.seed = seed
        self.n_train = 0
        """Training cells of the last :meth:`fit`."""
        self.n_excluded = 0
        """Cells :meth:`fit` left out (crossed within ``n_cycles``, or stopped before it)."""
        self.std_inflation = 1.0
        """Factor (>= 1) on the GP's predictive std, from cross-validation (see ``calibrate``)."""
        self.n_prior = 0
        """Prior examples (simulated fade curves) among the training cells of the last fit."""
        self.cv_residuals: dict[int, tuple[float, float]] = {}
        """Index in ``examples`` of each uncensored cell (never a prior example) -> its
        held-out ``(log(life) - mu, sd)`` from the cross-validation of the last fit (empty
        when ``calibrate`` is False); ``|residual| / sd`` are its conformal scores."""
        self._model: SingleTaskGP | None = None
        self._fold_models: list[SingleTaskGP] = []
        self._low = np.zeros(0)
        self._span = np.ones(0)
        self._max_censored_cycles = math.inf

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Return the model's input columns, in order."""
        return self.features + self.extra_features

    @property
    def ready(self) -> bool:
        """Return True once :meth:`fit` succeeded with at least ``min_train`` cells."""
        return self._model is not None

    def _row(
        self,
        capacity_Ah: Sequence[float],
        coulombic_efficiency: Sequence[float | None],
        reference_capacity_Ah: float | None,
        extra: Mapping[str, float] | None,
        cycle_numbers: Sequence[int] | None = None,
    ) -> list[float]:
        fade = fade_features(
            capacity_Ah,
            coulombic_efficiency,
            self.n_cycles,
            first_cycle=self.first_cycle,
            reference_capacity_Ah=reference_capacity_Ah,
            cycle_numbers=cycle_numbers,
        )
        extra = extra or {}
        missing = [name for name in self.extra_features if name not in extra]
        if missing:
            raise PredictionError(f"extra features {missing} are missing; given: {sorted(extra)}")
        row = [fade[name] for name in self.features]
        for name in self.extra_features:
            value = float(extra[name])
            if not math.isfinite(value):
                raise PredictionError(f"extra feature {name!r} = {value!r}; limit: finite")
            row.append(value)
        return row

    def fit(
        self,
        examples: Sequence[CycleLifeExample | tuple[Any, ...]],
        prior_examples: Sequence[CycleLifeExample | tuple[Any, ...]] = (),
    ) -> CycleLifePredictor:
        """Fit the GP to training cells; return ``self``.

        Args:
            examples: Finished or stopped cells (:class:`CycleLifeExample` or plain tuples
                ``(capacity_Ah, coulombic_efficiency, cycle_life, censored)``).
            prior_examples: Examples that train the GP but are never held out to calibrate it
                (e.g. simulated fade curves); they count towards ``min_train``.

        Raises:
            NotReadyError: If fewer than ``min_train`` cells are usable, or fewer than
                ``min_uncensored`` of them have an exact life (the predictor is then not
                :attr:`ready`).
            PredictionError: If an example is malformed (the message names its index).
        """
        self._model = None
        rows: list[list[float]] = []
        targets: list[float] = []
        censored: list[bool] = []
        excluded = 0
        index: list[int] = []  # example index of each row (-1 for a prior example)
        n_cells = len(examples)
        for i, raw in enumerate([*examples, *prior_examples]):
            ex = CycleLifeExample(*raw)
            life = float(ex.cycle_life)
            where = f"examples[{i}]" if i < n_cells else f"prior_examples[{i - n_cells}]"
            if not (math.isfinite(life) and life >= 1):
                raise PredictionError(f"{where}.cycle_life = {life!r}; limit: >= 1")
            if life <= self.n_cycles and not ex.censored:
                excluded += 1  # known before the prediction point
                continue
            if ex.censored and ex.last_cycle < self.n_cycles:
                excluded += 1  # stopped before the features exist
                continue
            try:
                rows.append(
                    self._row(
                        ex.capacity_Ah,
                        ex.coulombic_efficiency,
                        ex.reference_capacity_Ah,
                        ex.extra,
                        ex.cycle_numbers,
                    )
                )
            except PredictionError as err:
                raise type(err)(f"{where}: {err}") from err
            targets.append(math.log(life))
            censored.append(bool(ex.censored))
            index.append(i if i < n_cells else -1)
        self.n_train, self.n_excluded = len(rows), excluded
        self.n_prior = sum(1 for i in index if i < 0)
        self.cv_residuals = {}
        if len(rows) < self.min_train:
            raise NotReadyError(
                f"{len(rows)} usable training cell(s) ({excluded} left out: crossed within "
                f"n_cycles={self.n_cycles} or stopped before it); limit: >= min_train="
                f"{self.min_train}"
            )
        exact = len(rows) - sum(censored)
        if exact < self.min_uncensored:
            raise NotReadyError(
                f"{exact} of {len(rows)} usable training cell(s) have an exact (uncensored) "
                f"cycle life; limit: >= min_uncensored={self.min_uncensored}"
            )
        X = np.asarray(rows, dtype=float)
        self._low = X.min(axis=0)
        span = X.max(axis=0) - self._low
        self._span = np.where(span > 0, span, 1.0)
        y = np.asarray(targets)
        mask = np.asarray(censored, dtype=bool)
        Xs = self._scale(X)
        # Seeded for a reproducible fit; the caller's global torch RNG state is restored after.
        prior = np.asarray([i < 0 for i in index], dtype=bool)
        with _one_thread(), manual_seed(self.seed):
            residuals, self._fold_models = (
                _cv_residuals(Xs, y, mask, self.seed, prior) if self.calibrate else ({}, [])
            )
            self.std_inflation = _cv_inflation(residuals, self.interval)
            self.cv_residuals = {index[row]: value for row, value in residuals.items()}
            self._model = _fit_gp(Xs, y, mask)
        self._max_censored_cycles = float(np.exp(y[mask].max())) if mask.any() else math.inf
        return self

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (X - self._low) / self._span

    def predict(
        self,
        capacity_Ah: Sequence[float],
        coulombic_efficiency: Sequence[float | None],
        *,
        reference_capacity_Ah: float | None = None,
        extra: Mapping[str, float] | None = None,
        cycle_numbers: Sequence[int] | None = None,
    ) -> Prediction:
        """Predict the cycle life of a cell from its cycles so far.

        Args:
            capacity_Ah: Delivered capacity of each cycle so far, cycle 1 first.
            coulombic_efficiency: Coulombic efficiency of each cycle, same indexing.
            reference_capacity_Ah: ``Q_ref``; default the capacity of cycle 1.
            extra: Values of the predictor's ``extra_features``.
            cycle_numbers: The cycle number of each value, for data with gaps (an
                extrapolating simulation's); None: value ``k`` is cycle ``k + 1``. The cycles
                observed are then the last number, and a crossing between two given cycles
                is located by linear interpolation (as ``compute_metrics`` does).

        Returns:
            The exact life (``known``) if the retention already fell below the threshold,
            otherwise the GP's prediction.

        Raises:
            InsufficientDataError: If the cell has not crossed and has fewer than
                ``n_cycles`` cycles.
            NotReadyError: If the predictor is not :attr:`ready`.
        """
        if cycle_numbers is None:
            observed = len(capacity_Ah)
            crossed = end_of_life_cycle(capacity_Ah, reference_capacity_Ah, self.threshold)
        else:
            if len(cycle_numbers) != len(capacity_Ah) or not len(capacity_Ah):
                raise PredictionError(
                    f"cycle_numbers has {len(cycle_numbers)} value(s) and capacity_Ah "
                    f"{len(capacity_Ah)}; limit: equal and >= 1"
                )
            observed = int(cycle_numbers[-1])
            q_ref = (
                float(capacity_Ah[0]) if reference_capacity_Ah is None
                else float(reference_capacity_Ah)
            )
            crossed = end_of_life_cycle_with_gaps(
                cycle_numbers, capacity_Ah, q_ref, self.threshold
            )
        if crossed is not None:
            return Prediction(
                mean_cycles=float(crossed),
                std_log=0.0,
                lower_cycles=float(crossed),
                upper_cycles=float(crossed),
                n_train=0,
                interval=self.interval,
                cycles_observed=observed,
                known=True,
            )
        if observed < self.n_cycles:
            raise InsufficientDataError(
                f"capacity_Ah has {observed} cycle(s) and has not crossed the threshold; "
                f"prediction needs at least n_cycles={self.n_cycles}"
            )
        if self._model is None:
            raise NotReadyError(
                f"the predictor is not fitted (last fit had {self.n_train} usable cell(s); "
                f"limit: >= min_train={self.min_train})"
            )
        row = self._row(
            capacity_Ah, coulombic_efficiency, reference_capacity_Ah, extra, cycle_numbers
        )
        with _one_thread():
            mu_arr, sd_arr = _predict_log(self._model, self._scale(np.asarray([row])))
        mu, sd = float(mu_arr[0]), float(sd_arr[0]) * self.std_inflation
        z = _z_quantile(0.5 + self.interval / 2)
        floor = observed + 1.0  # it has not crossed yet
        upper = max(math.exp(mu + z * sd), floor)
        return Prediction(
            mean_cycles=max(math.exp(mu), floor),
            std_log=sd,
            lower_cycles=max(math.exp(mu - z * sd), floor),
            upper_cycles=upper,
            n_train=self.n_train,
            interval=self.interval,
            cycles_observed=observed,
            at_least=upper >= self._max_censored_cycles,
        )

    def log_predictive(
        self, m: CycleMetrics, extra: Mapping[str, float] | None = None
    ) -> tuple[float, float]:
        """Return the GP's predictive mean and std of ``log(cycle_life)`` for a running cell.

        The raw std: without :attr:`std_inflation` and without the floor at the cycles
        observed (a caller that recalibrates the interval applies its own scale).

        Raises:
            InsufficientDataError: If the cell has fewer than ``n_cycles`` cycles.
            NotReadyError: If the predictor is not :attr:`ready`.
        """
        observed = m.cycles_completed
        if m.cycle_numbers is not None and len(m.cycle_numbers):
            observed = int(m.cycle_numbers[-1])
        if observed < self.n_cycles:
            raise InsufficientDataError(
                f"the cell has {observed} cycle(s); prediction needs at least "
                f"n_cycles={self.n_cycles}"
            )
        if self._model is None:
            raise NotReadyError(
                f"the predictor is not fitted (last fit had {self.n_train} usable cell(s); "
                f"limit: >= min_train={self.min_train})"
            )
        row = self._row(
            m.capacity_Ah, m.coulombic_efficiency, m.reference_capacity_Ah, extra,
            m.cycle_numbers,
        )
        with _one_thread():
            mu, sd = _predict_log(self._model, self._scale(np.asarray([row])))
        return float(mu[0]), float(sd[0])

    def cv_std(self, m: CycleMetrics, extra: Mapping[str, float] | None = None) -> float | None:
        """Return the cross-validation folds' predictive std of ``log(cycle_life)`` for a cell.

        The root mean square over the fold models of the last fit (None without them): the
        std on the same footing as the conformal scores ``|residual| / sd`` of
        :attr:`cv_residuals`, which the fold models also gave. A GP fitted on all cells is
        more confident than its folds (on 9 cells, 0.03-0.09 against their ~0.15 in a
        rehearsal), so a scale from the folds' scores belongs on the folds' std.

        Raises:
            InsufficientDataError: If the cell has fewer than ``n_cycles`` cycles.
        """
        if not self._fold_models:
            return None
        row = self._scale(np.asarray([self._row(
            m.capacity_Ah, m.coulombic_efficiency, m.reference_capacity_Ah, extra,
            m.cycle_numbers,
        )]))
        with _one_thread():
            var = [float(_predict_log(f, row)[1][0]) ** 2 for f in self._fold_models]
        return math.sqrt(sum(var) / len(var))

    def predict_metrics(
        self, m: CycleMetrics, extra: Mapping[str, float] | None = None
    ) -> Prediction:
        """Predict from a running cell's metrics (``compute_metrics(..., in_progress=True)``).

        Uses the metrics' own ``Q_ref``; a cell whose metrics already report an end of life
        (``cycle_life_censored`` False) gets that exact life.

        Args:
            m: The cell's metrics so far.
            extra: Values of the predictor's ``extra_features``.
        """
        if not m.cycle_life_censored:
            life = float(m.cycle_life)
            return Prediction(
                mean_cycles=life,
                std_log=0.0,
                lower_cycles=life,
                upper_cycles=life,
                n_train=0,
                interval=self.interval,
                cycles_observed=m.cycles_completed,
                known=True,
            )
        return self.predict(
            m.capacity_Ah,
            m.coulombic_efficiency,
            reference_capacity_Ah=m.reference_capacity_Ah,
            extra=extra,
            cycle_numbers=m.cycle_numbers,
        )
