"""The MLflow mirror as a campaign callback: mirror after each step, cheaply, never in the way.

:class:`MirrorCallback` is what ``optloop run`` and ``optloop tick`` attach to their
:class:`~optloop.campaign.Campaign` (unless ``tracking.enabled: false`` or ``--no-tracking``):

* ``on_step`` does nothing when the store has not changed since the last successful sync
  (two cheap queries: the status counts and the number of iteration records);
* otherwise it syncs in a background thread while the loop goes on (one sync at a time);
* after a failure (server down or slow) it waits before trying again, doubling the wait up
  to five minutes, and says once that ``optloop sync CONFIG`` catches up later;
* ``on_finish`` waits for a running sync, then syncs once more in the caller's thread, so a
  campaign that ends has its mirror complete (or a report saying why not): ``last_report``.

The callback holds its own state (no module-level registry) and the background thread only
calls :meth:`MlflowMirror.sync`, which never touches the process environment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from optloop.config.models import CampaignConfig, TrackingConfig
from optloop.store import CampaignStore
from optloop.tracking.connection import display_uri
from optloop.tracking.state import SyncReport

if TYPE_CHECKING:  # the mirror (MLflow, torch) is imported on first use only
    from optloop.tracking.mirror import MlflowMirror

__all__ = ["MirrorCallback", "mirror_callbacks"]

log = logging.getLogger("optloop.tracking")


class _Campaign(Protocol):
    """What the mirror needs of a campaign (tracking does not import the campaign package)."""

    @property
    def store(self) -> CampaignStore: ...

    @property
    def config(self) -> CampaignConfig: ...



def _fingerprint(store: CampaignStore) -> tuple[Any, ...]:
    return (*store.counts().values(), len(store.iterations()))


class MirrorCallback:
    """Mirror one campaign into MLflow as it runs (see the module docstring).

    Args:
        tracking: The config's tracking section.
        campaign_name: The campaign's name.
        background: Sync in a background thread (False: in the caller's thread).
        retry_after_s: First wait after a failed sync; doubles up to ``max_retry_after_s``.
        max_retry_after_s: Longest wait between attempts.
        final_wait_s: How long ``on_finish`` waits for a background sync still running.
        mirror: A mirror to use instead of a new :class:`MlflowMirror`.
        clock: Monotonic seconds (tests pass their own to step through the back-off).
    """

    #: A tracking failure never stops a campaign (it is reported, and ``sync`` catches up).
    raise_errors: ClassVar[bool] = False

    def __init__(
        self,
        tracking: TrackingConfig,
        campaign_name: str,
        *,
        background: bool = True,
        retry_after_s: float = 15.0,
        max_retry_after_s: float = 300.0,
        final_wait_s: float = 120.0,
        mirror: MlflowMirror | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mirror is None:
            from optloop.tracking.mirror import MlflowMirror

            mirror = MlflowMirror(tracking, campaign_name)
        self.mirror = mirror
        self.background = background
        self.retry_after_s = retry_after_s
        self.max_retry_after_s = max_retry_after_s
        self.final_wait_s = final_wait_s
        self.last_report: SyncReport | None = None
        self._clock = clock
        self._synced: tuple[Any, ...] | None = None
        self._wait = retry_after_s
        self._next_try = 0.0
        self._warned = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- campaign events --------------------------------------------------------------------

    def on_step(self, campaign: _Campaign, progress: object) -> None:
        """Start a background sync if the store changed since the last one."""
        self.step(campaign.store, campaign.config)

    def on_trial_finished(self, campaign: _Campaign, trial: object) -> None:
        """Do nothing: the next step mirrors the finished trial with the others."""

    def on_finish(self, campaign: _Campaign, progress: object) -> None:
        """Finish the mirror in the caller's thread; the outcome is in ``last_report``.

        After a good sync the campaign's status (lab view included) goes on the parent run
        (``status/status.json`` and ``optloop.lab.*`` tags).
        """
        report = self.step(campaign.store, campaign.config, final=True)
        log_status = getattr(self.mirror, "log_status", None)
        status_of = getattr(campaign, "status", None)
        if report is not None and report.ok and callable(log_status) and callable(status_of):
            logged = log_status(status_of())
            if not logged.ok:
                log.warning("MLflow: the status summary was not logged: %s", logged.error)

    # --- the work ---------------------------------------------------------------------------

    def step(
        self, store: CampaignStore, config: CampaignConfig, *, final: bool = False
    ) -> SyncReport | None:
        """Start a sync if the store changed; with ``final``, finish the mirror now.

        Returns the report of a sync run in this call (always one for ``final``), else None.
        """
        if final:
            with self._lock:
                self.wait(self.final_wait_s)
                if self._thread is not None and self._thread.is_alive():
                    self.last_report = SyncReport(
                        tracking_uri=display_uri(self.mirror.uri), error=(
                            f"a sync is still running after {self.final_wait_s:.0f} s (slow "
                            "server?); `optloop sync CONFIG` catches up"))
                    return self.last_report
                fp = _fingerprint(store)
                if fp == self._synced and self.last_report is not None and self.last_report.ok:
                    return self.last_report
                return self._run(store, config, fp)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return None
            fp = _fingerprint(store)
            if fp == self._synced or self._clock() < self._next_try:
                return None
            if not self.background:
                return self._run(store, config, fp)
            self._thread = threading.Thread(
                target=self._run, args=(store, config, fp), name="optloop-mlflow-mirror",
                daemon=True,
            )
            self._thread.start()
        return None

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for a background sync to end."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self, store: CampaignStore, config: CampaignConfig, fp: tuple[Any, ...]
             ) -> SyncReport:
        report = self.mirror.sync(store, config)
        self.last_report = report
        if report.ok:
            self._synced = fp
            self._wait = self.retry_after_s
            self._next_try = 0.0
            if self._warned:
                log.warning("MLflow mirror caught up: %s", report.summary())
                self._warned = False
        else:
            self._synced = None
            self._next_try = self._clock() + self._wait
            if not self._warned:
                log.warning(
                    "%s; the campaign goes on (the store keeps everything) and the mirror "
                    "retries in %.0f s; catch up any time with `optloop sync CONFIG`",
                    report.summary(), self._wait,
                )
                self._warned = True
            self._wait = min(self._wait * 2, self.max_retry_after_s)
        return report


def mirror_callbacks(
    config: CampaignConfig, *, no_tracking: bool = False
) -> list[MirrorCallback]:
    """Return the callbacks that mirror a campaign run by the CLI: one, or none when off.

    Args:
        config: The campaign's config (``tracking.enabled: false``: no mirror).
        no_tracking: The CLI's ``--no-tracking`` flag.
    """
    if no_tracking or not config.tracking.enabled:
        return []
    return [MirrorCallback(config.tracking, config.name)]
