// Command signetd is the Signet certificate authority server.
//
//	signetd --dev [--state-dir DIR] [--validity DURATION]   dev CA, private PostgreSQL, simulated providers
//	signetd --config FILE                                   production
//	signetd migrate up|down|version [--dev --state-dir DIR | --config FILE]   as the migration role (migrationURL)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "signetd:", err)
		os.Exit(1)
	}
}

type flags struct {
	dev       bool
	stateDir  string
	validity  string
	config    string
	grpcAddr  string
	httpAddr  string
	adminAddr string
	logLevel  string
	devCAKey  string
	recover   time.Duration
	otlp      string
}

func parseFlags(name string, args []string) (*flags, []string, error) {
	f := &flags{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(&f.dev, "dev", false, "run the embedded dev CA: private PostgreSQL (unless DATABASE_URL is set), dev root + intermediate, simulated identity providers")
	fs.StringVar(&f.stateDir, "state-dir", "var/signet", "dev mode: where the dev CA, database cluster and trust anchor (root.pem) live")
	fs.StringVar(&f.validity, "validity", "", "dev mode: override every profile's validity (e.g. 240h) so renewal can be tried at once; demos and tests only")
	fs.StringVar(&f.config, "config", "", "production configuration file (JSON)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "", "override the gRPC listen address (dev default 127.0.0.1:9443)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "override the HTTP listen address (dev default 127.0.0.1:9080)")
	fs.StringVar(&f.adminAddr, "admin-addr", "", "override the admin API listen address (dev default 127.0.0.1:9444)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.otlp, "otlp-endpoint", "", "export OpenTelemetry traces over OTLP/gRPC to this collector `host:port` (overrides otlpEndpoint; in --dev without TLS)")
	fs.DurationVar(&f.recover, "recover-after", 0, "how long a recorded but unsettled signature may stay open before it is marked abandoned (default 2m; overrides signatureRecoveryAfter)")
	fs.StringVar(&f.devCAKey, "dev-ca-key", "", "dev mode: the dev CA's key type when it is first made, rsa-2048 (default, the NPKI norm) or ecdsa-p256; a state dir keeps its type")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if f.dev == (f.config != "") {
		return nil, nil, errors.New("give exactly one of --dev or --config FILE")
	}
	if f.validity != "" && !f.dev {
		return nil, nil, errors.New("--validity is for dev mode only")
	}
	return f, fs.Args(), nil
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "migrate" {
		return migrateCmd(args[1:])
	}
	if len(args) > 0 && args[0] == "admin-cert" {
		return adminCertCmd(args[1:])
	}
	if len(args) > 0 && args[0] == "dev" {
		return devCmd(args[1:])
	}
	f, rest, err := parseFlags("signetd", args)
	if err != nil {
		return err
	}
	// SIGNET_CPUPROFILE=FILE writes a CPU profile of the whole run, for
	// the performance work behind the README's figures (go tool pprof).
	if path := os.Getenv("SIGNET_CPUPROFILE"); path != "" {
		pf, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q (commands: migrate)", rest[0])
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, cleanup, err := loadConfig(ctx, f, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if f.recover > 0 {
		cfg.SignatureRecoveryAfter = server.Duration(f.recover)
	}
	if f.otlp != "" {
		cfg.OTLPEndpoint = f.otlp
		// A dev collector on loopback speaks plain gRPC; production
		// configures otlpInsecure itself.
		cfg.OTLPInsecure = cfg.OTLPInsecure || f.dev
	}

	b, err := server.Build(ctx, cfg, time.Now, log)
	if err != nil {
		return err
	}
	defer b.Close()
	if f.dev {
		if err := ensureDevAdmins(ctx, f.stateDir, b); err != nil {
			return fmt.Errorf("dev admin identities: %w", err)
		}
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	l := server.Listeners{GRPC: grpcLis, HTTP: httpLis}
	adminAddr := "off"
	if cfg.AdminAddr != "" {
		if l.Admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		adminAddr = l.Admin.Addr().String()
	}
	if cfg.PprofAddr != "" {
		if l.Pprof, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		log.Info("pprof serving to operators' staff certificates", "addr", l.Pprof.Addr().String())
	}
	log.Info("signet serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(), "admin", adminAddr, "issuer", b.Authority.Signer().ID())
	if f.dev {
		printDevBanner(f.stateDir, grpcLis.Addr().String(), httpLis.Addr().String(), adminAddr)
	}
	return b.Serve(ctx, l)
}

func loadConfig(ctx context.Context, f *flags, log *slog.Logger) (*server.Config, func(), error) {
	if f.dev {
		return devConfig(ctx, f, log)
	}
	cfg, err := server.LoadConfig(f.config)
	if err != nil {
		return nil, nil, err
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		cfg.DatabaseURL = u
	}
	if u := os.Getenv("MIGRATION_DATABASE_URL"); u != "" {
		cfg.MigrationURL = u
	}
	if f.grpcAddr != "" {
		cfg.GRPCAddr = f.grpcAddr
	}
	if f.httpAddr != "" {
		cfg.HTTPAddr = f.httpAddr
	}
	if f.adminAddr != "" {
		cfg.AdminAddr = f.adminAddr
	}
	return cfg, func() {}, nil
}

func migrateCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: signetd migrate up|down|version [--dev --state-dir DIR | --config FILE]")
	}
	verb := args[0]
	f, _, err := parseFlags("signetd migrate", args[1:])
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, cleanup, err := loadConfig(context.Background(), f, log)
	if err != nil {
		return err
	}
	defer cleanup()
	m, err := store.NewMigrator(migrationURL(cfg))
	if err != nil {
		return err
	}
	defer m.Close()
	switch verb {
	case "up":
		err = m.Up()
	case "down":
		err = m.Down()
	case "version":
	default:
		return fmt.Errorf("unknown migrate command %q: use up, down or version", verb)
	}
	if err != nil {
		return err
	}
	if verb == "up" {
		// With two roles, the migration leaves the service role exactly its
		// grants, including on tables this migration added.
		svc, err1 := store.RoleOf(cfg.DatabaseURL)
		mig, err2 := store.RoleOf(migrationURL(cfg))
		if err1 == nil && err2 == nil && svc != "" && svc != mig {
			if err := store.GrantServiceRole(context.Background(), migrationURL(cfg), svc); err != nil {
				return err
			}
			fmt.Printf("granted the service role %s its rows, without UPDATE or DELETE on the audit tables\n", svc)
		}
	}
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	fmt.Printf("schema version %d", v)
	if dirty {
		fmt.Print(" (dirty: a migration failed half-way; fix it, then `migrate down` and `up`)")
	}
	fmt.Println()
	return nil
}

// migrationURL is the connection `signetd migrate` uses: the migration
// role's (migrationURL or MIGRATION_DATABASE_URL), which owns the schema.
// Without one, databaseURL (DATABASE_URL) is taken to name the migration
// role, as the migrate Job of deploy/k8s sets it; the service itself then
// refuses to serve as that role (README "Database roles").
func migrationURL(cfg *server.Config) string {
	if cfg.MigrationURL != "" {
		return cfg.MigrationURL
	}
	return cfg.DatabaseURL
}
