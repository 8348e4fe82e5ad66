"""Find evaluators by name: built-ins, entry points (``optloop.evaluators``) or ``module:Class``.

An evaluator class declares its options as a pydantic model in ``options_model`` and is
constructed as ``cls(options, context=context)``: ``options`` an instance of that model,
validated here from the config's ``evaluator.options`` (:func:`validate_options`), and
``context`` an :class:`~optloop.evaluators.context.EvaluatorContext` (run folder, executor,
seed). :func:`evaluator_for_config` is the one way a campaign config becomes an evaluator;
:func:`check_evaluator_config` checks the same without building it (``optloop validate``).
A class without ``options_model`` is refused: there is one contract, not two.

Discovery is robust to broken plugins, in the style of cellpy's loader registry: a plugin
whose module does not import, whose attribute is missing, or whose class lacks a method of the
protocol is *listed* with its error (:func:`list_plugins`) and never stops the others from
loading. Only :func:`create_evaluator` of that very plugin raises, with the reason. Listing
imports plugin modules but never constructs an evaluator (constructing PyBaMM's starts worker
processes).
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from optloop import __version__
from optloop.evaluators.base import Evaluator
from optloop.evaluators.context import EvaluatorContext
from optloop.exceptions import ConfigError, EvaluationError, format_validation_error

if TYPE_CHECKING:  # config sits upstream of evaluators; imported for annotations only
    from optloop.config.models import CampaignConfig

__all__ = [
    "BUILTIN_EVALUATORS",
    "ENTRY_POINT_GROUP",
    "PROTOCOL_METHODS",
    "PluginInfo",
    "available_evaluators",
    "check_evaluator_config",
    "create_evaluator",
    "evaluator_for_config",
    "list_plugins",
    "load_evaluator_class",
    "options_model_for",
    "validate_options",
]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "optloop.evaluators"
#: Evaluators that ship with optloop (also registered as entry points when installed).
BUILTIN_EVALUATORS: dict[str, str] = {
    "pybamm": "optloop.evaluators.pybamm:PybammEvaluator",
    "simulated_cycler": "optloop.evaluators.simulated_cycler:SimulatedCycler",
    "file_exchange": "optloop.evaluators.file_exchange:FileExchangeEvaluator",
}
#: Methods an evaluator class must define (``name`` may be set by the constructor, so it is
#: checked on the built instance only).
PROTOCOL_METHODS: tuple[str, ...] = ("capabilities", "submit", "status", "fetch", "cancel")

_DISTRIBUTION = "optloop"

Source = Literal["builtin", "entry point", "config"]


@dataclass(frozen=True)
class PluginInfo:
    """One evaluator plugin as discovery sees it, loadable or not.

    Attributes:
        name: The name a config uses (``evaluator.name``).
        target: Where the class lives, ``module:attribute``.
        source: ``"builtin"``, ``"entry point"`` or ``"config"`` (a ``module:Class`` name).
        distribution: The installed distribution that provides it (``None`` when unknown).
        version: That distribution's version (``None`` when unknown).
        error: Why it cannot be used (import error, missing attribute, not an evaluator, a
            name clash), or ``None`` when it loads.
    """

    name: str
    target: str
    source: Source
    distribution: str | None
    version: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return True when the plugin's class loads and has the protocol's methods."""
        return self.error is None

    @property
    def provider(self) -> str:
        """Return ``"distribution version"`` (or ``"unknown distribution"``), for messages."""
        return _describe_provider(self.distribution, self.version)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with ``ok`` added."""
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class _Entry:
    """A discovered plugin before its module is imported."""

    name: str
    target: str
    source: Source
    distribution: str | None
    version: str | None
    clash: str | None = None


def _dist_of(ep: Any) -> tuple[str | None, str | None]:
    """Return ``(name, version)`` of an entry point's distribution; ``None`` when unknown."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        name = dist.name
    except Exception:  # malformed METADATA: still list the plugin
        name = None
    try:
        version = dist.version
    except Exception:
        version = None
    return (str(name) if name else None), (str(version) if version else None)


def _discover() -> list[_Entry]:
    """Return every registered plugin, built-ins first, without importing any of them.

    An entry point that reuses a built-in's name for another target, or a name another
    distribution already took, is kept with a ``clash`` so that listing can show it.
    """
    entries = [
        _Entry(name, target, "builtin", _DISTRIBUTION, __version__)
        for name, target in BUILTIN_EVALUATORS.items()
    ]
    taken = {e.name: e for e in entries}
    try:
        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # a broken installation must not hide the built-ins
        _log.warning("cannot read entry points of %r: %s", ENTRY_POINT_GROUP, exc)
        eps = []
    for ep in eps:
        dist, version = _dist_of(ep)
        entry = _Entry(str(ep.name), str(ep.value), "entry point", dist, version)
        first = taken.get(entry.name)
        if first is None:
            taken[entry.name] = entry
            entries.append(entry)
        elif first.source == "builtin" and first.target == entry.target:
            continue  # optloop's own registration of a built-in
        else:
            clash = (
                f"name {entry.name!r} is already taken by {first.target} "
                f"({first.source}, {_provider(first)}); this entry point is ignored"
            )
            entries.append(_Entry(entry.name, entry.target, entry.source, dist, version, clash))
    return entries


