"""The anode design space of the patent: designs, rules, claims, encoding and sampling."""

from optloop.space.claims import CLAIM_TITLES, claims_practised
from optloop.space.derived import DerivedProperties, derive
from optloop.space.design import (
    ALLOYING_METALS,
    METHODS,
    NON_ALLOYING_METALS,
    POSITIVE_ELECTRODES,
    PROCESS_CONDITIONS,
    AlloyLayer,
    CarbonLayer,
    Cell,
    Design,
    LithiumLayer,
)
from optloop.space.rules import RULES, Violation, check_design
from optloop.space.space import DesignSpace

__all__ = [
    "ALLOYING_METALS",
    "CLAIM_TITLES",
    "METHODS",
    "NON_ALLOYING_METALS",
    "POSITIVE_ELECTRODES",
    "PROCESS_CONDITIONS",
    "RULES",
    "AlloyLayer",
    "CarbonLayer",
    "Cell",
    "Design",
    "DerivedProperties",
    "DesignSpace",
    "LithiumLayer",
    "Violation",
    "check_design",
    "claims_practised",
    "derive",
]
