// Package server wires Signet's gRPC and HTTP listeners around the domain
// core: TLS, health, reflection, message limits and the services.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/login"
	"github.com/signet-ca/signet/ca/registration"
	"github.com/signet-ca/signet/metrics"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/telemetry"
)

// MaxMessageSize bounds every gRPC message. A CSR, two evidence tokens and
// a proof fit in a few KiB; anything near this is an attack or a mistake,
// refused by gRPC with ResourceExhausted before it reaches a handler.
const MaxMessageSize = 256 << 10

// Server holds the listeners.
type Server struct {
	grpc   *grpc.Server
	admin  *grpc.Server // nil without an admin CA
	pprof  *http.Server // nil without pprofAddr
	http   *http.Server
	mux    *http.ServeMux
	ocsp   http.Handler
	health *health.Server
	db     *store.DB
	log    *slog.Logger
	copy   *copyService
	// logins answers sign-ins; its expired challenges are purged hourly.
	logins *login.Service
}

// Options are the parts the server is built from.
type Options struct {
	Authority *ca.Authority
	DB        *store.DB
	TLS       *tls.Config
	// DevIdentity, when set, serves the simulated providers (dev only).
	DevIdentity *DevIdentity
	// AdminCA, when set, enables the admin listener (mutual TLS).
	AdminCA *adminca.CA
	// RateLimits are the per-client limits (a negative ClientRate: none).
	RateLimits RateLimits
	Log        *slog.Logger
	// Metrics counts calls and refusals; nil: a private registry nobody
	// scrapes.
	Metrics *metrics.Metrics
	// Tracing, when set, gives every call a span (otelgrpc); nil: none.
	Tracing trace.TracerProvider
	// Registrations, when set, serves RegistrationService and lets
	// registered certificates sign in.
	Registrations *registration.Service
	// Reminders, when set, lets operators retry expiry reminders.
	Reminders *reminder.Service
	// PprofAddr, when set with AdminCA, enables the profiling listener
	// (pprof.go); Listeners.Pprof is then required.
	PprofAddr string
}

// Listeners are where the server serves; Admin and Pprof may be nil.
type Listeners struct {
	GRPC, HTTP, Admin, Pprof net.Listener
}

