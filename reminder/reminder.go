// Package reminder sends expiry reminders (만료 안내): signed webhooks to the
// RA channel that issued a certificate, 30, 7 and 1 day before its
// notAfter. The queue is River on Signet's own PostgreSQL: jobs are
// inserted and voided in the transaction of the change that makes them due
// or void (store.Reminders), worked by every replica with River's row
// locks, and completed in the transaction that audits the delivery.
package reminder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/store"
)

// Stage is one reminder before notAfter.
type Stage struct {
	Name   string
	Before time.Duration
}

// Stages are the reminders every certificate is owed, earliest first.
var Stages = []Stage{{"30d", 30 * 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"1d", 24 * time.Hour}}

// Queue is River's queue of reminders.
const Queue = "reminders"

// MaxAttempts bounds the deliveries of one reminder. River waits attempt⁴
// seconds between them, so ten attempts span about 7 hours: long enough
// to ride out an RA's outage, short enough that even the 1-day reminder
// is not sent after the certificate expired.
const MaxAttempts = 10

// Args are a reminder job's arguments: which certificate and which stage,
// nothing personal. Both fields make the job unique, so that one
// certificate never has two jobs for one stage, whichever replica or
// retry inserts it.
type Args struct {
	Serial string `json:"serial" river:"unique"`
	Stage  string `json:"stage" river:"unique"`
}

func (Args) Kind() string { return store.ReminderKind }

func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Planned is one reminder to enqueue; a zero At means at once.
type Planned struct {
	Stage string
	At    time.Time
}

// Plan is when the reminders of a certificate with notAfter, delivered at
// now, are due. Stages still ahead are scheduled at their time. Of the
// stages already past (a reissue keeps the old notAfter; a demo's
// --validity 40h), only the last is sent, at once: the RA learns the
// tightest window the certificate is already in, and is not told three
// times in a row. Nothing is owed to a certificate past notAfter.
func Plan(notAfter, now time.Time) []Planned {
	if !now.Before(notAfter) {
		return nil
	}
	var out []Planned
	var due string
	for _, s := range Stages {
		at := notAfter.Add(-s.Before)
		if at.After(now) {
			out = append(out, Planned{Stage: s.Name, At: at})
		} else {
			due = s.Name
		}
	}
	if due != "" {
		out = append([]Planned{{Stage: due}}, out...)
	}
	return out
}

// EventID is the webhook's id for a certificate's stage: the same on every
// attempt and replica, so that a receiver can drop a second copy (one sent
// again after a crash between the send and its record).
func EventID(serial, stage string) string {
	return uuid.NewSHA1(eventSpace, []byte(serial+"/"+stage)).String()
}

var eventSpace = uuid.MustParse("6f1c1f8e-5a1e-4c57-9b9e-3f0b7d1d2c01")

// Options configure a Service.
type Options struct {
	Channels Channels
	// Now is Signet's clock (tests move it); River keeps its own.
	Now func() time.Time
	Log *slog.Logger
	// HTTP sends the webhooks; nil: a client with a 10 s timeout that
	// follows no redirect.
	HTTP *http.Client
	// Workers is how many reminders one replica sends at once (default 4).
	Workers int
	// ID names the River client (default: River's own); tests name replicas.
	ID string
	// Observer counts what became of each attempt; nil counts nothing.
	Observer Observer
}

// Observer is told the outcome of every attempt to send a reminder:
// delivered, retried, failed or skipped (package metrics implements it).
type Observer interface{ Reminder(outcome string) }

type noObserver struct{}

func (noObserver) Reminder(string) {}

// Service enqueues, voids, sends and retries reminders.
type Service struct {
	client   *river.Client[pgx.Tx]
	db       *store.DB
	channels Channels
	now      func() time.Time
	log      *slog.Logger
	http     *http.Client
	observe  Observer
}

var _ store.Reminders = (*Service)(nil)

