package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// The rules run against the core directly: a real PostgreSQL and a real
// signer, no gRPC. These tests name the rule they pin.

type rulesEnv struct {
	a      *Authority
	db     *store.DB
	minter *evidencetest.Minter
	now    time.Time
}

func newRulesEnv(t *testing.T) *rulesEnv {
	t.Helper()
	f, err := devca.Ensure(t.TempDir(), "Signet", []string{"127.0.0.1"}, devca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	linter, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(context.Background(), signer.Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, linter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, _ := storetest.Open(t)
	if err := db.UpsertIssuer(context.Background(), s.ID(), "CN=Test", s.Issuer().Raw); err != nil {
		t.Fatal(err)
	}
	e := &rulesEnv{db: db, now: time.Now().UTC()}
	clock := func() time.Time { return e.now }
	e.minter = evidencetest.NewMinter("signet-rules", clock)
	v, err := evidence.NewVerifier("signet-rules", e.minter.Providers(), clock)
	if err != nil {
		t.Fatal(err)
	}
	e.a, err = New(Config{Audience: "signet-rules", SubjectKey: make([]byte, 32), Organization: "Signet",
		Profiles: DefaultProfiles(), CRLBaseURL: "http://crl.test/crl", OCSPURL: "http://ocsp.test/ocsp",
		IssuerURL: "http://ca.test/issuer.crt"}, db, s, v, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *rulesEnv) request(t *testing.T, purpose string, p evidencetest.Person) IdentityRequest {
	t.Helper()
	en, err := e.a.StartEnrollment(context.Background(), "personal-banking", purpose, "test")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return IdentityRequest{RequestID: uuid.NewString(), EnrollmentID: en.ID, CSR: csr, Actor: "test",
		Evidence: Evidence{PhoneToken: e.minter.PhoneToken(en.Nonce, p), AccountToken: e.minter.AccountToken(en.Nonce, p)},
		Holder:   Holder{IDN: p.IDN(), RandomNum: p.RandomNum()}}
}

func TestIssue_RefusesSecondActiveCertificate(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	p := evidencetest.DefaultPerson()
	first, err := e.a.Issue(context.Background(), e.request(t, PurposeIssue, p))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.a.Issue(context.Background(), e.request(t, PurposeIssue, p))
	rerr, ok := AsError(err)
	if !ok || rerr.Kind != KindConflict || rerr.Reason != "already_active" {
		t.Fatalf("second issue: %v, want already_active naming %s", err, first.Serial)
	}
	// Refused before anything was signed: one subscriber signature in all.
	sigs, _, err := e.db.ListSignatures(context.Background(), store.SignatureFilter{Kind: "subscriber"})
	if err != nil || len(sigs) != 1 || sigs[0].Serial != first.Serial || sigs[0].State != store.SigIssued {
		t.Fatalf("ledger %+v (%v): want only the first certificate, issued", sigs, err)
	}
}

// Reissue replaces the certificate that was live when its enrollment was
// started. Of twenty reissues racing for one person, each with fresh
// evidence and an enrollment started before any of them ran, exactly one
// wins; the others are refused with FAILED_PRECONDITION (the certificate
// was replaced since their enrollment, or while they were being signed)
// instead of each replacing the one before. Every signature is accounted
// for: a loser that got as far as signing is undelivered, never missing.
func TestReissue_RacingReissuesExactlyOneWins(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	p := evidencetest.DefaultPerson()
	first, err := e.a.Issue(context.Background(), e.request(t, PurposeIssue, p))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	reqs := make([]IdentityRequest, n)
	for i := range reqs {
		reqs[i] = e.request(t, PurposeReissue, p)
	}
	done := make(chan error, n)
	for _, r := range reqs {
		go func() { _, err := e.a.Reissue(context.Background(), r); done <- err }()
	}
	var ok, stale int
	for range n {
		err := <-done
		switch rerr, isRefusal := AsError(err); {
		case err == nil:
			ok++
		case isRefusal && rerr.Kind == KindPrecondition && (rerr.Reason == "state_changed" || rerr.Reason == "replaced_since_enrollment"):
			stale++
		default:
			t.Errorf("reissue: %v", err)
		}
	}
	if ok != 1 || stale != n-1 {
		t.Fatalf("%d reissues succeeded and %d were refused as stale, of %d: want exactly one winner", ok, stale, n)
	}
	sigs, _, err := e.db.ListSignatures(context.Background(), store.SignatureFilter{Kind: "subscriber"})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, s := range sigs {
		states[s.State]++
	}
	if states[store.SigIssued] != 2 || states[store.SigReserved] != 0 || states[store.SigAbandoned] != 0 ||
		states[store.SigIssued]+states[store.SigUndelivered] != len(sigs) {
		t.Errorf("ledger states %v: want the issue and the one reissue issued, the rest undelivered, nothing open", states)
	}
	var live *store.Certificate
	if err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		live, err = tx.LiveCertificate(context.Background(), sigs[0].SubjectRef, "personal-banking")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if live.Replaces != first.Serial {
		t.Errorf("the live certificate %s replaces %q, want the first certificate %s: reissues chained", live.Serial, live.Replaces, first.Serial)
	}
	// A reissue started after the winner replaces the winner.
	if _, err := e.a.Reissue(context.Background(), e.request(t, PurposeReissue, p)); err != nil {
		t.Errorf("a reissue started after the race: %v", err)
	}
}

// A retry of a request that lost its answer gets the first answer, even
// after the evidence has gone stale (the stored answer wins).
func TestIssue_RetryAfterEvidenceWentStaleGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	req := e.request(t, PurposeIssue, evidencetest.DefaultPerson())
	first, err := e.a.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Hour) // evidence and enrollment are long stale
	again, err := e.a.Issue(context.Background(), req)
	if err != nil || again.Serial != first.Serial {
		t.Fatalf("retry an hour later: %v, %v; want the first certificate %s", again, err, first.Serial)
	}
	var rerr *Error
	other := req
	other.CSR = e.request(t, PurposeIssue, evidencetest.DefaultPerson()).CSR
	if _, err := e.a.Issue(context.Background(), other); !errors.As(err, &rerr) || rerr.Reason != "request_id_reused" {
		t.Fatalf("another request under the same request_id: %v, want request_id_reused", err)
	}
}
