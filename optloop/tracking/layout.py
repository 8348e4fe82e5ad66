"""What goes where in MLflow: names, params, metrics and tags of the campaign's runs.

Pure functions of the store's trials and the config, so the layout can be read (and tested)
without a tracking server.

* **Experiment** ``tracking.experiment`` (default: the campaign name), tagged
  ``optloop.campaign``.
* **Parent run** (one per campaign, named after it, tag ``optloop.kind = campaign``): the
  config as key params and as ``config/campaign.yaml``; step metrics per iteration
  (:func:`iteration_metrics`); plots and the trials table as artifacts.
* **Child run** per trial (named ``trial-NNNN``, tags ``optloop.kind = trial``,
  ``optloop.trial_id``, ``mlflow.parentRunId``): the design as params, outcomes as metrics,
  why it was proposed (predicted mean and std per metric, acquisition value, iteration,
  batch), and tags for status, fidelity, failure reason, censoring and patent claims.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from optloop import __version__
from optloop.analysis import feasible_completed
from optloop.config.models import CampaignConfig
from optloop.space import Design, claims_practised, derive
from optloop.store import TERMINAL, Trial, TrialStatus

__all__ = [
    "KIND_CAMPAIGN",
    "KIND_TRIAL",
    "RUN_STATUS",
    "TAG_CAMPAIGN",
    "TAG_KIND",
    "TAG_MIRRORED",
    "TAG_TRIAL",
    "config_sha",
    "design_params",
    "iteration_metrics",
    "layers",
    "parent_params",
    "parent_tags",
    "trial_metrics",
    "trial_params",
    "trial_tags",
]

TAG_CAMPAIGN = "optloop.campaign"
TAG_KIND = "optloop.kind"
TAG_TRIAL = "optloop.trial_id"
#: The trial status a child run mirrors; a run whose tag equals the trial's status is final.
TAG_MIRRORED = "optloop.mirrored"
KIND_CAMPAIGN = "campaign"
KIND_TRIAL = "trial"

#: Trial status -> MLflow run status.
RUN_STATUS: dict[TrialStatus, str] = {
    TrialStatus.PROPOSED: "RUNNING",
    TrialStatus.RUNNING: "RUNNING",
    TrialStatus.COMPLETED: "FINISHED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.ABANDONED: "KILLED",
}

_MAX_TAG = 4000  # MLflow allows 8000; keep tags readable
_MAX_PARAM = 500


def _text(value: Any, limit: int) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif value is None:
        text = "none"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(data: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                out[name] = "none"
            _flatten(value, name + ".", out)
        else:
            out[name] = value


def layers(design: Design) -> str:
    """Return the layer stack from the current collector outwards, e.g. ``carbon/alloy``."""
    parts = []
    if design.carbon_layer is not None:
        parts.append("carbon")
    if design.alloy_layer is not None:
        parts.append("alloy")
    if design.lithium_layer is not None:
        parts.append("lithium")
    return "/".join(parts)


def design_params(design: Design) -> dict[str, str]:
    """Return the design as flat MLflow params (``alloy_layer.composition.Si`` ...)."""
    flat: dict[str, Any] = {}
    _flatten(design.to_dict(), "", flat)
    out = {k: _text(v, _MAX_PARAM) for k, v in flat.items()}
    out["layers"] = layers(design)
    if design.alloy_layer is not None:
        out["alloy_layer.formula"] = design.alloy_layer.formula
    return out


def trial_params(trial: Trial) -> dict[str, str]:
    """Return a child run's params: design, derived properties and the proposal context."""
    out = design_params(trial.design)
    try:
        for k, v in derive(trial.design).summary().items():
            out[f"derived.{k}"] = _text(v, _MAX_PARAM)
    except Exception:  # noqa: BLE001 - derived numbers are a courtesy, never a failure
        pass
    out["proposal.origin"] = trial.origin
    out["proposal.iteration"] = str(trial.iteration)
    out["proposal.batch_index"] = str(trial.batch_index)
    return out


