#!/usr/bin/env bash
# A/B: alternating issue-only runs of signetd built from several commits,
# with bench/load from the working tree, so that the versions share the
# machine's noise. Each version keeps its own dev state dir across rounds.
#
#   bash bench/ab.sh 3df14b9 ed73792 HEAD          # N=1500 C=32 ROUNDS=3 by default
#
# Prints one line per run (certs/s, p50, p99, errors) and the median per
# version at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: bench/ab.sh COMMIT COMMIT [COMMIT...]  (N, C, ROUNDS in the environment)" >&2; exit 2; }
N=${N:-1500}; C=${C:-32}; ROUNDS=${ROUNDS:-3}
command -v jq >/dev/null || { echo "bench/ab.sh needs jq (apt-get install jq)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/signet-ab.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	for c in "$@"; do git worktree remove --force "$TMP/src-$c" 2>/dev/null || true; done
}
trap 'cleanup "$@"' EXIT
echo "[ab] building bench/load and signetd for: $*"
go build -o "$TMP/load" ./bench/load
for c in "$@"; do
	git worktree add -q --detach "$TMP/src-$c" "$c"
	(cd "$TMP/src-$c" && go build -o "$TMP/bin-$c/signetd" ./cmd/signetd)
done
for r in $(seq 1 "$ROUNDS"); do
	for c in "$@"; do
		st=$TMP/state-$c
		"$TMP/bin-$c/signetd" --dev --state-dir "$st" --grpc-addr 127.0.0.1:19543 --http-addr 127.0.0.1:19580 \
			--admin-addr 127.0.0.1:19544 >"$TMP/signetd-$c.log" 2>&1 &
		pid=$!; pids+=("$pid")
		for _ in $(seq 1 240); do curl -sf http://127.0.0.1:19580/healthz >/dev/null && break; sleep 0.5; done
		out=$("$TMP/load" -json -mode issue -c "$C" -n "$N" -addr 127.0.0.1:19543 -ca-file "$st/root.pem" 2>/dev/null | tail -1)
		echo "round $r $c $(jq -c '{certs_per_sec, p50_ms, p99_ms, errors}' <<<"$out")" | tee -a "$TMP/results"
		kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
	done
done
echo "[ab] medians (certs/s):"
for c in "$@"; do
	grep " $c " "$TMP/results" | sed 's/.*"certs_per_sec":\([0-9.]*\).*/\1/' | sort -n |
		awk -v c="$c" '{a[NR]=$1} END {print "  " c ": " a[int((NR+1)/2)]}'
done
