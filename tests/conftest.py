"""Test-wide settings."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_mlflow_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep campaigns in tests from mirroring into the repository's mlflow/ store.

    The tracking tests switch it back on against their own servers and stores.
    """
    monkeypatch.setenv("OPTLOOP_TRACKING", "off")
