package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// summary is the result of one timed run, the same for both targets so
// that the two can be compared field by field.
type summary struct {
	Target      string         `json:"target"` // signet or stepca
	Addr        string         `json:"addr"`
	Mode        string         `json:"mode"` // full, issue (Signet) or sign (step-ca)
	Key         string         `json:"key"`
	C           int            `json:"c"`
	N           int            `json:"n"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors"`
	CertsPerSec float64        `json:"certs_per_sec"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	DurationS   float64        `json:"duration_s"`
	StartedAt   string         `json:"started_at"` // RFC 3339, UTC
	Protocol    string         `json:"protocol,omitempty"`

	// samples holds the first message seen per error code, for the text
	// report only.
	samples map[string]string
}

// outcome is one timed unit: its latency and, if it failed, a short code
// (a gRPC code name or "HTTP 401") and the message.
type outcome struct {
	lat  time.Duration
	code string
	msg  string
	done bool
}

// summarize computes the figures of a run. Rates count successful
// certificates over the wall time of the timed phase; latencies are those
// of successful units only, so a burst of fast refusals cannot flatter
// them.
func summarize(s summary, outs []outcome, started time.Time, wall time.Duration) summary {
	s.Errors = map[string]int{}
	s.samples = map[string]string{}
	var lats []time.Duration
	for _, o := range outs {
		if !o.done {
			continue
		}
		if o.code == "" {
			lats = append(lats, o.lat)
			continue
		}
		s.Errors[o.code]++
		if _, ok := s.samples[o.code]; !ok {
			s.samples[o.code] = o.msg
		}
	}
	s.OK = len(lats)
	slices.Sort(lats)
	s.P50ms = ms(percentile(lats, 50))
	s.P90ms = ms(percentile(lats, 90))
	s.P99ms = ms(percentile(lats, 99))
	s.MaxMs = ms(percentile(lats, 100))
	s.DurationS = round(wall.Seconds(), 3)
	if wall > 0 {
		s.CertsPerSec = round(float64(s.OK)/wall.Seconds(), 1)
	}
	s.StartedAt = started.UTC().Format(time.RFC3339)
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest value with at least p% of the values at or below it. It is 0
// for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, places int) float64 {
	f := math.Pow(10, float64(places))
	return math.Round(v*f) / f
}

// writeJSON writes s as one JSON object on one line.
func writeJSON(w io.Writer, s summary) error {
	if s.Errors == nil {
		s.Errors = map[string]int{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeText writes the report for people, with the next step for every
// kind of error seen.
func writeText(w io.Writer, s summary) {
	fmt.Fprintf(w, "%s %s  c=%d n=%d key=%s  %s", s.Target, s.Mode, s.C, s.N, s.Key, s.Addr)
	if s.Protocol != "" {
		fmt.Fprintf(w, " (%s)", s.Protocol)
	}
	fmt.Fprintln(w)
	total := 0
	for _, v := range s.Errors {
		total += v
	}
	fmt.Fprintf(w, "  ok %d, errors %d, %.2f s (started %s)\n", s.OK, total, s.DurationS, s.StartedAt)
	fmt.Fprintf(w, "  %.1f certs/s\n", s.CertsPerSec)
	fmt.Fprintf(w, "  latency p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", s.P50ms, s.P90ms, s.P99ms, s.MaxMs)
	if total == 0 {
		return
	}
	codes := make([]string, 0, len(s.Errors))
	for c := range s.Errors {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		if s.Errors[codes[i]] != s.Errors[codes[j]] {
			return s.Errors[codes[i]] > s.Errors[codes[j]]
		}
		return codes[i] < codes[j]
	})
	fmt.Fprintln(w, "  errors by code:")
	for _, c := range codes {
		fmt.Fprintf(w, "    %-18s %d", c, s.Errors[c])
		if m := s.samples[c]; m != "" {
			fmt.Fprintf(w, "  first: %s", oneLine(m, 160))
		}
		fmt.Fprintln(w)
		if h := hint(s.Target, c); h != "" {
			fmt.Fprintf(w, "      -> %s\n", h)
		}
	}
}

func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// hint says what to do about an error code.
func hint(target, code string) string {
	switch target + " " + code {
	case "signet Unavailable":
		return "is signetd running at -addr? start it with `make run` (or give -addr); a restart mid-run also shows here"
	case "signet DeadlineExceeded", "stepca timeout":
		return "the server is saturated or stuck: lower -c, or raise -timeout"
	case "signet AlreadyExists":
		return "a generated person already holds a certificate from an earlier run (rare): run again, or use a fresh signetd --state-dir"
	case "signet Unauthenticated":
		return "evidence refused (expired after 10 minutes, or replayed): in -mode issue lower -n so the timed phase ends sooner"
	case "signet FailedPrecondition":
		return "the enrollment expired (10 minutes) before its IssueCertificate: lower -n"
	case "signet Unimplemented":
		return "this signetd has no dev identity providers: start it with --dev"
	case "signet ResourceExhausted":
		return "the server refused the load: lower -c"
	case "signet Internal":
		return "a fault in signetd: read its log"
	case "stepca HTTP 401":
		return "token refused: check -stepca-provisioner and -stepca-key against ca.json, and that tokens were minted after step-ca started"
	case "stepca HTTP 400", "stepca HTTP 403":
		return "request refused: read the message (SANs and durations must match the provisioner's claims)"
	case "stepca network":
		return "is step-ca running at -addr? bench/peer/run.sh starts one"
	}
	return ""
}
