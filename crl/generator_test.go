package crl

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-ca/signet/store"
)

var oidReasonCode = asn1.ObjectIdentifier{2, 5, 29, 21}

func TestGenerate_EntriesReasonsAndNumbers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newClock(time.Now().Add(time.Minute))
	g := New(e.db, e.signer, Options{Now: clk.Now, NextUpdate: 12 * time.Hour, Log: testLog(t, "g")})

	first, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rl := e.parse(first.DER)
	want := clk.Now().UTC().Truncate(time.Second)
	if first.Number != 1 || rl.Number.Int64() != 1 || first.Entries != 0 || len(rl.RevokedCertificateEntries) != 0 {
		t.Fatalf("first CRL: number %d (signed %v), %d entries; want number 1, empty", first.Number, rl.Number, first.Entries)
	}
	if !rl.ThisUpdate.Equal(want) || !first.ThisUpdate.Equal(want) || !rl.NextUpdate.Equal(want.Add(12*time.Hour)) {
		t.Fatalf("thisUpdate %s nextUpdate %s, want %s and 12 h later", rl.ThisUpdate, rl.NextUpdate, want)
	}

	year := time.Now().AddDate(1, 0, 0)
	// Revocation times with sub-second parts: the CRL carries whole
	// seconds, the database the exact time.
	at := func(ago time.Duration) time.Time { return time.Now().Add(-ago).Truncate(time.Microsecond) }
	e.issue(year) // active: not listed
	kc, kcAt := e.issue(year), at(3*time.Hour+123*time.Millisecond)
	e.revoke(kc, kcAt, 1)
	unspec, unspecAt := e.issue(year), at(2*time.Hour+456*time.Millisecond)
	e.revoke(unspec, unspecAt, 0)
	held, heldAt := e.issue(year), at(time.Hour+789*time.Millisecond)
	e.suspend(held, heldAt)
	sup, supAt := e.issue(year), at(30*time.Minute)
	e.revoke(sup, supAt, 4)
	// Revoked but expired: dropped (RFC 5280 5.1.2.6).
	e.revoke(e.issue(time.Now().Add(-time.Minute)), at(2*time.Minute), 1)
	soon, soonAt := e.issue(clk.Now().Add(30*time.Minute)), at(time.Minute)
	e.revoke(soon, soonAt, 5)

	clk.Advance(time.Minute)
	second, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rl = e.parse(second.DER)
	type wantEntry struct {
		at     time.Time
		reason int
	}
	check := func(rl *x509.RevocationList, want map[*x509.Certificate]wantEntry) {
		t.Helper()
		got := map[string]x509.RevocationListEntry{}
		for _, re := range rl.RevokedCertificateEntries {
			got[re.SerialNumber.Text(16)] = re
		}
		if len(got) != len(want) || len(rl.RevokedCertificateEntries) != len(want) {
			t.Fatalf("CRL %v has %d entries, want %d", rl.Number, len(rl.RevokedCertificateEntries), len(want))
		}
		for c, w := range want {
			re, ok := got[c.SerialNumber.Text(16)]
			if !ok {
				t.Fatalf("CRL %v lacks %x", rl.Number, c.SerialNumber)
			}
			if !re.RevocationTime.Equal(w.at.Truncate(time.Second)) || re.ReasonCode != w.reason {
				t.Errorf("entry %x: %s reason %d, want %s reason %d", c.SerialNumber, re.RevocationTime, re.ReasonCode, w.at.Truncate(time.Second), w.reason)
			}
			// RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent.
			hasReason := slices.ContainsFunc(re.Extensions, func(x pkix.Extension) bool { return x.Id.Equal(oidReasonCode) })
			if hasReason != (w.reason != 0) {
				t.Errorf("entry %x reason %d: reasonCode extension present = %v", c.SerialNumber, w.reason, hasReason)
			}
		}
	}
	check(rl, map[*x509.Certificate]wantEntry{
		kc: {kcAt, 1}, unspec: {unspecAt, 0}, held: {heldAt, 6}, sup: {supAt, 4}, soon: {soonAt, 5},
	})
	if second.Number != 2 || rl.Number.Int64() != 2 || second.Entries != 5 {
		t.Fatalf("second CRL number %d entries %d, want 2 and 5", second.Number, second.Entries)
	}

	latest, err := e.db.LatestCRL(ctx, e.signer.ID())
	if err != nil {
		t.Fatal(err)
	}
	if latest.Number != 2 || string(latest.DER) != string(second.DER) || latest.Entries != 5 ||
		!latest.ThisUpdate.Equal(second.ThisUpdate) || !latest.NextUpdate.Equal(second.NextUpdate) {
		t.Fatalf("stored latest %d (%d entries), want what Generate returned", latest.Number, latest.Entries)
	}

	// An hour later "soon" has expired and leaves the CRL (RFC 5280 5.1.2.6).
	clk.Advance(time.Hour)
	third, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(e.parse(third.DER), map[*x509.Certificate]wantEntry{
		kc: {kcAt, 1}, unspec: {unspecAt, 0}, held: {heldAt, 6}, sup: {supAt, 4},
	})

	// A clock that went back does not make thisUpdate go back.
	clk.Advance(-2 * time.Hour)
	fourth, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !fourth.ThisUpdate.Equal(third.ThisUpdate) {
		t.Fatalf("thisUpdate went from %s to %s", third.ThisUpdate, fourth.ThisUpdate)
	}
	nums, tus := e.numbers()
	if !slices.Equal(nums, []int64{1, 2, 3, 4}) {
		t.Fatalf("numbers %v, want 1 2 3 4", nums)
	}
	if !slices.IsSortedFunc(tus, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("thisUpdate not monotonic: %v", tus)
	}
	if g.generated.Load() != 4 {
		t.Fatalf("generated counter %d, want 4", g.generated.Load())
	}
}

