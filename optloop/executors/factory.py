"""Build an executor from its config: ``kind: local | dask``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from optloop.config.models import ExecutorConfig
from optloop.exceptions import ConfigError, format_validation_error
from optloop.executors.base import Executor
from optloop.executors.dask import DaskExecutor
from optloop.executors.local import LocalExecutor

__all__ = ["DASK_ADDRESS_ENV", "create_executor", "resolve_address"]

#: Environment variable with the Dask scheduler address, used when the config gives none.
DASK_ADDRESS_ENV = "OPTLOOP_DASK_ADDRESS"


def _as_config(spec: ExecutorConfig | Mapping[str, Any] | None) -> ExecutorConfig:
    if isinstance(spec, ExecutorConfig):
        return spec
    try:
        return ExecutorConfig.model_validate(dict(spec or {}))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "executor.")) from None


def resolve_address(spec: ExecutorConfig | Mapping[str, Any] | None) -> str | None:
    """Return the Dask scheduler address: the config's, else ``$OPTLOOP_DASK_ADDRESS``.

    Raises:
        ConfigError: For ``kind: dask`` with neither an address nor the variable set.
    """
    config = _as_config(spec)
    if config.kind != "dask":
        return None
    address = config.address or os.environ.get(DASK_ADDRESS_ENV, "").strip() or None
    if address is None:
        raise ConfigError([
            f"executor.address: kind 'dask' needs a scheduler address (got None and "
            f"${DASK_ADDRESS_ENV} is unset); e.g. address: tcp://scheduler-host:8786"
        ])
    return address


def create_executor(
    spec: ExecutorConfig | Mapping[str, Any] | None = None,
    *,
    default_workers: int | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Executor:
    """Create the executor a config asks for.

    Args:
        spec: An :class:`ExecutorConfig` or its dict; None is the default local pool.
        default_workers: Local workers when ``spec.workers`` is None (None: one per core).
        initializer: Run once per local worker process (a Dask worker instead caches what
            it builds, see :mod:`optloop.evaluators.pybamm.evaluator`).
        initargs: Arguments of ``initializer``.

    Raises:
        ConfigError: If the spec is invalid or ``kind: dask`` has no address.
        EvaluationError: If the Dask scheduler does not answer within ``connect_timeout_s``
            or ``distributed`` is not installed.
    """
    config = _as_config(spec)
    if config.kind == "dask":
        address = resolve_address(config)
        assert address is not None
        return DaskExecutor(address, connect_timeout_s=config.connect_timeout_s)
    workers = config.workers if config.workers is not None else default_workers
    return LocalExecutor(workers, initializer=initializer, initargs=initargs)