// New builds the River client over db's pool. It works jobs only once Run
// starts it; until then it only inserts and voids.
func New(db *store.DB, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second,
			// A webhook that redirects is misconfigured; following it would
			// send the signed body somewhere nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	s := &Service{db: db, channels: o.Channels, now: o.Now, log: o.Log, http: o.HTTP, observe: o.Observer}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{s: s}); err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(db.Pool()), &river.Config{
		ID:      o.ID,
		Queues:  map[string]river.QueueConfig{Queue: {MaxWorkers: o.Workers}},
		Workers: workers,
		Logger:  slog.New(warnAndAbove{o.Log.Handler()}).With("component", "river"),
		// A delivery is one HTTP call (10 s) and one transaction (15 s).
		JobTimeout: 40 * time.Second,
		// A job still "running" well past its timeout belongs to a replica
		// that died: send it again soon (same event id) rather than in
		// River's default hour.
		RescueStuckJobsAfter: 5 * time.Minute,
		// Delivered reminders stay listable for a validity period's worth
		// of audits; the audit log keeps them for ever anyway.
		CompletedJobRetentionPeriod: 400 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 400 * 24 * time.Hour,
		CancelledJobRetentionPeriod: 400 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("reminder: river client: %w", err)
	}
	s.client = client
	return s, nil
}

// Client is the River client, for tests that watch its events.
func (s *Service) Client() *river.Client[pgx.Tx] { return s.client }

// Schedule enqueues c's reminders in tx (store.Reminders).
func (s *Service) Schedule(ctx context.Context, tx pgx.Tx, c *store.Certificate) error {
	plan := Plan(c.NotAfter, c.CreatedAt)
	if len(plan) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(plan))
	for i, p := range plan {
		opts := Args{}.InsertOpts()
		opts.ScheduledAt = p.At
		params[i] = river.InsertManyParams{Args: Args{Serial: c.Serial, Stage: p.Stage}, InsertOpts: &opts}
	}
	_, err := s.client.InsertManyTx(ctx, tx, params)
	return err
}

// Void deletes serial's reminders that have not started (store.Reminders).
// A running one finishes; its worker re-reads the certificate first, so
// it skips one voided a moment before.
func (s *Service) Void(ctx context.Context, tx pgx.Tx, serial string) error {
	_, err := s.client.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().
		Kinds(store.ReminderKind).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending).
		Where("args @> jsonb_build_object('serial', @serial::text)", river.NamedArgs{"serial": serial}).
		First(len(Stages)*4))
	return err
}

// Run works reminders until ctx ends. Every replica runs one: River
// elects its own leader for scheduling and cleaning, and a job is locked
// by the one replica that works it.
func (s *Service) Run(ctx context.Context) {
	if err := s.client.Start(ctx); err != nil {
		s.log.Error("reminders: start the River client; no reminder is sent by this replica", "err", err)
		return
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := s.client.Stop(stopCtx); err != nil {
		s.log.Warn("reminders: stop the River client", "err", err)
	}
}

// Retry makes a reminder due at once again, for an operator, audited in
// the same transaction. A delivered reminder may be sent again (the RA
// sees the same event id); one running now may not.
func (s *Service) Retry(ctx context.Context, id int64, actor, comment string) (*store.Reminder, error) {
	var out *store.Reminder
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.ReminderByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return &ca.Error{Kind: ca.KindNotFound, Reason: "unknown_reminder",
				Msg: fmt.Sprintf("no reminder with id %d: list them with `signet admin reminders`", id)}
		}
		if err != nil {
			return err
		}
		if r.State == string(rivertype.JobStateRunning) {
			return &ca.Error{Kind: ca.KindPrecondition, Reason: "reminder_running",
				Msg: fmt.Sprintf("reminder %d is being sent right now: look again in a minute", id)}
		}
		if _, err := s.client.JobRetryTx(ctx, tx.PgxTx(), id); err != nil {
			return err
		}
		details := map[string]any{"job_id": id, "stage": r.Stage, "was": r.State}
		if comment != "" {
			details["comment"] = comment
		}
		if err := tx.AppendAudit(ctx, &store.AuditEvent{At: s.now().UTC(), Actor: actor, Action: "reminder-retry",
			Outcome: "ok", Serial: r.Serial, Details: details}); err != nil {
			return err
		}
		out, err = tx.ReminderByID(ctx, id)
		return err
	})
	return out, err
}

type riverDriver = riverpgxv5.Driver

// warnAndAbove passes River's warnings and errors only: its info lines
// (job counts every few seconds while busy) would drown signetd's own,
// which say what was delivered.
type warnAndAbove struct{ slog.Handler }

func (h warnAndAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnAndAbove) WithAttrs(a []slog.Attr) slog.Handler {
	return warnAndAbove{h.Handler.WithAttrs(a)}
}

func (h warnAndAbove) WithGroup(n string) slog.Handler { return warnAndAbove{h.Handler.WithGroup(n)} }
