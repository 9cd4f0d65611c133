#!/usr/bin/env bash
# bench/peer/run.sh: Signet beside step-ca on this machine, with the same
# load generator (bench/load) against both, in alternating pairs.
#
#   make bench-peer                     # n=3500, c=8 32 64, 3 rounds, RSA and ECDSA CA keys
#   PEER_N=300 PEER_C="8 32" PEER_ROUNDS=1 bench/peer/run.sh   # a quick smoke run
#   bench/peer/run.sh -n 300 -c "8 32" -r 1 -k rsa
#
# For each CA key type (RSA-2048, ECDSA P-256 intermediate) it starts one
# throwaway step-ca v0.30.2 (JWK provisioner, one-year certificates, its
# default badger DB) and one `signetd --dev` (its private PostgreSQL), both
# on free 127.0.0.1 ports under a temp dir. Then, per round and per c, two
# pairs: (Signet -mode issue, step-ca) and (Signet -mode full, step-ca); odd
# rounds start with Signet, even rounds with step-ca. It prints each pair,
# and at the end a Markdown table of the medians over rounds, also written
# to bench/peer/last-run.md. Every process it started is stopped on exit.
#
# Settings (flag or environment):
#   -n PEER_N          certificates per run (3500)
#   -c PEER_C          concurrency levels ("8 32 64")
#   -r PEER_ROUNDS     rounds of pairs; the table shows medians (3)
#   -k PEER_CA_KEYS    CA key types: "rsa ecdsa"
#   PEER_CLIENT_KEY    client key of every request: p256 or rsa2048 (p256)
#   PEER_WARMUP        certificates per target before the first round (100)
#   PEER_CACHE         where step and step-ca are installed (~/.cache/signet-peer)
#   PEER_OUT           the Markdown report (bench/peer/last-run.md)
#   PEER_KEEP=1        keep the temp dir (logs, configs) for a post-mortem
#   SIGNETD            a signetd binary to use instead of building one
set -euo pipefail

STEP_CA_VERSION=v0.30.2
STEP_CLI_VERSION=v0.21.0 # newer step CLI downloads answer 403 here

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

N=${PEER_N:-3500}
CS=${PEER_C:-"8 32 64"}
ROUNDS=${PEER_ROUNDS:-3}
CA_KEYS=${PEER_CA_KEYS:-"rsa ecdsa"}
CLIENT_KEY=${PEER_CLIENT_KEY:-p256}
WARMUP=${PEER_WARMUP:-100}
CACHE=${PEER_CACHE:-$HOME/.cache/signet-peer}
OUT=${PEER_OUT:-$ROOT/bench/peer/last-run.md}
GO=${GO:-go}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while getopts "n:c:r:k:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	c) CS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	k) CA_KEYS=$OPTARG ;;
	h)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done

log() { printf '[peer %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() {
	printf '[peer] error: %s\n' "$*" >&2
	exit 1
}

[[ $N =~ ^[0-9]+$ && $N -gt 0 ]] || die "-n / PEER_N must be a positive number, not '$N'"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "-r / PEER_ROUNDS must be a positive number, not '$ROUNDS'"
for c in $CS; do
	[[ $c =~ ^[0-9]+$ && $c -gt 0 ]] || die "-c / PEER_C must list positive numbers, not '$CS'"
done
for k in $CA_KEYS; do
	[[ $k == rsa || $k == ecdsa ]] || die "-k / PEER_CA_KEYS takes rsa and/or ecdsa, not '$k'"
done
command -v "$GO" >/dev/null || die "no '$GO' on the PATH: install Go 1.26 or set GO=/usr/local/go/bin/go"
command -v jq >/dev/null || die "jq is needed for the report: apt-get install jq"
command -v curl >/dev/null || die "curl is needed to wait for the servers: apt-get install curl"

# --- tools ------------------------------------------------------------------

BIN=$CACHE/bin
STEP=$BIN/step
STEP_CA=$BIN/step-ca

# has_version BINARY MODULE VERSION: the binary was built from that module version.
has_version() {
	local info
	[[ -x $1 ]] || return 1
	info=$("$GO" version -m "$1" 2>/dev/null) || return 1
	grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)" <<<"$info"
}

