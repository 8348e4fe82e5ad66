#!/usr/bin/env bash
# Start the team MLflow tracking server: SQL backend (PostgreSQL), proxied artifacts, basic auth.
#
# Every setting comes from the environment (see env.example); no secret is written into the
# repository or onto the command line. Database passwords go in PGPASSWORD or ~/.pgpass
# (libpq reads them), so the URIs below carry none. Runs in the foreground; Ctrl-C or a
# SIGTERM to this script stops the server and all its workers.
#
#   set -a; . ~/.config/optloop/mlflow-team.env; set +a   # your copy of env.example
#   mlflow/team/start-server.sh
set -euo pipefail

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI, e.g. postgresql+psycopg://mlflow@localhost:5432/mlflow}"
: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI, e.g. postgresql+psycopg://mlflow@localhost:5432/mlflow_auth}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION, e.g. /srv/mlflow/artifacts or s3://bucket/prefix}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY (a long random string, e.g. from: python -c 'import secrets; print(secrets.token_hex(32))')}"
# MLFLOW_AUTH_ADMIN_PASSWORD is needed on the very first start only (it creates the admin user).

for uri in "$MLFLOW_BACKEND_STORE_URI" "$MLFLOW_AUTH_DATABASE_URI"; do
  case "$uri" in
    *://*:*@*) echo "error: a database URI carries a password; use PGPASSWORD or ~/.pgpass" >&2; exit 2 ;;
  esac
done

MLFLOW_BIN=${MLFLOW_BIN:-mlflow}
HOST=${MLFLOW_HOST:-127.0.0.1}
PORT=${MLFLOW_PORT:-5000}
WORKERS=${MLFLOW_WORKERS:-2}
DEFAULT_PERMISSION=${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
# Each request's password check is a PBKDF2 hash (about 0.3 s of CPU); caching a checked
# password for a minute makes a mirror of hundreds of requests fast. A changed or revoked
# password may then still work for up to this long on another worker. 0 turns it off.
AUTH_CACHE_TTL=${MLFLOW_AUTH_CACHE_TTL_SECONDS:-60}

# The auth app reads its settings from an ini file; write one for this run only.
conf_dir=$(mktemp -d)
child=
# Stop the server with the script: SIGTERM (systemd, kill) or Ctrl-C reach this shell, which
# passes them on to the server's whole process group (mlflow, uvicorn and its workers), waits
# up to 10 s, then kills what is left. The ini folder is removed on every exit.
stop() {
  trap - TERM INT
  if [[ -n "$child" ]]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$child" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$child" 2>/dev/null || true
  fi
  exit "$1"
}
trap 'rm -rf "$conf_dir"' EXIT
trap 'stop 143' TERM
trap 'stop 130' INT
umask 077
cat > "$conf_dir/basic_auth.ini" <<INI
[mlflow]
default_permission = ${DEFAULT_PERMISSION}
database_uri = ${MLFLOW_AUTH_DATABASE_URI}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${AUTH_CACHE_TTL}
INI
export MLFLOW_AUTH_CONFIG_PATH="$conf_dir/basic_auth.ini"
export MLFLOW_FLASK_SERVER_SECRET_KEY
# MLflow's GenAI job runner starts a dozen worker processes optloop never uses.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}

extra=()
if [[ -n "${MLFLOW_ALLOWED_HOSTS:-}" ]]; then
  extra+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
fi

echo "MLflow team server on http://${HOST}:${PORT} (basic auth, artifacts proxied to ${MLFLOW_ARTIFACTS_DESTINATION})" >&2
# Job control puts the server in a process group of its own, so stop() can signal all of it.
set -m
"$MLFLOW_BIN" server \
  --app-name basic-auth \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --host "$HOST" --port "$PORT" --workers "$WORKERS" \
  "${extra[@]}" &
child=$!
set +m
status=0
wait "$child" || status=$?
exit "$status"
