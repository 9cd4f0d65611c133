package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/store/storetest"
)

// `signetd admin-cert --revoke` withdraws a staff certificate that
// `signetd admin-cert` issued, with its audit event (issue 8, item 9).
func TestAdminCert_RevokeWithdrawsAStaffCertificate(t *testing.T) {
	dbURL := storetest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dbURL)
	dir := t.TempDir()
	if err := adminCertCmd([]string{"--dev", "--state-dir", dir, "--role", "operator", "--name", "kim.operator", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	cert, err := pemutil.ReadCertificate(filepath.Join(dir, "kim.operator.pem"))
	if err != nil {
		t.Fatal(err)
	}
	serial := cert.SerialNumber.Text(16)
	if err := adminCertCmd([]string{"--dev", "--state-dir", dir, "--revoke", strings.ToUpper(serial), "--reason", "left"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var revoked, events int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM staff_revocations WHERE serial = $1),
		(SELECT count(*) FROM audit_events WHERE action = 'revoke-staff' AND serial = $1)`, serial).Scan(&revoked, &events); err != nil {
		t.Fatal(err)
	}
	if revoked != 1 || events != 1 {
		t.Errorf("%d revocations and %d revoke-staff events of %s, want 1 and 1", revoked, events, serial)
	}
	err = adminCertCmd([]string{"--dev", "--state-dir", dir, "--revoke", serial})
	if err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("second revocation: %v, want already revoked", err)
	}
	err = adminCertCmd([]string{"--dev", "--state-dir", dir, "--revoke", "abcdef"})
	if err == nil || !strings.Contains(err.Error(), "no staff certificate") {
		t.Errorf("revocation of an unknown serial: %v, want no staff certificate", err)
	}
}