install_tool() { # install_tool NAME PACKAGE MODULE VERSION
	if has_version "$BIN/$1" "$3" "$4"; then
		log "$1 $4 is cached in $BIN"
		return
	fi
	log "installing $1 $4 into $BIN (go install, a few minutes the first time)"
	mkdir -p "$BIN"
	GOBIN=$BIN CGO_ENABLED=0 "$GO" install "$2@$4" ||
		die "go install $2@$4 failed: check the network and GOPROXY ($("$GO" env GOPROXY)), then run again"
	log "$1 $4 installed"
}

install_tool step-ca github.com/smallstep/certificates/cmd/step-ca github.com/smallstep/certificates "$STEP_CA_VERSION"
install_tool step github.com/smallstep/cli/cmd/step github.com/smallstep/cli "$STEP_CLI_VERSION"

# --- processes and cleanup --------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/signet-peer.XXXXXX")
PIDS=()        # every server this script started
PG_DIRS=()     # signetd state dirs, to check their PostgreSQL is down
USED_PORTS=" " # ports handed out, so two servers never get the same one

# stop_pid PID NAME: SIGTERM, then up to 30 s for a clean exit (signetd
# stops its private PostgreSQL on SIGTERM: cmd/signetd main.go
# NotifyContext -> devConfig's cleanup -> devcluster.Stop), then SIGKILL.
stop_pid() {
	local pid=$1 name=$2
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || {
			wait "$pid" 2>/dev/null || true
			return 0
		}
		sleep 0.5
	done
	log "$name (pid $pid) did not stop within 30 s: killing it"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_pg DIR: a signetd that was killed leaves its cluster running; stop
# the postmaster by its pid file (SIGINT is PostgreSQL's fast shutdown).
stop_pg() {
	local pidfile=$1/pg/pgdata/postmaster.pid pm
	[[ -f $pidfile ]] || return 0
	pm=$(head -n1 "$pidfile")
	if [[ $pm =~ ^[0-9]+$ ]] && kill -0 "$pm" 2>/dev/null; then
		log "PostgreSQL of $1 still runs (pid $pm): stopping it"
		kill -INT "$pm" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$pm" 2>/dev/null || return 0
			sleep 0.5
		done
		log "PostgreSQL pid $pm did not stop: stop it with kill $pm"
	fi
}

cleanup() {
	local rc=$?
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}" "server"
	done
	for d in "${PG_DIRS[@]}"; do
		stop_pg "$d"
	done
	if [[ ${PEER_KEEP:-} == 1 || $rc -ne 0 ]]; then
		log "logs and configs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: sets PORT to a port nothing listens on (and not handed out before).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			PORT=$p
			return 0
		fi
	done
	die "found no free port on 127.0.0.1 between 20000 and 50000"
}

# wait_url URL PID LOG [CURL ARGS...]: until URL answers 2xx, or the server exits.
wait_url() {
	local url=$1 pid=$2 logf=$3
	shift 3
	for _ in $(seq 1 240); do
		curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$logf" >&2
			return 1
		fi
		sleep 0.5
	done
	tail -n 20 "$logf" >&2
	die "$url did not answer within 120 s (log: $logf)"
}

# --- builds -----------------------------------------------------------------

if [[ -n ${SIGNETD:-} ]]; then
	[[ -x $SIGNETD ]] || die "SIGNETD=$SIGNETD is not an executable"
	cp "$SIGNETD" "$TMP/signetd"
	log "using signetd from SIGNETD=$SIGNETD"
else
	log "building signetd and bench/load"
	"$GO" build -o "$TMP/signetd" ./cmd/signetd ||
		die "go build ./cmd/signetd failed: fix the working tree, or set SIGNETD=/path/to/signetd"
fi
"$GO" build -o "$TMP/load" ./bench/load || die "go build ./bench/load failed"
LOAD=$TMP/load
signetd_help=$("$TMP/signetd" --help 2>&1 || true)
if grep -q -- '-dev-ca-key' <<<"$signetd_help"; then
	HAS_DEV_CA_KEY=1
else
	HAS_DEV_CA_KEY=0
fi

# --- step-ca ----------------------------------------------------------------

