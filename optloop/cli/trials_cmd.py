"""``optloop abandon | cancel``: withdraw trials, telling the evaluator (the lab) to stop."""

from __future__ import annotations

import re
from pathlib import Path

import click

from optloop.campaign import Campaign
from optloop.config import load_config
from optloop.exceptions import OptloopError
from optloop.store import Trial

__all__ = ["abandon", "cancel"]

_UID = re.compile(r"^(?:trial-)?0*(\d+)$")


def _find_trial(camp: Campaign, written: str) -> Trial:
    """Return the trial a person named: ``7``, ``trial-0007``, or a ticket's trial id.

    Raises:
        OptloopError: If no trial has that name (naming what is accepted).
    """
    found = _UID.match(written.strip())
    if found:
        return camp.store.get(int(found.group(1)))
    job_for_ticket = getattr(camp.evaluator, "job_for_ticket", None)
    job_id = job_for_ticket(written) if callable(job_for_ticket) else None
    if job_id is not None:
        for trial in camp.store.trials():
            if trial.job_id == job_id:
                return trial
    raise OptloopError(
        f"trial {written!r} not found in campaign {camp.config.name!r}; limit: a trial number "
        "(7), its name (trial-0007) or, for the file exchange, the trial id on its ticket "
        "(of its latest cell)"
    )


def _withdraw(config: Path, trials: tuple[str, ...], reason: str) -> None:
    if not reason.strip():
        raise click.BadParameter("--reason is empty; limit: a few words the lab will read")
    with Campaign(load_config(config)) as camp:
        for written in trials:
            trial = _find_trial(camp, written)
            before = trial.status.value
            after = camp.abandon(trial.id, reason)
            job = f"; job {after.job_id} cancelled with the reason" if after.job_id else (
                "; no job had been submitted"
            )
            click.echo(f"trial {after.id} ({after.uid}): {before} -> {after.status.value}{job}")


_config = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
_trials = click.argument("trials", nargs=-1, required=True)
_reason = click.option(
    "--reason",
    required=True,
    help="Why: written on the cancel note the lab reads and recorded with the trial.",
)


@click.command()
@_config
@_trials
@_reason
def abandon(config: Path, trials: tuple[str, ...], reason: str) -> None:
    """Withdraw TRIALS: the optimiser ignores them; a running job is cancelled.

    \b
    TRIALS: trial numbers (7), names (trial-0007) or, for the file exchange, the
    trial id printed on a ticket (T-...). The evaluator is told with the reason:
    the file exchange writes outbox/<ticket>.cancel.json and retires the ticket,
    and any file the lab sends later for it is quarantined with a notice.
    Abandoning an abandoned trial cancels its job again (repairs trials withdrawn
    before their job was cancelled).
    """  # noqa: D301 - click needs a real \b (its no-rewrap marker)
    _withdraw(config, trials, reason)


@click.command()
@_config
@_trials
@_reason
def cancel(config: Path, trials: tuple[str, ...], reason: str) -> None:
    """Ask the lab to stop TRIALS' tests, and withdraw the trials (as `abandon`).

    \b
    The job gets a cancel note with the reason (outbox/<ticket>.cancel.json for
    the file exchange), its ticket is retired, and the trial is abandoned, so the
    optimiser neither waits for it nor learns from it.
    """  # noqa: D301 - click needs a real \b (its no-rewrap marker)
    _withdraw(config, trials, reason)
