"""The :class:`DesignSpace`: one object that checks, samples, encodes and describes designs."""

from __future__ import annotations

from typing import Any

import numpy as np

from optloop.config.models import CampaignConfig, DesignSpaceConfig
from optloop.exceptions import ConfigError, InfeasibleDesignError
from optloop.space.claims import claims_practised
from optloop.space.derived import DerivedProperties, derive
from optloop.space.design import Design
from optloop.space.encoding import Encoder, Encoding, from_values, to_values
from optloop.space.parameters import Parameter, build_parameters
from optloop.space.rules import RULES, Rule, Violation, check_design
from optloop.space.sampling import sample_designs

__all__ = ["DesignSpace"]


class DesignSpace:
    """The anode designs a campaign may explore, with the rules that bound them."""

    def __init__(self, config: DesignSpaceConfig, encoding: Encoding = "descriptors") -> None:
        self.config = config
        self.parameters: list[Parameter] = build_parameters(config)
        self.encoder = Encoder(self.parameters, encoding)

    @classmethod
    def from_campaign(cls, config: CampaignConfig, *, probe: bool = True) -> DesignSpace:
        """Build the space of a campaign config; with ``probe``, refuse an empty space.

        Raises:
            ConfigError: when ``probe`` finds no feasible design (an impossible combination
                of methods, elements, structures and bounds), naming the most frequent reasons.
        """
        space = cls(config.space, config.optimiser.encoding)
        if probe:
            try:
                sample_designs(config.space, 1, seed=config.seed)
            except InfeasibleDesignError as exc:
                raise ConfigError(
                    ["space: no feasible design exists in this space", *exc.messages]
                ) from None
        return space

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Return the feasibility rules in force."""
        return RULES

    def violations(self, design: Design) -> list[Violation]:
        """Return every rule the design breaks (empty when it is feasible)."""
        return check_design(design, self.config)

    def check(self, design: Design) -> Design:
        """Return the design if feasible.

        Raises:
            InfeasibleDesignError: naming every broken rule and why.
        """
        v = self.violations(design)
        if v:
            raise InfeasibleDesignError([str(x) for x in v])
        return design

    def sample(self, n: int, seed: int) -> list[Design]:
        """Draw ``n`` feasible designs reproducibly from ``seed``."""
        return sample_designs(self.config, n, seed)

    def encode(self, design: Design) -> np.ndarray:
        """Encode a design as a vector of ``self.encoder.dim`` floats."""
        return self.encoder.encode(to_values(design, self.parameters, self.config))

    def decode(self, x: np.ndarray) -> Design:
        """Decode a vector back into a design (not checked for feasibility)."""
        return from_values(self.encoder.decode(x), self.config)

    def derive(self, design: Design) -> DerivedProperties:
        """Return the design's theoretical capacities, balance and swelling."""
        return derive(design)

    def report(self, design: Design) -> dict[str, Any]:
        """Return the design with its derived properties, claims and rule check (JSON-ready)."""
        v = self.violations(design)
        return {
            "design": design.to_dict(),
            "feasible": not v,
            "violations": [{"rule": x.rule, "message": x.message} for x in v],
            "claims": claims_practised(design),
            "derived": derive(design).summary(),
        }