# setup_stepca KIND: a step-ca config under $TMP/stepca-KIND; sets STEPCA_PORT. `step ca init`
# (v0.21.0) cannot choose the intermediate's key type, so the PKI is made
# with `step certificate create` and ca.json is written in the shape that
# `step ca init` writes (same TLS settings, default badgerv2 DB).
setup_stepca() {
	local kind=$1 d=$TMP/stepca-$1
	local kty=(--kty EC --crv P-256)
	[[ $kind == rsa ]] && kty=(--kty RSA --size 2048)
	free_port
	STEPCA_PORT=$PORT
	mkdir -p "$d/certs" "$d/secrets" "$d/config" "$d/db"
	STEPPATH=$d "$STEP" certificate create "Peer Bench Root CA" "$d/certs/root_ca.crt" "$d/secrets/root_ca_key" \
		--profile root-ca --kty EC --crv P-256 --not-after 87600h --no-password --insecure >/dev/null 2>&1 ||
		die "step certificate create (root) failed"
	STEPPATH=$d "$STEP" certificate create "Peer Bench Intermediate CA ($kind)" "$d/certs/intermediate_ca.crt" \
		"$d/secrets/intermediate_ca_key" --profile intermediate-ca --ca "$d/certs/root_ca.crt" \
		--ca-key "$d/secrets/root_ca_key" "${kty[@]}" --not-after 87600h --no-password --insecure >/dev/null 2>&1 ||
		die "step certificate create (intermediate) failed"
	STEPPATH=$d "$STEP" crypto jwk create "$d/secrets/bench.pub.json" "$d/secrets/bench.jwk.json" \
		--no-password --insecure >/dev/null 2>&1 || die "step crypto jwk create failed"
	jq -n --arg d "$d" --arg addr "127.0.0.1:$STEPCA_PORT" --slurpfile key "$d/secrets/bench.pub.json" '{
		root: "\($d)/certs/root_ca.crt", federatedRoots: null,
		crt: "\($d)/certs/intermediate_ca.crt", key: "\($d)/secrets/intermediate_ca_key",
		address: $addr, insecureAddress: "", dnsNames: ["127.0.0.1", "localhost"],
		logger: {format: "text"},
		db: {type: "badgerv2", dataSource: "\($d)/db", badgerFileLoadingMode: ""},
		authority: {provisioners: [{type: "JWK", name: "bench", key: $key[0],
			claims: {minTLSCertDuration: "5m", defaultTLSCertDuration: "8760h", maxTLSCertDuration: "8760h"}}]},
		tls: {cipherSuites: ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
			minVersion: 1.2, maxVersion: 1.3, renegotiation: false}
	}' >"$d/config/ca.json"
}

# start_stepca KIND PORT: sets STEPCA_PID.
start_stepca() {
	local kind=$1 port=$2 d=$TMP/stepca-$1
	STEPPATH=$d "$STEP_CA" "$d/config/ca.json" >"$d/step-ca.log" 2>&1 &
	STEPCA_PID=$!
	PIDS+=("$STEPCA_PID")
	wait_url "https://127.0.0.1:$port/health" "$STEPCA_PID" "$d/step-ca.log" --cacert "$d/certs/root_ca.crt" ||
		die "step-ca ($kind) did not start: see $d/step-ca.log"
	# step-ca refuses tokens issued (iat, whole seconds) before it started.
	sleep 1
}

# --- signetd ----------------------------------------------------------------

# start_signetd KIND: sets SIGNET_PID, SIGNET_ADDR, SIGNET_ROOT; returns 3
# if this signetd has no --dev-ca-key for an ECDSA CA.
start_signetd() {
	local kind=$1 d=$TMP/signet-$1 g h a
	local extra=()
	if [[ $kind == ecdsa ]]; then
		((HAS_DEV_CA_KEY)) || return 3
		extra=(--dev-ca-key ecdsa-p256)
	fi
	free_port
	g=$PORT
	free_port
	h=$PORT
	free_port
	a=$PORT
	mkdir -p "$d"
	PG_DIRS+=("$d")
	"$TMP/signetd" --dev --state-dir "$d" --grpc-addr "127.0.0.1:$g" --http-addr "127.0.0.1:$h" \
		--admin-addr "127.0.0.1:$a" --log-level warn "${extra[@]}" >"$d/signetd.log" 2>&1 &
	SIGNET_PID=$!
	PIDS+=("$SIGNET_PID")
	if ! wait_url "http://127.0.0.1:$h/healthz" "$SIGNET_PID" "$d/signetd.log"; then
		if grep -q 'flag provided but not defined: -dev-ca-key' "$d/signetd.log"; then
			return 3
		fi
		die "signetd ($kind) did not start: see $d/signetd.log"
	fi
	SIGNET_ADDR=127.0.0.1:$g
	SIGNET_ROOT=$d/root.pem
}

