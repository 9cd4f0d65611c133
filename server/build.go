package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/signet-ca/signet/audit"
	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/registration"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/crl"
	"github.com/signet-ca/signet/metrics"
	"github.com/signet-ca/signet/ocsp"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/telemetry"
)

// Built is a ready-to-serve Signet and what it was built from.
type Built struct {
	*Server
	Authority *ca.Authority
	DB        *store.DB
	CRL       *crl.Generator
	OCSP      *ocsp.Responder
	Sealer    *audit.Sealer
	// AdminCA issues staff certificates (nil without an admin listener).
	AdminCA *adminca.CA
	// Delegates hands out the OCSP responder's and audit signer's keys.
	Delegates *signer.Delegates
	// Metrics is what GET /metrics serves: this Signet's own registry.
	Metrics *prometheus.Registry
	// Registrations registers other CAs' certificates; its recheck job
	// runs every recheckEvery on one replica.
	Registrations *registration.Service
	recheckEvery  time.Duration
	// Reminders sends expiry reminders; nil without raChannels.
	Reminders *reminder.Service
	// hourly runs the hourly batch jobs on one replica at a time.
	hourly        *store.Leadership
	hourlyRan     chan struct{}
	hourlyRanOnce sync.Once
	// tracing flushes and stops the span exporter; nil when tracing is off.
	tracing *sdktrace.TracerProvider
}

