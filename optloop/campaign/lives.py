r"""Mode (b): predicted cycle lives as observations (``lives.mode: predict``).

Every running cell is reviewed at ``min_cycles`` cycles and then every
``review_every_cycles``. At a review at horizon ``k`` (the last review point the cell has
reached) a :class:`~optloop.prediction.CycleLifePredictor` fitted on the training cells'
first ``k`` cycles predicts ``log(cycle_life)`` as ``N(m, s^2)``. One predictor per horizon:
a training cell that crossed end of life within ``k`` cycles is left out, so the prediction is
conditioned on the running cell's survival so far. Fits are cached per (horizon, training
set).

**Training cells** are the completed cells whose life was measured (censored at the test's
cycle count allowed); a cell stopped with a prediction never trains. Prior examples
(:meth:`LivesReviewer.set_prior_examples`, simulated fade curves) train but never calibrate.

**Calibration** (``lives.calibration: conformal``): split-conformal recalibration of the
log-life interval. The scores are ``|log(true life) - m| / s`` of the training cells whose life
is known, each predicted at the same horizon by the predictor's cross-validation fold that
held it out (no refit beyond the folds the predictor already fits); the scale is the
``ceil((n + 1) p) / n`` empirical quantile of the scores over the normal's ``p`` quantile,
``p`` = ``lives.interval`` (Vovk et al. 2005; Angelopoulos & Bates 2021), which needs
``ceil((n + 1) p) <= n`` (9 scores for 90 %). It multiplies the folds' (root mean square)
std for the new cell, the std the scores were normalised by, around the mean of the GP
fitted on all cells (in the manner of CV+, Barber et al. 2021): the GP fitted on all cells is
more confident than its folds, and a scale from the folds' scores put on its own std gave
intervals that covered 4-5 of 10 stopped cells in a rehearsal. With fewer scores (or fewer
than :data:`MIN_CONFORMAL_SCORES`), and with ``calibration: none``, the scale is the
predictor's own cross-validated inflation (the same scores' quantile, floored at 1), also on
the folds' std: on the GP's own std it covered 7 of 11 stopped cells of a rehearsal.

**The stop rule: expected value of information per channel-day.** The running cell's other
objectives (its capacity) are measured; its life ``L`` has the predictive
``log L ~ N(m, (scale s)^2)``. With ``HV(x)`` the hypervolume of the completed front plus the
cell at life ``x`` (objectives' reference point, BoTorch's ``DominatedPartitioning``),

    value = E_L |HV(L) - HV(exp m)| / HV_now * f,

the expected change of the campaign's hypervolume that knowing ``L`` would bring, as a
fraction of the current hypervolume, times ``f``, the fraction of the log-variance that
``Delta`` more cycles would remove. ``f = 1 - mean(r_{k+Delta}^2) / mean(r_k^2)`` over the
training cells with held-out residuals ``r`` at both horizons (at least 3), clipped to
[0, 1]; otherwise the stated model ``f = Delta / (k + Delta)`` (the log-variance falling as
one over the cycles seen); the measured fraction is shrunk to the model's with the weight of
5 cells, ``f = (n f_measured + 5 f_model) / (n + 5)``, as a few cells' residuals are noisy.
``Delta`` is ``review_every_cycles`` (no more than the test has
left); its cost is ``Delta`` times the cell's own days per cycle so far (channel-days).
The expectation is a 24-node Gauss-Hermite quadrature. The cell stops when
``value / cost < min_value_per_channel_day``. Two cases stop at the first trusted review
whatever the value: the cell is dominated even at the upper end of its interval, or at the
lower end it is already on the front and outlives every front member (its place on the
front is settled). A cell continues while no predictor can be trained at its horizon.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

from optloop.analysis.constraints import meets_constraints
from optloop.analysis.pareto import feasible_completed
from optloop.campaign.early_stop import EarlyStopper
from optloop.config import EarlyStoppingConfig, LivesConfig, Objective, OutcomeConstraint
from optloop.data import CycleMetrics, read_bdf
from optloop.data.bdf import TEST_TIME
from optloop.exceptions import OptloopError
from optloop.prediction import CycleLifeExample, CycleLifePredictor
from optloop.store import Trial

__all__ = [
    "GAUSS_HERMITE_NODES",
    "MIN_CONFORMAL_SCORES",
    "CalibratedPrediction",
    "LivesDecision",
    "LivesReview",
    "LivesReviewer",
    "conformal_scale",
    "value_of_continuing",
]

log = logging.getLogger(__name__)

#: Fewest conformal scores the recalibration uses; below it the predictor's CV inflation.
MIN_CONFORMAL_SCORES = 5
#: Nodes of the Gauss-Hermite quadrature of the expectation over the predictive.
GAUSS_HERMITE_NODES = 24
#: Fewest cells with held-out residuals at both horizons for the empirical variance fraction.
_MIN_COMMON = 3
#: Weight (in cells) of the stated model in the variance fraction: the held-out residuals of a
#: handful of cells alone made it 0 in a rehearsal (residuals at k + Delta above those at k by
#: chance) and every cell was stopped at its first review.
_PSEUDO_CELLS = 5
_SECONDS_PER_DAY = 86_400.0
_CYCLE_LIFE = "cycle_life"


def _z(interval: float) -> float:
    return float(torch.special.ndtri(torch.tensor(0.5 + interval / 2, dtype=torch.float64)))


def conformal_scale(
    scores: Sequence[float], interval: float, *, min_scores: int = MIN_CONFORMAL_SCORES
) -> float | None:
    """Return the split-conformal factor on the predictive std, None with too few scores.

    Args:
        scores: Nonconformity scores ``|log(true) - m| / s`` of calibration cells.
        interval: Probability of the central interval.
        min_scores: Fewest scores accepted.

    Returns:
        ``q / z`` where ``q`` is the ``ceil((n + 1) interval) / n`` empirical quantile of the
        scores and ``z`` the standard normal's ``(1 + interval) / 2`` quantile:
        ``m +- z * s * factor`` is the conformal interval. None also when that rank exceeds
        ``n`` (the conformal interval is unbounded: fewer than 9 scores for 90 %); capping it
        at the largest score covered 8 of 9 stopped cells in a rehearsal, the miss at a scale of
        0.32 from 7 scores.
    """
    s = np.sort(np.asarray([x for x in scores if math.isfinite(x)], dtype=float))
    n = s.size
    rank = math.ceil((n + 1) * interval)  # 1-based order statistic
    if n < min_scores or rank > n:  # rank > n: the conformal interval is unbounded
        return None
    return float(s[rank - 1]) / _z(interval)


def _signed(rows: Sequence[Mapping[str, float]], objectives: Sequence[Objective]) -> np.ndarray:
    sign = np.array([1.0 if o.direction == "maximize" else -1.0 for o in objectives])
    y = np.array([[r[o.name] for o in objectives] for r in rows], dtype=float)
    return y.reshape(len(rows), len(objectives)) * sign


def _hv(y: np.ndarray, ref: np.ndarray) -> float:
    """Return the hypervolume of the (maximisation) points ``y`` above ``ref``."""
    if y.size == 0:
        return 0.0
    if y.shape[1] == 1:
        return float(max(0.0, float(y.max() - ref[0])))
    better = (y > ref).all(axis=1)
    if not better.any():
        return 0.0
    t = torch.as_tensor(y[better], dtype=torch.float64)
    part = DominatedPartitioning(ref_point=torch.as_tensor(ref, dtype=torch.float64), Y=t)
    return float(part.compute_hypervolume())


class _Front:
    """The completed front and the hypervolume it gains from one more point."""

    def __init__(
        self,
        rows: Sequence[Mapping[str, float]],
        objectives: Sequence[Objective],
        constraints: Sequence[OutcomeConstraint],
    ) -> None:
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.ref = np.array(
            [o.reference if o.direction == "maximize" else -o.reference for o in objectives]
        )
        y = _signed(rows, objectives) if rows else np.zeros((0, len(objectives)))
        if len(y):
            y = y[is_non_dominated(torch.as_tensor(y), deduplicate=True).numpy()]
        self.y = y
        self.rows = list(rows)
        self.hv = _hv(y, self.ref)

    def with_point(self, outcomes: Mapping[str, float]) -> float:
        """Return the hypervolume of the front plus a point (an infeasible one adds nothing)."""
        if not meets_constraints(outcomes, self.constraints):
            return self.hv
        p = _signed([outcomes], self.objectives)
        return _hv(np.vstack([self.y, p]) if len(self.y) else p, self.ref)

    def dominated(self, outcomes: Mapping[str, float]) -> bool:
        """Return True when the point adds no hypervolume to the front."""
        return self.with_point(outcomes) <= self.hv * (1 + 1e-12)

    def max_life(self) -> float:
        """Return the longest cycle life on the front (0 without one)."""
        k = [o.name for o in self.objectives].index(_CYCLE_LIFE)
        if not len(self.y):
            return 0.0
        sign = 1.0 if self.objectives[k].direction == "maximize" else -1.0
        return float((self.y[:, k] * sign).max())


def value_of_continuing(
    front: _Front,
    outcomes: Mapping[str, float],
    mu_log: float,
    std_log: float,
    fraction: float,
    *,
    nodes: int = GAUSS_HERMITE_NODES,
) -> tuple[float, float]:
    """Return the expected change of the hypervolume from knowing the life, and its norm.

    ``E |HV(L) - HV(exp mu)| / norm * fraction`` over ``log L ~ N(mu, std^2)``; ``norm`` is
    the front's hypervolume, or (no front yet) the hypervolume with the cell at its median,
    or 1.

    Returns:
        ``(value, norm)``.
    """
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    at_median = front.with_point({**outcomes, _CYCLE_LIFE: math.exp(mu_log)})
    norm = front.hv if front.hv > 0 else (at_median if at_median > 0 else 1.0)
    diffs = [
        abs(front.with_point({**outcomes, _CYCLE_LIFE: math.exp(mu_log + std_log * xi)})
            - at_median)
        for xi in x
    ]
    return float(np.dot(w, diffs)) / norm * fraction, norm


@dataclass(frozen=True)
class CalibratedPrediction:
    """A running cell's predicted life with its recalibrated interval."""

    mu_log: float
    """Predictive mean of ``log(cycle_life)``."""
    std_log: float
    """The GP's own predictive std of ``log(cycle_life)`` (before calibration)."""
    calibration_scale: float
    """Factor on ``std_log`` that calibrates the interval."""
    calibration: str
    """``conformal`` (scale from conformal scores), ``cv`` (the predictor's CV inflation)."""
    n_scores: int
    """Conformal scores available at this horizon."""
    median_cycles: float
    lower_cycles: float
    upper_cycles: float
    interval: float
    cycles_observed: int
    horizon_cycles: int
    """Cycles of data the predictor used (the review point)."""
    n_train: int

    @property
    def sd(self) -> float:
        """Return the calibrated std of ``log(cycle_life)``."""
        return self.std_log * self.calibration_scale

    def record(self) -> dict[str, Any]:
        """Return ``metadata.prediction`` (the interface's keys, plus how it was calibrated)."""
        return {
            "median_cycles": self.median_cycles,
            "lower_cycles": self.lower_cycles,
            "upper_cycles": self.upper_cycles,
            "interval": self.interval,
            "std_log": self.std_log,
            "cycles_observed": self.cycles_observed,
            "n_train": self.n_train,
            "calibration_scale": self.calibration_scale,
            "calibration": self.calibration,
            "n_scores": self.n_scores,
            "horizon_cycles": self.horizon_cycles,
            "width_log": 2 * _z(self.interval) * self.sd,
        }


