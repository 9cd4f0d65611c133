package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
)

// Staff access can be withdrawn (issue 8, item 9): a revoked staff
// certificate is refused on its next call once the listener's look at the
// ledger is older than adminca.StaffCheckTTL, on every replica.
func TestAdmin_RevokedStaffCertificateIsRefused(t *testing.T) {
	h := newHarness(t)
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	staff := h.staff(adminca.RoleOperator, "lee.operator")
	operator := h.adminClient(staff)
	read := &signetv1.GetCertificateHistoryRequest{Serial: c.Serial}
	if _, err := operator.GetCertificateHistory(ctx(t), read); err != nil {
		t.Fatalf("before the revocation: %v", err)
	}
	if err := adminca.Revoke(context.Background(), h.built.DB, staff.Leaf.SerialNumber.Text(16), "test", "left the company", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(adminca.StaffCheckTTL + time.Second)
	if _, err := operator.GetCertificateHistory(ctx(t), read); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("after the revocation: %v, want PermissionDenied", err)
	}
	var n int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events WHERE action = 'revoke-staff'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d revoke-staff events (%v), want 1", n, err)
	}
	if err := adminca.Revoke(context.Background(), h.built.DB, staff.Leaf.SerialNumber.Text(16), "test", "", h.clock.Now()); err == nil {
		t.Error("a second revocation of the same certificate was accepted")
	}
}

// A certificate made with the admin CA's key outside `signetd admin-cert`
// (not in the signature ledger) is refused, whatever role its OU names.
func TestAdmin_StaffCertificateOutsideTheLedgerIsRefused(t *testing.T) {
	h := newHarness(t)
	certPath, keyPath := adminca.Files(filepath.Dir(sharedPKI(t).Root))
	caCert, err := pemutil.ReadCertificate(certPath)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := pemutil.Read(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"Signet"}, OrganizationalUnit: []string{adminca.RoleOperator}, CommonName: "mallory"},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	forged := h.adminClient(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf})
	if _, err := forged.GetCertificateHistory(ctx(t), &signetv1.GetCertificateHistoryRequest{Serial: "1"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("certificate outside the ledger: %v, want PermissionDenied", err)
	}
}

// The admin CA key is reached through KMS like the issuing key: adminCA.kms
// names the KMS, and without it adminCA.key is a PEM file (softkms).
func TestConfig_AdminCAKeyThroughKMS(t *testing.T) {
	var c server.Config
	c.AdminCA.Cert, c.AdminCA.Key = "/etc/signet/admin_ca.pem", "/etc/signet/admin_ca_key.pem"
	if got := c.AdminCASigner(); got.KMS != "softkms:" || got.Key != c.AdminCA.Key || got.Chain != c.AdminCA.Cert {
		t.Errorf("PEM files: %+v", got)
	}
	c.AdminCA.KMS, c.AdminCA.Key = "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=signet?pin-value=1234", "pkcs11:id=7332;object=signet-admin-ca"
	if got := c.AdminCASigner(); got.KMS != c.AdminCA.KMS || got.Key != c.AdminCA.Key || got.Chain != c.AdminCA.Cert {
		t.Errorf("KMS: %+v", got)
	}
}