def _describe_provider(distribution: str | None, version: str | None) -> str:
    if distribution is None:
        return "unknown distribution"
    return f"{distribution} {version or '(no version)'}"


def _provider(entry: _Entry) -> str:
    return _describe_provider(entry.distribution, entry.version)


def available_evaluators() -> dict[str, str]:
    """Return evaluator names mapped to their ``module:attribute`` targets.

    Plugins are not imported, so a broken one is listed too; :func:`list_plugins` tells which
    ones load.
    """
    return {e.name: e.target for e in _discover() if e.clash is None}


def load_evaluator_class(target: str) -> type:
    """Import ``module:attribute`` and check that it is a class with the protocol's methods.

    Args:
        target: ``"package.module:Class"`` (the attribute may be dotted: ``module:Outer.Inner``).

    Returns:
        The class; it is not constructed.

    Raises:
        EvaluationError: naming the module, attribute or target and what went wrong (bad
            form, import error, missing attribute, not a class, missing methods).
    """
    module_name, sep, attr = target.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not sep or not module_name or not attr:
        raise EvaluationError(f"evaluator target {target!r} is not of the form 'module:Class'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # whatever a plugin's import raises, report it as data
        raise EvaluationError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise EvaluationError(
                f"module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not isinstance(obj, type):
        raise EvaluationError(
            f"{target!r} is of type {type(obj).__name__}, not a class; an evaluator plugin "
            "names a class built as cls(options, context=context)"
        )
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(obj, m, None))]
    if missing:
        raise EvaluationError(
            f"{target!r} does not implement the evaluator protocol: missing method(s) "
            f"{missing}; required: {list(PROTOCOL_METHODS)} and a 'name' attribute"
        )
    model = getattr(obj, "options_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        got = "nothing" if model is None else repr(model)
        raise EvaluationError(
            f"{target!r} declares no options model: options_model is {got}; an evaluator "
            "class sets options_model = <a pydantic BaseModel subclass> and is built as "
            "cls(options, context=context) (see optloop.evaluators.context)"
        )
    return obj


def _check(entry: _Entry) -> PluginInfo:
    error = entry.clash
    if error is None:
        try:
            load_evaluator_class(entry.target)
        except EvaluationError as exc:
            error = str(exc)
    return PluginInfo(
        entry.name, entry.target, entry.source, entry.distribution, entry.version, error
    )


def list_plugins() -> list[PluginInfo]:
    """Return every evaluator plugin, built-ins first, each marked loadable or with its error.

    Each plugin's module is imported and its class checked for the protocol's methods; no
    evaluator is constructed. Never raises because of one bad plugin.
    """
    return [_check(entry) for entry in _discover()]


def _resolve(name: str) -> tuple[_Entry, list[_Entry]]:
    """Return the entry of ``name`` (a registered name or ``module:Class``) and all entries."""
    entries = _discover()
    for entry in entries:
        if entry.name == name and entry.clash is None:
            return entry, entries
    if ":" in name:
        return _Entry(name, name, "config", None, None), entries
    available = sorted({e.name for e in entries if e.clash is None})
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise EvaluationError(
        f"evaluator {name!r} is not installed; {hint}available: {available} "
        "(or give 'module:Class'; `optloop plugins` lists them with their status)"
    )


def _load(name: str) -> tuple[type, str]:
    """Return the class of evaluator ``name`` and how messages name it."""
    entry, _ = _resolve(name)
    where = f"evaluator {name!r} ({entry.source}, {_provider(entry)})"
    try:
        cls = load_evaluator_class(entry.target)
    except EvaluationError as exc:
        raise EvaluationError(f"{where} cannot be loaded: {exc}") from exc
    return cls, f"evaluator {name!r} ({entry.target}, {entry.source}, {_provider(entry)})"


def options_model_for(name: str) -> type[BaseModel]:
    """Return the options model of evaluator ``name``; its module is imported, nothing built.

    Raises:
        EvaluationError: When the name is unknown (with close names suggested) or the plugin
            cannot be loaded or declares no options model.
    """
    cls, _ = _load(name)
    return _options_model(cls)


def _options_model(cls: Any) -> type[BaseModel]:
    model: type[BaseModel] = cls.options_model  # its presence is checked on loading
    return model


def _validate(name: str, model: type[BaseModel], options: Any) -> BaseModel:
    if isinstance(options, model):
        return options
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(
            [f"evaluator.options: a mapping is required (got {type(options).__name__} "
             f"{options!r}) [evaluator {name!r}]"]
        )
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as exc:
        lines = format_validation_error(exc, "evaluator.options.")
        hints = [_hint(err, model) for err in exc.errors()]
        raise ConfigError(
            [f"{line}{hint} [evaluator {name!r}]" for line, hint in zip(lines, hints, strict=True)]
        ) from None


#: Keys that moved out of every evaluator's options into the campaign (the context).
_CAMPAIGN_WIDE = {
    "executor": "the top-level 'executor' section",
    "workers": "'workers' of the top-level 'executor' section",
    "seed": "the campaign's top-level 'seed'",
}


def _hint(err: Any, model: type[BaseModel]) -> str:
    """Return a suggestion for an unknown top-level option key, or ``""``."""
    loc: list[Any] = list(err.get("loc") or ())
    if err.get("type") != "extra_forbidden" or len(loc) != 1:
        return ""
    key = str(loc[0])
    if key in _CAMPAIGN_WIDE:
        return f"; the campaign sets it for every evaluator: use {_CAMPAIGN_WIDE[key]}"
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def validate_options(name: str, options: Mapping[str, Any] | BaseModel | None) -> BaseModel:
    """Validate ``options`` into evaluator ``name``'s options model.

    Args:
        name: A built-in or entry-point name, or ``"module:Class"``.
        options: The config's ``evaluator.options`` (None: every default), or an instance of
            the model (returned as is).

    Raises:
        ConfigError: One line per problem, naming the field (``evaluator.options.<field>``),
            the value received, the limit and the evaluator.
        EvaluationError: When the evaluator is unknown or cannot be loaded.
    """
    return _validate(name, options_model_for(name), options)


def create_evaluator(
    name: str,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    context: EvaluatorContext | None = None,
) -> Evaluator:
    """Construct the evaluator ``name`` (a registered name or ``module:Class``).

    Only this plugin is imported; others, broken or not, are left alone.

    Args:
        name: A built-in or entry-point name, or ``"module:Class"``.
        options: The config's ``evaluator.options`` or an instance of the plugin's
            ``options_model``; validated before the class is called.
        context: What the campaign hands the evaluator; None is an ad-hoc
            :class:`EvaluatorContext` (``runs/adhoc``, seed 0, local executor).

    Raises:
        ConfigError: When the options do not fit the plugin's options model (field, value,
            limit and evaluator named).
        EvaluationError: When the name is unknown (listing the available ones), or the plugin
            cannot be loaded, raises in its constructor or does not implement the protocol;
            the message names the plugin, its distribution and version, and the reason.
    """
    cls, where = _load(name)
    validated = _validate(name, _options_model(cls), options)
    try:
        evaluator = cls(validated, context=context or EvaluatorContext())
    except Exception as exc:  # a plugin's own error, whatever its type
        raise EvaluationError(
            f"{where} failed in its constructor: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(evaluator, Evaluator):
        raise EvaluationError(
            f"{where} does not implement the evaluator protocol: the built object lacks "
            "'name' or one of " + str(list(PROTOCOL_METHODS))
        )
    return evaluator


def check_evaluator_config(config: CampaignConfig) -> BaseModel:
    """Check that a config's evaluator loads and its options are valid; build nothing.

    ``optloop validate`` and :class:`~optloop.campaign.Campaign` (before it creates any file)
    call it. The plugin's module is imported; no evaluator is constructed (PyBaMM's would
    start worker processes).

    Returns:
        The validated options.

    Raises:
        ConfigError: Naming ``evaluator.name`` (an unknown or broken plugin, close names
            suggested) or ``evaluator.options.<field>`` with the value and the limit.
    """
    name = config.evaluator.name
    try:
        model = options_model_for(name)
    except EvaluationError as exc:
        raise ConfigError([f"evaluator.name: {exc}"]) from None
    return _validate(name, model, config.evaluator.options)


def evaluator_for_config(config: CampaignConfig) -> Evaluator:
    """Build the evaluator a campaign config describes: its options and its context.

    The one function by which ``optloop run`` and ``optloop evaluate`` build their
    evaluator, so one YAML gives the same evaluator (options and
    :meth:`EvaluatorContext.for_config`) in both.
    """
    return create_evaluator(
        config.evaluator.name,
        config.evaluator.options,
        context=EvaluatorContext.for_config(config),
    )
