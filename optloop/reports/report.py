"""Build a campaign report: an HTML page with PNG plots and CSV tables, from the store."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from optloop.analysis import hypervolume, hypervolume_history, pareto_trials
from optloop.config.models import CampaignConfig
from optloop.data.metrics import CycleMetrics
from optloop.reports import figures
from optloop.reports.cycling import load_cycling
from optloop.reports.html import Section, render_html
from optloop.reports.surrogate import calibration, importance
from optloop.reports.tables import pareto_table, trials_table
from optloop.secrets import mask_url
from optloop.store import CampaignStore, Trial

__all__ = ["PLOTS", "Report", "build_report"]

log = logging.getLogger(__name__)

#: The report's plots, in page order (file name without ``.png``).
PLOTS = ("pareto_front", "hypervolume", "capacity_fade_best", "importance", "calibration")


@dataclass(frozen=True)
class Report:
    """The files of a written report."""

    html: Path
    plots: dict[str, Path]
    tables: dict[str, Path]


def _best_curves(front: Sequence[Trial], limit: int = 6) -> tuple[dict[str, CycleMetrics],
                                                                    list[str]]:
    curves: dict[str, CycleMetrics] = {}
    notes = []
    for t in front:
        if len(curves) >= limit:
            break
        if not t.bdf_path:
            notes.append(f"trial {t.id}: no BDF file recorded")
            continue
        try:
            curves[f"trial {t.id}"] = load_cycling(t.bdf_path).metrics
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the report
            notes.append(f"trial {t.id}: {type(exc).__name__}: {exc}")
    return curves, notes


def _calibration_table(cals: Sequence[figures.Calibration]) -> pd.DataFrame:
    rows = []
    for c in cals:
        z = c.z
        rows.append({
            "metric": c.metric,
            "trials with a prediction": len(c.trial_ids),
            "censored": int(c.censored.sum()),
            "RMSE": c.rmse(),
            "within 1 std (ideal 68%)": c.coverage(1.0),
            "within 2 std (ideal 95%)": c.coverage(2.0),
            "mean z": float(z.mean()) if z.size else None,
            "std of z (ideal 1)": float(z.std()) if z.size > 1 else None,
        })
    return pd.DataFrame(rows)


def build_report(store: CampaignStore, config: CampaignConfig, out_dir: str | Path) -> Report:
    """Write ``report.html``, ``plots/*.png`` and ``trials.csv`` / ``pareto_designs.csv``.

    The page embeds its PNGs, so it can be mailed alone; the PNGs and CSVs sit beside it.
    """
    out = Path(out_dir)
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    c = config
    trials = store.trials()
    front = pareto_trials(trials, c.objectives, c.outcome_constraints)
    history = hypervolume_history(trials, c.objectives, c.outcome_constraints)
    counts = store.counts()

    plots: dict[str, Path] = {}

    def put(name: str, fig: Figure) -> Path:
        plots[name] = figures.save(fig, plots_dir / f"{name}.png")
        return plots[name]

    put("pareto_front", figures.pareto_figure(trials, c.objectives, c.outcome_constraints))
    put("hypervolume", figures.hypervolume_figure(history, len(c.objectives)))
    curves, curve_notes = _best_curves(front)
    put("capacity_fade_best", figures.capacity_fade_figure(
        curves, "Capacity fade of the best designs") if curves else figures.message_figure(
        "Capacity fade of the best designs", "no cycling data (BDF) for the Pareto designs"))
    try:
        imp = importance(trials, c)
        imp_note = ""
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported on the page
        log.warning("surrogate importance failed: %s", exc)
        imp, imp_note = {}, f"the surrogate fit failed ({type(exc).__name__}: {exc})"
    put("importance", figures.importance_figure(imp))
    cals = calibration(trials, c)
    put("calibration", figures.calibration_figure(cals))

    tables = {"trials": out / "trials.csv", "pareto_designs": out / "pareto_designs.csv"}
    all_rows = trials_table(trials, c)
    all_rows.to_csv(tables["trials"], index=False)
    front_rows = pareto_table(front, c)
    front_rows.to_csv(tables["pareto_designs"], index=False)

    objectives = ", ".join(f"{o.name} ({o.direction}, reference {o.reference:g})"
                           for o in c.objectives)
    constraints = "; ".join(f"{x.metric} {x.op} {x.value:g}" for x in c.outcome_constraints)
    summary = [
        ("campaign", c.name),
        ("description", c.description or "-"),
        ("store", mask_url(store.url)),
        ("objectives", objectives),
        ("outcome constraints", constraints or "none"),
        ("evaluator", f"{c.evaluator.name} (fidelity {c.evaluator.fidelity})"),
        ("budget", f"{counts['completed'] + counts['failed']} of {c.optimiser.budget} "
                   "evaluations finished"),
        ("trials", ", ".join(f"{k} {v}" for k, v in counts.items())),
        ("hypervolume", f"{hypervolume(trials, c.objectives, c.outcome_constraints):.6g}"),
        ("generated", time.strftime("%Y-%m-%d %H:%M:%S")),
    ]
    failures = pd.DataFrame(
        [{"trial": t.id, "reason": t.reason} for t in trials if t.status.value == "failed"]
    )
    sections = [
        Section("Pareto front", "Completed trials in objective space: the Pareto set in red "
                "(labelled by trial), dominated designs in grey, designs breaking an outcome "
                "constraint as crosses; ringed points are censored (lower bounds).",
                plots["pareto_front"], anchor="pareto"),
        Section("Pareto designs", "Compositions are atomic fractions of the metals (O per "
                "metal atom after the metals); layers from the current collector outwards.",
                tables=[front_rows], anchor="designs"),
        Section("Hypervolume against evaluations", "Dominated hypervolume above the "
                "reference point after each finished evaluation (failures count as "
                "evaluations).", plots["hypervolume"], anchor="hypervolume"),
        Section("Capacity fade of the best designs", "; ".join(curve_notes),
                plots["capacity_fade_best"], anchor="fade"),
        Section("Which inputs matter", imp_note or "A GP per objective refitted on the "
                "completed trials; importance is the mean change of its prediction when one "
                "parameter is shuffled across designs (shares sum to 1).",
                plots["importance"], anchor="importance"),
        Section("Predicted against observed", "What the surrogate predicted before each "
                "evaluation (mean, 2 std) against what was measured. Well calibrated: about "
                "68 % within 1 std, 95 % within 2 std, z with mean 0 and std 1.",
                plots["calibration"], tables=[_calibration_table(cals)], anchor="calibration"),
        Section("Failures", tables=[failures], anchor="failures"),
        Section("All trials", f"Also in {tables['trials'].name}.",
                tables=[all_rows.drop(columns=["bdf_path", "proposed_at", "finished_at"])],
                anchor="trials"),
    ]
    page = render_html(f"Campaign report: {c.name}", summary, sections, out)
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return Report(html_path, plots, tables)