func TestGenerate_OpenSSLChecksRevocation(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl 3 must be on the PATH (see README)")
	}
	e := newEnv(t)
	g := New(e.db, e.signer, Options{Log: testLog(t, "g")})
	year := time.Now().AddDate(1, 0, 0)
	good, revoked, held := e.issue(year), e.issue(year), e.issue(year)
	e.revoke(revoked, time.Now().Add(-time.Minute), 1)
	e.suspend(held, time.Now().Add(-time.Minute))
	s, err := g.Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crlFile := write("crl.pem", "X509 CRL", s.DER)
	verify := func(c *x509.Certificate) (string, error) {
		f := write(c.SerialNumber.Text(16)+".pem", "CERTIFICATE", c.Raw)
		out, err := exec.Command("openssl", "verify", "-crl_check", "-CRLfile", crlFile,
			"-CAfile", pki.Root, "-untrusted", pki.Intermediate, f).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(good); err != nil || !strings.Contains(out, ": OK") {
		t.Fatalf("good certificate: %v\n%s", err, out)
	}
	for name, c := range map[string]*x509.Certificate{"revoked": revoked, "suspended": held} {
		out, err := verify(c)
		if err == nil || !strings.Contains(out, "certificate revoked") {
			t.Fatalf("%s certificate: err = %v, want \"certificate revoked\"\n%s", name, err, out)
		}
	}

	// The CRL itself, as openssl reads it: v2, number, AKI, reasons, and
	// a signature that verifies against the issuer.
	out, err := exec.Command("openssl", "crl", "-in", crlFile, "-noout", "-text", "-CAfile", pki.Intermediate).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	for _, want := range []string{"verify OK", "Version 2", "X509v3 CRL Number", "X509v3 Authority Key Identifier",
		"Key Compromise", "Certificate Hold"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl crl output lacks %q:\n%s", want, out)
		}
	}
}