// New builds the gRPC and HTTP servers.
func New(o Options) (*Server, error) {
	if o.Authority == nil || o.DB == nil || o.TLS == nil {
		return nil, errors.New("server: authority, database and TLS config are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	var traced []grpc.ServerOption
	if o.Tracing != nil {
		traced = append(traced, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(o.Tracing), otelgrpc.WithPropagators(telemetry.Propagator))))
	}
	g := grpc.NewServer(append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(o.TLS)),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.ForceServerCodecV2(newFieldCodec()),
		grpc.ChainUnaryInterceptor(o.Metrics.GRPC.UnaryServerInterceptor(), countRefusals(o.Metrics), logCalls(o.Log), limitClients(o.Authority, newClientLimiter(o.RateLimits, o.Authority.Now)),
			validateFields(o.Authority, o.Log)),
		grpc.StatsHandler(transportAudit{ca: o.Authority}),
	}, traced...)...)
	signetv1.RegisterEnrollmentServiceServer(g, &enrollmentService{ca: o.Authority, log: o.Log})
	cs := newCopyService(o.DB, o.Authority.Now, o.Log)
	signetv1.RegisterCopyServiceServer(g, cs)
	logins, err := login.New(o.DB, o.Authority.Audience(), o.Authority.Now, o.Log)
	if err != nil {
		return nil, err
	}
	signetv1.RegisterAuthenticationServiceServer(g, &authenticationService{login: logins, log: o.Log})
	if o.Registrations != nil {
		logins.WithRegistrations(o.Registrations)
		signetv1.RegisterRegistrationServiceServer(g, &registrationService{regs: o.Registrations, log: o.Log})
	}
	if o.DevIdentity != nil {
		signetv1.RegisterDevIdentityServiceServer(g, o.DevIdentity.Service)
		if o.DevIdentity.OtherCA != nil {
			signetv1.RegisterDevOtherCAServiceServer(g, o.DevIdentity.OtherCA.Service)
		}
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
	o.Metrics.GRPC.InitializeMetrics(g)

	s := &Server{grpc: g, health: hs, db: o.DB, log: o.Log, mux: http.NewServeMux(), copy: cs, logins: logins}
	if o.AdminCA != nil {
		if len(o.TLS.Certificates) != 1 {
			return nil, errors.New("server: the admin listener needs the TLS server certificate")
		}
		var devCI func(string, string) string
		if o.DevIdentity != nil {
			devCI = o.DevIdentity.CI
		}
		tc := adminTLS(o.TLS.Certificates[0], o.AdminCA)
		staff := adminca.NewChecker(o.DB, o.AdminCA, o.Authority.Now)
		s.admin = newAdminServer(o.Authority, o.DB, tc, staff, devCI, o.Log, o.Metrics, o.Reminders, traced...)
		if o.Registrations != nil {
			signetv1.RegisterRegistrationAdminServiceServer(s.admin, &registrationAdminService{regs: o.Registrations, log: o.Log})
		}
		if o.PprofAddr != "" {
			s.pprof = newPprofServer(o.Authority, staff, tc, o.Log)
		}
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.http = &http.Server{Handler: http.HandlerFunc(s.route), ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// HTTPHandler returns the HTTP mux so that features can be mounted.
func (s *Server) HTTPHandler() *http.ServeMux { return s.mux }

// MountOCSP serves h at /ocsp and /ocsp/<request>.
func (s *Server) MountOCSP(h http.Handler) { s.ocsp = h }

// route sends OCSP GETs past ServeMux, which would "clean" a "//" inside
// a base64 request (RFC 5019 section 5) and redirect to a URL that no
// longer decodes.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; s.ocsp != nil && (p == "/ocsp" || strings.HasPrefix(p, "/ocsp/")) {
		s.ocsp.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Serve runs the listeners until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context, l Listeners) error {
	errc := make(chan error, 4)
	go func() { errc <- s.grpc.Serve(l.GRPC) }()
	if s.admin != nil {
		if l.Admin == nil {
			return errors.New("server: an admin CA is configured but no admin listener was given")
		}
		go func() { errc <- s.admin.Serve(l.Admin) }()
	}
	if s.pprof != nil {
		if l.Pprof == nil {
			return errors.New("server: pprofAddr is configured but no profiling listener was given")
		}
		go func() {
			if err := s.pprof.ServeTLS(l.Pprof, "", ""); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	go func() {
		if err := s.http.Serve(l.HTTP); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	go s.watchHealth(ctx)
	select {
	case <-ctx.Done():
	case err := <-errc:
		s.stop()
		return err
	}
	s.stop()
	return nil
}

func (s *Server) stop() {
	s.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	if s.pprof != nil {
		_ = s.pprof.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		if s.admin != nil {
			s.admin.GracefulStop()
		}
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if s.admin != nil {
			s.admin.Stop()
		}
		s.grpc.Stop()
	}
}

// watchHealth reports NOT_SERVING while the database does not answer, so
// that a load balancer routes around a replica that cannot record.
func (s *Server) watchHealth(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := s.db.Ping(pctx); err != nil {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		cancel()
		s.health.SetServingStatus("", st)
		s.health.SetServingStatus(signetv1.EnrollmentService_ServiceDesc.ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logCalls logs each call's method, code and duration; never its payload,
// which carries personal data (DESIGN.md invariant 7).
func logCalls(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		log.DebugContext(ctx, "rpc", "method", info.FullMethod, "code", codeOf(err).String(), "took", time.Since(start))
		return resp, err
	}
}
