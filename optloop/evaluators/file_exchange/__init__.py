"""The file-exchange lab plugin: job tickets out, BDF result files in, through shared folders.

Built-in evaluator ``file_exchange``; see :class:`FileExchangeEvaluator` and
``docs/lab-file-exchange.md`` (the lab's side).
"""

from __future__ import annotations

from optloop.evaluators.file_exchange.evaluator import (
    JOB_PREFIX,
    LOGGER_NAME,
    FileExchangeEvaluator,
    ScanReport,
)
from optloop.evaluators.file_exchange.metadata import LabMetadata
from optloop.evaluators.file_exchange.options import CyclingProtocol, FileExchangeOptions
from optloop.evaluators.file_exchange.recipe import (
    DATA_SUFFIXES,
    METADATA_SUFFIX,
    TICKET_FORMAT_VERSION,
    build_recipe,
    build_ticket,
    composition_wt_percent,
    render_ticket_markdown,
)

__all__ = [
    "DATA_SUFFIXES",
    "JOB_PREFIX",
    "LOGGER_NAME",
    "METADATA_SUFFIX",
    "TICKET_FORMAT_VERSION",
    "CyclingProtocol",
    "FileExchangeEvaluator",
    "FileExchangeOptions",
    "LabMetadata",
    "ScanReport",
    "build_recipe",
    "build_ticket",
    "composition_wt_percent",
    "render_ticket_markdown",
]