// Build migrates the database under golang-migrate's advisory lock, loads
// the signer through KMS, and wires the core and the listeners. now is the
// clock (time.Now in production; tests move it).
func Build(ctx context.Context, c *Config, now func() time.Time, log *slog.Logger) (*Built, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	switch {
	case c.MigrationURL != "":
		if err := store.MigrateUp(c.MigrationURL); err != nil {
			return nil, fmt.Errorf("migrate (as the migration role of migrationURL): %w", err)
		}
		// The service role gets exactly its grants on what the migration made.
		if svc, err := store.RoleOf(c.DatabaseURL); err == nil && svc != "" {
			if mig, err := store.RoleOf(c.MigrationURL); err == nil && mig != svc {
				if err := store.GrantServiceRole(ctx, c.MigrationURL, svc); err != nil {
					return nil, err
				}
			}
		}
	case !c.leastPrivilege:
		// signetd --dev, and tests: one role migrates and serves.
		if c.Dev != nil {
			log.Warn("dev mode: one database role owns the schema and serves; production splits a migration role from the service role (README \"Database roles\")")
		}
		if err := store.MigrateUp(c.DatabaseURL); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	dbOpts := store.Options{ObserveTx: m.Transaction}
	// Tracing is on only with an OTLP endpoint: otherwise no exporter, no
	// gRPC stats handler and no pgx tracer are installed at all.
	var tp *sdktrace.TracerProvider
	if c.OTLPEndpoint != "" {
		var err error
		if tp, err = telemetry.NewProvider(ctx, telemetry.Options{Endpoint: c.OTLPEndpoint, Insecure: c.OTLPInsecure, Service: "signetd"}); err != nil {
			return nil, err
		}
		dbOpts.Tracer = telemetry.NewQueryTracer(tp)
		log = slog.New(telemetry.NewLogHandler(log.Handler()))
		log.Info("tracing: exporting spans over OTLP", "endpoint", c.OTLPEndpoint)
	}
	db, err := store.OpenWith(ctx, c.DatabaseURL, dbOpts)
	if err != nil {
		shutdownTracing(tp)
		return nil, err
	}
	if c.leastPrivilege {
		if err := checkServiceRole(ctx, db); err != nil {
			db.Close()
			return nil, err
		}
	}
	b, err := build(ctx, c, db, now, log, reg, m, tp)
	if err != nil {
		db.Close()
		shutdownTracing(tp)
		return nil, err
	}
	return b, nil
}

// checkServiceRole refuses to serve as a role that could rewrite the audit
// log or the signature ledger (Vault's rule: nothing served that the audit
// log could lose), and from a schema `signetd migrate up` has not brought
// up to date.
func checkServiceRole(ctx context.Context, db *store.DB) error {
	role, powers, err := db.AuditTablePowers(ctx)
	if err != nil {
		return fmt.Errorf("check the database role's privileges: %w", err)
	}
	if len(powers) > 0 {
		return fmt.Errorf("refusing to serve as database role %q, which can alter the audit tables: it %s. "+
			"Connect databaseURL (DATABASE_URL) as the service role, which holds only the privileges README \"Database roles\" grants, "+
			"and run `signetd migrate up` as the migration role (migrationURL or MIGRATION_DATABASE_URL)", role, strings.Join(powers, "; "))
	}
	latest, err := store.LatestMigration()
	if err != nil {
		return err
	}
	v, dirty, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if dirty || v < latest {
		return fmt.Errorf("the database schema is at version %d (dirty %t), this signetd needs %d: run `signetd migrate up` as the migration role first", v, dirty, latest)
	}
	return nil
}

func build(ctx context.Context, c *Config, db *store.DB, now func() time.Time, log *slog.Logger,
	reg *prometheus.Registry, m *metrics.Metrics, tp *sdktrace.TracerProvider) (*Built, error) {
	// One linter for every CA key: nothing is signed unlinted.
	linter, err := lint.New()
	if err != nil {
		return nil, err
	}
	issuing, err := signer.New(ctx, c.Signer, linter)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			issuing.Close()
		}
	}()
	iss := issuing.Issuer()
	if err := db.UpsertIssuer(ctx, issuing.ID(), iss.Subject.String(), iss.Raw); err != nil {
		return nil, err
	}
	subjectKey, err := ReadSubjectKey(c.SubjectKeyFile)
	if err != nil {
		return nil, err
	}
	delegates, err := signer.NewDelegates(issuing, db, subjectKey)
	if err != nil {
		return nil, err
	}
	providers, err := c.providers()
	if err != nil {
		return nil, err
	}
	if c.Dev != nil {
		providers = append(providers, c.Dev.Providers...)
	}
	if len(providers) == 0 {
		return nil, errors.New("no identity providers configured")
	}
	verifier, err := evidence.NewVerifier(c.Audience, providers, now)
	if err != nil {
		return nil, err
	}
	profiles := c.Profiles
	if len(profiles) == 0 {
		profiles = ca.DefaultProfiles()
	}
	authority, err := ca.New(ca.Config{
		Audience: c.Audience, SubjectKey: subjectKey, Organization: c.Organization, Profiles: profiles,
		CRLBaseURL: c.CRLBaseURL, OCSPURL: c.OCSPURL, IssuerURL: c.IssuerURL,
		RecoverAfter: c.SignatureRecoveryAfter.Duration(),
		SubjectLimit: c.RateLimits.withDefaults(c.Dev != nil).subjectLimit(),
		Observer:     m,
	}, db, issuing, verifier, now, log)
	if err != nil {
		return nil, err
	}
	regs, err := newRegistrations(c, authority, db, now, log, m)
	if err != nil {
		return nil, err
	}
	rem, err := newReminders(ctx, c, db, now, log, m)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	var admin *adminca.CA
	if c.AdminCA.Cert != "" {
		if admin, err = adminca.Load(ctx, c.AdminCASigner(), linter); err != nil {
			return nil, err
		}
	}
	srv, err := New(Options{
		Authority: authority, DB: db, DevIdentity: c.Dev, Log: log, AdminCA: admin, Registrations: regs, Reminders: rem,
		RateLimits: c.RateLimits.withDefaults(c.Dev != nil), Metrics: m, PprofAddr: c.PprofAddr, Tracing: tracerProvider(tp),
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		return nil, err
	}
	// A process that stopped between recording a signature and settling it
	// left an open reservation: settle it before serving.
	if _, err := authority.RecoverSignatures(ctx, c.SignatureRecoveryAfter.Duration()); err != nil {
		return nil, fmt.Errorf("recover open signatures: %w", err)
	}
	gen := crl.New(db, issuing, crl.Options{NextUpdate: c.CRLNextUpdate.Duration(), Interval: c.CRLInterval.Duration(),
		Retention: c.CRLRetention.Duration(), Now: now, Log: log, Observe: m.CRLGenerated})
	srv.HTTPHandler().Handle("GET /crl/", crl.Handler(db))
	if c.Dev != nil && c.Dev.WebhookSink != nil {
		srv.HTTPHandler().Handle("POST /dev/webhook", c.Dev.WebhookSink)
	}
	if c.Dev != nil && c.Dev.OtherCA != nil {
		srv.HTTPHandler().Handle("/otherca/", c.Dev.OtherCA.Handler)
	}
	// The caIssuers AIA target (RFC 5280 4.2.2.1): the issuing CA's
	// certificate, DER, for relying parties that lack the intermediate.
	issuerDER := issuing.Issuer().Raw
	srv.HTTPHandler().HandleFunc("GET /ca/issuer.crt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Header().Set("Cache-Control", "max-age=86400")
		_, _ = w.Write(issuerDER)
	})
	responder, err := ocsp.New(ctx, db, delegates, ocsp.Options{Now: now, Log: log, Observer: m})
	if err != nil {
		return nil, fmt.Errorf("ocsp: %w", err)
	}
	srv.MountOCSP(responder.Handler())
	sealer := audit.NewSealer(db, delegates, audit.Options{Now: now, Log: log})
	issuerID := issuing.ID()
	hourly := &store.Leadership{Name: "hourly jobs", Retry: store.LeaderRetry, Log: log,
		Try: func(ctx context.Context) (*store.LeaderLock, error) { return db.TryHourlyJobs(ctx, store.LeaderRetry) }}
	metrics.Watch(reg, metrics.Sources{
		Pool:        db.PoolStat,
		Backlog:     func(ctx context.Context) (*store.Backlog, error) { return db.Backlog(ctx, issuerID) },
		Leaders:     map[string]func() bool{"crl": gen.Leading, "audit_sealer": sealer.Leading, "hourly_jobs": hourly.Leading},
		CRLInterval: gen.Interval(),
		Now:         now,
	})
	srv.HTTPHandler().Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ok = true
	return &Built{Server: srv, Authority: authority, DB: db, CRL: gen, OCSP: responder, Sealer: sealer, AdminCA: admin,
		Delegates: delegates, Metrics: reg, hourly: hourly, hourlyRan: make(chan struct{}), tracing: tp,
		Registrations: regs, recheckEvery: c.RegistrationRecheck.Duration(), Reminders: rem}, nil
}

