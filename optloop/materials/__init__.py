"""Materials data and physics of the alloy / complex-oxide anode layers.

Element data come from pymatgen; lithiated phases, silicide consumption and the
constant-Li-volume rule follow alloy-anode-physics.md sections 2-4 and 9. Entry points:
:func:`alloy_properties` (a composition) and :func:`properties_of` (a formula string).
"""

from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS
from optloop.materials.constants import (
    FARADAY_C_MOL,
    LI_PARTIAL_MOLAR_VOLUME_CM3_MOL,
    MAX_OXYGEN_RATIO,
    OXYGEN_MOLAR_VOLUME_CM3_MOL,
)
from optloop.materials.descriptors import DESCRIPTOR_NAMES, element_descriptors
from optloop.materials.elements import (
    CLAIM_METALS,
    SUPPORTED_ELEMENTS,
    ElementData,
    element_data,
)
from optloop.materials.formulas import properties_of
from optloop.materials.phases import (
    ALTERNATIVE_PHASES,
    LITHIATED_PHASES,
    SILICIDE_CONSUMPTION,
    LithiatedPhase,
    active_fractions,
    intermetallic_consumption,
)
from optloop.materials.properties import (
    COMPOSITION_TOL,
    MaterialProperties,
    alloy_properties,
    format_formula,
)
from optloop.materials.references import (
    GRAPHITE_MEAN_POTENTIAL_V,
    GRAPHITE_SPECIFIC_CAPACITY_MAH_G,
    GRAPHITE_VOLUME_EXPANSION,
    LITHIUM_AREAL_CAPACITY_MAH_CM2_PER_UM,
    LITHIUM_SPECIFIC_CAPACITY_MAH_G,
    LITHIUM_VOLUMETRIC_CAPACITY_MAH_CM3,
    graphite_properties,
    lithium_layer_capacity_mAh_cm2,
    lithium_properties,
)

__all__ = [
    "ALLOYING_METALS",
    "ALTERNATIVE_PHASES",
    "CLAIM_METALS",
    "COMPOSITION_TOL",
    "DESCRIPTOR_NAMES",
    "FARADAY_C_MOL",
    "GRAPHITE_MEAN_POTENTIAL_V",
    "GRAPHITE_SPECIFIC_CAPACITY_MAH_G",
    "GRAPHITE_VOLUME_EXPANSION",
    "LITHIATED_PHASES",
    "LITHIUM_AREAL_CAPACITY_MAH_CM2_PER_UM",
    "LITHIUM_SPECIFIC_CAPACITY_MAH_G",
    "LITHIUM_VOLUMETRIC_CAPACITY_MAH_CM3",
    "LI_PARTIAL_MOLAR_VOLUME_CM3_MOL",
    "MAX_OXYGEN_RATIO",
    "NON_ALLOYING_METALS",
    "OXYGEN_MOLAR_VOLUME_CM3_MOL",
    "SILICIDE_CONSUMPTION",
    "SUPPORTED_ELEMENTS",
    "ElementData",
    "LithiatedPhase",
    "MaterialProperties",
    "active_fractions",
    "alloy_properties",
    "element_data",
    "element_descriptors",
    "format_formula",
    "graphite_properties",
    "intermetallic_consumption",
    "lithium_layer_capacity_mAh_cm2",
    "lithium_properties",
    "properties_of",
]
