"""Campaign configuration: typed models loaded from YAML."""

from optloop.config.loader import config_from_dict, load_config
from optloop.config.models import (
    AlloyLayerSpace,
    Bounds,
    CampaignConfig,
    CarbonLayerSpace,
    CellSpace,
    CostsConfig,
    DesignSpaceConfig,
    EarlyStoppingConfig,
    EvaluatorConfig,
    ExecutorConfig,
    LithiumLayerSpace,
    LivesConfig,
    Objective,
    OptimiserConfig,
    OutcomeConstraint,
    StoreConfig,
    TrackingConfig,
)

__all__ = [
    "AlloyLayerSpace",
    "Bounds",
    "CampaignConfig",
    "CarbonLayerSpace",
    "CellSpace",
    "CostsConfig",
    "DesignSpaceConfig",
    "EarlyStoppingConfig",
    "EvaluatorConfig",
    "ExecutorConfig",
    "LithiumLayerSpace",
    "LivesConfig",
    "Objective",
    "OptimiserConfig",
    "OutcomeConstraint",
    "StoreConfig",
    "TrackingConfig",
    "config_from_dict",
    "load_config",
]
