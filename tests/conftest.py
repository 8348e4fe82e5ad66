"""Test-wide settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import HelperThreads

from optloop.config import CampaignConfig
from optloop.tracking import MirrorCallback, hook


@pytest.fixture(autouse=True)
def _no_mlflow_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the CLI's ``run`` / ``tick`` in tests as with ``--no-tracking``.

    A :class:`~optloop.campaign.Campaign` mirrors nothing unless it is given a
    :class:`~optloop.tracking.MirrorCallback`; only the CLI attaches one (through
    :func:`optloop.tracking.hook.mirror_callbacks`), which would mirror into the repository's
    ``mlflow/`` store. The tracking tests attach their own callbacks against their own
    servers and stores, or call the real function (kept as ``mirror_callbacks.real``).
    """
    real = getattr(hook.mirror_callbacks, "real", hook.mirror_callbacks)

    def switched_off(config: CampaignConfig, *, no_tracking: bool = False
                     ) -> list[MirrorCallback]:
        return real(config, no_tracking=True)

    switched_off.real = real  # type: ignore[attr-defined]
    monkeypatch.setattr(hook, "mirror_callbacks", switched_off)


@pytest.fixture
def helper_threads() -> Iterator[HelperThreads]:
    """Start helper threads (fake servers, scripted labs) whose failure fails the test at once."""
    threads = HelperThreads()
    yield threads
    threads.close()
