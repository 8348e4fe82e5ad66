"""A stand-in evaluator reachable by name (``toy_plugin:ToyPlugin``) for CLI tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optloop.evaluators._toy import ToyEvaluator, ToyOptions
from optloop.evaluators.context import EvaluatorContext


def score(design: Mapping[str, Any]) -> dict[str, float]:
    """Return smooth synthetic metrics: thin films live long, thick ones store more."""
    a = design["alloy_layer"]
    t = a["thickness_um"]
    return {
        "cycle_life": 300.0 * math.exp(-2.0 * t),
        "areal_capacity_mAh_cm2": 0.5 + 2.0 * t,
        "first_cycle_efficiency": 0.85,
    }


class ToyPlugin(ToyEvaluator):
    """A toy evaluator built as the registry builds plugins: ``cls(options, context=...)``."""

    def __init__(
        self,
        options: ToyOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
    ) -> None:
        opts = options if isinstance(options, ToyOptions) else ToyOptions.model_validate(
            dict(options or {})
        )
        self.options = opts
        self.context = context or EvaluatorContext()
        super().__init__(score, polls_to_finish=opts.polls, name="toy")


class ExplodingPlugin(ToyPlugin):
    """Valid options, but its constructor fails: a refusal found only once it is built."""

    def __init__(
        self,
        options: ToyOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
    ) -> None:
        raise RuntimeError("the lab's cycler service refused the connection")
