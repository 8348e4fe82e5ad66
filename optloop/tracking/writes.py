"""Writing to MLflow through an ``MlflowClient`` and explicit run ids, within its limits."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optloop.store import Trial

__all__ = ["log_batch", "log_cycling", "log_report_files", "log_step_metrics"]

# MLflow's LogBatch limits (per request).
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ITEMS = 1000, 100, 100, 1000


def log_batch(
    client: Any,
    run_id: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    timestamp_s: float | None = None,
    step: int = 0,
) -> None:
    """Log metrics (one step), params and tags in as few ``log_batch`` requests as allowed."""
    from mlflow.entities import Metric, Param, RunTag

    ts = int((timestamp_s if timestamp_s is not None else time.time()) * 1000)
    ps = [Param(k, v) for k, v in (params or {}).items()]
    tg = [RunTag(k, v) for k, v in (tags or {}).items()]
    ms = [Metric(k, float(v), ts, step) for k, v in (metrics or {}).items()]
    while ps or tg or ms:
        p, ps = ps[:MAX_PARAMS], ps[MAX_PARAMS:]
        t, tg = tg[:MAX_TAGS], tg[MAX_TAGS:]
        room = min(MAX_ITEMS - len(p) - len(t), MAX_METRICS)
        m, ms = ms[:room], ms[room:]
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def log_step_metrics(
    client: Any, run_id: str, rows: Sequence[tuple[int, float, Mapping[str, float]]]
) -> int:
    """Log ``(step, timestamp_s, metrics)`` rows in order; return the number of rows.

    Within a row, the metric logged last is the one whose history marks the step as done.
    """
    from mlflow.entities import Metric

    ms = [Metric(k, float(v), int(at * 1000), step) for step, at, m in rows for k, v in m.items()]
    for i in range(0, len(ms), MAX_METRICS):
        client.log_batch(run_id, metrics=ms[i:i + MAX_METRICS])
    return len(rows)


def log_cycling(client: Any, run_id: str, trial: Trial) -> int:
    """Log a trial's BDF file, its per-cycle table and its two plots; return the count.

    A missing or unreadable file is noted in a tag (``optloop.bdf_missing`` or
    ``optloop.cycling_error``) instead of failing the mirror.
    """
    from optloop.data.bdf import metadata_path
    from optloop.reports.cycling import load_cycling, write_cycling_artifacts

    path = Path(trial.bdf_path or "")
    if not path.is_file():
        client.set_tag(run_id, "optloop.bdf_missing", str(path))
        return 0
    client.log_artifact(run_id, str(path), "bdf")
    n = 1
    try:
        meta = metadata_path(path)
        if meta.is_file():
            client.log_artifact(run_id, str(meta), "bdf")
            n += 1
        data = load_cycling(path)
    except Exception as exc:  # noqa: BLE001 - unreadable data: keep the file, note why
        client.set_tag(run_id, "optloop.cycling_error", f"{type(exc).__name__}: {exc}"[:4000])
        return n
    with tempfile.TemporaryDirectory() as tmp:
        for f in write_cycling_artifacts(data, Path(tmp), trial.uid):
            client.log_artifact(run_id, str(f), "plots" if f.suffix == ".png" else "cycles")
            n += 1
    return n


def log_report_files(client: Any, run_id: str, files: Any) -> int:
    """Log a written :class:`optloop.reports.Report` under ``report/``; return the count."""
    n = 0
    for p in files.plots.values():
        client.log_artifact(run_id, str(p), "report/plots")
        n += 1
    for p in files.tables.values():
        client.log_artifact(run_id, str(p), "report")
        n += 1
    client.log_artifact(run_id, str(files.html), "report")
    return n + 1
