package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"

	"github.com/signet-ca/signet/seed"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store"
)

// devCmd holds tools for development and scale tests:
//
//	signetd dev seed --certs N [--events-per-cert 5] --dev [--state-dir DIR]
//
// Seeding writes fake certificates and fake audit events into tables that
// are append-only and sealed: into a production database it would forge
// its audit trail. So it runs in dev mode only, never with --config.
func devCmd(args []string) error {
	if len(args) == 0 || args[0] != "seed" {
		return errors.New("usage: signetd dev seed --certs N [--events-per-cert 5] --dev [--state-dir DIR]")
	}
	fs := flag.NewFlagSet("signetd dev seed", flag.ContinueOnError)
	certs := fs.Int("certs", 0, "how many certificates to add (with their event histories)")
	perCert := fs.Float64("events-per-cert", 5, "average audit events per certificate")
	rest := []string{}
	// The remaining flags select the database as signetd itself does.
	fs.BoolFunc("dev", "use the dev state dir's database", func(string) error { rest = append(rest, "--dev"); return nil })
	fs.Func("state-dir", "dev mode state dir", func(v string) error { rest = append(rest, "--state-dir", v); return nil })
	config := fs.String("config", "", "refused: seeding is for dev databases only")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *config != "" {
		return errors.New("signetd dev seed refuses --config: it writes fake certificates and audit events into append-only, sealed tables, which in a production database would forge the audit trail; seed a dev database with --dev [--state-dir DIR] (DATABASE_URL may name a scratch database)")
	}
	if *certs <= 0 {
		return errors.New("--certs N is required (N > 0)")
	}
	f, _, err := parseFlags("signetd dev seed", rest)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, cleanup, err := loadConfig(ctx, f, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := store.MigrateUp(cfg.DatabaseURL); err != nil {
		return err
	}
	key, err := server.ReadSubjectKey(cfg.SubjectKeyFile)
	if err != nil {
		return err
	}
	return seed.Run(ctx, cfg.DatabaseURL, seed.Options{Certs: *certs, EventsPerCert: *perCert, Progress: os.Stderr, SubjectKey: key})
}