// TestGenerate_ConcurrentReplicasNeverRepeatANumber runs many Generate
// calls at once from two pools and two signers, as two replicas would.
func TestGenerate_ConcurrentReplicasNeverRepeatANumber(t *testing.T) {
	e := newEnv(t)
	db2, err := store.Open(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	gens := []*Generator{
		New(e.db, e.signer, Options{Log: testLog(t, "a")}),
		New(db2, newSigner(t), Options{Log: testLog(t, "b")}),
	}
	e.revoke(e.issue(time.Now().AddDate(1, 0, 0)), time.Now(), 1)
	const workers, each = 6, 4
	var (
		mu   sync.Mutex
		got  []int64
		wg   sync.WaitGroup
		fail = make(chan error, workers*each)
	)
	for w := range workers {
		g := gens[w%2]
		wg.Go(func() {
			for range each {
				s, err := g.Generate(context.Background())
				if err != nil {
					fail <- err
					return
				}
				mu.Lock()
				got = append(got, s.Number)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	slices.Sort(got)
	nums, tus := e.numbers()
	if !slices.Equal(got, nums) || len(nums) != workers*each || nums[0] != 1 || nums[len(nums)-1] != workers*each {
		t.Fatalf("returned %v, stored %v; want 1..%d once each", got, nums, workers*each)
	}
	if !slices.IsSortedFunc(tus, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("thisUpdate goes back as the number goes up: %v", tus)
	}
}

func run(g *Generator) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		g.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (e *env) latest() *store.CRL {
	e.t.Helper()
	c, err := e.db.LatestCRL(context.Background(), e.signer.ID())
	if err != nil && err != store.ErrNotFound {
		e.t.Fatal(err)
	}
	return c
}

// lists reports whether the CRL lists every one of certs.
func (e *env) lists(c *store.CRL, certs ...*x509.Certificate) bool {
	if c == nil {
		return false
	}
	rl := e.parse(c.DER)
	for _, cert := range certs {
		if !slices.ContainsFunc(rl.RevokedCertificateEntries, func(re x509.RevocationListEntry) bool {
			return re.SerialNumber.Cmp(cert.SerialNumber) == 0
		}) {
			return false
		}
	}
	return true
}

func TestRun_FreshCRLKeptAndBurstCoalesced(t *testing.T) {
	e := newEnv(t)
	g := New(e.db, e.signer, Options{Debounce: 500 * time.Millisecond, Retry: 100 * time.Millisecond, Log: testLog(t, "g")})
	if _, err := g.Generate(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop := run(g)
	defer stop()
	eventually(t, 5*time.Second, "leading", g.leader.Leading)
	// The stored CRL is current (fresh and listing what the database
	// says), so taking the lead does not make another.
	time.Sleep(300 * time.Millisecond)
	if n := g.generated.Load(); n != 1 {
		t.Fatalf("%d CRLs after taking the lead with a current one, want still 1", n)
	}

	// A burst of revocations: one CRL, Debounce after the first.
	var certs []*x509.Certificate
	for range 5 {
		certs = append(certs, e.issue(time.Now().AddDate(1, 0, 0)))
	}
	start := time.Now()
	for _, c := range certs {
		e.revoke(c, time.Now(), 1)
	}
	eventually(t, 5*time.Second, "CRL 2 lists the burst", func() bool { return e.lists(e.latest(), certs...) })
	took := time.Since(start)
	time.Sleep(700 * time.Millisecond)
	if n := g.generated.Load(); n != 2 {
		t.Fatalf("%d CRLs after a burst of 5 revocations, want 2 (one for the burst)", n)
	}
	if c := e.latest(); c.Number != 2 || c.Entries != 5 {
		t.Fatalf("latest CRL %d with %d entries, want 2 with 5", c.Number, c.Entries)
	}
	t.Logf("burst published %s after the first revocation (Debounce 500ms)", took.Round(time.Millisecond))
}

func TestRun_StaleAtStartAndEveryInterval(t *testing.T) {
	e := newEnv(t)
	clk := newClock(time.Now())
	g := New(e.db, e.signer, Options{Now: clk.Now, Retry: 100 * time.Millisecond, Log: testLog(t, "g1")})
	if _, err := g.Generate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The stored CRL is older than Interval (1 h) when the leader starts.
	clk.Advance(61 * time.Minute)
	stop := run(g)
	eventually(t, 5*time.Second, "CRL 2 made at start", func() bool { c := e.latest(); return c != nil && c.Number == 2 })
	stop()

	// With a short Interval the leader regenerates with no change at all.
	g2 := New(e.db, e.signer, Options{Now: clk.Now, Interval: 200 * time.Millisecond, Retry: 100 * time.Millisecond, Log: testLog(t, "g2")})
	stop = run(g2)
	defer stop()
	eventually(t, 5*time.Second, "CRL 5 by Interval", func() bool { c := e.latest(); return c != nil && c.Number >= 5 })
}

// TestRun_TwoReplicas runs two Run loops, each with its own pool and
// signer, on one database while revocations arrive.
func TestRun_TwoReplicas(t *testing.T) {
	e := newEnv(t)
	db2, err := store.Open(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	opts := func(name string) Options {
		return Options{Debounce: 150 * time.Millisecond, Retry: 200 * time.Millisecond, Log: testLog(t, name)}
	}
	a, b := New(e.db, e.signer, opts("a")), New(db2, newSigner(t), opts("b"))
	stopA, stopB := run(a), run(b)
	defer stopA()
	defer stopB()

	eventually(t, 5*time.Second, "CRL 1 by the leader", func() bool { return e.latest() != nil })
	leader, follower, stopLeader := a, b, stopA
	if b.leader.Leading() {
		leader, follower, stopLeader = b, a, stopB
	}
	var revoked []*x509.Certificate
	for range 12 {
		c := e.issue(time.Now().AddDate(1, 0, 0))
		e.revoke(c, time.Now(), 1)
		revoked = append(revoked, c)
		if a.leader.Leading() && b.leader.Leading() {
			t.Fatal("both replicas lead")
		}
		time.Sleep(150 * time.Millisecond)
	}
	eventually(t, 5*time.Second, "latest CRL lists every revocation", func() bool { return e.lists(e.latest(), revoked...) })
	if !leader.leader.Leading() || follower.leader.Leading() {
		t.Fatal("the lead moved while both replicas ran")
	}
	if leader.generated.Load() < 2 || follower.generated.Load() != 0 {
		t.Fatalf("leader made %d CRLs, follower %d; want all by the leader", leader.generated.Load(), follower.generated.Load())
	}
	t.Logf("leader made %d CRLs for 12 revocations over ~2 s", leader.generated.Load())

	// The leader stops; a revocation lands before the follower listens.
	stopLeader()
	late := e.issue(time.Now().AddDate(1, 0, 0))
	e.revoke(late, time.Now(), 4)
	eventually(t, 5*time.Second, "follower takes over and publishes the late revocation", func() bool {
		return follower.leader.Leading() && e.lists(e.latest(), late)
	})
	if follower.generated.Load() == 0 {
		t.Fatal("the follower took over but the late revocation's CRL is not its own")
	}
	later := e.issue(time.Now().AddDate(1, 0, 0))
	e.suspend(later, time.Now())
	eventually(t, 5*time.Second, "new leader reacts to notifications", func() bool { return e.lists(e.latest(), later) })

	nums, tus := e.numbers()
	for i, n := range nums {
		if n != int64(i+1) {
			t.Fatalf("numbers %v: want 1..%d with no gap or repeat", nums, len(nums))
		}
	}
	if !slices.IsSortedFunc(tus, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("thisUpdate not monotonic: %v", tus)
	}
	if got := leader.generated.Load() + follower.generated.Load(); got != int64(len(nums)) {
		t.Fatalf("replicas made %d CRLs, %d stored", got, len(nums))
	}
}

// The leader drops the DER of CRLs past Retention with its periodic run,
// and the latest CRL is still served.
func TestRun_PrunesCRLsPastRetention(t *testing.T) {
	e := newEnv(t)
	clk := newClock(time.Now())
	opts := Options{Now: clk.Now, NextUpdate: time.Hour, Interval: 200 * time.Millisecond, Retention: time.Hour,
		Retry: 100 * time.Millisecond, Log: testLog(t, "g")}
	g := New(e.db, e.signer, opts)
	for range 3 {
		if _, err := g.Generate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Their nextUpdate is an hour on, so a cutoff of now - Retention
	// passes them once two hours and a bit have gone by.
	clk.Advance(2*time.Hour + time.Minute)
	conn := e.conn()
	defer conn.Close(context.Background())
	pruned := func() (n int) {
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM crls WHERE der IS NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stop := run(g)
	defer stop()
	eventually(t, 5*time.Second, "the three old CRLs pruned", func() bool { return pruned() == 3 })
	if c := e.latest(); c == nil || c.Number < 4 {
		t.Fatalf("latest CRL after pruning: %+v", c)
	}
	var crls, first, last int
	if err := conn.QueryRow(context.Background(), `SELECT (details->>'crls')::int, (details->>'first')::int, (details->>'last')::int
		FROM audit_events WHERE action = 'crl_prune'`).Scan(&crls, &first, &last); err != nil || crls != 3 || first != 1 || last != 3 {
		t.Errorf("crl_prune audit event: %d CRLs %d..%d (%v), want 3 CRLs 1..3", crls, first, last, err)
	}
}
