"""Campaign events: what a :class:`~optloop.campaign.Campaign` tells its callbacks.

A callback is any object with the three methods of :class:`CampaignCallback` (subclass
:class:`Callback` to override only some). The campaign calls them, in the order the callbacks
were given, from the thread that drives it, while it holds the campaign's lock:

* ``on_step(campaign, progress)`` after every pass of ``run``'s loop (every
  ``poll_interval_s``, so keep it cheap) and once in ``tick``;
* ``on_trial_finished(campaign, trial)`` when ``run`` or ``tick`` sees a trial reach a final
  state (completed, failed, abandoned) while collecting or submitting;
* ``on_finish(campaign, progress)`` once at the end of ``run`` and of each ``tick``, before
  the lock is released.

A callback's exception is logged (with its traceback the first time, per callback and event)
and the campaign goes on: watching a campaign must never stop it, and the store already holds
everything. A callback whose failure *should* stop the campaign sets ``raise_errors = True``;
its exception then propagates out of ``run`` / ``tick`` (nothing recorded is lost: the store
is written before any event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:  # only for the hints: the campaign module imports this one
    from optloop.campaign.campaign import Campaign, Progress
    from optloop.store import Trial

__all__ = ["Callback", "CampaignCallback"]


class CampaignCallback(Protocol):
    """What a campaign calls; see the module docstring for when."""

    def on_step(self, campaign: Campaign, progress: Progress) -> None:
        """Handle the end of a step of the loop."""

    def on_trial_finished(self, campaign: Campaign, trial: Trial) -> None:
        """Handle a trial that reached a final state."""

    def on_finish(self, campaign: Campaign, progress: Progress) -> None:
        """Handle the end of ``run`` or of a ``tick``."""


class Callback:
    """A callback that does nothing: subclass it and override the events you need.

    Attributes:
        raise_errors: False (default): an exception is logged and the campaign goes on;
            True: it propagates out of ``run`` / ``tick``.
    """

    raise_errors: ClassVar[bool] = False

    def on_step(self, campaign: Campaign, progress: Progress) -> None:
        """Do nothing after a step."""

    def on_trial_finished(self, campaign: Campaign, trial: Trial) -> None:
        """Do nothing when a trial finishes."""

    def on_finish(self, campaign: Campaign, progress: Progress) -> None:
        """Do nothing at the end of ``run`` or a ``tick``."""
