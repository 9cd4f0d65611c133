package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// The recorded path end to end, for both kinds of dev CA and both kinds of
// Recorder: the key signs exactly the TBS that was linted and recorded,
// and the ledger and the audit log say so before the certificate exists.
func TestSign_SignsExactlyTheRecordedTBS(t *testing.T) {
	t.Parallel()
	for _, keyType := range []string{devca.RSA2048, devca.ECDSAP256} {
		t.Run(keyType, func(t *testing.T) {
			t.Parallel()
			ca := newDevCA(t, keyType)
			s, _ := newCountingSigner(t, ca, newLinter(t))
			db, dbURL := storetest.Open(t)
			ctx := context.Background()
			for _, via := range []struct {
				name    string
				reserve func(p *Pending, why Reason, now time.Time) error
			}{
				{"reserved through the DB", func(p *Pending, why Reason, now time.Time) error {
					return s.Reserve(ctx, db, p, why, now)
				}},
				{"reserved in the caller's transaction", func(p *Pending, why Reason, now time.Time) error {
					return db.InTx(ctx, func(tx *store.Tx) error { return s.Reserve(ctx, tx, p, why, now) })
				}},
			} {
				t.Run(via.name, func(t *testing.T) {
					tmpl := subscriberTemplate(t)
					subject, notBefore, notAfter := tmpl.RawSubject, tmpl.NotBefore, tmpl.NotAfter
					p, err := s.Prepare(Subscriber, tmpl, nil)
					if err != nil {
						t.Fatalf("Prepare: %v", err)
					}
					if p.LedgerID() != 0 {
						t.Fatalf("a prepared certificate has ledger row %d before Reserve", p.LedgerID())
					}
					now := time.Now().UTC().Truncate(time.Microsecond)
					why := Reason{Purpose: "issue", RequestID: "req-" + via.name, SubjectRef: "subject-1", Actor: "ra:test"}
					if err := via.reserve(p, why, now); err != nil {
						t.Fatalf("Reserve: %v", err)
					}
					if p.LedgerID() == 0 {
						t.Fatal("Reserve left the ledger row unset")
					}

					// Recorded before the key signs.
					row := ledgerRow(t, db, s.ID(), p.LedgerID())
					sum := sha256.Sum256(p.TBS)
					if row.State != store.SigReserved || row.SettledAt != nil || row.Kind != string(Subscriber) ||
						row.Serial != p.Serial() || row.Purpose != why.Purpose || row.RequestID != why.RequestID ||
						row.SubjectRef != why.SubjectRef || !bytes.Equal(row.TBSSHA256, sum[:]) || !row.ReservedAt.Equal(now) {
						t.Fatalf("ledger row %+v does not record the reservation of %s", row, p.Serial())
					}
					ev := auditEventFor(t, dbURL, "sign", p.LedgerID())
					if ev.Actor != why.Actor || ev.Serial != p.Serial() || ev.RequestID != why.RequestID ||
						ev.SubjectRef != why.SubjectRef || ev.Details["tbs_sha256"] != hex.EncodeToString(sum[:]) ||
						ev.Details["kind"] != string(Subscriber) || ev.Details["issuer"] != s.ID() {
						t.Errorf("audit event %+v does not describe the reservation", ev)
					}

					cert, err := s.Sign(p)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					if !bytes.Equal(cert.RawTBSCertificate, p.TBS) {
						t.Fatal("the signed TBS is not the recorded one")
					}
					if cert.SerialNumber.Text(16) != p.Serial() {
						t.Errorf("serial %x, recorded %s", cert.SerialNumber, p.Serial())
					}
					if !cert.NotBefore.Equal(notBefore) || !cert.NotAfter.Equal(notAfter) || !p.NotAfter().Equal(notAfter) {
						t.Errorf("validity %s..%s, want %s..%s", cert.NotBefore, cert.NotAfter, notBefore, notAfter)
					}
					if !bytes.Equal(cert.RawSubject, subject) || cert.Subject.CommonName != subscriberCN {
						t.Errorf("subject %s is not the template's", cert.Subject)
					}
					if !subscriberKey().PublicKey.Equal(cert.PublicKey) {
						t.Error("the certificate certifies another key than the template's")
					}
					if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
						t.Errorf("isCA=%v keyUsage=%b", cert.IsCA, cert.KeyUsage)
					}
					if err := ca.verify(cert); err != nil {
						t.Errorf("the certificate does not verify to the dev root: %v", err)
					}
					// The real linter accepts what was signed, not only the twin.
					if err := newLinter(t).Subscriber(cert.Raw); err != nil {
						t.Errorf("the signed certificate fails the lint its twin passed: %v", err)
					}

					// Signing does not settle: the caller does, when it stores the certificate.
					if row := ledgerRow(t, db, s.ID(), p.LedgerID()); row.State != store.SigReserved {
						t.Fatalf("state %s after Sign, want reserved until settled", row.State)
					}
					if err := db.SettleSignature(ctx, p.LedgerID(), store.SigIssued, cert.Raw, "", now); err != nil {
						t.Fatalf("SettleSignature: %v", err)
					}
					if row := ledgerRow(t, db, s.ID(), p.LedgerID()); row.State != store.SigIssued || !bytes.Equal(row.DER, cert.Raw) {
						t.Errorf("settled row is %s with %d bytes of DER, want issued with the certificate", row.State, len(row.DER))
					}
				})
			}
		})
	}
}

