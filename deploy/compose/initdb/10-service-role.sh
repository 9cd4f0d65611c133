#!/bin/sh
# Runs once, when the postgres image initialises an empty data directory
# (/docker-entrypoint-initdb.d): makes the service role signetd serves as.
# It owns nothing; `signetd migrate up` gives it its grants.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v pw="$(cat /run/secrets/service_db_password)" <<'SQL'
CREATE ROLE signet LOGIN PASSWORD :'pw';
SQL
