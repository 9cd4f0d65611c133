#!/usr/bin/env bash
# What one call of the stats counter trigger (migration 0006) costs: the
# mean latency of a one-row audit_events INSERT with the trigger enabled
# and disabled, alternating, on a scratch database with Signet's schema.
#   bash bench/trigger-cost.sh    (PostgreSQL on 127.0.0.1:5432, user postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DB=signet_trigger_cost
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
psql() { command psql -h 127.0.0.1 -U postgres -qAt "$@"; }
psql -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
state=$(mktemp -d)
sql=$(mktemp)
trap 'psql -c "DROP DATABASE IF EXISTS $DB"; rm -rf "$state" "$sql"' EXIT
DATABASE_URL=$URL go run ./cmd/signetd migrate up --dev --state-dir "$state" >/dev/null
echo "INSERT INTO audit_events (at, actor, action, outcome) VALUES (now(), 'bench', 'issue', 'ok');" > "$sql"
run() { "$PGBIN/pgbench" -h 127.0.0.1 -U postgres -n -f "$sql" -t 20000 -c 1 "$DB" 2>/dev/null | sed -n 's/latency average = //p'; }
for i in 1 2 3; do
  psql -d $DB -c "ALTER TABLE audit_events ENABLE TRIGGER audit_events_count_insert"
  echo "with trigger:    $(run)"
  psql -d $DB -c "ALTER TABLE audit_events DISABLE TRIGGER audit_events_count_insert"
  echo "without trigger: $(run)"
done
