"""The campaign store: trials, their lifecycle, and the one-driver lock."""

from optloop.store.engine import POSTGRES_EXTRA, StoreConnectionError
from optloop.store.lock import CampaignBusyError, CampaignLock
from optloop.store.session import DriverSession, SessionState
from optloop.store.store import CampaignStore, StoreError
from optloop.store.trial import TERMINAL, TRANSITIONS, Trial, TrialStatus

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "CampaignBusyError",
    "CampaignLock",
    "CampaignStore",
    "DriverSession",
    "POSTGRES_EXTRA",
    "SessionState",
    "StoreConnectionError",
    "StoreError",
    "Trial",
    "TrialStatus",
]
