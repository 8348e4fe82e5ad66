"""Where MLflow tracking goes and how long we wait for it.

The tracking URI comes from ``OPTLOOP_TRACKING_URI`` or ``MLFLOW_TRACKING_URI`` when set (a
team server), else from the config's ``tracking.uri`` (default: an SQLite file under
``mlflow/``). Credentials only ever come from ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` (or ``MLFLOW_TRACKING_TOKEN``), which MLflow's client reads itself.

MLflow's HTTP client retries a dead server for minutes by default; a mirror must fail fast
instead, so :func:`set_http_limits` narrows its timeout and retries when a mirror is built,
and :func:`check_reachable` asks the server's ``/health`` first with a short timeout.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

from optloop.config.models import TrackingConfig
from optloop.exceptions import OptloopError
from optloop.secrets import mask_url

__all__ = [
    "TrackingUnavailableError",
    "artifact_root_uri",
    "check_reachable",
    "display_uri",
    "is_remote",
    "resolve_tracking_uri",
    "set_http_limits",
]

#: Environment variables that override the config's tracking URI, first one set wins.
URI_ENV_VARS = ("OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_URI")


class TrackingUnavailableError(OptloopError):
    """The tracking server cannot be reached (down, slow, or refusing us)."""


def _absolute_sqlite(uri: str) -> str:
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return uri
    path = uri[len(prefix):]
    if not path or path == ":memory:":
        return uri
    p = Path(path)
    if not p.is_absolute():
        p = p.resolve()
    p.parent.mkdir(parents=True, exist_ok=True)
    return prefix + str(p)


def resolve_tracking_uri(tracking: TrackingConfig) -> str:
    """Return the tracking URI to use: the environment's, else the config's.

    Relative SQLite paths are made absolute (against the working directory) and their folder
    is created, so the embedded store needs no set-up step.

    Raises:
        OptloopError: when the environment's URI carries credentials.
    """
    uri = tracking.uri
    for var in URI_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            parts = urlsplit(value)
            if parts.username or parts.password:
                raise OptloopError(
                    f"{var} carries credentials; put them in MLFLOW_TRACKING_USERNAME / "
                    "MLFLOW_TRACKING_PASSWORD instead"
                )
            uri = value
            break
    return _absolute_sqlite(uri)


def is_remote(uri: str) -> bool:
    """Return True for a tracking server reached over HTTP(S)."""
    return urlsplit(uri).scheme in ("http", "https")


def artifact_root_uri(tracking: TrackingConfig, uri: str, experiment: str) -> str | None:
    """Return the artifact location for a new experiment, or None to let the server choose.

    A tracking server stores artifacts where it was told (proxied ``mlflow-artifacts:``), so
    a local ``artifact_location`` only applies to a local backend (SQLite or a database URL
    used directly): ``<artifact_location>/<experiment>`` as an absolute ``file://`` URI.
    """
    loc = tracking.artifact_location
    if urlsplit(loc).scheme not in ("", "file"):
        return loc  # an object store URI (s3://, gs://, ...) is used as given
    if is_remote(uri):
        return None
    base = Path(loc[len("file://"):] if loc.startswith("file://") else loc).resolve()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment"
    return (base / safe).as_uri()


def display_uri(uri: str) -> str:
    """Return the URI with any password masked (for messages and tags)."""
    return mask_url(uri)


_HTTP_LIMITS_LOCK = threading.Lock()


def set_http_limits(timeout_s: float, retries: int) -> None:
    """Narrow MLflow's HTTP timeout and retries for this process (user settings win).

    MLflow 3 reads these only from the environment (``MLFLOW_HTTP_REQUEST_TIMEOUT`` ... in
    ``mlflow.utils.rest_utils.http_request``; ``MlflowClient`` takes no timeout), so they are
    set once, when a mirror is built, by the thread that builds it: never by a sync, and so
    never from the background thread that syncs while a campaign runs. A variable the user
    set is left alone, and nothing is removed afterwards (a later mirror wants the same).

    Also stops MLflow printing a "View run" line on stdout for every finished run.
    """
    wanted = {
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(timeout_s))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max(0, retries)),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    }
    with _HTTP_LIMITS_LOCK:
        for key, value in wanted.items():
            if key not in os.environ:
                os.environ[key] = value


def check_reachable(uri: str, timeout_s: float) -> None:
    """Ask a tracking server's ``/health`` (no-op for local backends).

    Any HTTP answer counts as reachable (an auth server may refuse ``/health`` itself; the
    real calls then report the refusal).

    Raises:
        TrackingUnavailableError: when no answer comes within ``timeout_s``.
    """
    if not is_remote(uri):
        return
    import requests

    url = uri.rstrip("/") + "/health"
    try:
        requests.get(url, timeout=(min(timeout_s, 3.0), timeout_s))
    except requests.RequestException as exc:
        raise TrackingUnavailableError(
            f"MLflow tracking server {display_uri(uri)} is not reachable "
            f"({type(exc).__name__}: {exc})"
        ) from None
