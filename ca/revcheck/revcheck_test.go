package revcheck

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
)

func check(t *testing.T, c *Checker, cert, issuer *x509.Certificate) Result {
	t.Helper()
	r, err := c.Check(context.Background(), cert, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoodAndRevokedViaOCSP(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	good, bad := ca.leaf(true, true), ca.leaf(true, true)
	at := clk.now().Add(-time.Hour).Truncate(time.Second)
	ca.revoke(bad, crlreason.KeyCompromise, at)
	c := New(Options{Now: clk.now})

	r := check(t, c, good, ca.cert)
	if r.Status != Good || r.Source != "ocsp" || r.URL != ca.srv.URL+"/ocsp" ||
		!r.ThisUpdate.Equal(clk.now()) || !r.NextUpdate.Equal(clk.now().Add(time.Hour)) {
		t.Errorf("good: %+v", r)
	}
	r = check(t, c, bad, ca.cert)
	if r.Status != Revoked || !r.RevokedAt.Equal(at) || r.Reason != crlreason.KeyCompromise || r.Source != "ocsp" {
		t.Errorf("revoked: %+v", r)
	}
	if n := ca.crlN.Load(); n != 0 {
		t.Errorf("CRL fetched %d times while OCSP answered", n)
	}
}

func TestRevokedViaCRL(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	at := clk.now().Add(-time.Hour).Truncate(time.Second)
	c := New(Options{Now: clk.now})

	// No OCSP URL in the certificate.
	noOCSP := ca.leaf(false, true)
	ca.revoke(noOCSP, crlreason.Superseded, at)
	r := check(t, c, noOCSP, ca.cert)
	if r.Status != Revoked || r.Source != "crl" || r.URL != ca.srv.URL+"/crl" || !r.RevokedAt.Equal(at) || r.Reason != crlreason.Superseded {
		t.Errorf("no OCSP URL: %+v", r)
	}
	if ca.ocspN.Load() != 0 {
		t.Error("OCSP asked though the certificate names no responder")
	}

	// OCSP named but failing in each way a responder fails.
	for _, mode := range []string{"down", "garbage", "tryLater", "badsig"} {
		t.Run(mode, func(t *testing.T) {
			ca.set(func(f *fakeCA) { f.ocspMode = mode })
			cert := ca.leaf(true, true)
			ca.revoke(cert, crlreason.AffiliationChanged, at)
			r := check(t, New(Options{Now: clk.now}), cert, ca.cert)
			if r.Status != Revoked || r.Source != "crl" || r.Reason != crlreason.AffiliationChanged {
				t.Errorf("%+v", r)
			}
			good := ca.leaf(true, true)
			if r := check(t, New(Options{Now: clk.now}), good, ca.cert); r.Status != Good || r.Source != "crl" {
				t.Errorf("good: %+v", r)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	cert := ca.leaf(true, true)
	ca.set(func(f *fakeCA) { f.ocspMode, f.crlMode = "down", "garbage" })
	_, err := New(Options{Now: clk.now}).Check(context.Background(), cert, ca.cert)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrUntrusted) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	// The message names each URL and what happened there.
	for _, want := range []string{ca.srv.URL + "/ocsp", "503", ca.srv.URL + "/crl", "malformed CRL", "Test CA Class 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Source != "ocsp" {
		t.Errorf("no FetchError in %v", err)
	}

	// Too slow: the per-fetch timeout.
	ca.set(func(f *fakeCA) { f.ocspMode, f.crlMode, f.delay = "ok", "ok", time.Second })
	start := time.Now()
	_, err = New(Options{Now: clk.now, Timeout: 50 * time.Millisecond}).Check(context.Background(), cert, ca.cert)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("slow CA: %v", err)
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Errorf("two 50ms fetches took %s", d)
	}

	// Too big.
	ca.set(func(f *fakeCA) { f.delay, f.bigBody = 0, true })
	_, err = New(Options{Now: clk.now}).Check(context.Background(), cert, ca.cert)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge answers: %v", err)
	}

	// Nobody listening.
	ca.srv.Close()
	_, err = New(Options{Now: clk.now}).Check(context.Background(), cert, ca.cert)
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v", err)
	}
}

func TestNoStatusSource(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	c := New(Options{Now: clk.now})
	if _, err := c.Check(context.Background(), ca.leaf(false, false), ca.cert); !errors.Is(err, ErrNoStatusSource) {
		t.Errorf("no URLs: %v", err)
	}
	// Real NPKI certificates also carry ldap:// distribution points.
	ldap := ca.leaf(false, false)
	ldap.CRLDistributionPoints = []string{"ldap://ds.example.kr:389/cn=dp1p1,ou=dp,o=Test,c=kr"}
	if _, err := c.Check(context.Background(), ldap, ca.cert); !errors.Is(err, ErrNoStatusSource) || !strings.Contains(err.Error(), "ldap://") {
		t.Errorf("ldap only: %v", err)
	}
	// The wrong issuer is a caller's mistake, not a CA's state.
	if _, err := c.Check(context.Background(), ca.leaf(true, true), ca.leaf(true, true)); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("wrong issuer: %v", err)
	}
}

func TestUntrustedRefused(t *testing.T) {
	clk := newClock()
	for _, tc := range []struct {
		name string
		set  func(f *fakeCA)
		want string
	}{
		{"bad signature", func(f *fakeCA) { f.ocspMode, f.crlMode = "badsig", "badsig" }, "does not verify"},
		{"delegated responder without OCSPSigning", func(f *fakeCA) { f.ocspMode, f.crlMode = "delegatedNoEKU", "down" }, "lacks id-kp-OCSPSigning"},
		{"nextUpdate passed", func(f *fakeCA) { f.thisUpdate, f.nextUpdate = -2*time.Hour, -time.Minute }, "stale"},
		{"thisUpdate in the future", func(f *fakeCA) { f.thisUpdate, f.nextUpdate = time.Hour, 2*time.Hour }, "in the future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newFakeCA(t, clk)
			ca.set(tc.set)
			_, err := New(Options{Now: clk.now}).Check(context.Background(), ca.leaf(true, true), ca.cert)
			if !errors.Is(err, ErrUntrusted) || !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrUntrusted with %q", err, tc.want)
			}
		})
	}
	t.Run("answer about another serial", func(t *testing.T) {
		ca := newFakeCA(t, clk)
		ca.set(func(f *fakeCA) { f.ocspMode, f.crlMode = "otherSerial", "down" })
		if _, err := New(Options{Now: clk.now}).Check(context.Background(), ca.leaf(true, true), ca.cert); !errors.Is(err, ErrUnreachable) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("within skew", func(t *testing.T) {
		ca := newFakeCA(t, clk)
		ca.set(func(f *fakeCA) { f.thisUpdate = 2 * time.Minute })
		if r := check(t, New(Options{Now: clk.now}), ca.leaf(true, true), ca.cert); r.Status != Good {
			t.Errorf("%+v", r)
		}
	})
}

func TestDelegatedResponder(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	ca.set(func(f *fakeCA) { f.ocspMode = "delegated" })
	cert := ca.leaf(true, false)
	ca.revoke(cert, crlreason.CessationOfOperation, clk.now().Add(-time.Minute).Truncate(time.Second))
	if r := check(t, New(Options{Now: clk.now}), cert, ca.cert); r.Status != Revoked || r.Source != "ocsp" {
		t.Errorf("%+v", r)
	}
}

func TestCacheHitAndExpiry(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	ca.set(func(f *fakeCA) { f.nextUpdate = 10 * time.Minute })
	cert := ca.leaf(true, true)
	c := New(Options{Now: clk.now})

	check(t, c, cert, ca.cert)
	clk.add(9 * time.Minute)
	if r := check(t, c, cert, ca.cert); r.Status != Good {
		t.Fatalf("%+v", r)
	}
	if n := ca.ocspN.Load(); n != 1 {
		t.Fatalf("%d OCSP requests for two checks within nextUpdate", n)
	}
	// At nextUpdate the cached answer is gone: the revocation shows.
	ca.revoke(cert, crlreason.KeyCompromise, clk.now())
	clk.add(time.Minute)
	if r := check(t, c, cert, ca.cert); r.Status != Revoked {
		t.Errorf("after nextUpdate: %+v", r)
	}
	if n := ca.ocspN.Load(); n != 2 {
		t.Errorf("%d OCSP requests, want 2", n)
	}

	// Without nextUpdate: reused for noNextUpdateTTL, no longer.
	ca.set(func(f *fakeCA) { f.noNext = true })
	fresh := ca.leaf(true, true)
	check(t, c, fresh, ca.cert)
	clk.add(noNextUpdateTTL - time.Second)
	check(t, c, fresh, ca.cert)
	if n := ca.ocspN.Load(); n != 3 {
		t.Errorf("%d OCSP requests, want 3", n)
	}
	clk.add(time.Second)
	check(t, c, fresh, ca.cert)
	if n := ca.ocspN.Load(); n != 4 {
		t.Errorf("%d OCSP requests after noNextUpdateTTL, want 4", n)
	}

	// One CRL answers for every certificate of its issuer until its
	// nextUpdate.
	ca.set(func(f *fakeCA) { f.noNext = false })
	a, b := ca.leaf(false, true), ca.leaf(false, true)
	check(t, c, a, ca.cert)
	check(t, c, b, ca.cert)
	if n := ca.crlN.Load(); n != 1 {
		t.Errorf("%d CRL fetches for two certificates", n)
	}
	clk.add(10 * time.Minute)
	check(t, c, a, ca.cert)
	if n := ca.crlN.Load(); n != 2 {
		t.Errorf("%d CRL fetches after nextUpdate, want 2", n)
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	ca.set(func(f *fakeCA) { f.delay = 100 * time.Millisecond })
	cert := ca.leaf(true, true)
	c := New(Options{Now: clk.now})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if r, err := c.Check(context.Background(), cert, ca.cert); err != nil || r.Status != Good {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ca.ocspN.Load(); n != 1 {
		t.Errorf("%d OCSP requests for 20 concurrent checks", n)
	}

	// A caller that gives up does not spoil the fetch for the others.
	other := ca.leaf(true, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	done := make(chan Result)
	go func() {
		r, err := c.Check(context.Background(), other, ca.cert)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	if _, err := c.Check(ctx, other, ca.cert); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: %v", err)
	}
	if r := <-done; r.Status != Good {
		t.Errorf("patient caller: %+v", r)
	}
}

func TestBoundedCache(t *testing.T) {
	clk := newClock()
	ca := newFakeCA(t, clk)
	c := New(Options{Now: clk.now, MaxEntries: 2})
	first := ca.leaf(true, false)
	check(t, c, first, ca.cert)
	for range 3 {
		check(t, c, ca.leaf(true, false), ca.cert)
	}
	if n := c.cache.len(); n != 2 {
		t.Errorf("%d cached entries, cap 2", n)
	}
	check(t, c, first, ca.cert)
	if n := ca.ocspN.Load(); n != 5 {
		t.Errorf("%d OCSP requests: the least recently used entry was not the one dropped", n)
	}
}

func TestDefaults(t *testing.T) {
	c := New(Options{})
	if c.timeout != DefaultTimeout || c.cache.max != DefaultMaxEntries || c.client == nil || c.client == http.DefaultClient {
		t.Errorf("defaults: timeout %s, max %d", c.timeout, c.cache.max)
	}
}
