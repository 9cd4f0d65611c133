package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/ca/proof"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

func freshR(t *testing.T) []byte {
	t.Helper()
	r := make([]byte, identity.RandomNumSize)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Issue 10 §1: every certificate carries identifyData with a VID that a
// relying party can check with idn and R, and neither idn nor R is kept in
// the database or the logs, through issue and renewal.
func TestIdentity_VIDInCertificateAndIDNNeverKept(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	idn, r1, r2 := "9001011987654", freshR(t), freshR(t)

	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	key := newKey(t)
	resp, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e.EnrollmentId, Csr: csrFor(t, key), Evidence: h.evidence(e.Nonce, p),
		Holder: &signetv1.HolderIdentity{Idn: idn, RandomNum: r1}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(resp.Certificate.Der)
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.FromCertificate(cert)
	if err != nil || d.RealName != p.Name {
		t.Fatalf("identifyData = %+v, %v; want the real name %s", d, err, p.Name)
	}
	if err := identity.Verify(cert, idn, r1); err != nil {
		t.Errorf("the VID does not verify with idn and R: %v", err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command("openssl", "x509", "-inform", "DER", "-noout", "-text")
		cmd.Stdin = bytes.NewReader(resp.Certificate.Der)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "1.2.410.200004.10.1.1") {
			t.Errorf("openssl x509 -text: %v\n%s", err, out)
		}
	}

	// Renewal with a new R: the old R proves idn against the old VID.
	h.clock.Set(resp.Certificate.NotAfter.AsTime().Add(-24 * time.Hour))
	renew := func(holder *signetv1.HolderIdentity) (*signetv1.RenewCertificateResponse, error) {
		csr := csrFor(t, newKey(t))
		return h.client.RenewCertificate(ctx(t), &signetv1.RenewCertificateRequest{RequestId: uuid.NewString(), Csr: csr,
			Proof: h.proofFor(resp.Certificate, key, ca.MethodRenew, proof.BindCSR(csr)), Holder: holder})
	}
	before := h.counts()
	_, err = renew(&signetv1.HolderIdentity{Idn: "9001011987655", RandomNum: r2, PreviousRandomNum: r1})
	if status.Code(err) != codes.PermissionDenied || reasonOf(err) != "holder_identity_mismatch" {
		t.Errorf("renewal with another person's number = %v, want PermissionDenied holder_identity_mismatch", err)
	}
	if after := h.counts(); after["certificates"] != before["certificates"] {
		t.Errorf("a refused renewal stored a certificate")
	}
	renewed, err := renew(&signetv1.HolderIdentity{Idn: idn, RandomNum: r2, PreviousRandomNum: r1})
	if err != nil {
		t.Fatal(err)
	}
	next, err := x509.ParseCertificate(renewed.Certificate.Der)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.Verify(next, idn, r2); err != nil {
		t.Errorf("the renewed certificate's VID does not verify with the new R: %v", err)
	}
	if d, _ := identity.FromCertificate(next); d == nil || d.RealName != p.Name {
		t.Errorf("the renewed certificate's identifyData = %+v, want %s kept", d, p.Name)
	}

	// Neither idn nor R, in any encoding, is in any row or any log line.
	secrets := []string{idn}
	for _, r := range [][]byte{r1, r2} {
		secrets = append(secrets, hex.EncodeToString(r), base64.StdEncoding.EncodeToString(r), base64.RawURLEncoding.EncodeToString(r))
	}
	rows, err := h.pool.Query(ctx(t), `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if rows.Err() != nil || len(tables) < 10 {
		t.Fatalf("tables: %v (%v)", tables, rows.Err())
	}
	for _, table := range tables {
		var dump string
		if err := h.pool.QueryRow(ctx(t), `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+table+` t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(dump), strings.ToLower(s)) {
				t.Errorf("table %s holds the resident number or R (%q)", table, s)
			}
		}
	}
	logs := h.logs.String()
	if len(logs) == 0 {
		t.Fatal("the server logged nothing: the log check would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the resident number or R (%q)", s)
		}
	}
}

// Refusals of the holder's fields come before anything is stored.
func TestIdentity_HolderRefusals(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	for _, c := range []struct {
		name   string
		holder *signetv1.HolderIdentity
		reason string
	}{
		{"missing", nil, "holder_identity_missing"},
		{"short number", &signetv1.HolderIdentity{Idn: "900101123456", RandomNum: p.RandomNum()}, "holder_identity_invalid"},
		{"short random", &signetv1.HolderIdentity{Idn: p.IDN(), RandomNum: []byte{1, 2, 3}}, "holder_identity_invalid"},
		{"another birth date", &signetv1.HolderIdentity{Idn: "8501011234567", RandomNum: p.RandomNum()}, "holder_identity_mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
			before := h.counts()
			_, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(),
				EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, p), Holder: c.holder})
			if status.Code(err) != codes.InvalidArgument || reasonOf(err) != c.reason {
				t.Fatalf("IssueCertificate = %v, want InvalidArgument %s", err, c.reason)
			}
			if strings.Contains(status.Convert(err).Message(), "8501011234567") {
				t.Errorf("the message repeats the resident number: %s", status.Convert(err).Message())
			}
			after := h.counts()
			if after["certificates"] != before["certificates"] || after["used_evidence"] != before["used_evidence"] ||
				after["audit_refused"] != before["audit_refused"]+1 {
				t.Errorf("counts %v -> %v: want nothing stored and one refusal audited", before, after)
			}
		})
	}
}
