#!/usr/bin/env bash
# Issuance across three signetd replicas on one PostgreSQL (certificates in
# turn over the replicas, as a headless Service's client-side round robin
# gives) beside one replica, in alternating rounds on this machine. All of it
# shares the machine's cores: the figure says what replicas cost or gain
# here, not what they would on separate hosts.
#
#   bash bench/replicas.sh              # N=2000 C=32 ROUNDS=2 MODE=issue
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}; C=${C:-32}; ROUNDS=${ROUNDS:-2}; MODE=${MODE:-issue}
command -v jq >/dev/null || { echo "bench/replicas.sh needs jq (apt-get install jq)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/signet-replicas.XXXXXX)
echo "[replicas] building signetd and bench/load into $TMP"
go build -o "$TMP/" ./cmd/signetd ./bench/load
ST=$TMP/state
pids=()
stop_all() {
	# The first replica started the private PostgreSQL and stops it: last.
	for ((k = ${#pids[@]} - 1; k >= 0; k--)); do kill -TERM "${pids[k]}" 2>/dev/null || true; wait "${pids[k]}" 2>/dev/null || true; done
	pids=()
}
trap stop_all EXIT
start() { # start I: replica I on ports 196I3/196I0/196I4, waits until healthy
	local i=$1
	"$TMP/signetd" --dev --state-dir "$ST" --grpc-addr "127.0.0.1:196${i}3" --http-addr "127.0.0.1:196${i}0" \
		--admin-addr "127.0.0.1:196${i}4" >"$TMP/signetd-$i.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:196${i}0/healthz" >/dev/null && return 0; sleep 0.5; done
	echo "replica $i did not get healthy: see $TMP/signetd-$i.log" >&2; exit 1
}
run() { # run LABEL ADDRS
	local out
	out=$("$TMP/load" -json -mode "$MODE" -c "$C" -n "$N" -addr "$2" -ca-file "$ST/root.pem" 2>/dev/null | tail -1)
	echo "$1 $(jq -c '{certs_per_sec, p50_ms, p99_ms, errors}' <<<"$out")" | tee -a "$TMP/results"
}
for r in $(seq 1 "$ROUNDS"); do
	start 0; start 1; start 2
	run "round $r three-replicas" "127.0.0.1:19603,127.0.0.1:19613,127.0.0.1:19623"
	stop_all
	start 0
	run "round $r one-replica" "127.0.0.1:19603"
	stop_all
done
echo "[replicas] $MODE, c=$C, n=$N, $(nproc) cores; medians (certs/s):"
for k in three-replicas one-replica; do
	grep " $k " "$TMP/results" | sed 's/.*"certs_per_sec":\([0-9.]*\).*/\1/' | sort -n |
		awk -v k="$k" '{a[NR]=$1} END {print "  " k ": " a[int((NR+1)/2)]}'
done
