package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// adminClient connects to the admin listener presenting cert (none if nil).
func (h *harness) adminClient(cert *tls.Certificate) signetv1.AdminServiceClient {
	h.t.Helper()
	tc := &tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(h.admin, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return signetv1.NewAdminServiceClient(conn)
}

func staff(t testing.TB, role, name string) *tls.Certificate {
	t.Helper()
	admin, err := adminca.Load(adminca.Files(filepath.Dir(sharedPKI(t).Root)))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := admin.Issue(role, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func TestAdmin_OperatorRevokesAuditorCannot(t *testing.T) {
	h := newHarness(t)
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	req := &signetv1.AdminRevokeCertificateRequest{RequestId: uuid.NewString(), Serial: c.Serial,
		Reason: signetv1.RevocationReason_REVOCATION_REASON_PRIVILEGE_WITHDRAWN, Comment: "court order 2026-123"}

	auditor := h.adminClient(staff(t, adminca.RoleAuditor, "kim.auditor"))
	if _, err := auditor.AdminRevokeCertificate(ctx(t), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor revoke: %v, want PermissionDenied", err)
	}
	operator := h.adminClient(staff(t, adminca.RoleOperator, "lee.operator"))
	resp, err := operator.AdminRevokeCertificate(ctx(t), req)
	if err != nil {
		t.Fatalf("operator revoke: %v", err)
	}
	if resp.Certificate.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED {
		t.Errorf("after operator revoke: %v", resp.Certificate)
	}
	rows, err := h.pool.Query(ctx(t), `SELECT actor, action, outcome FROM audit_events WHERE actor LIKE '%:%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, action, outcome string
		if err := rows.Scan(&actor, &action, &outcome); err != nil {
			t.Fatal(err)
		}
		got = append(got, actor+" "+action+" "+outcome)
	}
	want := []string{"auditor:kim.auditor admin:AdminRevokeCertificate refused", "operator:lee.operator revoke ok"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("audit events %q, want %q", got, want)
	}
}

func TestAdmin_RefusesSubscriberCertificatesAndNoCertificate(t *testing.T) {
	h := newHarness(t)
	// A certificate from the subscriber CA, with its key: still not staff.
	c, key := h.issue(evidencetest.DefaultPerson(), banking)
	leaf, err := x509.ParseCertificate(c.Der)
	if err != nil {
		t.Fatal(err)
	}
	subscriber := &tls.Certificate{Certificate: [][]byte{c.Der, c.Chain[0]}, PrivateKey: key, Leaf: leaf}
	for name, cert := range map[string]*tls.Certificate{"subscriber certificate": subscriber, "no certificate": nil} {
		_, err := h.adminClient(cert).GetStats(ctx(t), &signetv1.GetStatsRequest{})
		if code := status.Code(err); code != codes.Unavailable && code != codes.Unauthenticated {
			t.Errorf("%s: %v, want the TLS handshake refused", name, err)
		}
	}
	var n int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events WHERE action LIKE 'admin:%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d admin events after refused handshakes (%v), want 0", n, err)
	}
}

func TestAdmin_EveryCallIsAuditedWithActor(t *testing.T) {
	h := newHarness(t)
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	auditor := h.adminClient(staff(t, adminca.RoleAuditor, "park.auditor"))
	// Whatever the read answers, it must leave an event naming the auditor.
	_, _ = auditor.GetCertificateHistory(ctx(t), &signetv1.GetCertificateHistoryRequest{Serial: c.Serial})
	var actor, action, serial string
	err := h.pool.QueryRow(ctx(t), `SELECT actor, action, coalesce(serial, '') FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&actor, &action, &serial)
	if err != nil {
		t.Fatal(err)
	}
	if actor != "auditor:park.auditor" || action != "admin:GetCertificateHistory" || serial != c.Serial {
		t.Errorf("last event: %s %s %s, want the auditor's history read of %s", actor, action, serial, c.Serial)
	}
}
