package server_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// Least privilege (issue 8, item 12): a production start refuses a service
// role that could alter the audit tables, and serves as one that holds only
// the privileges README "Database roles" grants.

// productionConfig writes a complete configuration file for databaseURL and
// loads it as `signetd --config` does.
func productionConfig(t *testing.T, databaseURL, migrationURL string) *server.Config {
	t.Helper()
	files := sharedPKI(t)
	dir := t.TempDir()
	adminCert, adminKey := adminca.Files(filepath.Dir(files.Root))
	subjectKey := filepath.Join(dir, "subject.key")
	writeFile(t, subjectKey, []byte(strings.Repeat("ab", 32)+"\n"))
	var providers []map[string]string
	for _, p := range evidencetest.NewMinter(audience, time.Now).Providers() {
		der, err := x509.MarshalPKIXPublicKey(p.Key)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, p.ID+".pem")
		writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		providers = append(providers, map[string]string{"id": p.ID, "kind": string(p.Kind), "publicKey": path})
	}
	cfg := map[string]any{
		"audience": audience, "organization": "Signet", "databaseURL": databaseURL, "migrationURL": migrationURL,
		"grpcAddr": "127.0.0.1:0", "httpAddr": "127.0.0.1:0", "adminAddr": "127.0.0.1:0",
		"adminCA":        map[string]string{"cert": adminCert, "key": adminKey},
		"tls":            map[string]string{"cert": files.Server, "key": files.ServerKey},
		"subjectKeyFile": subjectKey,
		"signer":         map[string]string{"chain": files.Intermediate, "kms": "softkms:", "key": files.IntermediateKey},
		"providers":      providers,
		"crlBaseURL":     "http://127.0.0.1:9080/crl", "ocspURL": "http://127.0.0.1:9080/ocsp", "issuerURL": "http://127.0.0.1:9080/ca/issuer.crt",
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "signet.json")
	writeFile(t, path, b)
	c, err := server.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serviceRole creates a login role with README "Database roles"' grants on
// the database at dbURL, and returns the URL that connects as it.
func serviceRole(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "signet_test_svc_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	// The grants signetd migrate up gives the service role (README
	// "Database roles").
	if err := store.GrantServiceRole(ctx, dbURL, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Logf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		for _, stmt := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := c.Exec(ctx, stmt); err != nil {
				t.Logf("%s: %v", stmt, err)
			}
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

func TestBuild_RefusesAServiceRoleThatCanAlterTheAuditTables(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDatabase(t) // as postgres, which owns every table
	cfg := productionConfig(t, dbURL, "")
	b, err := server.Build(context.Background(), cfg, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		b.Close()
		t.Fatal("Build served as a role that owns the audit tables")
	}
	for _, want := range []string{"can alter the audit tables", "owns audit_events", "migration role"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Build: %v; want it to say %q", err, want)
		}
	}
}

func TestBuild_ServesAsTheLeastPrivilegedServiceRole(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDatabase(t)
	svcURL := serviceRole(t, dbURL)
	// The migration role migrates (nothing is left to do here); the
	// service role serves.
	cfg := productionConfig(t, svcURL, dbURL)
	b, err := server.Build(context.Background(), cfg, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Build as the service role: %v", err)
	}
	b.Close()
}
