package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func TestCertificateStatus(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	notAfter := time.Date(2028, 1, 31, 14, 59, 59, 0, time.UTC)
	for i, serial := range []string{"a1", "b2", "c3"} {
		c := &store.Certificate{Serial: serial, SubjectRef: "sr_" + serial, Profile: "personal-banking", SubjectDN: "CN=x",
			NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter, SPKISHA256: []byte{byte(i)}, KeyType: "rsa2048",
			DER: []byte{1}, IssuerID: "iss", Operation: "issue", RequestID: "req-" + serial, CreatedAt: time.Now()}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertCertificate(ctx, c) }); err != nil {
			t.Fatal(err)
		}
	}
	revokedAt := time.Date(2027, 5, 1, 3, 4, 5, 0, time.UTC)
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Revoke(ctx, "b2", revokedAt, 1, "") }); err != nil {
		t.Fatal(err)
	}

	s, err := db.CertificateStatus(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Serial != "a1" || s.IssuerID != "iss" || s.Status != "active" || s.RevokedAt != nil || s.RevocationReason != nil || !s.NotAfter.Equal(notAfter) {
		t.Errorf("active: %+v", s)
	}
	s, err = db.CertificateStatus(ctx, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "revoked" || s.RevokedAt == nil || !s.RevokedAt.Equal(revokedAt) || s.RevocationReason == nil || *s.RevocationReason != 1 {
		t.Errorf("revoked: %+v", s)
	}
	if _, err := db.CertificateStatus(ctx, "ffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown serial: err = %v, want ErrNotFound", err)
	}

	m, err := db.CertificateStatuses(ctx, []string{"a1", "b2", "ffff"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["a1"].Status != "active" || m["b2"].Status != "revoked" || m["ffff"] != nil {
		t.Errorf("batch: %v", m)
	}
	if m, err := db.CertificateStatuses(ctx, nil); err != nil || len(m) != 0 {
		t.Errorf("empty batch: %v %v", m, err)
	}
}
