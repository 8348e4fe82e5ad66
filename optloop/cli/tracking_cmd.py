"""``optloop sync | ui | report``: the MLflow mirror, its UI, and campaign reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from optloop.cli._format import echo_json
from optloop.config import CampaignConfig, load_config
from optloop.exceptions import OptloopError
from optloop.secrets import mask_text, mask_url
from optloop.store import CampaignBusyError, CampaignStore

__all__ = ["report", "sync", "ui"]

config_arg = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))


def _store(cfg: CampaignConfig) -> CampaignStore:
    from optloop.campaign import default_store_url

    return CampaignStore(default_store_url(cfg), cfg.name)


@click.command()
@config_arg
@click.option("--json", "as_json", is_flag=True, help="Print the sync report as JSON.")
def sync(config: Path, as_json: bool) -> None:
    """Mirror the campaign store into MLflow (catch up after the server was down).

    Idempotent: trials already mirrored are left alone, missing ones are added, nothing is
    duplicated. Takes the campaign's lock, so it waits for no running campaign: a running
    campaign mirrors itself. Exit code 1 when MLflow could not be reached (run it again).
    """
    from optloop.tracking.mirror import MlflowMirror

    cfg = load_config(config)
    store = _store(cfg)
    try:
        with store.lock():
            rep = MlflowMirror(cfg.tracking, cfg.name).sync(store, cfg)
    finally:
        store.close()
    if as_json:
        echo_json(rep.to_dict())
    else:
        click.echo(rep.summary())
        for tid in rep.duplicates:
            click.echo(f"warning: trial {tid} has more than one MLflow run", err=True)
    if not rep.ok:
        sys.exit(1)


def ui_command(cfg: CampaignConfig, host: str, port: int) -> list[str] | None:
    """Return the ``mlflow ui`` command for the config's store (None for a remote server)."""
    from optloop.tracking.connection import is_remote, resolve_tracking_uri

    uri = resolve_tracking_uri(cfg.tracking)
    if is_remote(uri):
        return None
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@click.command()
@config_arg
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to serve on (keep 127.0.0.1 unless you know better).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--print-command", is_flag=True, help="Print the mlflow command, do not run it.")
def ui(config: Path, host: str, port: int, print_command: bool) -> None:
    """Open the MLflow UI on the campaign's tracking store (Ctrl-C stops it).

    For the embedded SQLite store this runs `mlflow ui` on it (the same as
    `mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db` from the repository root);
    for a tracking server it prints the server's address.
    """
    from optloop.tracking.connection import display_uri, resolve_tracking_uri

    cfg = load_config(config)
    cmd = ui_command(cfg, host, port)
    if cmd is None:
        click.echo(
            f"the tracking server is {display_uri(resolve_tracking_uri(cfg.tracking))}; "
            "open it in a browser"
        )
        return
    if print_command:
        click.echo(" ".join(cmd))
        return
    click.echo(
        f"MLflow UI on {mask_url(cmd[5])} at http://{host}:{port} (Ctrl-C stops it)", err=True
    )
    env = dict(os.environ)
    # The server's job runner (GenAI jobs) is not used by optloop and costs a dozen processes.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)


@click.command()
@config_arg
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for report.html, plots/*.png and the CSV tables.",
)
@click.option(
    "--no-mlflow",
    is_flag=True,
    help="Do not log the report to the parent run (neither does `tracking.enabled: false`).",
)
def report(config: Path, out: Path, no_mlflow: bool) -> None:
    """Write a self-contained HTML report with PNG plots, and log it to the parent run.

    Pareto front, hypervolume against evaluations, capacity fade of the best designs, the
    Pareto designs, which inputs matter (from a GP fitted to the results), and how well the
    surrogate's predictions matched the outcomes.
    """
    from optloop.reports import build_report
    from optloop.tracking.mirror import MlflowMirror

    cfg = load_config(config)
    store = _store(cfg)
    try:
        if not store.trials():
            raise OptloopError(f"campaign {cfg.name!r} has no trials in {store.url}; "
                               "run it first")
        files = build_report(store, cfg, out)
        click.echo(f"report: {files.html.resolve()}")
        if no_mlflow or not cfg.tracking.enabled:
            return
        mirror = MlflowMirror(cfg.tracking, cfg.name)
        try:
            with store.lock():
                rep = mirror.log_report(store, cfg, files, create=True)
        except CampaignBusyError:
            rep = mirror.log_report(store, cfg, files, create=False)
        if rep.ok:
            click.echo(f"logged to MLflow run {rep.parent_run_id} ({mask_url(rep.tracking_uri)})")
        else:
            click.echo(f"warning: not logged to MLflow: {mask_text(str(rep.error))}", err=True)
    finally:
        store.close()
