package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

// staff issues a staff certificate through the server's admin CA, recorded
// in the signature ledger as signetd admin-cert does.
func (h *harness) staff(role, name string) *tls.Certificate {
	h.t.Helper()
	cert, key, err := h.built.AdminCA.Issue(context.Background(), h.built.DB, "test", role, name, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func TestAdmin_OperatorRevokesAuditorCannot(t *testing.T) {
	h := newHarness(t)
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	req := &signetv1.AdminRevokeCertificateRequest{RequestId: uuid.NewString(), Serial: c.Serial,
		Reason: signetv1.RevocationReason_REVOCATION_REASON_PRIVILEGE_WITHDRAWN, Comment: "court order 2026-123"}

	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "kim.auditor"))
	if _, err := auditor.AdminRevokeCertificate(ctx(t), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor revoke: %v, want PermissionDenied", err)
	}
	operator := h.adminClient(h.staff(adminca.RoleOperator, "lee.operator"))
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
	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "park.auditor"))
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

func TestAdmin_QueriesFindTheChain(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	old, key := h.issue(p, banking)
	h.clock.Set(old.NotAfter.AsTime().Add(-5 * 24 * time.Hour))
	renewed, _, err := h.renew(old, key)
	if err != nil {
		t.Fatal(err)
	}
	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "choi.auditor"))

	bySubject, err := auditor.SearchCertificates(ctx(t), &signetv1.SearchCertificatesRequest{Ci: p.CI()})
	if err != nil {
		t.Fatalf("search by CI: %v", err)
	}
	if len(bySubject.Certificates) != 2 || bySubject.Certificates[0].Certificate.Serial != renewed.Certificate.Serial {
		t.Fatalf("search by CI: %d certificates, want the renewed one first of 2", len(bySubject.Certificates))
	}
	active, err := auditor.SearchCertificates(ctx(t), &signetv1.SearchCertificatesRequest{
		Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE, Profile: banking, SubjectName: p.Name})
	if err != nil || len(active.Certificates) != 1 || active.Certificates[0].Certificate.Serial != renewed.Certificate.Serial {
		t.Fatalf("active by name and profile: %v %v", active, err)
	}
	if _, err := auditor.SearchCertificates(ctx(t), &signetv1.SearchCertificatesRequest{Name: p.Name, Birth: p.Birth}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("name + birth without dev providers: %v, want InvalidArgument", err)
	}

	hist, err := auditor.GetCertificateHistory(ctx(t), &signetv1.GetCertificateHistoryRequest{Serial: old.Serial})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Certificates) != 2 || hist.Certificates[0].Certificate.Serial != old.Serial || len(hist.Events) < 2 {
		t.Errorf("history: %d certificates (first %s), %d events; want issue then renew", len(hist.Certificates), hist.Certificates[0].GetCertificate().GetSerial(), len(hist.Events))
	}

	events, err := auditor.ListAuditEvents(ctx(t), &signetv1.ListAuditEventsRequest{Action: "renew", Outcome: "ok"})
	if err != nil || len(events.Events) != 1 || events.Events[0].Serial != renewed.Certificate.Serial {
		t.Errorf("renew events: %v %v", events, err)
	}
	stats, err := auditor.GetStats(ctx(t), &signetv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var revoked, live int64
	for _, c := range stats.Counts {
		switch c.Status {
		case signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED:
			revoked += c.Count
		case signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE:
			live += c.Count
		}
	}
	if revoked != 1 || live != 1 {
		t.Errorf("stats: %d revoked, %d active; want 1 and 1 (%v)", revoked, live, stats.Counts)
	}
}

func TestAdmin_VerifyAuditLogFindsTampering(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 3; i++ {
		p := evidencetest.DefaultPerson()
		p.Name = []string{"가", "나", "다"}[i] + "길동"
		h.issue(p, banking)
	}
	// Seal everything committed so far and sign the head, as the
	// background sealer does within a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.sealer.SealOnce(ctx(t)); err != nil {
			t.Fatal(err)
		}
		var unsealed int
		if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events e WHERE NOT EXISTS
			(SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)`).Scan(&unsealed); err != nil {
			t.Fatal(err)
		}
		if unsealed == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.sealer.Checkpoint(ctx(t)); err != nil {
		t.Fatal(err)
	}
	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "yoon.auditor"))
	r, err := auditor.VerifyAuditLog(ctx(t), &signetv1.VerifyAuditLogRequest{})
	if err != nil || !r.Ok || r.Checked < 3 {
		t.Fatalf("untouched log: %v %v, want ok", r, err)
	}
	// A superuser edits a sealed event behind the trigger's back.
	var victim int64
	if err := h.pool.QueryRow(ctx(t), `SELECT event_id FROM audit_chain ORDER BY seq LIMIT 1 OFFSET 1`).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	conn, err := h.pool.Acquire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx(t), `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx(t), `UPDATE audit_events SET actor = 'someone-else' WHERE id = $1`, victim); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx(t), `SET session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	r, err = auditor.VerifyAuditLog(ctx(t), &signetv1.VerifyAuditLogRequest{})
	if err != nil || r.Ok || r.FirstBrokenEventId != victim {
		t.Fatalf("after editing event %d: %v %v, want it named as the first broken", victim, r, err)
	}
}
