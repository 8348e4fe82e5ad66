"""The closed loop: a :class:`Campaign` with ask, tell, run and tick."""

from optloop.analysis import hypervolume, hypervolume_history, pareto_trials
from optloop.campaign.campaign import Campaign, Progress, Told, default_store_url
from optloop.campaign.events import Callback, CampaignCallback

__all__ = [
    "Callback",
    "Campaign",
    "CampaignCallback",
    "Progress",
    "Told",
    "default_store_url",
    "hypervolume",
    "hypervolume_history",
    "pareto_trials",
]