@dataclass(frozen=True)
class LivesDecision:
    """Whether to stop a running cell, with the value and cost that decided it."""

    stop: bool
    reason: str
    value: float | None = None
    """Expected change of the hypervolume (fraction of it) from ``delta_cycles`` more."""
    cost_channel_days: float | None = None
    value_per_channel_day: float | None = None
    fraction_removed: float | None = None
    """Fraction of the log-variance ``delta_cycles`` more cycles would remove."""
    fraction_source: str | None = None
    delta_cycles: int | None = None


@dataclass(frozen=True)
class LivesReview:
    """The outcome of one review of a running cell."""

    decision: LivesDecision
    prediction: CalibratedPrediction | None
    metrics: CycleMetrics
    horizon_cycles: int
    next_review_cycles: int

    def record(self) -> dict[str, Any]:
        """Return the JSON kept in the trial's metadata under ``lives`` for this review."""
        out: dict[str, Any] = {
            **asdict(self.decision),
            "horizon_cycles": self.horizon_cycles,
            "cycles_observed": self.metrics.cycles_completed,
            "next_review_cycles": self.next_review_cycles,
        }
        if self.prediction is not None:
            out["prediction"] = self.prediction.record()
        return out


class LivesReviewer:
    """Review running cells in mode (b): predict their lives and stop them by value per cost.

    Args:
        config: The campaign's ``lives`` section.
        objectives: The campaign's objectives (``cycle_life`` among them for the value).
        constraints: Its outcome constraints.
        threshold: End of life as a fraction of the reference capacity.
        seed: Seeds the predictors' fits.
    """

    def __init__(
        self,
        config: LivesConfig,
        objectives: Sequence[Objective],
        constraints: Sequence[OutcomeConstraint] = (),
        *,
        threshold: float = 0.8,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.threshold = threshold
        self.seed = seed
        # The early stopper's data reading (protocol, per-trial cache, measured trials).
        self._reader = EarlyStopper(
            EarlyStoppingConfig(
                after_cycles=config.min_cycles,
                interval=config.interval,
                min_training_cells=config.min_training_cells,
            ),
            threshold=threshold,
            seed=seed,
        )
        self._prior: tuple[CycleLifeExample, ...] = ()
        self._prior_version = 0
        self._fits: dict[tuple[int, frozenset[int], int], CycleLifePredictor | None] = {}
        self._ids: dict[tuple[int, frozenset[int], int], list[int]] = {}

    def set_prior_examples(self, examples: Sequence[CycleLifeExample]) -> None:
        """Set prior examples (e.g. simulated fade curves): they train, never calibrate."""
        self._prior = tuple(examples)
        self._prior_version += 1

    # --- schedule ---------------------------------------------------------------------------

    def horizon(self, cycles: int) -> int | None:
        """Return the last review point a cell with ``cycles`` cycles reached, None before."""
        c = self.config
        if cycles < c.min_cycles:
            return None
        return c.min_cycles + (cycles - c.min_cycles) // c.review_every_cycles * (
            c.review_every_cycles
        )

    # --- predictors ---------------------------------------------------------------------------

    def training(self, completed: Sequence[Trial]) -> list[Trial]:
        """Return the completed trials with a measured life and readable data, by id."""
        measured = self._reader.measured(completed)
        return sorted(
            (t for t in measured if self._reader._metrics_of(t) is not None), key=lambda t: t.id
        )

    def predictor(
        self, k: int, completed: Sequence[Trial]
    ) -> tuple[CycleLifePredictor | None, list[int]]:
        """Return the predictor at horizon ``k`` and the trial ids of its examples, in order.

        The predictor is None when it cannot be trained yet; fits are cached per horizon,
        training set and prior examples.
        """
        training = self.training(completed)
        key = (k, frozenset(t.id for t in training), self._prior_version)
        if key not in self._fits:
            examples = []
            for t in training:
                m = self._reader._metrics_of(t)
                assert m is not None
                examples.append(CycleLifeExample.from_metrics(m))
            predictor = CycleLifePredictor(
                k,
                threshold=self.threshold,
                interval=self.config.interval,
                min_train=self.config.min_training_cells,
                seed=self.seed,
            )
            try:
                predictor.fit(examples, prior_examples=self._prior)
            except OptloopError as exc:
                log.info("lives: no predictor at %d cycles yet (%s)", k, exc)
                self._fits[key] = None
            else:
                self._fits[key] = predictor if predictor.ready else None
            self._ids[key] = [t.id for t in training]
        return self._fits[key], self._ids[key]

    def calibrate(
        self,
        predictor: CycleLifePredictor,
        mu: float,
        sd: float,
        observed: int,
        k: int,
        *,
        cv_sd: float | None = None,
    ) -> CalibratedPrediction:
        """Return the prediction (log units) with its calibrated interval.

        Args:
            predictor: The predictor at horizon ``k``.
            mu: Its predictive mean of ``log(cycle_life)``.
            sd: Its predictive std (the GP fitted on all training cells).
            observed: Cycles the cell has.
            k: The horizon.
            cv_sd: The cross-validation folds' std for the cell
                (:meth:`~optloop.prediction.CycleLifePredictor.cv_std`): the scale multiplies
                it, as the scores were normalised by the folds' stds (a CV+ style interval
                around the full model's mean); None: the GP's own ``sd``.
        """
        scores = [abs(r) / s for r, s in predictor.cv_residuals.values()]
        scale: float | None = None
        source = "cv"
        if self.config.calibration == "conformal" and cv_sd is not None:
            scale = conformal_scale(scores, self.config.interval)
            if scale is not None:
                source = "conformal"
        if scale is None:
            scale = predictor.std_inflation
        if cv_sd is not None:
            sd = cv_sd  # the scale (either) comes from scores normalised by the folds' std
        z = _z(self.config.interval)
        floor = observed + 1.0  # it has not crossed yet
        s = sd * scale
        return CalibratedPrediction(
            mu_log=mu,
            std_log=sd,
            calibration_scale=scale,
            calibration=source,
            n_scores=len(scores),
            median_cycles=max(math.exp(mu), floor),
            lower_cycles=max(math.exp(mu - z * s), floor),
            upper_cycles=max(math.exp(mu + z * s), floor),
            interval=self.config.interval,
            cycles_observed=observed,
            horizon_cycles=k,
            n_train=predictor.n_train,
        )

    def variance_fraction(
        self, k: int, delta: int, completed: Sequence[Trial]
    ) -> tuple[float, str]:
        """Return the fraction of the log-variance ``delta`` more cycles would remove.

        From the held-out residuals of the predictors at ``k`` and ``k + delta`` on the
        training cells both hold out (at least 3), shrunk to ``delta / (k + delta)`` with the
        weight of 5 cells; else ``delta / (k + delta)``.
        """
        model = delta / (k + delta)
        here, ids_here = self.predictor(k, completed)
        there, ids_there = self.predictor(k + delta, completed)
        if here is not None and there is not None:
            a = {ids_here[i]: r for i, (r, _) in here.cv_residuals.items()}
            b = {ids_there[i]: r for i, (r, _) in there.cv_residuals.items()}
            common = sorted(set(a) & set(b))
            if len(common) >= _MIN_COMMON:
                before = float(np.mean([a[c] ** 2 for c in common]))
                after = float(np.mean([b[c] ** 2 for c in common]))
                if before > 0:
                    measured = min(1.0, max(0.0, 1.0 - after / before))
                    n = len(common)
                    f = (n * measured + _PSEUDO_CELLS * model) / (n + _PSEUDO_CELLS)
                    return f, (
                        f"held-out residuals of {n} cells at {k} and {k + delta} "
                        f"({measured:.2f}) shrunk to the model delta / (k + delta) "
                        f"({model:.2f}) with weight {_PSEUDO_CELLS} cells"
                    )
        return model, f"model delta / (k + delta) at k = {k}"

    # --- reviewing ------------------------------------------------------------------------------

    def read(self, partial_bdf: str, *, cell: str = "full") -> tuple[CycleMetrics, float | None]:
        """Return a running cell's metrics and its test time so far in days (None unknown)."""
        frame, metadata = read_bdf(partial_bdf)
        metrics = self._reader._protocol(metadata, cell, partial_bdf).compute(
            frame, in_progress=True, source=partial_bdf
        )
        days = None
        if TEST_TIME in frame and len(frame):
            days = float(frame[TEST_TIME].max()) / _SECONDS_PER_DAY
        return metrics, days

    def review(
        self,
        partial_bdf: str,
        completed: Sequence[Trial],
        *,
        outcomes: Mapping[str, float],
        max_cycles: int | None,
        channel_days: float | None = None,
        cell: str = "full",
    ) -> LivesReview | None:
        """Predict a running cell's life and decide whether to keep cycling it.

        Args:
            partial_bdf: The cell's BDF file so far.
            completed: The campaign's completed trials (training data and the front).
            outcomes: The cell's partial metrics (its measured capacity).
            max_cycles: The test's cycle count (None: unknown).
            channel_days: Channel-days the cell used so far (default: its test time).
            cell: ``"full"`` or ``"half"``.

        Returns:
            None before ``min_cycles`` or when the cell already reached end of life (its
            test ends on its own); otherwise the review.
        """
        metrics, days = self.read(partial_bdf, cell=cell)
        observed = metrics.cycles_completed
        if metrics.cycle_numbers:
            observed = int(metrics.cycle_numbers[-1])
        k = self.horizon(observed)
        if k is None or not metrics.cycle_life_censored:
            return None
        nxt = k + self.config.review_every_cycles

        def done(decision: LivesDecision, pred: CalibratedPrediction | None = None) -> LivesReview:
            return LivesReview(decision, pred, metrics, k, nxt)

        predictor, _ = self.predictor(k, completed)
        if predictor is None:
            return done(LivesDecision(False, f"predictor not ready at {k} cycles: continue"))
        mu, sd = predictor.log_predictive(metrics)
        pred = self.calibrate(predictor, mu, sd, observed, k, cv_sd=predictor.cv_std(metrics))
        every = self.config.review_every_cycles
        delta = every if max_cycles is None else min(every, max_cycles - observed)
        spent = channel_days if channel_days is not None and channel_days > 0 else days
        rows = [t.outcomes for t in feasible_completed(completed, self.objectives,
                                                       self.constraints)]
        fraction, source = (
            self.variance_fraction(k, delta, completed) if delta > 0 else (0.0, "test ends")
        )
        decision = self.decide(
            pred,
            outcomes,
            rows,
            delta_cycles=delta,
            days_per_cycle=(spent / observed) if spent and observed > 0 else None,
            fraction=fraction,
            fraction_source=source,
        )
        return done(decision, pred)

    def decide(
        self,
        pred: CalibratedPrediction,
        outcomes: Mapping[str, float],
        front_rows: Sequence[Mapping[str, float]],
        *,
        delta_cycles: int,
        days_per_cycle: float | None,
        fraction: float,
        fraction_source: str = "given",
    ) -> LivesDecision:
        """Decide on a cell from its calibrated prediction (the rule of the module docstring).

        Args:
            pred: The cell's calibrated prediction.
            outcomes: Its measured outcomes (every objective but ``cycle_life``).
            front_rows: Outcomes of the feasible completed trials.
            delta_cycles: Cycles until the next review (0 or less: the test ends now).
            days_per_cycle: The cell's channel-days per cycle so far (None: unknown).
            fraction: Fraction of the log-variance ``delta_cycles`` more would remove.
            fraction_source: Where ``fraction`` came from (recorded).
        """
        text = (
            f"predicted {pred.median_cycles:.0f} [{pred.lower_cycles:.0f}, "
            f"{pred.upper_cycles:.0f}] cycles at {pred.horizon_cycles}"
        )
        names = [o.name for o in self.objectives]
        missing = [n for n in names if n != _CYCLE_LIFE and n not in outcomes]
        if missing:
            return LivesDecision(False, f"{text}; partial data lack {missing}: continue")
        if _CYCLE_LIFE not in names:
            return LivesDecision(False, f"{text}; cycle_life is no objective: continue")
        front = _Front(front_rows, self.objectives, self.constraints)
        point = {k: float(v) for k, v in outcomes.items() if k != _CYCLE_LIFE}
        if front.dominated({**point, _CYCLE_LIFE: pred.upper_cycles}):
            return LivesDecision(True, f"{text}: dominated even at its upper end")
        at_lower = {**point, _CYCLE_LIFE: pred.lower_cycles}
        if len(front.y) and not front.dominated(at_lower) and (
            pred.lower_cycles >= front.max_life()
        ):
            return LivesDecision(
                True,
                f"{text}: on the front even at its lower end and outliving every front member "
                f"({front.max_life():.0f} cycles)",
            )
        if delta_cycles <= 0:
            return LivesDecision(False, f"{text}; the test ends now: continue")
        value, _ = value_of_continuing(front, point, pred.mu_log, pred.sd, fraction)
        if days_per_cycle is None or days_per_cycle <= 0:
            return LivesDecision(
                False, f"{text}; cycle duration unknown: continue", value, None, None,
                fraction, fraction_source, delta_cycles,
            )
        cost = delta_cycles * days_per_cycle
        vpd = value / cost
        threshold = self.config.min_value_per_channel_day
        stop = vpd < threshold
        relation = "<" if stop else ">="
        reason = (
            f"{text}: value of {delta_cycles} more cycles {value:.3g} of the hypervolume "
            f"(variance fraction {fraction:.2f}) over "
            f"{cost:.3g} channel-days = {vpd:.3g} per channel-day {relation} "
            f"{threshold:g}: {'stop' if stop else 'continue'}"
        )
        return LivesDecision(
            stop, reason, value, cost, vpd, fraction, fraction_source, delta_cycles
        )
