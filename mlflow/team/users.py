#!/usr/bin/env python3
"""Manage users of the team MLflow server (basic auth), as its admin.

The admin's credentials come from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD and the
server from OPTLOOP_TRACKING_URI or MLFLOW_TRACKING_URI; new passwords are asked for on the
terminal (or read from NEW_PASSWORD), never passed as arguments.

    python mlflow/team/users.py create alice            # a user with the server's default permission
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


def main() -> None:
    """Run the command line."""
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
    if args.cmd == "create":
        auth.create_user(args.username, _password())
    elif args.cmd == "password":
        auth.update_user_password(args.username, _password())
    elif args.cmd == "admin":
        auth.update_user_admin(args.username, args.is_admin == "true")
    elif args.cmd == "grant":
        exp = MlflowClient(uri).get_experiment_by_name(args.experiment)
        if exp is None:
            sys.exit(f"no experiment named {args.experiment!r}")
        auth.grant_user_permission(args.username, "experiment", exp.experiment_id, args.permission)
    print(f"{args.cmd}: done", file=sys.stderr)


if __name__ == "__main__":
    main()
