"""Tables of a campaign's trials: all of them, and the Pareto designs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from optloop.config.models import CampaignConfig
from optloop.space import Design, claims_practised
from optloop.store import Trial

__all__ = ["describe_layers", "pareto_table", "trials_table"]


def describe_layers(design: Design) -> dict[str, str]:
    """Return the design's layers as short readable strings (composition, stack, cell)."""
    a, c, li, cell = design.alloy_layer, design.carbon_layer, design.lithium_layer, design.cell
    out = {
        "composition": a.formula if a is not None else "-",
        "alloy layer": (
            f"{a.thickness_um:.3g} um {a.structure}, {a.method} ("
            + ", ".join(f"{k} {v:.3g}" for k, v in sorted(a.conditions.items())) + ")"
            if a is not None else "-"
        ),
        "carbon layer": (f"{c.thickness_um:.3g} um, porosity {c.porosity:.2f}"
                         if c is not None else "-"),
        "lithium layer": f"{li.thickness_um:.3g} um" if li is not None else "-",
        "cell": cell.positive_electrode + (
            f", N/P {cell.np_ratio:.3g}" if cell.np_ratio is not None
            else f", {cell.positive_loading_mAh_cm2:.3g} mAh/cm2"
        ),
        "claims": ",".join(str(x) for x in claims_practised(design)) or "-",
    }
    return out


def _value(t: Trial, metric: str) -> str:
    if metric not in t.outcomes:
        return "-"
    v = t.outcomes[metric]
    return (">= " if t.censored.get(metric) else "") + f"{v:.4g}"


def pareto_table(front: Sequence[Trial], config: CampaignConfig) -> pd.DataFrame:
    """Return the Pareto designs with their outcomes, composition and layers."""
    rows = []
    for t in front:
        row: dict[str, Any] = {"trial": t.id}
        for o in config.objectives:
            row[o.name] = _value(t, o.name)
        row.update(describe_layers(t.design))
        rows.append(row)
    return pd.DataFrame(rows)


def trials_table(trials: Sequence[Trial], config: CampaignConfig) -> pd.DataFrame:
    """Return every trial: status, proposal, design, outcomes and predictions (one row each)."""
    metrics: list[str] = [o.name for o in config.objectives]
    for t in trials:
        for m in list(t.outcomes) + list(t.predictions):
            if m not in metrics:
                metrics.append(m)
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "trial": t.id, "name": t.uid, "status": t.status.value, "origin": t.origin,
            "iteration": t.iteration, "batch_index": t.batch_index, "fidelity": t.fidelity,
        }
        row.update(describe_layers(t.design))
        for m in metrics:
            row[m] = t.outcomes.get(m)
            row[f"{m} censored"] = bool(t.censored.get(m, False)) if m in t.outcomes else None
            pred = t.predictions.get(m)
            row[f"{m} predicted mean"] = pred[0] if pred else None
            row[f"{m} predicted std"] = pred[1] if pred else None
        row["acquisition_value"] = t.acquisition_value
        row["failure_reason"] = t.reason
        row["bdf_path"] = t.bdf_path
        row["proposed_at"] = t.proposed_at
        row["finished_at"] = t.finished_at
        rows.append(row)
    return pd.DataFrame(rows)
