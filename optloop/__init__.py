"""optloop: closed-loop Bayesian optimisation of alloy / complex-oxide multilayer anodes."""

from optloop.config import CampaignConfig, load_config
from optloop.exceptions import OptloopError
from optloop.space import Design, DesignSpace

__version__ = "0.1.0"

__all__ = ["CampaignConfig", "Design", "DesignSpace", "OptloopError", "__version__", "load_config"]
