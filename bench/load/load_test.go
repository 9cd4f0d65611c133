package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence"
)

func msList(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile_NearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", msList(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"max", hundred, 100, 100 * time.Millisecond},
		{"p50 of four rounds up the rank", msList(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of ten is the max", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p0 is the min", msList(3, 4), 0, 3 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSummarize_CountsErrorsByCodeAndTimesOnlySuccesses(t *testing.T) {
	outs := []outcome{
		{lat: 10 * time.Millisecond, done: true},
		{lat: 30 * time.Millisecond, done: true},
		{lat: 20 * time.Millisecond, done: true},
		{lat: time.Millisecond, done: true, code: "AlreadyExists", msg: "first"},
		{lat: time.Millisecond, done: true, code: "AlreadyExists", msg: "second"},
		{lat: 900 * time.Millisecond, done: true, code: "Unavailable", msg: "down"},
		{}, // not done: interrupted
	}
	started := time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("KST", 9*3600))
	s := summarize(summary{Target: "signet", Mode: "issue", N: 7}, outs, started, 2*time.Second)
	if s.OK != 3 || s.Errors["AlreadyExists"] != 2 || s.Errors["Unavailable"] != 1 || len(s.Errors) != 2 {
		t.Fatalf("ok %d errors %v, want 3 and AlreadyExists 2, Unavailable 1", s.OK, s.Errors)
	}
	if s.CertsPerSec != 1.5 || s.P50ms != 20 || s.P99ms != 30 || s.MaxMs != 30 || s.DurationS != 2 {
		t.Errorf("rate %v p50 %v p99 %v max %v dur %v, want 1.5 20 30 30 2", s.CertsPerSec, s.P50ms, s.P99ms, s.MaxMs, s.DurationS)
	}
	if s.StartedAt != "2026-12-01T00:30:00Z" {
		t.Errorf("started_at %q, want UTC RFC 3339", s.StartedAt)
	}
	if s.samples["AlreadyExists"] != "first" {
		t.Errorf("sample %q, want the first message", s.samples["AlreadyExists"])
	}
}

func TestWriteJSON_HasTheFieldsScriptsRead(t *testing.T) {
	s := summarize(summary{Target: "stepca", Addr: "127.0.0.1:9000", Mode: "sign", Key: "p256", C: 8, N: 2},
		[]outcome{{lat: 5 * time.Millisecond, done: true}, {lat: 7 * time.Millisecond, done: true}}, time.Unix(0, 0), time.Second)
	var buf bytes.Buffer
	if err := writeJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("want one line, got %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "c", "n", "ok", "errors", "certs_per_sec", "p50_ms", "p90_ms", "p99_ms", "duration_s", "started_at", "target"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, buf.String())
		}
	}
	if m["certs_per_sec"] != 2.0 || m["ok"] != 2.0 || m["target"] != "stepca" {
		t.Errorf("certs_per_sec %v ok %v target %v", m["certs_per_sec"], m["ok"], m["target"])
	}
	if errs, ok := m["errors"].(map[string]any); !ok || len(errs) != 0 {
		t.Errorf("errors = %v, want an empty object (not null)", m["errors"])
	}
}

func TestWriteText_SaysWhatToDoAboutEachError(t *testing.T) {
	s := summarize(summary{Target: "signet", Mode: "full", Key: "rsa2048", C: 32, N: 3},
		[]outcome{{lat: time.Millisecond, done: true}, {done: true, code: "Unavailable", msg: "connection refused"},
			{done: true, code: "AlreadyExists", msg: "already_active"}}, time.Now(), time.Second)
	var buf bytes.Buffer
	writeText(&buf, s)
	out := buf.String()
	for _, want := range []string{"signet full", "c=32 n=3 key=rsa2048", "ok 1, errors 2", "1.0 certs/s", "p99 1.00 ms",
		"Unavailable", "first: connection refused", "make run", "fresh signetd --state-dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestProgressLines(t *testing.T) {
	got := plainLine("signet issue c=8", 1200, 3500, 2, 4*time.Second)
	if got != "signet issue c=8: 1200/3500 done, 300.0/s, 2 errors, 4 s" {
		t.Errorf("plainLine = %q", got)
	}
	bar := barLine("x", 50, 100, 0, time.Second, 10)
	if !strings.Contains(bar, "[#####.....] 50/100  50%") || !strings.Contains(bar, "50.0/s") {
		t.Errorf("barLine = %q", bar)
	}
	if full := barLine("x", 100, 100, 0, time.Second, 10); !strings.Contains(full, "[##########]") {
		t.Errorf("full bar = %q", full)
	}
	var buf bytes.Buffer
	p := startProgress(&buf, false, "keys", 2, time.Hour)
	p.add(false)
	p.add(true)
	p.finish()
	if !strings.HasPrefix(buf.String(), "keys: 2/2 done") || !strings.Contains(buf.String(), "1 errors") {
		t.Errorf("final plain line = %q", buf.String())
	}
}

func TestNewPeople_DistinctAndValidForTheDevProviders(t *testing.T) {
	people := newPeople(rand.New(rand.NewPCG(1, 2)), 5000)
	seen := map[string]bool{}
	for _, p := range people {
		k := p.name + "|" + p.birth
		if seen[k] {
			t.Fatalf("person %s repeated", k)
		}
		seen[k] = true
		for _, err := range []error{evidence.ValidName(p.name), evidence.ValidBirth(p.birth), evidence.ValidPhone(p.phone),
			evidence.ValidCarrier(p.carrier), evidence.ValidBank(p.bank), evidence.ValidAccount(p.account)} {
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
		}
	}
}

func TestTokenClaims_AsTheStepCLIWritesThem(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := tokenClaims("bench", "https://127.0.0.1:9000/1.0/sign", "c1.bench.internal", "ab12", "jti1", now)
	if c["aud"] != "https://127.0.0.1:9000/1.0/sign" || c["iss"] != "bench" || c["sub"] != "c1.bench.internal" || c["sha"] != "ab12" || c["jti"] != "jti1" {
		t.Errorf("claims %v", c)
	}
	if sans, _ := c["sans"].([]string); len(sans) != 1 || sans[0] != "c1.bench.internal" {
		t.Errorf("sans %v, want [sub]", c["sans"])
	}
	if c["nbf"] != now.Unix() || c["iat"] != now.Unix() || c["exp"] != now.Add(tokenLifetime).Unix() {
		t.Errorf("times nbf %v iat %v exp %v", c["nbf"], c["iat"], c["exp"])
	}
}

func TestErrorCode(t *testing.T) {
	cases := map[string]error{
		"AlreadyExists": step("IssueCertificate", status.Error(codes.AlreadyExists, "already_active")),
		"HTTP 401":      &httpError{status: 401, msg: "token already used"},
		"timeout":       fmt.Errorf("Post: %w", context.DeadlineExceeded),
		"network":       errors.New("dial tcp: connection refused"),
	}
	for want, err := range cases {
		if got := errorCode(err); got != want {
			t.Errorf("errorCode(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-mode", "bulk"}, io.Discard); err == nil || !strings.Contains(err.Error(), "use issue or full") {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := parseFlags([]string{"-target", "stepca"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-stepca-key") {
		t.Errorf("stepca without key: %v", err)
	}
	if _, err := parseFlags([]string{"-target", "stepca", "-stepca-key", "k", "-mode", "full"}, io.Discard); err == nil {
		t.Error("stepca -mode full accepted")
	}
	cfg, err := parseFlags([]string{"-target", "stepca", "-stepca-key", "k"}, io.Discard)
	if err != nil || cfg.mode != "sign" {
		t.Errorf("stepca mode %v, err %v", cfg, err)
	}
	if _, err := parseFlags([]string{"-key", "ed25519"}, io.Discard); err == nil {
		t.Error("-key ed25519 accepted")
	}
	cfg, err = parseFlags(nil, io.Discard)
	if err != nil || cfg.addr != "127.0.0.1:9443" || cfg.c != 32 || cfg.n != 3500 || cfg.keyType != "p256" || cfg.mode != "issue" {
		t.Errorf("defaults %+v, err %v", cfg, err)
	}
}
