"""Cycling data: BDF time-series files and the metrics every evaluator computes from them."""

from __future__ import annotations

from optloop.data.bdf import (
    BDFData,
    BDFError,
    build_bdf_frame,
    integrate_capacity,
    load_bdf,
    metadata_path,
    normalise_bdf,
    read_bdf,
    validate_bdf,
    write_bdf,
)
from optloop.data.capacity import per_cycle_capacity
from optloop.data.ingest import IngestReport, UnitConversion
from optloop.data.metrics import (
    CycleMetrics,
    MetricsError,
    MetricsProtocol,
    compute_metrics,
    end_of_life_cycle,
    file_protocol,
)
from optloop.data.readers import (
    CyclerFile,
    available_readers,
    read_cycler_file,
    register_reader,
)

__all__ = [
    "BDFData",
    "BDFError",
    "CycleMetrics",
    "CyclerFile",
    "IngestReport",
    "MetricsError",
    "MetricsProtocol",
    "UnitConversion",
    "available_readers",
    "build_bdf_frame",
    "compute_metrics",
    "end_of_life_cycle",
    "file_protocol",
    "integrate_capacity",
    "load_bdf",
    "metadata_path",
    "normalise_bdf",
    "per_cycle_capacity",
    "read_bdf",
    "read_cycler_file",
    "register_reader",
    "validate_bdf",
    "write_bdf",
]
