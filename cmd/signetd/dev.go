package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
	"github.com/signet-ca/signet/ca/otherca"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/server/devidentity"
	"github.com/signet-ca/signet/server/devotherca"
	"github.com/signet-ca/signet/store/devcluster"
)

// Dev-mode defaults: loopback only, so that a dev CA with simulated
// identity checks is never reachable from another machine.
const (
	devGRPCAddr  = "127.0.0.1:9443"
	devHTTPAddr  = "127.0.0.1:9080"
	devAdminAddr = "127.0.0.1:9444"
	devOrg       = "Signet"
)

// devConfig prepares the embedded default: a private PostgreSQL cluster
// (unless DATABASE_URL names one), a dev root + intermediate, a TLS server
// certificate from the dev CA, and a subject key, all under the state dir.
func devConfig(ctx context.Context, f *flags, log *slog.Logger) (*server.Config, func(), error) {
	dir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	cleanup := func() {}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		cluster, err := devcluster.Start(ctx, devcluster.Options{Dir: filepath.Join(dir, "pg"), Logf: func(format string, args ...any) {
			log.Info(fmt.Sprintf(format, args...))
		}})
		if err != nil {
			return nil, nil, err
		}
		dbURL = cluster.URL()
		cleanup = func() {
			if !cluster.Started() {
				return // another signetd runs this cluster
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(sctx); err != nil {
				log.Error("stop dev PostgreSQL", "err", err)
			}
		}
	}
	files, err := devca.Ensure(dir, devOrg, []string{"127.0.0.1", "localhost"}, f.devCAKey)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dev CA: %w", err)
	}
	subjectKey := filepath.Join(dir, "subject.key")
	if err := ensureSubjectKey(subjectKey); err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg := &server.Config{
		Audience: "signet-dev", Organization: devOrg, DatabaseURL: dbURL,
		GRPCAddr: pick(f.grpcAddr, devGRPCAddr), HTTPAddr: pick(f.httpAddr, devHTTPAddr),
		SubjectKeyFile: subjectKey,
		Signer:         signer.Config{Chain: files.Intermediate, KMS: "softkms:", Key: files.IntermediateKey},
	}
	// The simulated identity providers exist only here: the server package
	// takes them from its caller, and a --config start has none.
	sim, err := devprovider.New(cfg.Audience, time.Now)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dev identity providers: %w", err)
	}
	cfg.Dev = devidentity.For(sim)
	// A second, separate dev CA plays another bank's CA: its certificates
	// carry identifyData, its CRL and OCSP are served under /otherca/ on
	// the HTTP listener, and it is on the dev trust list.
	other, err := otherca.Open(filepath.Join(dir, "otherca"), "http://"+cfg.HTTPAddr, time.Now)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dev other CA: %w", err)
	}
	cfg.Dev.OtherCA = devotherca.For(other, time.Now)
	// Every RA channel is the dev sink on the HTTP listener, which checks
	// each reminder's signature and logs it (README "Expiry reminders").
	if err := devReminders(cfg, dir, log); err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg.TLS.Cert, cfg.TLS.Key = files.Server, files.ServerKey
	cfg.AdminAddr = pick(f.adminAddr, devAdminAddr)
	if err := adminca.Ensure(dir, devOrg); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dev admin CA: %w", err)
	}
	cfg.AdminCA.Cert, cfg.AdminCA.Key = adminca.Files(dir)
	cfg.CRLBaseURL = "http://" + cfg.HTTPAddr + "/crl"
	cfg.OCSPURL = "http://" + cfg.HTTPAddr + "/ocsp"
	cfg.IssuerURL = "http://" + cfg.HTTPAddr + "/ca/issuer.crt"
	cfg.Profiles = ca.DefaultProfiles()
	if f.validity != "" {
		v, err := ca.ParseValidity(f.validity)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		for _, p := range cfg.Profiles {
			p.Validity = v
		}
	}
	return cfg, cleanup, nil
}

func pick(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func ensureSubjectKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600)
}

// ensureDevAdmins issues one auditor and one operator identity into the
// state dir, once, so that the admin API can be tried at once. They are
// recorded in the signature ledger like any staff certificate.
func ensureDevAdmins(ctx context.Context, stateDir string, b *server.Built) error {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	for _, role := range []string{adminca.RoleAuditor, adminca.RoleOperator} {
		if devAdminUsable(ctx, b, filepath.Join(dir, "admin-"+role+".pem")) {
			continue
		}
		cert, key, err := b.AdminCA.Issue(ctx, b.DB, "signetd --dev", role, "dev-"+role, 365*24*time.Hour)
		if err != nil {
			return err
		}
		if _, _, err := adminca.WriteIdentity(dir, "admin-"+role, cert, key); err != nil {
			return err
		}
	}
	return nil
}

// devAdminUsable reports whether a dev staff certificate kept in the state
// dir is one the ledger knows and has not revoked; one kept from a wiped dev
// database, or revoked, is issued again rather than refused on every call.
func devAdminUsable(ctx context.Context, b *server.Built, path string) bool {
	cert, err := pemutil.ReadCertificate(path)
	if err != nil {
		return false
	}
	sc, err := b.DB.StaffCertificate(ctx, signer.IssuerID(b.AdminCA.Cert), cert.SerialNumber.Text(16), cert.Raw)
	return err == nil && sc.RevokedAt == nil
}

func printDevBanner(stateDir, grpcAddr, httpAddr, adminAddr string) {
	fmt.Printf(`
Signet dev CA is running (simulated phone and account checks; not for production).
  gRPC over TLS  %s   trust anchor: %s
  HTTP           %s   GET /healthz, /crl/<issuer>.crl, /ocsp, /otherca/ (the dev other bank's CA)
  admin (mTLS)   %s   client certificates: %s/admin-auditor.pem, admin-operator.pem

Enroll a one-year personal-banking certificate:
  printf 'Sign3t!pass' > /tmp/signet-pw
  go run ./cmd/signet --server %s --ca-file %s enroll --profile personal-banking \
    --name 홍길동 --birth 19900101 --phone 01012345678 --carrier SKT \
    --bank 004 --account 12345678901234 --idn 9001011234567 --password-file /tmp/signet-pw

Expiry reminders go to the dev webhook sink (POST /dev/webhook, logged here); start with
--validity 40h to see one at once. Another bank's test certificate: signet dev other-ca issue.

`, grpcAddr, filepath.Join(stateDir, "root.pem"), httpAddr, adminAddr, stateDir, grpcAddr, filepath.Join(stateDir, "root.pem"))
}

// devReminders points the default RA channel at the dev webhook sink,
// with a secret kept in the state dir.
func devReminders(cfg *server.Config, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, "webhook.secret")
	if err := ensureSubjectKey(path); err != nil {
		return fmt.Errorf("dev webhook secret: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg.RAChannels = map[string]reminder.ChannelConfig{
		reminder.Default: {WebhookURL: "http://" + cfg.HTTPAddr + "/dev/webhook", SecretFile: path},
	}
	cfg.Dev.WebhookSink = reminder.DevSink([]byte(strings.TrimSpace(string(b))), log)
	return nil
}