func TestSign_RefusesAnUnreservedCertificate(t *testing.T) {
	t.Parallel()
	s, key := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, _ := storetest.Open(t)
	p, err := s.Prepare(Subscriber, subscriberTemplate(t), nil)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	cert, err := s.Sign(p)
	if err == nil || !strings.Contains(err.Error(), "ledger") {
		t.Fatalf("Sign of an unreserved certificate: %v, want a refusal that names the ledger", err)
	}
	if cert != nil {
		t.Error("the refusal came with a certificate")
	}
	if n := key.n.Load(); n != 0 {
		t.Errorf("the CA key made %d signatures", n)
	}
	if rows := ledger(t, db, s.ID()); len(rows) != 0 {
		t.Errorf("the ledger holds %d rows", len(rows))
	}
}

// A template changed after it was linted and recorded is not delivered: the
// signature is made, but Sign reports the difference and returns the
// certificate so that the caller can record it as undelivered.
func TestSign_RefusesACertificateThatDiffersFromTheRecordedOne(t *testing.T) {
	t.Parallel()
	s, _ := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, _ := storetest.Open(t)
	tmpl := subscriberTemplate(t)
	p, err := s.Prepare(Subscriber, tmpl, nil)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Reserve(context.Background(), db, p, Reason{Purpose: "issue", Actor: "test"}, time.Now()); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	tmpl.OCSPServer = []string{"http://elsewhere.example/ocsp"}
	cert, err := s.Sign(p)
	if err == nil || !strings.Contains(err.Error(), "differs from the linted and recorded one") {
		t.Fatalf("Sign after the template changed: %v, want a refusal", err)
	}
	if cert == nil || bytes.Equal(cert.RawTBSCertificate, p.TBS) {
		t.Error("want the differing certificate back, for the ledger")
	}
}

// refusingLinter refuses every certificate and counts what it was asked.
type refusingLinter struct{ subscriber, infrastructure int }

var errRefused = errors.New("refused by the test linter")

func (l *refusingLinter) Subscriber([]byte) error     { l.subscriber++; return errRefused }
func (l *refusingLinter) Infrastructure([]byte) error { l.infrastructure++; return errRefused }

func TestPrepare_RefusesWhatTheLinterRefuses(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, devca.ECDSAP256)
	db, _ := storetest.Open(t)

	t.Run("a refusing Linter, for each kind", func(t *testing.T) {
		l := &refusingLinter{}
		s, key := newCountingSigner(t, ca, l)
		for _, kind := range []Kind{Subscriber, OCSPResponder, AuditSigner, Staff} {
			tmpl := subscriberTemplate(t)
			p, err := s.Prepare(kind, tmpl, nil)
			if !errors.Is(err, ErrLint) || !errors.Is(err, errRefused) {
				t.Errorf("Prepare(%s): %v, want ErrLint wrapping the linter's error", kind, err)
			}
			if p != nil {
				t.Errorf("Prepare(%s) returned a Pending with its refusal", kind)
			}
		}
		// Subscriber certificates get the NPKI profile, the CA's own the RFC lints.
		if l.subscriber != 1 || l.infrastructure != 3 {
			t.Errorf("linted %d as subscriber and %d as infrastructure, want 1 and 3", l.subscriber, l.infrastructure)
		}
		if n := key.n.Load(); n != 0 {
			t.Errorf("the CA key made %d signatures", n)
		}
	})

	t.Run("the real linter on a certificate without a CRL distribution point", func(t *testing.T) {
		s, key := newCountingSigner(t, ca, newLinter(t))
		tmpl := subscriberTemplate(t)
		tmpl.CRLDistributionPoints = nil
		_, err := s.Prepare(Subscriber, tmpl, nil)
		var lerr *lint.Error
		if !errors.Is(err, ErrLint) || !errors.As(err, &lerr) {
			t.Fatalf("Prepare: %v, want ErrLint wrapping *lint.Error", err)
		}
		if len(lerr.Findings) != 1 || lerr.Findings[0].Lint != "e_npki_missing_crl_distribution_point" {
			t.Errorf("findings %+v, want only e_npki_missing_crl_distribution_point", lerr.Findings)
		}
		if n := key.n.Load(); n != 0 {
			t.Errorf("the CA key made %d signatures", n)
		}
	})

	if rows := ledger(t, db, IssuerID(ca.issuer)); len(rows) != 0 {
		t.Errorf("the ledger holds %d rows after lint refusals", len(rows))
	}
}

