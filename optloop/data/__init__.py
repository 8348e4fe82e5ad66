"""Cycling data: BDF time-series files and the metrics every evaluator computes from them."""

from __future__ import annotations

from optloop.data.bdf import (
    BDFError,
    build_bdf_frame,
    integrate_capacity,
    metadata_path,
    read_bdf,
    validate_bdf,
    write_bdf,
)
from optloop.data.metrics import CycleMetrics, MetricsError, compute_metrics

__all__ = [
    "BDFError",
    "CycleMetrics",
    "MetricsError",
    "build_bdf_frame",
    "compute_metrics",
    "integrate_capacity",
    "metadata_path",
    "read_bdf",
    "validate_bdf",
    "write_bdf",
]
