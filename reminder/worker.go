package reminder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/signet-ca/signet/store"
)

// Body is a reminder webhook's JSON body. It names the certificate, never
// the person: subject_ref is the keyed hash the RA already knows from
// sign-in, and no CI, phone, account or name is ever sent.
type Body struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Stage      string    `json:"stage"`
	Serial     string    `json:"serial"`
	SubjectRef string    `json:"subject_ref"`
	Profile    string    `json:"profile"`
	NotAfter   time.Time `json:"not_after"`
	// Status is active or suspended: a suspended certificate still
	// expires, and its holder may still resume and renew it.
	Status string `json:"status"`
}

// EventType is Body.Type.
const EventType = "certificate.expiring"

type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	s := w.s
	c, err := s.db.CertificateBySerial(ctx, job.Args.Serial)
	if errors.Is(err, store.ErrNotFound) {
		return s.finish(ctx, nil, job, "reminder-skipped", map[string]any{"why": "no such certificate"})
	}
	if err != nil {
		return err
	}
	if why := notOwed(c, s.now()); why != "" {
		return s.finish(ctx, c, job, "reminder-skipped", map[string]any{"why": why, "status": c.Status})
	}
	ch, ok := s.channels.For(c.Bank)
	if !ok {
		msg := fmt.Sprintf("no RA channel for bank %q and no %q channel: add one to raChannels, then retry with `signet admin reminders --retry %d`", c.Bank, Default, job.ID)
		s.audit(ctx, c, job, "reminder-failed", map[string]any{"why": msg})
		s.observe.Reminder("failed")
		return river.JobCancel(errors.New(msg))
	}
	body, err := json.Marshal(Body{ID: EventID(c.Serial, job.Args.Stage), Type: EventType, Stage: job.Args.Stage,
		Serial: c.Serial, SubjectRef: c.SubjectRef, Profile: c.Profile, NotAfter: c.NotAfter.UTC(), Status: c.Status})
	if err != nil {
		return err
	}
	code, err := s.post(ctx, ch, body)
	if err != nil {
		s.log.Warn("reminder not delivered; River retries it", "serial", c.Serial, "stage", job.Args.Stage,
			"channel", ch.Name, "attempt", job.Attempt, "err", err)
		if job.Attempt >= job.MaxAttempts {
			// River discards it after this; the audit log says so first.
			s.audit(ctx, c, job, "reminder-failed", map[string]any{"why": err.Error(), "channel": ch.Name})
			s.observe.Reminder("failed")
		} else {
			s.observe.Reminder("retried")
		}
		return err
	}
	s.log.Info("reminder delivered", "serial", c.Serial, "stage", job.Args.Stage, "channel", ch.Name, "status", code,
		"attempt", job.Attempt)
	return s.finish(ctx, c, job, "reminder-delivered", map[string]any{"channel": ch.Name, "http_status": code})
}

// notOwed says why a certificate is owed no reminder any more, or "".
// A suspended certificate is still owed one: it still expires, and a
// resumed one can still be renewed.
func notOwed(c *store.Certificate, now time.Time) string {
	switch {
	case c.ReplacedBy != "":
		return "replaced by " + c.ReplacedBy
	case c.Status != store.StatusActive && c.Status != "suspended":
		return "certificate is " + c.Status
	case !now.Before(c.NotAfter):
		return "certificate expired"
	}
	return ""
}

// post sends one webhook; any answer but 2xx is an error to retry.
func (s *Service) post(ctx context.Context, ch *Channel, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	var b Body
	_ = json.Unmarshal(body, &b)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Signet-Reminder/1")
	req.Header.Set(EventIDHeader, b.ID)
	// River's clock, not Signet's: the receiver compares t with real time.
	req.Header.Set(SignatureHeader, Sign(ch.Secret, body, time.Now()))
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", ch.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("POST %s: %s", ch.URL, resp.Status)
	}
	return resp.StatusCode, nil
}

// finish records the outcome as an audit event and completes the job in
// one transaction: a reminder is recorded delivered exactly when its job
// is done, so no replica or restart sends it again once that commits.
func (s *Service) finish(ctx context.Context, c *store.Certificate, job *river.Job[Args], action string, details map[string]any) error {
	details["stage"] = job.Args.Stage
	details["job_id"] = job.ID
	details["attempt"] = job.Attempt
	outcome := map[string]any{"result": action[len("reminder-"):]}
	if why, ok := details["why"]; ok {
		outcome["why"] = why
	}
	if err := river.RecordOutput(ctx, outcome); err != nil {
		return err
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ev := &store.AuditEvent{At: s.now().UTC(), Actor: "signet", Action: action, Outcome: "ok",
			Serial: job.Args.Serial, Details: details}
		if c != nil { // nil: the certificate does not exist
			ev.SubjectRef, ev.Profile = c.SubjectRef, c.Profile
		}
		if err := tx.AppendAudit(ctx, ev); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[*riverDriver](ctx, tx.PgxTx(), job)
		return err
	})
	if err == nil {
		s.observe.Reminder(action[len("reminder-"):]) // delivered or skipped, once committed
	}
	return err
}

// audit records a failure in a transaction of its own: River finalizes
// the job itself after Work returns.
func (s *Service) audit(ctx context.Context, c *store.Certificate, job *river.Job[Args], action string, details map[string]any) {
	details["stage"] = job.Args.Stage
	details["job_id"] = job.ID
	details["attempt"] = job.Attempt
	err := s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		return tx.AppendAudit(ctx, &store.AuditEvent{At: s.now().UTC(), Actor: "signet", Action: action, Outcome: "ok",
			Serial: c.Serial, SubjectRef: c.SubjectRef, Profile: c.Profile, Details: details})
	})
	if err != nil {
		s.log.Error("reminders: audit a failed reminder", "serial", c.Serial, "err", err)
	}
}
