#!/usr/bin/env python3
"""Manage users of the team MLflow server (basic auth), as its admin.

The admin's credentials come from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD and the
server from OPTLOOP_TRACKING_URI or MLFLOW_TRACKING_URI; new passwords are asked for on the
terminal (or read from NEW_PASSWORD), never passed as arguments. Changing your own password
(`password admin` as admin) also sends your current one, MLFLOW_TRACKING_PASSWORD, as the
server requires.

    python mlflow/team/users.py create alice            # a user with the default permission
    python mlflow/team/users.py grant alice quick EDIT  # let alice log to experiment "quick"
    python mlflow/team/users.py password admin          # rotate a password (do it for admin first)
    python mlflow/team/users.py admin alice true        # make alice an admin
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys


def _uri() -> str:
    uri = os.environ.get("OPTLOOP_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        sys.exit("set OPTLOOP_TRACKING_URI (e.g. http://localhost:5000)")
    return uri


def _password() -> str:
    pw = os.environ.get("NEW_PASSWORD") or getpass.getpass("new password: ")
    if len(pw) < 12:
        sys.exit("choose a password of at least 12 characters")
    return pw


def _current_password(username: str) -> str | None:
    """Return the password MLflow asks for when a user changes their own (None otherwise).

    The server checks it only for self-service changes (the caller is ``username``); an admin
    changing someone else's password sends none. The caller's password is already in
    MLFLOW_TRACKING_PASSWORD (or asked for on the terminal).
    """
    if username != os.environ.get("MLFLOW_TRACKING_USERNAME"):
        return None
    return os.environ.get("MLFLOW_TRACKING_PASSWORD") or getpass.getpass("current password: ")


def main() -> None:
    """Run the command line."""
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client
    from mlflow.tracking import MlflowClient

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("create").add_argument("username")
    sub.add_parser("password").add_argument("username")
    g = sub.add_parser("grant")
    g.add_argument("username")
    g.add_argument("experiment")
    g.add_argument("permission", choices=["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"])
    a = sub.add_parser("admin")
    a.add_argument("username")
    a.add_argument("is_admin", choices=["true", "false"])
    args = p.parse_args()

    uri = _uri()
    auth = get_app_client("basic-auth", tracking_uri=uri)
    try:
        if args.cmd == "create":
            auth.create_user(args.username, _password())
        elif args.cmd == "password":
            current = _current_password(args.username)
            auth.update_user_password(args.username, _password(), current_password=current)
            if current is not None:
                print("your password changed: update MLFLOW_TRACKING_PASSWORD", file=sys.stderr)
        elif args.cmd == "admin":
            auth.update_user_admin(args.username, args.is_admin == "true")
        elif args.cmd == "grant":
            exp = MlflowClient(uri).get_experiment_by_name(args.experiment)
            if exp is None:
                sys.exit(f"no experiment named {args.experiment!r}")
            auth.grant_user_permission(
                args.username, "experiment", exp.experiment_id, args.permission
            )
    except MlflowException as exc:
        sys.exit(f"{args.cmd} {args.username}: refused by the server: {exc.message}")
    print(f"{args.cmd}: done", file=sys.stderr)


if __name__ == "__main__":
    main()