func TestPrepare_RefusesATemplateWithoutKeyOrValidityOrPastTheIssuer(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, devca.ECDSAP256)
	s, key := newCountingSigner(t, ca, newLinter(t))
	for _, tc := range []struct {
		name  string
		edit  func(*x509.Certificate)
		frags []string
	}{
		{"no public key", func(c *x509.Certificate) { c.PublicKey = nil }, []string{"needs a public key and a validity"}},
		{"notAfter before notBefore", func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(-time.Second) },
			[]string{"needs a public key and a validity"}},
		{"notAfter equal to notBefore", func(c *x509.Certificate) { c.NotAfter = c.NotBefore },
			[]string{"needs a public key and a validity"}},
		{"notAfter a second past the issuer's", func(c *x509.Certificate) { c.NotAfter = ca.issuer.NotAfter.Add(time.Second) },
			[]string{"past the issuing CA's own notAfter", ca.issuer.NotAfter.UTC().Format(time.RFC3339)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := subscriberTemplate(t)
			tc.edit(tmpl)
			p, err := s.Prepare(Subscriber, tmpl, nil)
			if err == nil || p != nil {
				t.Fatalf("Prepare succeeded, want %q", tc.frags)
			}
			if errors.Is(err, ErrLint) {
				t.Errorf("refused as a lint failure: %v", err)
			}
			for _, frag := range tc.frags {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not contain %q", err, frag)
				}
			}
			if tmpl.SerialNumber != nil {
				t.Error("a refused template was given a serial")
			}
		})
	}
	// The boundary: a certificate may end exactly when its issuer does.
	t.Run("notAfter equal to the issuer's", func(t *testing.T) {
		tmpl := responderTemplate(ca.issuer, time.Now())
		tmpl.NotAfter = ca.issuer.NotAfter
		if _, err := s.Prepare(OCSPResponder, tmpl, nil); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
	})
	if n := key.n.Load(); n != 0 {
		t.Errorf("the CA key made %d signatures", n)
	}
}

// ledgerRow is the ledger row id of issuerID.
func ledgerRow(t testing.TB, db *store.DB, issuerID string, id int64) *store.Signature {
	t.Helper()
	for _, r := range ledger(t, db, issuerID) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("the ledger has no row %d for issuer %s", id, issuerID)
	return nil
}

// auditEventFor is the one audit event of action about ledger row id.
func auditEventFor(t testing.TB, dbURL, action string, id int64) auditEvent {
	t.Helper()
	var found []auditEvent
	for _, ev := range auditEvents(t, dbURL, action) {
		if ev.LedgerID == id {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %q audit events for ledger row %d, want 1", len(found), action, id)
	}
	return found[0]
}

// A reservation made in a transaction that rolls back never existed: the
// Pending stays unsignable, so the key cannot sign what the ledger lacks.
func TestSign_RefusesAReservationWhoseTransactionRolledBack(t *testing.T) {
	t.Parallel()
	s, key := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, _ := storetest.Open(t)
	p, err := s.Prepare(Subscriber, subscriberTemplate(t), nil)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	errLater := errors.New("a later check failed")
	err = db.InTx(context.Background(), func(tx *store.Tx) error {
		if err := s.Reserve(context.Background(), tx, p, Reason{Purpose: "issue", Actor: "test"}, time.Now()); err != nil {
			return err
		}
		return errLater
	})
	if !errors.Is(err, errLater) {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := s.Sign(p); err == nil || !strings.Contains(err.Error(), "ledger") {
		t.Fatalf("Sign after a rolled-back reservation: %v, want a refusal that names the ledger", err)
	}
	if n := key.n.Load(); n != 0 {
		t.Errorf("the CA key made %d signatures", n)
	}
	if rows := ledger(t, db, s.ID()); len(rows) != 0 {
		t.Errorf("the ledger holds %d rows after the rollback", len(rows))
	}
}

// One reservation, one signature: a second Sign of the same Pending is
// refused before the key is used.
func TestSign_SignsAReservationOnce(t *testing.T) {
	t.Parallel()
	s, key := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, _ := storetest.Open(t)
	p, err := s.Prepare(Subscriber, subscriberTemplate(t), nil)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Reserve(context.Background(), db, p, Reason{Purpose: "issue", Actor: "test"}, time.Now()); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if _, err := s.Sign(p); err != nil {
		t.Fatalf("first Sign: %v", err)
	}
	if _, err := s.Sign(p); err == nil || !strings.Contains(err.Error(), "already signed") {
		t.Fatalf("second Sign: %v, want a refusal", err)
	}
	if n := key.n.Load(); n != 1 {
		t.Errorf("the CA key made %d signatures, want 1", n)
	}
}
