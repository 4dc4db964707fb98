#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): one user and one database per service,
# each user owning only its own database; passwords from the secrets `lianjie keys` made.
set -eu
SECRETS_DIR="${SECRETS_DIR:-/run/secrets}"
for service in ${LIANJIE_DATABASE_SERVICES:-needs resources}; do
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v role="$service" -v db="lianjie_$service" \
    -v password="$(cat "$SECRETS_DIR/db_password_$service")" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done
