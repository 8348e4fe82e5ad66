"""Mirror a campaign store into MLflow, idempotently.

The store is the source of truth; MLflow is written *from* it. :meth:`MlflowMirror.sync`
finds or creates the experiment, the campaign's parent run and one child run per trial by
their tags (``optloop.campaign``, ``optloop.kind``, ``optloop.trial_id``), and records on
each child the trial status it mirrors (tag ``optloop.mirrored``): a finished trial whose
run says so is never touched again, so a second sync writes nothing. Parent step metrics
are logged only for steps MLflow does not have yet; child metrics only for keys the run
does not have yet; params only once; artifacts overwrite themselves. A sync interrupted at
any point (server killed, process killed) is completed by the next one, with nothing lost
and nothing duplicated.

Only :class:`~mlflow.tracking.MlflowClient` with explicit run ids is used (no fluent
active-run state), writes go through ``log_batch`` in chunks within MLflow's limits, and
HTTP timeouts and retries are short: a dead server costs a few seconds, and any failure
comes back as a :class:`SyncReport` with the error instead of an exception.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optloop.config.models import CampaignConfig, TrackingConfig
from optloop.store import TERMINAL, CampaignStore, Trial
from optloop.tracking import layout
from optloop.tracking import parent as parent_run
from optloop.tracking.connection import (
    artifact_root_uri,
    check_reachable,
    display_uri,
    resolve_tracking_uri,
    set_http_limits,
)
from optloop.tracking.schema import prepare_tracking_store
from optloop.tracking.state import ChildState, MirrorState, SyncReport
from optloop.tracking.writes import log_batch, log_cycling, log_report_files

__all__ = ["MlflowMirror", "SyncReport"]

# Opens the experiment on its runs table in the MLflow 3 UI (its default is the GenAI view).
_KIND_TAG, _KIND_TRAINING = "mlflow.experimentKind", "custom_model_development"


class MlflowMirror:
    """Write one campaign's store into MLflow (see the module docstring).

    Args:
        tracking: The config's tracking section (the URI may be overridden by the
            environment, see :func:`~optloop.tracking.connection.resolve_tracking_uri`).
        campaign_name: The campaign (its runs are found by this name).
        timeout_s: HTTP timeout of each request to a tracking server.
        retries: HTTP retries per request (MLflow's default of 7 with back-off would make a
            dead server cost minutes).
    """

    def __init__(
        self,
        tracking: TrackingConfig,
        campaign_name: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 1,
    ) -> None:
        self.tracking = tracking
        self.campaign = campaign_name
        self.experiment_name = tracking.experiment or campaign_name
        self.uri = resolve_tracking_uri(tracking)
        self.timeout_s = timeout_s
        self.retries = retries
        # Here, in the thread that builds the mirror: a sync never changes the environment.
        set_http_limits(timeout_s, retries)
        self._client: Any = None
        self._state: MirrorState | None = None

    # --- public ---------------------------------------------------------------------------

    def sync(self, store: CampaignStore, config: CampaignConfig) -> SyncReport:
        """Bring MLflow up to date with the store; never raises for tracking problems.

        When the campaign is complete (no active trial, budget reached), the report plots
        (:func:`optloop.reports.build_report`) are logged to the parent run under
        ``report/`` once per final state.
        """
        report = SyncReport(tracking_uri=display_uri(self.uri))
        t0 = time.perf_counter()
        try:
            check_reachable(self.uri, self.timeout_s)
            self._sync(store, config, report)
            report.ok = True
        except Exception as exc:  # noqa: BLE001 - a tracking failure never stops a campaign
            self._state = None  # rediscover runs next time: the server may have changed
            report.error = f"{type(exc).__name__}: {str(exc).strip()[:800]}"
        report.seconds = time.perf_counter() - t0
        return report

    def log_report(
        self, store: CampaignStore, config: CampaignConfig, files: Any, *, create: bool = True
    ) -> SyncReport:
        """Log a written report (:class:`optloop.reports.Report`) to the parent run.

        With ``create`` the store is synced first (take the campaign lock before); without,
        only an existing parent run is used.
        """
        report = SyncReport(tracking_uri=display_uri(self.uri))
        t0 = time.perf_counter()
        try:
            check_reachable(self.uri, self.timeout_s)
            if create:
                self._sync(store, config, report, completion_report=False)
                assert self._state is not None
                parent_id = self._state.parent_id
            else:
                client = self.client()
                exp = client.get_experiment_by_name(self.experiment_name)
                found = self._find_parent(client, exp.experiment_id) if exp else None
                if found is None:
                    raise RuntimeError(
                        f"no parent run of campaign {self.campaign!r} in MLflow yet; run "
                        "`optloop sync CONFIG` first"
                    )
                parent_id = found.info.run_id
                report.experiment_id = exp.experiment_id
            report.parent_run_id = parent_id
            report.artifacts_logged += log_report_files(self.client(), parent_id, files)
            report.report_logged = True
            if create and self._state is not None:
                state = json.dumps(store.counts(), sort_keys=True)
                self.client().set_tag(parent_id, "optloop.report_state", state)
                self._state.parent_tags["optloop.report_state"] = state
            report.ok = True
        except Exception as exc:  # noqa: BLE001 - tracking failures are reported, not raised
            self._state = None
            report.error = f"{type(exc).__name__}: {str(exc).strip()[:800]}"
        report.seconds = time.perf_counter() - t0
        return report

    def log_status(self, status: Mapping[str, Any]) -> SyncReport:
        """Put the campaign's status (``Campaign.status()``) on the parent run.

        Writes ``status/status.json`` (overwritten each time) and summary tags a lab manager
        filters on: ``optloop.lab.*`` (completed trials, running and lost cells, channel use,
        faults, time to results). Needs a parent run (call after :meth:`sync`); never raises.
        """
        report = SyncReport(tracking_uri=display_uri(self.uri))
        t0 = time.perf_counter()
        try:
            if self._state is None:
                raise RuntimeError("no parent run yet: sync first")
            parent_id = self._state.parent_id
            report.parent_run_id = parent_id
            client = self.client()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "status.json"
                path.write_text(json.dumps(status, indent=2, default=str))
                client.log_artifact(parent_id, str(path), "status")
            report.artifacts_logged += 1
            log_batch(client, parent_id, tags=layout.status_tags(status))
            report.ok = True
        except Exception as exc:  # noqa: BLE001 - tracking failures are reported, not raised
            report.error = f"{type(exc).__name__}: {str(exc).strip()[:800]}"
        report.seconds = time.perf_counter() - t0
        return report

    def client(self) -> Any:
        """Return the (cached) ``MlflowClient`` of the tracking URI."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            prepare_tracking_store(self.uri)  # a killed first set-up is never left half-made
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    # --- discovery --------------------------------------------------------------------------

    def _experiment(self, client: Any, config: CampaignConfig) -> str:
        from mlflow.exceptions import MlflowException

        exp = client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            tags = {
                layout.TAG_CAMPAIGN: self.campaign,
                "optloop.objectives": ", ".join(o.name for o in config.objectives),
                _KIND_TAG: _KIND_TRAINING,
            }
            try:
                return str(client.create_experiment(
                    self.experiment_name,
                    artifact_location=artifact_root_uri(self.tracking, self.uri,
                                                        self.experiment_name),
                    tags=tags,
                ))
            except MlflowException:
                exp = client.get_experiment_by_name(self.experiment_name)  # created meanwhile
                if exp is None:
                    raise
        if exp.lifecycle_stage != "active":
            raise RuntimeError(
                f"MLflow experiment {self.experiment_name!r} is deleted; restore it "
                "(`mlflow experiments restore`) or set tracking.experiment to another name"
            )
        if _KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND_TRAINING)
        return str(exp.experiment_id)

    def _search(self, client: Any, experiment_id: str, kind: str) -> list[Any]:
        from mlflow.entities import ViewType

        flt = (f"tags.`{layout.TAG_CAMPAIGN}` = '{self.campaign}' and "
               f"tags.`{layout.TAG_KIND}` = '{kind}'")
        runs: list[Any] = []
        token = None
        while True:
            page = client.search_runs([experiment_id], filter_string=flt,
                                      run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                      order_by=["attributes.start_time ASC"], page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _find_parent(self, client: Any, experiment_id: str) -> Any | None:
        runs = self._search(client, experiment_id, layout.KIND_CAMPAIGN)
        return runs[0] if runs else None

    def _discover(self, client: Any, config: CampaignConfig, store: CampaignStore,
                  report: SyncReport) -> MirrorState:
        exp_id = self._experiment(client, config)
        prun = self._find_parent(client, exp_id)
        if prun is None:
            first = store.trials()
            start = min((t.proposed_at for t in first), default=time.time())
            prun = client.create_run(
                exp_id, start_time=int(start * 1000), run_name=config.name,
                tags={layout.TAG_CAMPAIGN: self.campaign, layout.TAG_KIND: layout.KIND_CAMPAIGN},
            )
        pid = prun.info.run_id
        children: dict[int, ChildState] = {}
        for run in self._search(client, exp_id, layout.KIND_TRIAL):
            try:
                tid = int(run.data.tags.get(layout.TAG_TRIAL, ""))
            except ValueError:
                continue
            if tid in children:
                report.duplicates.append(tid)
                continue
            children[tid] = ChildState(run.info.run_id, run.data.tags.get(layout.TAG_MIRRORED))
        steps = {m.step for m in client.get_metric_history(pid, parent_run.HV_METRIC)}
        eval_steps = {m.step for m in client.get_metric_history(pid, parent_run.HV_EVAL_METRIC)}
        return MirrorState(exp_id, pid, prun.info.status, dict(prun.data.params),
                           dict(prun.data.tags), children, steps, eval_steps)

    # --- writing ----------------------------------------------------------------------------

    def _sync(self, store: CampaignStore, config: CampaignConfig, report: SyncReport,
              *, completion_report: bool = True) -> None:
        client = self.client()
        if self._state is None:
            self._state = self._discover(client, config, store, report)
        st = self._state
        report.experiment_id, report.parent_run_id = st.experiment_id, st.parent_id
        trials = store.trials()
        parent_run.sync_config(client, st, config, store)
        for t in trials:
            self._sync_trial(st, t, report)
        parent_run.sync_steps(client, st, store, config, trials, report)
        parent_run.sync_progress(client, st, store, config, trials, report,
                                 completion_report=completion_report)

    def _sync_trial(self, st: MirrorState, t: Trial, report: SyncReport) -> None:
        child = st.children.get(t.id)
        want = t.status.value
        if child is not None and child.mirrored == want:
            report.unchanged += 1
            return
        client = self.client()
        have_params: Mapping[str, str] = {}
        have_metrics: Mapping[str, float] = {}
        if child is None:
            run = client.create_run(
                st.experiment_id, start_time=int(t.proposed_at * 1000), run_name=t.uid,
                tags={layout.TAG_CAMPAIGN: self.campaign, layout.TAG_KIND: layout.KIND_TRIAL,
                      layout.TAG_TRIAL: str(t.id), "mlflow.parentRunId": st.parent_id},
            )
            child = ChildState(run.info.run_id, None)
            st.children[t.id] = child
            report.created += 1
        else:
            run = client.get_run(child.run_id)
            have_params, have_metrics = run.data.params, run.data.metrics
            report.updated += 1
        params = {k: v for k, v in layout.trial_params(t).items() if k not in have_params}
        metrics = {k: v for k, v in layout.trial_metrics(t).items() if k not in have_metrics}
        when = t.finished_at or t.started_at or t.proposed_at
        log_batch(client, child.run_id, metrics=metrics, params=params,
                  tags=layout.trial_tags(t), timestamp_s=when)
        if t.status in TERMINAL:
            if t.bdf_path:
                report.artifacts_logged += log_cycling(client, child.run_id, t)
            client.set_terminated(child.run_id, layout.RUN_STATUS[t.status],
                                  end_time=int((t.finished_at or time.time()) * 1000))
        client.set_tag(child.run_id, layout.TAG_MIRRORED, want)
        child.mirrored = want