// Serve runs the listeners and the background jobs until ctx ends. It
// returns only after the jobs stopped, so that the sealer's last
// checkpoint lands before Close releases the database.
func (b *Built) Serve(ctx context.Context, l Listeners) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	jobs := []func(context.Context){
		b.runHourly, b.CRL.Run, b.OCSP.Run, b.foldCounts, b.sweepCopies, b.runRecheck, b.runReminders,
	}
	// Without a sealer here (a benchmark's baseline), another replica's
	// seals the log, or nobody does and VerifyAuditLog says how far it got.
	if b.Sealer != nil {
		jobs = append(jobs, b.Sealer.Run)
	}
	for _, job := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); job(ctx) }()
	}
	err := b.Server.Serve(ctx, l)
	cancel()
	wg.Wait()
	return err
}

// foldCounts keeps the stats counters' delta tables short: Stats reads
// every delta row, and at full issuance speed a minute adds tens of
// thousands.
func (b *Built) foldCounts(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := b.DB.FoldCounts(ctx, b.Authority.Now()); err != nil && ctx.Err() == nil {
			b.log.Error("fold stats counters", "err", err)
		}
	}
}

// Close releases the signers' key managers and the database.
func (b *Built) Close() {
	b.Authority.Signer().Close()
	if b.AdminCA != nil {
		b.AdminCA.Close()
	}
	b.DB.Close()
	shutdownTracing(b.tracing)
}

// tracerProvider is tp as an interface: nil, not a nil pointer, when
// tracing is off.
func tracerProvider(tp *sdktrace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return nil
	}
	return tp
}

// shutdownTracing sends the spans still buffered, for at most five
// seconds: a collector that is away must not hold up a shutdown.
func shutdownTracing(tp *sdktrace.TracerProvider) {
	if tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tp.Shutdown(ctx)
}

// runHourly runs the hourly jobs while this replica leads them, and stops
// them when the lead is lost, so that two replicas do not keep two
// schedules after a connection blip. Besides the life cycle jobs it
// deletes expired sign-in challenges: a challenge is spent or useless two
// minutes after it was handed out.
func (b *Built) runHourly(ctx context.Context) {
	b.hourly.Run(ctx, func(ctx context.Context, lock *store.LeaderLock) {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			b.Authority.RunJobs(ctx)
			if n, err := b.Server.logins.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
				b.log.Error("purge expired sign-in challenges", "err", err)
			} else if n > 0 {
				b.log.Info("purged expired sign-in challenges", "rows", n)
			}
			b.hourlyRanOnce.Do(func() { close(b.hourlyRan) })
			select {
			case <-ctx.Done():
				return
			case <-lock.Lost():
				return
			case <-t.C:
			}
		}
	})
}

// HourlyJobsRan is closed once this replica has run the hourly jobs, when
// it leads them. Tests that move a fake clock wait for it first, so that
// the first run does not happen under the moved clock.
func (b *Built) HourlyJobsRan() <-chan struct{} { return b.hourlyRan }