# --- runs -------------------------------------------------------------------

RESULTS=$TMP/results.jsonl
: >"$RESULTS"
# The machine may be shared: the report carries the load average around the runs.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# run_load LABEL KIND ROUND PAIR ARGS...: one run of bench/load; its JSON,
# tagged, is appended to $RESULTS and echoed.
run_load() {
	local label=$1 kind=$2 round=$3 pair=$4 out
	shift 4
	if ! out=$("$LOAD" -json -n "$N" -key "$CLIENT_KEY" "$@" 2>>"$TMP/load-$kind.log"); then
		tail -n 15 "$TMP/load-$kind.log" >&2
		die "bench/load ($label) failed: see the lines above"
	fi
	jq -c --arg ca "$kind" --argjson round "$round" --arg pair "$pair" '. + {ca_key: $ca, round: $round, pair: $pair}' <<<"$out" | tee -a "$RESULTS"
}

errs() { jq '[.errors[]] | add // 0' <<<"$1"; }

# pair KIND ROUND C MODE: Signet in MODE and step-ca, in an order that
# alternates with the round, then one line comparing them.
pair() {
	local kind=$1 round=$2 c=$3 mode=$4 s t
	local sargs=(-target signet -mode "$mode" -addr "$SIGNET_ADDR" -ca-file "$SIGNET_ROOT" -c "$c")
	local targs=(-target stepca -addr "$STEPCA_ADDR" -ca-file "$STEPCA_ROOT" -stepca-key "$STEPCA_KEY" -stepca-provisioner bench -c "$c")
	if ((round % 2 == 1)); then
		s=$(run_load "signet $mode" "$kind" "$round" "$mode" "${sargs[@]}")
		t=$(run_load "step-ca" "$kind" "$round" "$mode" "${targs[@]}")
	else
		t=$(run_load "step-ca" "$kind" "$round" "$mode" "${targs[@]}")
		s=$(run_load "signet $mode" "$kind" "$round" "$mode" "${sargs[@]}")
	fi
	printf '  %-5s c=%-3s signet %-5s %8.1f/s p99 %7.1f ms (%s err) | step-ca %8.1f/s p99 %7.1f ms (%s err) | signet/step-ca %.2f\n' \
		"$kind" "$c" "$mode" "$(jq .certs_per_sec <<<"$s")" "$(jq .p99_ms <<<"$s")" "$(errs "$s")" \
		"$(jq .certs_per_sec <<<"$t")" "$(jq .p99_ms <<<"$t")" "$(errs "$t")" \
		"$(jq -n --argjson a "$(jq .certs_per_sec <<<"$s")" --argjson b "$(jq .certs_per_sec <<<"$t")" 'if $b > 0 then $a / $b else 0 end')"
}

