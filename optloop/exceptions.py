"""The exception tree of optloop: one root, specific children.

Every message names the field (or rule), the value received and the limit, so that a user can
fix the input without reading the code.
"""

from __future__ import annotations

from pydantic import ValidationError

from optloop.secrets import mask_text

__all__ = [
    "ConfigError",
    "DesignError",
    "EvaluationError",
    "EvaluatorUnavailableError",
    "InfeasibleDesignError",
    "MaterialsError",
    "OptloopError",
    "format_validation_error",
]


class OptloopError(Exception):
    """Root of every error optloop raises on purpose."""


class ConfigError(OptloopError, ValueError):
    """A campaign config is invalid; ``messages`` lists every problem found, one per line."""

    def __init__(self, messages: list[str], source: str | None = None) -> None:
        self.messages = list(messages)
        self.source = source
        head = f"invalid config {source}" if source else "invalid config"
        super().__init__(head + ":\n" + "\n".join(f"  - {m}" for m in self.messages))


class DesignError(OptloopError, ValueError):
    """A design is malformed (wrong type, unknown element, missing field)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = list(messages)
        super().__init__("invalid design:\n" + "\n".join(f"  - {m}" for m in self.messages))


class InfeasibleDesignError(DesignError):
    """A well-formed design breaks one or more feasibility rules of its design space."""


class MaterialsError(OptloopError, ValueError):
    """An element or composition has no data (unknown symbol, no lithiated phase, bad formula)."""


class EvaluationError(OptloopError):
    """An evaluator could not be used (not an evaluation failure: those are data, not errors)."""


class EvaluatorUnavailableError(EvaluationError):
    """The evaluator cannot take work right now (e.g. its Dask scheduler does not answer).

    Says nothing about the design: a campaign stops and keeps the trial proposed, rather than
    recording a failure the optimiser would learn from.
    """


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into one line per problem: ``path: message (got value)``.

    Args:
        exc: The validation error.
        prefix: Put before every path, e.g. ``"evaluator.options."``.
    """
    lines = []
    for err in exc.errors():
        path = prefix + (".".join(str(p) for p in err["loc"]) or "<root>")
        msg = mask_text(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        given = err.get("input")
        if isinstance(given, str):
            given = mask_text(given)  # a refused URL may carry a password: never echo it
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key (value {given!r}); remove it or check its spelling")
        elif err["type"] == "missing":
            lines.append(f"{path}: required field is missing")
        elif isinstance(given, dict | list) and len(repr(given)) > 120:
            lines.append(f"{path}: {msg}")
        else:
            lines.append(f"{path}: {msg} (got {given!r})")
    return lines