def trial_metrics(trial: Trial) -> dict[str, float]:
    """Return a child run's metrics: predictions before evaluation, then the outcomes."""
    out: dict[str, float] = {}
    for metric, pred in trial.predictions.items():
        if len(pred) >= 2:
            out[f"predicted.{metric}.mean"] = float(pred[0])
            out[f"predicted.{metric}.std"] = float(pred[1])
    if trial.acquisition_value is not None:
        out["acquisition_value"] = float(trial.acquisition_value)
    if trial.status in TERMINAL:
        for metric, value in trial.outcomes.items():
            out[metric] = float(value)
        if trial.started_at is not None and trial.finished_at is not None:
            out["evaluation_seconds"] = max(0.0, trial.finished_at - trial.started_at)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def trial_tags(trial: Trial) -> dict[str, str]:
    """Return a child run's tags (status, fidelity, failure reason, censoring, claims)."""
    censored = {k: bool(v) for k, v in trial.censored.items()}
    tags = {
        "optloop.status": trial.status.value,
        "optloop.fidelity": trial.fidelity,
        "optloop.origin": trial.origin,
        "optloop.iteration": str(trial.iteration),
        "optloop.batch_index": str(trial.batch_index),
        "optloop.censored": "true" if any(censored.values()) else "false",
        "optloop.claims": ",".join(str(c) for c in claims_practised(trial.design)) or "none",
        "optloop.layers": layers(trial.design),
    }
    if trial.design.alloy_layer is not None:
        tags["optloop.formula"] = trial.design.alloy_layer.formula
    for metric, flag in censored.items():
        tags[f"optloop.censored.{metric}"] = "true" if flag else "false"
    if trial.reason:
        tags["optloop.failure_reason"] = _text(trial.reason, _MAX_TAG)
    if trial.job_id:
        tags["optloop.job_id"] = _text(trial.job_id, _MAX_TAG)
    if trial.bdf_path:
        tags["optloop.bdf_path"] = _text(trial.bdf_path, _MAX_TAG)
    meta = trial.metadata if isinstance(trial.metadata, dict) else {}
    review = meta.get("early_stopping")
    if isinstance(review, dict):
        # A stopped cell's cycle life is a prediction: say so where people look at it.
        tags["optloop.early_stopped"] = "true" if meta.get("early_stopped") else "false"
        tags["optloop.early_stopping.reason"] = _text(str(review.get("reason", "")), _MAX_TAG)
    if meta.get("lost_attempts"):
        tags["optloop.lost_cells"] = str(meta["lost_attempts"])
    note = meta.get("note")
    if note:
        tags["mlflow.note.content"] = _text(note, _MAX_TAG)
    return tags


def optimiser_name(config: CampaignConfig) -> str:
    """Return the acquisition the optimiser uses for this config."""
    acq = "qLogNEHVI" if len(config.objectives) > 1 else "qLogNEI"
    return f"sobol+botorch.{acq}"


def parent_params(config: CampaignConfig) -> dict[str, str]:
    """Return the parent run's key params (the whole config goes in as an artifact)."""
    c = config
    out = {
        "seed": str(c.seed),
        "optimiser": optimiser_name(c),
        "optimiser.initial_designs": str(c.optimiser.initial_designs),
        "optimiser.batch_size": str(c.optimiser.batch_size),
        "optimiser.budget": str(c.optimiser.budget),
        "optimiser.encoding": c.optimiser.encoding,
        "evaluator": c.evaluator.name,
        "evaluator.fidelity": c.evaluator.fidelity,
        "evaluator.max_concurrency": str(c.evaluator.max_concurrency),
        "evaluator.max_attempts": str(c.evaluator.max_attempts),
        "objectives": ", ".join(o.name for o in c.objectives),
        "outcome_constraints": "; ".join(
            f"{x.metric} {x.op} {x.value:g}" for x in c.outcome_constraints
        ) or "none",
    }
    for o in c.objectives:
        out[f"objective.{o.name}.direction"] = o.direction
        out[f"objective.{o.name}.reference"] = f"{o.reference:g}"
    if c.evaluator.options:
        out["evaluator.options"] = _text(json.dumps(c.evaluator.options, sort_keys=True),
                                         _MAX_PARAM)
    alloy = c.space.alloy_layer
    out["space.alloying_elements"] = ",".join(alloy.alloying_elements)
    out["space.non_alloying_elements"] = ",".join(alloy.non_alloying_elements) or "none"
    out["space.methods"] = ",".join(alloy.methods)
    out["space.carbon_layer"] = c.space.carbon_layer.mode
    out["space.lithium_layer"] = c.space.lithium_layer.mode
    return out


def parent_tags(config: CampaignConfig, store_url: str) -> dict[str, str]:
    """Return the parent run's descriptive tags."""
    tags = {
        "optloop.version": __version__,
        "optloop.store": store_url,
        "optloop.evaluator": config.evaluator.name,
    }
    if config.description:
        tags["mlflow.note.content"] = _text(config.description, _MAX_TAG)
    return tags


