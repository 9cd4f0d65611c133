package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
)

// Retries of holder actions (issue 8, item 2): a request resent byte for
// byte gets its first answer for as long as its request id is kept, even
// after its proof or evidence went stale.

// issueHeld issues a certificate and returns it with its private key, so
// that the test can sign proofs as its holder.
func (e *rulesEnv) issueHeld(t *testing.T, p evidencetest.Person) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	req := e.request(t, PurposeIssue, p)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	req.CSR = csr
	rec, err := e.a.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (e *rulesEnv) proof(t *testing.T, cert *x509.Certificate, key crypto.Signer, method, binding string) string {
	t.Helper()
	tok, err := proof.Sign(cert, key, proof.Claims{Audience: "signet-rules", Method: method, Binding: binding, IssuedAt: e.now.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// holderEvidence is a holder request authorized by fresh identity evidence
// for purpose.
func (e *rulesEnv) holderEvidence(t *testing.T, purpose, serial string, p evidencetest.Person) HolderRequest {
	t.Helper()
	en, err := e.a.StartEnrollment(context.Background(), "personal-banking", purpose, "test")
	if err != nil {
		t.Fatal(err)
	}
	return HolderRequest{RequestID: uuid.NewString(), Serial: serial, EnrollmentID: en.ID, Actor: "test",
		Evidence: Evidence{PhoneToken: e.minter.PhoneToken(en.Nonce, p), AccountToken: e.minter.AccountToken(en.Nonce, p)}}
}

func TestRevoke_RetryAfterProofWentStaleGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	cert, key := e.issueHeld(t, evidencetest.DefaultPerson())
	serial := proof.SerialHex(cert)
	req := RevokeRequest{Reason: crlreason.KeyCompromise, HolderRequest: HolderRequest{RequestID: uuid.NewString(), Serial: serial,
		Proof: e.proof(t, cert, key, MethodRevoke, proof.BindReason("keyCompromise")), Actor: "test"}}
	first, err := e.a.Revoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(6 * time.Minute) // past proof.MaxSkew
	again, err := e.a.Revoke(context.Background(), req)
	if err != nil || again.Serial != first.Serial || again.Status != Revoked {
		t.Fatalf("retry 6 minutes later: %+v, %v; want the first answer (%s revoked)", again, err, first.Serial)
	}
	// Another request under the same id is still refused as such.
	other := req
	other.Proof = e.proof(t, cert, key, MethodRevoke, proof.BindReason("keyCompromise"))
	var rerr *Error
	if _, err := e.a.Revoke(context.Background(), other); !errors.As(err, &rerr) || rerr.Reason != "request_id_reused" {
		t.Fatalf("another request under the same request_id: %v, want request_id_reused", err)
	}
}

func TestSuspendResume_RetriesAfterEvidenceAndProofWentStaleGetTheFirstAnswer(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	p := evidencetest.DefaultPerson()
	cert, key := e.issueHeld(t, p)
	serial := proof.SerialHex(cert)

	// Suspended by identity evidence (the key is lost), retried after the
	// evidence and its enrollment expired.
	suspend := e.holderEvidence(t, PurposeSuspend, serial, p)
	if _, err := e.a.Suspend(context.Background(), suspend); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(11 * time.Minute)
	again, err := e.a.Suspend(context.Background(), suspend)
	if err != nil || again.Serial != serial || again.Status != Suspended {
		t.Fatalf("suspend retried 11 minutes later: %+v, %v; want the first answer", again, err)
	}

	// Resumed by a proof, retried after the proof went stale.
	resume := HolderRequest{RequestID: uuid.NewString(), Serial: serial, Proof: e.proof(t, cert, key, MethodResume, "resume"), Actor: "test"}
	if _, err := e.a.Resume(context.Background(), resume); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(6 * time.Minute)
	again, err = e.a.Resume(context.Background(), resume)
	if err != nil || again.Serial != serial || again.Status != Active {
		t.Fatalf("resume retried 6 minutes later: %+v, %v; want the first answer", again, err)
	}
}

// Request ids are kept for RequestIDRetention, then purged by the hourly
// jobs in audited batches.
func TestPurgeRequestIDs_AfterRetentionInAuditedBatches(t *testing.T) {
	t.Parallel()
	e := newRulesEnv(t)
	req := e.request(t, PurposeIssue, evidencetest.DefaultPerson())
	if _, err := e.a.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.now = e.now.Add(RequestIDRetention - time.Hour)
	if n, err := e.a.PurgeRequestIDs(ctx); err != nil || n != 0 {
		t.Fatalf("purge within the retention: %d, %v; want nothing purged", n, err)
	}
	if _, err := e.db.StoredResponse(ctx, req.RequestID); err != nil {
		t.Fatalf("stored answer within the retention: %v", err)
	}
	e.now = e.now.Add(2 * time.Hour)
	if n, err := e.a.PurgeRequestIDs(ctx); err != nil || n != 1 {
		t.Fatalf("purge after the retention: %d, %v; want the one request id", n, err)
	}
	if _, err := e.db.StoredResponse(ctx, req.RequestID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stored answer after the purge: %v, want gone", err)
	}
	evs, err := e.db.AuditEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var purges int
	for _, ev := range evs {
		if ev.Action == "purge" && ev.Details["request_ids"] != nil {
			purges++
			if n, _ := ev.Details["request_ids"].(float64); n != 1 {
				t.Errorf("purge event %+v: want request_ids 1", ev.Details)
			}
		}
	}
	if purges != 1 {
		t.Errorf("%d purge events of request ids, want 1", purges)
	}
}