SKIPPED=()
for kind in $CA_KEYS; do
	log "== CA key $kind: starting signetd --dev and step-ca"
	rc=0
	start_signetd "$kind" || rc=$?
	if ((rc == 3)); then
		echo "signetd has no --dev-ca-key yet: ECDSA pair skipped"
		SKIPPED+=("$kind")
		continue
	fi
	setup_stepca "$kind"
	start_stepca "$kind" "$STEPCA_PORT"
	STEPCA_ADDR=127.0.0.1:$STEPCA_PORT
	STEPCA_ROOT=$TMP/stepca-$kind/certs/root_ca.crt
	STEPCA_KEY=$TMP/stepca-$kind/secrets/bench.jwk.json
	log "signetd at $SIGNET_ADDR (PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'), private cluster), step-ca at $STEPCA_ADDR (badgerv2 DB)"
	if ((WARMUP > 0)); then
		log "warm-up: $WARMUP certificates from each"
		"$LOAD" -n "$WARMUP" -c 8 -mode full -key "$CLIENT_KEY" -addr "$SIGNET_ADDR" -ca-file "$SIGNET_ROOT" >>"$TMP/load-$kind.log" 2>&1 ||
			die "warm-up against signetd failed: see $TMP/load-$kind.log"
		"$LOAD" -n "$WARMUP" -c 8 -target stepca -key "$CLIENT_KEY" -addr "$STEPCA_ADDR" -ca-file "$STEPCA_ROOT" \
			-stepca-key "$STEPCA_KEY" >>"$TMP/load-$kind.log" 2>&1 ||
			die "warm-up against step-ca failed: see $TMP/load-$kind.log"
	fi
	for round in $(seq 1 "$ROUNDS"); do
		for c in $CS; do
			log "round $round/$ROUNDS, c=$c, n=$N"
			pair "$kind" "$round" "$c" issue
			pair "$kind" "$round" "$c" full
		done
	done
	log "stopping signetd and step-ca ($kind)"
	stop_pid "$STEPCA_PID" step-ca
	stop_pid "$SIGNET_PID" signetd
	stop_pg "$TMP/signet-$kind"
done

# --- report -----------------------------------------------------------------

CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
{
	echo "## Signet beside step-ca ($(date -u +%Y-%m-%d), bench/peer/run.sh)"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), nproc $(nproc), CPU ${CPU:-unknown}; servers, databases and load generator share the machine"
	echo "- load average (1, 5, 15 min) before the runs $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown); the other server of a pair stays up, idle"
	echo "- n=$N per run, rounds=$ROUNDS, client key $CLIENT_KEY; medians over rounds; ratio = median Signet rate / median step-ca rate"
	echo "- step-ca $STEP_CA_VERSION, JWK provisioner, its default badgerv2 DB; signetd --dev with its private PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}')"
	echo "- Signet issue = IssueCertificate only (enrollment and evidence made beforehand); full = 6 calls per certificate; step-ca = POST /1.0/sign with a pre-minted token"
	for k in "${SKIPPED[@]}"; do
		echo "- $k: skipped (signetd has no --dev-ca-key yet)"
	done
	echo
	echo "| CA key | c | Signet mode | Signet certs/s | Signet p99 ms | step-ca certs/s | step-ca p99 ms | Signet/step-ca | errors (Signet/step-ca) |"
	echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	jq -rs '
		def median: sort | if length == 0 then 0 elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		def fixed($p): (pow(10; $p)) as $m | (. * $m | round) as $x
			| if $p == 0 then "\($x)" else "\($x / $m | floor).\($x % $m | tostring | ("000" + .)[-$p:])" end;
		def r1: fixed(1);
		def nerr: [.[].errors[]] | add // 0;
		group_by([.ca_key, .c, .pair])
		| map({ca: .[0].ca_key, c: .[0].c, mode: .[0].pair,
			s: map(select(.target == "signet")), t: map(select(.target == "stepca"))})
		| sort_by([(if .ca == "rsa" then 0 else 1 end), .c, (if .mode == "issue" then 0 else 1 end)])
		| .[]
		| (.s | map(.certs_per_sec) | median) as $sr | (.t | map(.certs_per_sec) | median) as $tr
		| "| \(if .ca == "rsa" then "RSA-2048" else "ECDSA P-256" end) | \(.c) | \(.mode) | \($sr | r1) | \(.s | map(.p99_ms) | median | r1) | \($tr | r1) | \(.t | map(.p99_ms) | median | r1) | \(if $tr > 0 then $sr / $tr | fixed(2) else "n/a" end) | \(.s | nerr)/\(.t | nerr) |"
	' "$RESULTS"
} >"$TMP/report.md"
echo
cat "$TMP/report.md"
cp "$TMP/report.md" "$OUT"
log "report written to $OUT; raw results: one JSON line per run in $RESULTS (kept with PEER_KEEP=1)"
