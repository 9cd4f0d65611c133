package metrics

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-ca/signet/store"
)

// Sources are what Watch reads at each scrape.
type Sources struct {
	// Pool is the database pool's snapshot (store.DB.PoolStat).
	Pool func() *pgxpool.Stat
	// Backlog reads the CRL's and the audit sealer's state
	// (store.DB.Backlog for the issuing CA).
	Backlog func(context.Context) (*store.Backlog, error)
	// Leaders says, per leader job ("crl", "audit_sealer"), whether this
	// replica leads it now.
	Leaders map[string]func() bool
	// CRLInterval is how often the CRL leader generates at the latest.
	CRLInterval time.Duration
	// Now is the clock ages are measured by.
	Now func() time.Time
}

// Watch registers the series read at scrape time: the pool, the CRL and
// the audit sealer as the database shows them (the same on every
// replica), and the leader gauges.
func Watch(reg prometheus.Registerer, s Sources) {
	reg.MustRegister(&watcher{s: s})
}

var (
	dbUp = prometheus.NewDesc("signet_db_up",
		"1 if the scrape's read of the database succeeded, 0 if the database did not answer.", nil, nil)
	poolConns = prometheus.NewDesc("signet_db_pool_connections",
		"Connections in the pool by state (acquired, idle, constructing).", []string{"state"}, nil)
	poolMax      = prometheus.NewDesc("signet_db_pool_max_connections", "The pool's maximum size.", nil, nil)
	poolAcquires = prometheus.NewDesc("signet_db_pool_acquires_total",
		"Connections acquired from the pool.", nil, nil)
	poolEmptyAcquires = prometheus.NewDesc("signet_db_pool_empty_acquires_total",
		"Acquires that had to wait for a connection (the pool was empty).", nil, nil)
	poolAcquireWait = prometheus.NewDesc("signet_db_pool_acquire_wait_seconds_total",
		"Total time spent waiting for a pool connection.", nil, nil)
	crlAge = prometheus.NewDesc("signet_crl_age_seconds",
		"Age of the latest CRL's thisUpdate.", nil, nil)
	crlUntilNext = prometheus.NewDesc("signet_crl_next_update_seconds",
		"Seconds until the latest CRL's nextUpdate (negative once it has passed).", nil, nil)
	crlInterval = prometheus.NewDesc("signet_crl_interval_seconds",
		"How often the CRL leader generates a CRL at the latest (configuration).", nil, nil)
	crlBytes      = prometheus.NewDesc("signet_crl_bytes", "Size of the latest CRL (DER).", nil, nil)
	crlEntries    = prometheus.NewDesc("signet_crl_entries", "Revoked certificates listed in the latest CRL.", nil, nil)
	crlNumber     = prometheus.NewDesc("signet_crl_number", "The latest CRL's cRLNumber.", nil, nil)
	auditUnsealed = prometheus.NewDesc("signet_audit_unsealed_events",
		"Audit events the sealer has not chained yet.", nil, nil)
	auditCheckpointAge = prometheus.NewDesc("signet_audit_checkpoint_age_seconds",
		"Age of the latest signed audit checkpoint.", nil, nil)
	leader = prometheus.NewDesc("signet_leader",
		"1 if this replica leads the task now, 0 if not (one replica leads each: crl, audit_sealer, hourly_jobs).", []string{"task"}, nil)
)

type watcher struct{ s Sources }

func (w *watcher) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dbUp, poolConns, poolMax, poolAcquires, poolEmptyAcquires, poolAcquireWait,
		crlAge, crlUntilNext, crlInterval, crlBytes, crlEntries, crlNumber, auditUnsealed, auditCheckpointAge, leader} {
		ch <- d
	}
}

// scrapeTimeout bounds the database read of one scrape, well inside
// Prometheus's default scrape timeout of 10 s.
const scrapeTimeout = 3 * time.Second

func (w *watcher) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if w.s.Pool != nil {
		st := w.s.Pool()
		gauge(poolConns, float64(st.AcquiredConns()), "acquired")
		gauge(poolConns, float64(st.IdleConns()), "idle")
		gauge(poolConns, float64(st.ConstructingConns()), "constructing")
		gauge(poolMax, float64(st.MaxConns()))
		counter(poolAcquires, float64(st.AcquireCount()))
		counter(poolEmptyAcquires, float64(st.EmptyAcquireCount()))
		counter(poolAcquireWait, st.AcquireDuration().Seconds())
	}
	for task, leading := range w.s.Leaders {
		v := 0.0
		if leading() {
			v = 1
		}
		gauge(leader, v, task)
	}
	if w.s.CRLInterval > 0 {
		gauge(crlInterval, w.s.CRLInterval.Seconds())
	}
	if w.s.Backlog == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	b, err := w.s.Backlog(ctx)
	if err != nil {
		gauge(dbUp, 0)
		return
	}
	gauge(dbUp, 1)
	now := w.s.Now()
	if !b.CRLThisUpdate.IsZero() {
		gauge(crlAge, now.Sub(b.CRLThisUpdate).Seconds())
		gauge(crlUntilNext, b.CRLNextUpdate.Sub(now).Seconds())
		gauge(crlBytes, float64(b.CRLBytes))
		gauge(crlEntries, float64(b.CRLEntries))
		gauge(crlNumber, float64(b.CRLNumber))
	}
	gauge(auditUnsealed, float64(b.UnsealedAuditEvents))
	if !b.LastCheckpoint.IsZero() {
		gauge(auditCheckpointAge, now.Sub(b.LastCheckpoint).Seconds())
	}
}
