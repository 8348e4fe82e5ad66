"""What a campaign hands every evaluator it builds, and how an evaluator declares its options.

An evaluator plugin declares its options as a pydantic model in the class attribute
``options_model`` and is constructed as ``cls(options, context=context)``, where ``options`` is
an instance of that model (or a mapping validated into it) and ``context`` an
:class:`EvaluatorContext`. Campaign-wide settings (where its files live, the executor, the
seed) come from the context, never from the evaluator's own options, so one YAML builds the
same evaluator in ``optloop run`` and ``optloop evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # config sits upstream of evaluators; imported for the annotation only
    from optloop.config.models import CampaignConfig

__all__ = ["EvaluatorContext"]


@dataclass(frozen=True)
class EvaluatorContext:
    """The campaign's side of building an evaluator.

    Attributes:
        campaign: The campaign's name (job keys and ticket names carry it).
        run_dir: The campaign's run folder (``runs/<name>``); an evaluator keeps its files
            (BDF data, cycler state, caches) below it unless its options name another place.
        seed: The campaign seed; an evaluator that draws random numbers derives its streams
            from it (no seed of its own).
        executor: The config's top-level ``executor`` section as JSON (``kind``, ``address``,
            ``workers``, ``connect_timeout_s``); evaluators that run work in processes use it.
    """

    campaign: str = "adhoc"
    run_dir: Path = field(default_factory=lambda: Path("runs") / "adhoc")
    seed: int = 0
    executor: dict[str, Any] = field(default_factory=lambda: {"kind": "local"})

    @classmethod
    def for_config(cls, config: CampaignConfig) -> EvaluatorContext:
        """Return the context a campaign config gives its evaluator.

        This is the only place a config becomes a context: ``optloop run`` (through
        :class:`~optloop.campaign.Campaign`) and ``optloop evaluate`` both call it, so one YAML
        builds one evaluator. The run folder is ``runs/<name>``, beside the default store.
        """
        return cls(
            campaign=config.name,
            run_dir=Path("runs") / config.name,
            seed=config.seed,
            executor=config.executor.model_dump(mode="json"),
        )

    def path(self, *parts: str) -> Path:
        """Return a path below the run folder."""
        return self.run_dir.joinpath(*parts)
