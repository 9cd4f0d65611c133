package crl

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.signer.ID()
	mux := http.NewServeMux()
	// The route the server mounts.
	mux.Handle("GET /crl/", Handler(e.db))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	path := "/crl/" + id + ".crl"

	// Before any CRL: 404 with a message.
	if resp, body := do("GET", path, nil...); resp.StatusCode != 404 || !strings.Contains(string(body), "no CRL is published for issuer "+id) {
		t.Fatalf("before any CRL: %d %q", resp.StatusCode, body)
	}

	g := New(e.db, e.signer, Options{NextUpdate: 30 * time.Minute, Log: testLog(t, "g")})
	e.revoke(e.issue(time.Now().AddDate(1, 0, 0)), time.Now(), 1)
	s1, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	maxAge := regexp.MustCompile(`^public, max-age=(\d+), no-transform$`)
	resp, body := do("GET", path)
	if resp.StatusCode != 200 || string(body) != string(s1.DER) {
		t.Fatalf("GET: %d, %d bytes; want 200 with CRL 1", resp.StatusCode, len(body))
	}
	e.parse(body)
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Type":  "application/pkix-crl",
		"Etag":          `"1"`,
		"Last-Modified": s1.ThisUpdate.UTC().Format(http.TimeFormat),
		"Expires":       s1.NextUpdate.UTC().Format(http.TimeFormat),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// nextUpdate is 30 minutes away: max-age counts down to it.
	if m := maxAge.FindStringSubmatch(h.Get("Cache-Control")); m == nil {
		t.Errorf("Cache-Control = %q", h.Get("Cache-Control"))
	} else if n, _ := strconv.Atoi(m[1]); n < 1790 || n > 1800 {
		t.Errorf("max-age %d, want about 1800 (seconds until nextUpdate)", n)
	}

	// Conditional GET: 304 with no body, validators kept.
	for _, inm := range []string{`"1"`, `W/"1"`, `"7", "1"`, `*`} {
		resp, body := do("GET", path, "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("Etag") != `"1"` ||
			!maxAge.MatchString(resp.Header.Get("Cache-Control")) {
			t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q, Cache-Control %q", inm, resp.StatusCode, len(body),
				resp.Header.Get("Etag"), resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := do("GET", path, "If-None-Match", `"0"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another number: %d, want 200", resp.StatusCode)
	}
	if resp, body := do("HEAD", path); resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Etag") != `"1"` {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("Etag"))
	}

	// A new CRL, generated on "another replica", is served within about a
	// second; with nextUpdate a day away max-age stops at one hour.
	g24 := New(e.db, e.signer, Options{Log: testLog(t, "g24")})
	s2, err := g24.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 3*time.Second, "CRL 2 served", func() bool {
		resp, _ := do("GET", path, "If-None-Match", `"1"`)
		return resp.StatusCode == 200 && resp.Header.Get("Etag") == `"2"`
	})
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("CRL 2 served after %s, want within about a second", took)
	}
	resp, body = do("GET", path)
	if string(body) != string(s2.DER) || resp.Header.Get("Cache-Control") != "public, max-age=3600, no-transform" {
		t.Errorf("CRL 2: %d bytes, Cache-Control %q", len(body), resp.Header.Get("Cache-Control"))
	}

	// 404s: unknown issuer, an issuer with no CRL yet, malformed paths.
	if err := e.db.UpsertIssuer(ctx, "00112233aabbccdd", "CN=Other", []byte{1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/crl/ffffffffffffffff.crl", "/crl/00112233aabbccdd.crl", "/crl/", "/crl/" + id,
		"/crl/" + id + ".pem", "/crl/x/" + id + ".crl", "/crl/.crl", "/crl/a%20b.crl"} {
		resp, body := do("GET", p)
		if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(body) == 0 {
			t.Errorf("GET %s: %d %q, want 404 with a message", p, resp.StatusCode, body)
		}
	}

	// Other methods: 405 (the mux answers for its route; the handler
	// itself answers too when mounted without a method).
	if resp, _ := do("POST", path); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST through the mux: %d, want 405", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	Handler(e.db).ServeHTTP(rec, httptest.NewRequest("DELETE", path, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestHandler_ExpiredCRLNotCached: once nextUpdate has passed (the
// generator is down), caches must revalidate every time.
func TestHandler_ExpiredCRLNotCached(t *testing.T) {
	e := newEnv(t)
	clk := newClock(time.Now().Add(-48 * time.Hour))
	if _, err := New(e.db, e.signer, Options{Now: clk.Now, Log: testLog(t, "g")}).Generate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	Handler(e.db).ServeHTTP(rec, httptest.NewRequest("GET", "/crl/"+e.signer.ID()+".crl", nil))
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=0, no-transform" {
		t.Fatalf("stale CRL: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
}
