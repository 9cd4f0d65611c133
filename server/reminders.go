package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/store"
)

// newReminders loads the RA channels (refusing a start whose channel
// could never be signed for) and hooks reminders into every delivery and
// revocation made through db. Without raChannels it returns nil:
// nothing is scheduled.
func newReminders(ctx context.Context, c *Config, db *store.DB, now func() time.Time, log *slog.Logger, observe reminder.Observer) (*reminder.Service, error) {
	if len(c.RAChannels) == 0 {
		log.Info("expiry reminders are off: no raChannels configured")
		return nil, nil
	}
	channels, err := reminder.LoadChannels(c.RAChannels)
	if err != nil {
		return nil, err
	}
	if err := db.RiverSchemaCurrent(ctx); err != nil {
		return nil, fmt.Errorf("reminders: %w", err)
	}
	rem, err := reminder.New(db, reminder.Options{Channels: channels, Now: now, Log: log, Observer: observe})
	if err != nil {
		return nil, err
	}
	db.SetReminders(rem)
	return rem, nil
}

// runReminders works reminders on this replica until ctx ends.
func (b *Built) runReminders(ctx context.Context) {
	if b.Reminders != nil {
		b.Reminders.Run(ctx)
	}
}

func (s *adminService) ListReminders(ctx context.Context, req *signetv1.ListRemindersRequest) (*signetv1.ListRemindersResponse, error) {
	rs, next, err := s.db.ListReminders(ctx, store.ReminderFilter{State: req.GetState(), Serial: req.GetSerial(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.ListRemindersResponse{NextPageToken: next}
	for _, r := range rs {
		resp.Reminders = append(resp.Reminders, reminderProto(r))
	}
	return resp, nil
}

// RetryReminder is operator only; the core audits it in the transaction
// of the retry, and a refusal here.
func (s *adminService) RetryReminder(ctx context.Context, req *signetv1.RetryReminderRequest) (*signetv1.RetryReminderResponse, error) {
	actor := identityFrom(ctx).Actor()
	refused := func(err error, reason string) error {
		if aerr := s.ca.AuditAdmin(ctx, actor, "RetryReminder", "refused", reason,
			map[string]any{"job_id": req.GetId(), "message": status.Convert(err).Message()}); aerr != nil {
			s.log.ErrorContext(ctx, "audit admin call", "err", aerr)
		}
		return err
	}
	if s.reminders == nil {
		return nil, refused(status.Error(codes.FailedPrecondition, "expiry reminders are off on this Signet: configure raChannels (README \"Expiry reminders\")"), "reminders_off")
	}
	if req.GetId() <= 0 {
		return nil, refused(status.Error(codes.InvalidArgument, "give the reminder's id as `signet admin reminders` lists it"), "invalid_field")
	}
	r, err := s.reminders.Retry(ctx, req.GetId(), actor, req.GetComment())
	if err != nil {
		reason := "internal"
		if rerr, ok := ca.AsError(err); ok {
			reason = rerr.Reason
		}
		return nil, refused(toStatus(ctx, s.log, err), reason)
	}
	return &signetv1.RetryReminderResponse{Reminder: reminderProto(r)}, nil
}

func reminderProto(r *store.Reminder) *signetv1.Reminder {
	p := &signetv1.Reminder{Id: r.JobID, Serial: r.Serial, Stage: r.Stage, JobState: r.State,
		Attempt: int32(r.Attempt), MaxAttempts: int32(r.MaxAttempts), ScheduledAt: timestamppb.New(r.ScheduledAt),
		CreatedAt: timestamppb.New(r.CreatedAt), LastError: r.LastError}
	if r.FinalizedAt != nil {
		p.FinalizedAt = timestamppb.New(*r.FinalizedAt)
	}
	if r.Outcome != "" {
		var o struct {
			Result string `json:"result"`
			Why    string `json:"why"`
		}
		if json.Unmarshal([]byte(r.Outcome), &o) == nil {
			p.Result, p.Why = o.Result, o.Why
		}
	}
	return p
}
