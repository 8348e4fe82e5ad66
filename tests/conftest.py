"""Test-wide settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import HelperThreads


@pytest.fixture(autouse=True)
def _no_mlflow_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep campaigns in tests from mirroring into the repository's mlflow/ store.

    The tracking tests switch it back on against their own servers and stores.
    """
    monkeypatch.setenv("OPTLOOP_TRACKING", "off")


@pytest.fixture
def helper_threads() -> Iterator[HelperThreads]:
    """Start helper threads (fake servers, scripted labs) whose failure fails the test at once."""
    threads = HelperThreads()
    yield threads
    threads.close()
