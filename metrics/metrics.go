// Package metrics defines every Prometheus series Signet exports, in one
// place, on a registry the caller owns (a test builds its own, so that
// parallel servers do not collide). It implements the observers the core
// packages declare (ca.Observer, ocsp.Observer, the store's and the CRL
// generator's callbacks); they import nothing from here.
//
// Cardinality is bounded by construction: labels take values from fixed
// sets (actions, outcomes, OCSP statuses, refusal reasons written in the
// code, configured profile names, job names), never a serial, a subject or
// a request id.
package metrics

import (
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ocsp"
)

// Metrics holds the series that the code moves as things happen; the
// series read at scrape time are registered by Watch.
type Metrics struct {
	// GRPC counts and times every RPC per service, method and code
	// (grpc_server_handled_total, grpc_server_handling_seconds).
	GRPC *grpcprom.ServerMetrics

	requests      *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	signing       *prometheus.HistogramVec
	tx            *prometheus.HistogramVec
	crlGeneration *prometheus.HistogramVec
	ocspResponses *prometheus.CounterVec
	ocspCache     *prometheus.CounterVec
	ocspBacklog   prometheus.Gauge
	reminders     *prometheus.CounterVec
	otherCA       *prometheus.CounterVec
}

var (
	_ ca.Observer   = (*Metrics)(nil)
	_ ocsp.Observer = (*Metrics)(nil)
)

// Actions are the certificate life-cycle actions counted per profile and
// outcome; other audit actions (admin calls, transport refusals whose
// action is a method name a client chose) are not.
var Actions = map[string]bool{
	"start_enrollment": true, "issue": true, "reissue": true, "renew": true,
	"revoke": true, "suspend": true, "resume": true,
}

// Outcomes of a certificate request (ca.Observer).
var Outcomes = []string{"ok", "refused", "error"}

// OCSPStatuses are the answers counted by signet_ocsp_responses_total.
var OCSPStatuses = []string{"good", "revoked", "unknown", "malformed", "unauthorized", "tryLater", "internalError"}

// ReminderOutcomes are what became of one attempt to send a reminder
// (signet_reminders_total).
var ReminderOutcomes = []string{"delivered", "retried", "failed", "skipped"}

// OtherCAOutcomes are the answers of another CA's status service
// (signet_other_ca_status_checks_total): its status for the certificate,
// or why there was none.
var OtherCAOutcomes = []string{"good", "revoked", "unknown", "unreachable", "no_source", "error"}

// latency buckets: a CA signature (software key about 1 ms, an HSM tens
// of ms), a transaction, a CRL generation (up to seconds for a big CRL).
var buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New registers Signet's series, the gRPC server metrics and the Go
// runtime's and process's collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		GRPC: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(buckets))),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_certificate_requests_total",
			Help: "Certificate life-cycle requests by action (issue, reissue, renew, revoke, suspend, resume, start_enrollment), profile (empty when unknown) and outcome (ok, refused, error).",
		}, []string{"action", "profile", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_refusals_total",
			Help: "Refused gRPC calls by the ErrorInfo reason of their status.",
		}, []string{"reason"}),
		signing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "signet_ca_signing_seconds", Help: "Time the CA key took to sign a certificate, by outcome (ok, error).",
			Buckets: buckets,
		}, []string{"outcome"}),
		tx: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "signet_db_transaction_seconds", Help: "Duration of database transactions (store.InTx), by outcome (commit, rollback).",
			Buckets: buckets,
		}, []string{"outcome"}),
		crlGeneration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "signet_crl_generation_seconds", Help: "Time to generate, sign and store one CRL, by outcome (ok, error).",
			Buckets: buckets,
		}, []string{"outcome"}),
		ocspResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_ocsp_responses_total", Help: "OCSP answers by certificate status or error response (RFC 6960).",
		}, []string{"status"}),
		ocspCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_ocsp_cache_lookups_total", Help: "OCSP pre-signed response cache lookups by result (hit, miss).",
		}, []string{"result"}),
		ocspBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_ocsp_presign_backlog", Help: "Cached OCSP responses due for re-signing and not re-signed yet.",
		}),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_reminders_total",
			Help: "Attempts to send an expiry reminder on this replica, by outcome: delivered, retried (the RA channel failed; River tries again), failed (the last attempt, or no channel), skipped (the certificate is no longer owed one).",
		}, []string{"outcome"}),
		otherCA: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_other_ca_status_checks_total",
			Help: "Live status checks of other CAs' certificates (registration, sign-in, recheck), answered from revcheck's cache or over HTTP, by source (ocsp, crl; empty when none answered) and outcome (good, revoked, unknown, unreachable, no_source, error).",
		}, []string{"source", "outcome"}),
	}
	reg.MustRegister(m.GRPC, m.requests, m.refusals, m.signing, m.tx, m.crlGeneration, m.ocspResponses, m.ocspCache, m.ocspBacklog,
		m.reminders, m.otherCA,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Zero series for the known label values, so that rate() and absent()
	// work from the first scrape.
	for _, o := range []string{"ok", "error"} {
		m.signing.WithLabelValues(o)
		m.crlGeneration.WithLabelValues(o)
	}
	for _, o := range []string{"commit", "rollback"} {
		m.tx.WithLabelValues(o)
	}
	for _, s := range OCSPStatuses {
		m.ocspResponses.WithLabelValues(s)
	}
	m.ocspCache.WithLabelValues("hit")
	m.ocspCache.WithLabelValues("miss")
	for _, o := range ReminderOutcomes {
		m.reminders.WithLabelValues(o)
	}
	m.otherCA.WithLabelValues("", "unreachable")
	return m
}

// Reminder counts one attempt to send a reminder (reminder.Observer).
func (m *Metrics) Reminder(outcome string) { m.reminders.WithLabelValues(outcome).Inc() }

// OtherCAStatus counts one status check at another CA.
func (m *Metrics) OtherCAStatus(source, outcome string) {
	m.otherCA.WithLabelValues(source, outcome).Inc()
}

// Outcome counts one certificate request (ca.Observer).
func (m *Metrics) Outcome(action, profile, outcome string) {
	if !Actions[action] {
		return
	}
	m.requests.WithLabelValues(action, profile, outcome).Inc()
}

// Signed times one CA signature (ca.Observer).
func (m *Metrics) Signed(took time.Duration, err error) {
	m.signing.WithLabelValues(outcome(err)).Observe(took.Seconds())
}

// Refused counts a refusal by its ErrorInfo reason.
func (m *Metrics) Refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

// Transaction times one store.InTx.
func (m *Metrics) Transaction(took time.Duration, err error) {
	o := "commit"
	if err != nil {
		o = "rollback"
	}
	m.tx.WithLabelValues(o).Observe(took.Seconds())
}

// CRLGenerated times one crl.Generator.Generate.
func (m *Metrics) CRLGenerated(took time.Duration, err error) {
	m.crlGeneration.WithLabelValues(outcome(err)).Observe(took.Seconds())
}

// Answered counts one OCSP answer (ocsp.Observer).
func (m *Metrics) Answered(status string) { m.ocspResponses.WithLabelValues(status).Inc() }

// CacheLookup counts one OCSP cache lookup (ocsp.Observer).
func (m *Metrics) CacheLookup(hit bool) {
	r := "miss"
	if hit {
		r = "hit"
	}
	m.ocspCache.WithLabelValues(r).Inc()
}

// Backlog sets the OCSP re-signing backlog (ocsp.Observer).
func (m *Metrics) Backlog(n int) { m.ocspBacklog.Set(float64(n)) }

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
