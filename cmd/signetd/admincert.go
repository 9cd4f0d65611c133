package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/store"
)

// adminCertCmd issues a staff client certificate from the admin CA, or
// withdraws one:
//
//	signetd admin-cert --role auditor|operator --name N [--out DIR] [--validity 8760h] (--dev [--state-dir DIR] | --config FILE)
//	signetd admin-cert --revoke SERIAL [--reason TEXT] (--dev [--state-dir DIR] | --config FILE)
func adminCertCmd(args []string) error {
	fs := flag.NewFlagSet("signetd admin-cert", flag.ContinueOnError)
	role := fs.String("role", "", "auditor (reads) or operator (reads, revokes, suspends, resumes)")
	name := fs.String("name", "", "the person's login name, e.g. kim.auditor")
	out := fs.String("out", ".", "folder to write <name>.pem and <name>_key.pem into")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificate is valid")
	dev := fs.Bool("dev", false, "use the dev admin CA in --state-dir")
	stateDir := fs.String("state-dir", "var/signet", "dev mode state dir")
	config := fs.String("config", "", "production configuration file naming adminCA")
	revoke := fs.String("revoke", "", "withdraw the staff certificate with this serial (hex, as `openssl x509 -noout -serial` prints): every admin listener refuses it within "+adminca.StaffCheckTTL.String())
	reason := fs.String("reason", "", "with --revoke: why, for the audit log (e.g. left the company)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dev == (*config != "") {
		return errors.New("give exactly one of --dev or --config FILE")
	}
	// The staff certificate is recorded in the signature ledger before the
	// admin CA key signs it, so the command needs the database.
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, cleanup, err := loadConfig(ctx, &flags{dev: *dev, stateDir: *stateDir, config: *config}, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if cfg.AdminCA.Cert == "" {
		return errors.New("the configuration names no adminCA: set adminCA.cert and adminCA.key (and adminCA.kms for a key in a KMS)")
	}
	// Production migrates only as the migration role; dev has one role.
	if u := cfg.MigrationURL; u != "" || *dev {
		if u == "" {
			u = cfg.DatabaseURL
		}
		if err := store.MigrateUp(u); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	actor := "signetd admin-cert"
	if u := os.Getenv("USER"); u != "" {
		actor += " (" + u + ")"
	}
	if *revoke != "" {
		if err := adminca.Revoke(ctx, db, *revoke, actor, *reason, time.Now()); err != nil {
			return err
		}
		fmt.Printf("staff certificate %s revoked: every admin listener refuses it within %s\n", *revoke, adminca.StaffCheckTTL)
		return nil
	}
	linter, err := lint.New()
	if err != nil {
		return err
	}
	admin, err := adminca.Load(ctx, cfg.AdminCASigner(), linter)
	if err != nil {
		return err
	}
	defer admin.Close()
	cert, key, err := admin.Issue(ctx, db, actor, *role, *name, *validity)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	certPath, keyPath, err := adminca.WriteIdentity(*out, *name, cert, key)
	if err != nil {
		return err
	}
	fmt.Printf("%s certificate for %s: %s (key %s), valid until %s\n", *role, *name, certPath, keyPath, cert.NotAfter.Format(time.RFC3339))
	return nil
}
