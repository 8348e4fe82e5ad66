#!/usr/bin/env bash
# Create the PostgreSQL role and the two databases of the team MLflow server (run once).
#
# Run as a PostgreSQL superuser (e.g. `sudo -u postgres mlflow/team/setup-postgres.sh`) with
# MLFLOW_DB_PASSWORD set to the password the server will use (then put that password in the
# server's PGPASSWORD or ~/.pgpass). Tracking data and users live in separate databases.
set -euo pipefail
: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}"
ROLE=${MLFLOW_DB_ROLE:-mlflow}

psql -v ON_ERROR_STOP=1 -v role="$ROLE" -v pw="$MLFLOW_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mlflow', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mlflow') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mlflow_auth', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mlflow_auth') \gexec
SQL
echo "role ${ROLE} and databases mlflow, mlflow_auth are ready" >&2
