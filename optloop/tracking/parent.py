"""The campaign's parent run: config, step metrics per iteration, progress plots, status.

Each function writes only what MLflow lacks, judged by the parent's tags
(``optloop.config_sha``, ``optloop.progress_state``, ``optloop.report_state``) and by the
steps its metric histories already hold.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from optloop.analysis import hypervolume
from optloop.config.models import CampaignConfig
from optloop.store import CampaignStore, Trial, TrialStatus
from optloop.tracking import layout
from optloop.tracking.connection import display_uri
from optloop.tracking.state import MirrorState, SyncReport
from optloop.tracking.writes import log_batch, log_report_files, log_step_metrics

__all__ = [
    "HV_EVAL_METRIC",
    "HV_METRIC",
    "hypervolume_by_evaluations",
    "sync_config",
    "sync_progress",
    "sync_steps",
]

#: Step metric (step = iteration) whose history says which iterations the parent has.
HV_METRIC = "hypervolume"
#: Hypervolume after each finished evaluation (step = evaluations).
HV_EVAL_METRIC = "hypervolume_by_evaluations"


def hypervolume_by_evaluations(st: MirrorState, trials: Sequence[Trial],
                               config: CampaignConfig) -> list[tuple[int, float, float]]:
    """Return ``(k, finished_at, hypervolume)`` after each finished evaluation, in order.

    Like :func:`optloop.analysis.hypervolume_history`, but only prefixes not seen by
    an earlier sync are computed (a long campaign would otherwise cost quadratic time on
    every sync).
    """
    done = sorted((t for t in trials if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)),
                  key=lambda t: (t.finished_at or 0.0, t.id))
    out = []
    valid = True
    for k in range(1, len(done) + 1):
        cached = st.hv_cache.get(k)
        valid = valid and cached is not None and cached[0] == done[k - 1].id
        if valid and cached is not None:
            hv = cached[1]
        else:
            hv = hypervolume(done[:k], config.objectives, config.outcome_constraints)
            st.hv_cache[k] = (done[k - 1].id, hv)
        out.append((k, done[k - 1].finished_at or 0.0, hv))
    return out


def sync_config(client: Any, st: MirrorState, config: CampaignConfig, store: CampaignStore
                ) -> None:
    """Log the key params (once), descriptive tags and ``config/campaign.yaml``.

    Params are immutable in MLflow: a value changed since (a larger budget on resume, say)
    goes in a tag ``optloop.changed.<param>``.
    """
    sha = layout.config_sha(config)
    if st.parent_tags.get("optloop.config_sha") == sha:
        return
    params = layout.parent_params(config)
    new = {k: v for k, v in params.items() if k not in st.parent_params}
    tags = layout.parent_tags(config, display_uri(store.url))
    for k, v in params.items():
        if k in st.parent_params and st.parent_params[k] != v:
            tags[f"optloop.changed.{k}"] = v
    log_batch(client, st.parent_id, params=new, tags=tags)
    st.parent_params.update(new)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "campaign.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        client.log_artifact(st.parent_id, str(path), "config")
    client.set_tag(st.parent_id, "optloop.config_sha", sha)
    st.parent_tags.update(tags)
    st.parent_tags["optloop.config_sha"] = sha


def sync_steps(client: Any, st: MirrorState, store: CampaignStore, config: CampaignConfig,
               trials: Sequence[Trial], report: SyncReport) -> None:
    """Log the step metrics of iterations (and evaluations) the parent does not have yet."""
    records: dict[int, dict[str, Any]] = {}
    for r in store.iterations():
        records[int(r["iteration"])] = r  # the last record of an iteration wins
    rows = []
    for it in sorted(records):
        if it in st.steps:
            continue
        m = layout.iteration_metrics(records[it], trials, config)
        m[HV_METRIC] = m.pop(HV_METRIC, 0.0)  # last: once MLflow has it, it has the step
        rows.append((it, float(records[it].get("at", time.time())), m))
    if rows:
        report.steps_logged += log_step_metrics(client, st.parent_id, rows)
        st.steps.update(r[0] for r in rows)
    evals = [(k, at, {HV_EVAL_METRIC: hv})
             for k, at, hv in hypervolume_by_evaluations(st, trials, config)
             if k not in st.eval_steps]
    if evals:
        report.steps_logged += log_step_metrics(client, st.parent_id, evals)
        st.eval_steps.update(r[0] for r in evals)


def _log_progress_plots(client: Any, st: MirrorState, config: CampaignConfig,
                        trials: Sequence[Trial]) -> int:
    from optloop.reports import figures
    from optloop.reports.tables import trials_table

    c = config
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pareto = figures.pareto_figure(trials, c.objectives, c.outcome_constraints)
        history = [(k, v) for k, _, v in hypervolume_by_evaluations(st, trials, c)]
        hv = figures.hypervolume_figure(history, len(c.objectives))
        files = [figures.save(pareto, d / "pareto_front.png"),
                 figures.save(hv, d / "hypervolume.png")]
        table = d / "trials.csv"
        trials_table(trials, c).to_csv(table, index=False)
        for f in files:
            client.log_artifact(st.parent_id, str(f), "plots")
        client.log_artifact(st.parent_id, str(table), "tables")
    return len(files) + 1


def sync_progress(client: Any, st: MirrorState, store: CampaignStore, config: CampaignConfig,
                  trials: Sequence[Trial], report: SyncReport, *, completion_report: bool = True
                  ) -> None:
    """Refresh the Pareto and hypervolume plots and the trials table when trials changed.

    When the campaign is complete (no active trial, budget reached) the parent is marked
    FINISHED and, with ``completion_report``, the report's plots are logged under
    ``report/``; a resumed campaign puts it back to RUNNING.
    """
    counts = store.counts()
    state = json.dumps(counts, sort_keys=True)
    if st.parent_tags.get("optloop.progress_state") != state:
        report.artifacts_logged += _log_progress_plots(client, st, config, trials)
        tags = {"optloop.progress_state": state,
                **{f"optloop.trials.{k}": str(v) for k, v in counts.items()}}
        log_batch(client, st.parent_id, tags=tags)
        st.parent_tags.update(tags)
    finished = counts["completed"] + counts["failed"]
    done = counts["proposed"] + counts["running"] == 0 and finished >= config.optimiser.budget
    if done:
        if completion_report and st.parent_tags.get("optloop.report_state") != state:
            from optloop.reports import build_report

            with tempfile.TemporaryDirectory() as tmp:
                written = build_report(store, config, Path(tmp) / "report")
                report.artifacts_logged += log_report_files(client, st.parent_id, written)
            client.set_tag(st.parent_id, "optloop.report_state", state)
            st.parent_tags["optloop.report_state"] = state
            report.report_logged = True
        if st.parent_status != "FINISHED":
            end = max((t.finished_at or 0.0 for t in trials), default=time.time())
            client.set_terminated(st.parent_id, "FINISHED", end_time=int(end * 1000))
            client.set_tag(st.parent_id, "optloop.campaign_status", "done")
            st.parent_status = "FINISHED"
    elif st.parent_status != "RUNNING":
        client.update_run(st.parent_id, status="RUNNING")
        client.set_tag(st.parent_id, "optloop.campaign_status", "running")
        st.parent_status = "RUNNING"
