package server

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
)

// newPprofServer serves net/http/pprof on its own listener (pprofAddr)
// rather than beside the admin gRPC API on one port: the same mutual TLS
// (adminTLS), then, per request, a staff certificate of the operator role
// that the ledger still holds as issued (adminca.Checker), and an audit
// event, as for every admin call. A profile shows memory and goroutine
// stacks, so an auditor's certificate is refused.
func newPprofServer(a *ca.Authority, staff *adminca.Checker, tc *tls.Config, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler:           operatorsOnly(a, staff, log, mux),
		TLSConfig:         tc.Clone(),
		ReadHeaderTimeout: 5 * time.Second,
	}
}

// operatorsOnly lets through requests whose verified client certificate
// names a live operator, and audits each request, let through or not.
func operatorsOnly(a *ca.Authority, staff *adminca.Checker, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		audit := func(actor, outcome, reason string) bool {
			if err := a.AuditAdmin(ctx, actor, "pprof", outcome, reason, map[string]any{"path": r.URL.Path}); err != nil {
				log.ErrorContext(ctx, "audit admin call", "err", err)
				return false
			}
			return true
		}
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			audit("unknown", "refused", "no_admin_certificate")
			http.Error(w, "profiles need a client certificate from Signet's admin CA", http.StatusUnauthorized)
			return
		}
		cert := r.TLS.VerifiedChains[0][0]
		id, err := adminca.IdentityOf(cert)
		if err != nil {
			audit("certificate:"+cert.Subject.String(), "refused", "bad_admin_role")
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if err := staff.Check(ctx, cert, id); err != nil {
			if !errors.Is(err, adminca.ErrStaffRefused) {
				log.ErrorContext(ctx, "check a staff certificate", "err", err)
				http.Error(w, "the staff certificate could not be checked against the ledger: retry", http.StatusServiceUnavailable)
				return
			}
			audit(id.Actor(), "refused", "staff_certificate")
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if id.Role != adminca.RoleOperator {
			audit(id.Actor(), "refused", "role")
			http.Error(w, "profiles need the operator role; "+id.Name+" is an "+id.Role, http.StatusForbidden)
			return
		}
		if !audit(id.Actor(), "ok", "") {
			http.Error(w, "the audit log could not record this request; nothing is answered unaudited: retry", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}
