package signer

import (
	"bytes"
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestDelegates_ReuseTheStoredKeyUntilRotateAtThenMintANewOne(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, devca.ECDSAP256)
	s, key := newCountingSigner(t, ca, newLinter(t))
	db, _ := storetest.Open(t)
	ds, err := NewDelegates(s, db, secret(1))
	if err != nil {
		t.Fatalf("NewDelegates: %v", err)
	}
	ctx := context.Background()
	const validity = 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)

	first, err := ds.Get(ctx, OCSPResponder, now, validity, shapeOCSPResponder)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	c := first.Cert
	if err := c.CheckSignatureFrom(ca.issuer); err != nil {
		t.Errorf("the delegate's certificate is not signed by the CA: %v", err)
	}
	if err := ca.verify(c); err != nil {
		t.Errorf("the delegate's certificate does not verify to the dev root: %v", err)
	}
	if !first.Key.PublicKey.Equal(c.PublicKey) {
		t.Error("the delegate's key is not the one its certificate certifies")
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) || c.IsCA {
		t.Errorf("extKeyUsage %v, isCA %v: not an OCSP responder's certificate", c.ExtKeyUsage, c.IsCA)
	}
	// Backdated by an hour, and due for rotation two thirds into its life.
	if want := now.Add(-time.Hour); !c.NotBefore.Equal(want) || !c.NotAfter.Equal(want.Add(validity)) {
		t.Errorf("validity %s..%s, want %s..%s", c.NotBefore, c.NotAfter, want, want.Add(validity))
	}
	if want := c.NotBefore.Add(validity * 2 / 3); !first.RotateAt.Equal(want) {
		t.Errorf("RotateAt %s, want %s", first.RotateAt, want)
	}

	again, err := ds.Get(ctx, OCSPResponder, first.RotateAt.Add(-time.Second), validity, shapeOCSPResponder)
	if err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if !bytes.Equal(again.Cert.Raw, c.Raw) || !again.Key.Equal(first.Key) || !again.RotateAt.Equal(first.RotateAt) {
		t.Fatal("a second Get before RotateAt minted another delegate instead of reusing the stored one")
	}
	if n := key.n.Load(); n != 1 {
		t.Fatalf("the CA key made %d signatures for one delegate", n)
	}

	rotated, err := ds.Get(ctx, OCSPResponder, first.RotateAt, validity, shapeOCSPResponder)
	if err != nil {
		t.Fatalf("Get at RotateAt: %v", err)
	}
	if rotated.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 || rotated.Key.Equal(first.Key) {
		t.Fatal("Get at RotateAt returned the old delegate")
	}
	if !rotated.Cert.NotBefore.Equal(first.RotateAt.Add(-time.Hour)) {
		t.Errorf("the new delegate starts %s, want an hour before the rotation", rotated.Cert.NotBefore)
	}

	// One issued ledger row per minted delegate, carrying its certificate.
	rows := ledger(t, db, s.ID())
	if len(rows) != 2 {
		t.Fatalf("the ledger holds %d rows, want 2", len(rows))
	}
	for i, d := range []*Delegate{rotated, first} { // newest first
		r := rows[i]
		if r.State != store.SigIssued || r.Kind != string(OCSPResponder) || r.Purpose != "rotation" ||
			r.Serial != d.Cert.SerialNumber.Text(16) || !bytes.Equal(r.DER, d.Cert.Raw) {
			t.Errorf("ledger row %d is %s %s %s serial %s, want the issued %s", r.ID, r.State, r.Kind, r.Purpose, r.Serial, d.Cert.SerialNumber.Text(16))
		}
	}
}

func TestDelegates_RefuseAStoredKeySealedUnderAnotherSecret(t *testing.T) {
	t.Parallel()
	s, key := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, _ := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ours, err := NewDelegates(s, db, secret(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ours.Get(ctx, OCSPResponder, now, 24*time.Hour, shapeOCSPResponder); err != nil {
		t.Fatalf("Get: %v", err)
	}
	theirs, err := NewDelegates(s, db, secret(2))
	if err != nil {
		t.Fatal(err)
	}
	d, err := theirs.Get(ctx, OCSPResponder, now, 24*time.Hour, shapeOCSPResponder)
	if err == nil || d != nil || !strings.Contains(err.Error(), "does not open with this server's secret") {
		t.Fatalf("Get with another secret: %v, want a refusal that names the secret", err)
	}
	// It neither mints a replacement nor touches the ledger.
	if n, rows := key.n.Load(), ledger(t, db, s.ID()); n != 1 || len(rows) != 1 {
		t.Errorf("after the refusal: %d CA signatures and %d ledger rows, want 1 and 1", n, len(rows))
	}
}

func TestDelegates_KeepOnePerPurposeAndNeverOutliveTheIssuer(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, devca.ECDSAP256)
	s, _ := newCountingSigner(t, ca, newLinter(t))
	db, _ := storetest.Open(t)
	ds, err := NewDelegates(s, db, secret(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ocsp, err := ds.Get(ctx, OCSPResponder, now, 24*time.Hour, shapeOCSPResponder)
	if err != nil {
		t.Fatalf("Get(%s): %v", OCSPResponder, err)
	}
	// Asked for longer than the CA has left: cut at the CA's notAfter.
	audit, err := ds.Get(ctx, AuditSigner, now, 20*365*24*time.Hour, func(c *x509.Certificate) {
		c.Subject.CommonName = "Signet Dev CA Class 2 Audit Signer"
	})
	if err != nil {
		t.Fatalf("Get(%s): %v", AuditSigner, err)
	}
	if audit.Key.Equal(ocsp.Key) {
		t.Error("the audit signer shares the OCSP responder's key")
	}
	if !audit.Cert.NotAfter.Equal(ca.issuer.NotAfter) {
		t.Errorf("the audit signer's notAfter %s is not the issuer's %s", audit.Cert.NotAfter, ca.issuer.NotAfter)
	}
	if _, err := ds.Get(ctx, Subscriber, now, 24*time.Hour, shapeOCSPResponder); err == nil ||
		!strings.Contains(err.Error(), "not a delegated key") {
		t.Errorf("Get(%s): %v, want a refusal", Subscriber, err)
	}
	if rows := ledger(t, db, s.ID()); len(rows) != 2 {
		t.Errorf("the ledger holds %d rows, want one per purpose", len(rows))
	}
}

func TestNewDelegates_RefusesASecretShorterThan32Bytes(t *testing.T) {
	t.Parallel()
	s, _ := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	if _, err := NewDelegates(s, nil, make([]byte, 31)); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("NewDelegates with 31 bytes: %v, want a refusal", err)
	}
}
