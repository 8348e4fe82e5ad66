"""Evaluators score anode designs behind one protocol (see :mod:`optloop.evaluators.base`)."""

from __future__ import annotations

from optloop.evaluators.base import (
    CAPABILITY_KEYS,
    TERMINAL_STATES,
    EvaluationResult,
    Evaluator,
    JobState,
    JobStatus,
    ProtocolError,
    check_json_serialisable,
    evaluate,
)

__all__ = [
    "CAPABILITY_KEYS",
    "TERMINAL_STATES",
    "EvaluationResult",
    "Evaluator",
    "JobState",
    "JobStatus",
    "ProtocolError",
    "check_json_serialisable",
    "evaluate",
]
