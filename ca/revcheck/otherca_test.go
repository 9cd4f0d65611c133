package revcheck_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/otherca"
	"github.com/signet-ca/signet/ca/revcheck"
)

// TestAgainstOtherCA runs the checker against the dev "other bank's CA"
// over real HTTP, as a registration in `signetd --dev` does.
func TestAgainstOtherCA(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	var ocspDown atomic.Bool
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ocspDown.Load() && strings.HasSuffix(r.URL.Path, "/ocsp") {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	oca, err := otherca.Open(t.TempDir(), srv.URL, clock)
	if err != nil {
		t.Fatal(err)
	}
	h = oca.Handler()
	issuer := oca.Intermediates()[0]

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *x509.Certificate {
		nb := clock().Add(-time.Minute)
		c, err := oca.Issue(key.Public(), "김철수", "8505051234567", make([]byte, 20), "004", nb, nb.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := issue(), issue()
	chk := revcheck.New(revcheck.Options{Now: clock})
	get := func(c *x509.Certificate) revcheck.Result {
		t.Helper()
		r, err := chk.Check(context.Background(), c, issuer)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	if r := get(a); r.Status != revcheck.Good || r.Source != "ocsp" || r.URL != srv.URL+"/otherca/ocsp" {
		t.Fatalf("before revocation: %+v", r)
	}
	at := clock().Truncate(time.Second)
	if err := oca.Revoke(a.SerialNumber, crlreason.KeyCompromise, at); err != nil {
		t.Fatal(err)
	}
	// Cached until the OCSP answer's nextUpdate, then the revocation shows.
	if r := get(a); r.Status != revcheck.Good {
		t.Errorf("cached answer: %+v", r)
	}
	advance(time.Minute)
	if r := get(a); r.Status != revcheck.Revoked || r.Reason != crlreason.KeyCompromise || !r.RevokedAt.Equal(at) {
		t.Errorf("after nextUpdate: %+v", r)
	}

	// OCSP down: the CRL answers, for both certificates.
	ocspDown.Store(true)
	fresh := revcheck.New(revcheck.Options{Now: clock})
	for c, want := range map[*x509.Certificate]revcheck.Status{a: revcheck.Revoked, b: revcheck.Good} {
		r, err := fresh.Check(context.Background(), c, issuer)
		if err != nil || r.Status != want || r.Source != "crl" || r.URL != srv.URL+"/otherca/crl" {
			t.Errorf("via CRL: %+v, %v; want %s", r, err, want)
		}
	}

	// The other CA gone: UNAVAILABLE material, naming its URLs.
	srv.Close()
	_, err = revcheck.New(revcheck.Options{Now: clock, Timeout: time.Second}).Check(context.Background(), b, issuer)
	if !errors.Is(err, revcheck.ErrUnreachable) || !strings.Contains(err.Error(), srv.URL+"/otherca/crl") {
		t.Errorf("CA down: %v", err)
	}
}
