"""The campaign's hook into tracking: mirror after each step, cheaply, never in the way.

:func:`mirror_after_step` is what :class:`~optloop.campaign.Campaign` calls after each step
of ``run`` and ``tick``. It keeps one :class:`MirrorHook` per campaign object, which

* does nothing when the store has not changed since the last successful sync (two cheap
  queries: the status counts and the number of iteration records);
* syncs in a background thread while the loop goes on (at most one sync at a time);
* after a failure (server down or slow) waits before trying again, doubling the wait up to
  five minutes, and says once that ``optloop sync CONFIG`` catches up later;
* on ``final=True`` waits for a running sync, then syncs once more in the caller's thread,
  so a campaign that ends has its mirror complete (or a report saying why not).

Set ``OPTLOOP_TRACKING=off`` to switch mirroring off (tests that do not need it, say).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from optloop.config.models import CampaignConfig, TrackingConfig
from optloop.store import CampaignStore
from optloop.tracking.connection import display_uri
from optloop.tracking.state import SyncReport

if TYPE_CHECKING:  # the mirror (MLflow, torch) is imported on first use only
    from optloop.tracking.mirror import MlflowMirror

__all__ = ["MirrorHook", "mirror_after_step", "tracking_enabled"]

log = logging.getLogger("optloop.tracking")

_OFF = {"0", "off", "false", "no", "none", "disabled"}


def tracking_enabled() -> bool:
    """Return False when ``OPTLOOP_TRACKING`` switches mirroring off."""
    return os.environ.get("OPTLOOP_TRACKING", "on").strip().lower() not in _OFF


def _fingerprint(store: CampaignStore) -> tuple[Any, ...]:
    return (*store.counts().values(), len(store.iterations()))


class MirrorHook:
    """Mirror one campaign after each step (see the module docstring).

    Args:
        tracking: The config's tracking section.
        campaign_name: The campaign's name.
        background: Sync in a background thread (False: in the caller's thread).
        retry_after_s: First wait after a failed sync; doubles up to ``max_retry_after_s``.
        max_retry_after_s: Longest wait between attempts.
        final_wait_s: How long a final step waits for a background sync still running.
        mirror: A mirror to use instead of a new :class:`MlflowMirror`.
    """

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
        self._synced: tuple[Any, ...] | None = None
        self._wait = retry_after_s
        self._next_try = 0.0
        self._warned = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, campaign: Any) -> SyncReport | None:
        """Mirror after a step of ``campaign`` (see :meth:`step`)."""
        return self.step(campaign.store, campaign.config)

    def step(
        self, store: CampaignStore, config: CampaignConfig, *, final: bool = False
    ) -> SyncReport | None:
        """Start a sync if the store changed; with ``final``, finish the mirror now.

        Returns the report of a sync run in this call, else None.
        """
        if final:
            with self._lock:
                self.wait(self.final_wait_s)
                if self._thread is not None and self._thread.is_alive():
                    return SyncReport(
                        tracking_uri=display_uri(self.mirror.uri), error=(
                            f"a sync is still running after {self.final_wait_s:.0f} s (slow "
                            "server?); `optloop sync CONFIG` catches up"))
                fp = _fingerprint(store)
                if fp == self._synced and self.last_report is not None and self.last_report.ok:
                    return self.last_report
                return self._run(store, config, fp)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return None
            fp = _fingerprint(store)
            if fp == self._synced or time.monotonic() < self._next_try:
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
            self._next_try = time.monotonic() + self._wait
            if not self._warned:
                log.warning(
                    "%s; the campaign goes on (the store keeps everything) and the mirror "
                    "retries in %.0f s; catch up any time with `optloop sync CONFIG`",
                    report.summary(), self._wait,
                )
                self._warned = True
            self._wait = min(self._wait * 2, self.max_retry_after_s)
        return report


_HOOKS: weakref.WeakKeyDictionary[Any, MirrorHook] = weakref.WeakKeyDictionary()
_HOOKS_LOCK = threading.Lock()


def mirror_after_step(campaign: Any, *, final: bool = False) -> SyncReport | None:
    """Mirror ``campaign``'s store to MLflow after a step; call it from ``run`` and ``tick``.

    Cheap when nothing changed; syncs in the background otherwise; never raises for
    tracking problems. Call with ``final=True`` once before the campaign's lock is released
    (end of ``run``, end of each ``tick``) to finish the mirror in the caller's thread.

    Returns:
        The report of a sync run in this call (always for ``final``), else None; None too
        when ``OPTLOOP_TRACKING`` switches tracking off.
    """
    if not tracking_enabled():
        return None
    with _HOOKS_LOCK:
        hook = _HOOKS.get(campaign)
        if hook is None:
            hook = MirrorHook(campaign.config.tracking, campaign.config.name)
            _HOOKS[campaign] = hook
    return hook.step(campaign.store, campaign.config, final=final)