def config_sha(config: CampaignConfig) -> str:
    """Return a short hash of the whole config (to re-log it only when it changed)."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def iteration_metrics(
    record: Mapping[str, Any], trials: Sequence[Trial], config: CampaignConfig
) -> dict[str, float]:
    """Return the parent's step metrics for one iteration record of the store.

    Counts, hypervolume and timings are the ones the campaign recorded when it proposed the
    iteration's batch; ``best.<objective>`` is the best feasible value finished by then.
    """
    out: dict[str, float] = {}
    counts = record.get("counts") or {}
    for status in TrialStatus:
        if status.value in counts:
            out[f"trials.{status.value}"] = float(counts[status.value])
    for src, dst in (
        ("hypervolume", "hypervolume"),
        ("fit_seconds", "surrogate.fit_seconds"),
        ("acquisition_seconds", "acquisition.seconds"),
        ("n_proposed", "proposed"),
        ("n_observations", "observations"),
        ("cost_used", "cost.used"),
        ("expected_gain", "cost.expected_gain"),
        ("expected_cost", "cost.expected_cost"),
        ("gain_per_cost", "cost.gain_per_cost"),
    ):
        value = record.get(src)
        if isinstance(value, int | float) and math.isfinite(value):
            out[dst] = float(value)
    at = float(record.get("at", math.inf))
    done = [t for t in trials if t.finished_at is not None and t.finished_at <= at]
    ok = feasible_completed(done, config.objectives, config.outcome_constraints)
    for o in config.objectives:
        values = [t.outcomes[o.name] for t in ok]
        if values:
            out[f"best.{o.name}"] = float(max(values) if o.direction == "maximize"
                                          else min(values))
    acq = [t.acquisition_value for t in trials
           if t.iteration == record.get("iteration") and t.acquisition_value is not None]
    if acq:
        out["acquisition.max_value"] = float(max(acq))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def status_tags(status: Mapping[str, Any]) -> dict[str, str]:
    """Return the parent run's summary tags of a campaign status (``Campaign.status()``).

    ``optloop.lab.completed``, ``.running``, ``.lost_cells``, ``.rebuilt_trials``,
    ``.abandoned``, and with a lab evaluator ``.busy_channel_days``, ``.utilisation``,
    ``.faults``, ``.files_waiting``, ``.quarantined``, ``.median_days_to_result`` /
    ``.median_hours_to_result``.
    """
    lost = list(status.get("lost_cells") or [])
    tags = {
        "optloop.lab.completed": str(len(status.get("completed") or [])),
        "optloop.lab.running": str(len(status.get("running") or [])),
        "optloop.lab.lost_cells": str(sum(int(x.get("lost_cells", 0)) for x in lost)),
        "optloop.lab.rebuilt_trials": str(
            sum(1 for x in lost if x.get("status") != "abandoned")
        ),
        "optloop.lab.abandoned": str(len(status.get("abandoned") or [])),
    }
    lab = status.get("lab") or {}
    use = lab.get("channel_use") or {}
    if "busy_channel_days" in use:
        tags["optloop.lab.busy_channel_days"] = f"{use['busy_channel_days']:.4g}"
    if "utilisation" in use:
        tags["optloop.lab.utilisation"] = f"{use['utilisation']:.3f}"
    if "faults" in lab:
        tags["optloop.lab.faults"] = str(len(lab["faults"]))
    if "files_waiting" in lab:
        tags["optloop.lab.files_waiting"] = str(len(lab["files_waiting"]))
        tags["optloop.lab.quarantined"] = str(lab["quarantined"]["count"])
    ttr = lab.get("time_to_results") or {}
    head = ttr.get("order_to_result", ttr)
    if head.get("median_days") is not None:
        tags["optloop.lab.median_days_to_result"] = f"{head['median_days']:.4g}"
    if head.get("median_h") is not None:
        tags["optloop.lab.median_hours_to_result"] = f"{head['median_h']:.4g}"
    tags.update(cost_tags(status.get("costs") or {}))
    return tags


def cost_tags(costs: Mapping[str, Any]) -> dict[str, str]:
    """Return the parent run's cost tags of a status's ``costs`` (``Campaign.status()``).

    ``optloop.cost.used``, ``.cells_built``, ``.channel_days``, ``.simulation_seconds``; with a
    budget ``.budget`` and ``.left``; ``.last_gain_per_cost`` once a batch had one; and
    ``.stop`` (the reason) while the campaign is stopped. None for a campaign that states
    no costs (``stated`` false).
    """
    if not costs or not costs.get("stated"):
        return {}
    tags = {
        "optloop.cost.used": f"{float(costs.get('used', 0.0)):.6g}",
        "optloop.cost.cells_built": str(int(costs.get("cells_built", 0))),
        "optloop.cost.channel_days": f"{float(costs.get('channel_days', 0.0)):.6g}",
        "optloop.cost.simulation_seconds": f"{float(costs.get('simulation_seconds', 0.0)):.6g}",
    }
    for key in ("budget", "left", "last_gain_per_cost"):
        value = costs.get(key)
        if isinstance(value, int | float):
            tags[f"optloop.cost.{key}"] = f"{float(value):.6g}"
    stop = costs.get("stop")
    if stop and costs.get("stopped"):
        tags["optloop.cost.stop"] = str(stop.get("reason"))
    return tags
