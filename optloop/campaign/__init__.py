"""The closed loop: a :class:`Campaign` with ask, tell, run and tick."""

from optloop.campaign.analysis import hypervolume, hypervolume_history, pareto_trials
from optloop.campaign.campaign import Campaign, Progress, Told, default_store_url

__all__ = [
    "Campaign",
    "Progress",
    "Told",
    "default_store_url",
    "hypervolume",
    "hypervolume_history",
    "pareto_trials",
]
