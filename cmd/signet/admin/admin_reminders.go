package admin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// reminderView is one expiry reminder as the CLI prints it.
type reminderView struct {
	ID          int64  `json:"id"`
	Serial      string `json:"serial"`
	Stage       string `json:"stage"`
	JobState    string `json:"job_state"`
	Attempt     int32  `json:"attempt"`
	MaxAttempts int32  `json:"max_attempts"`
	ScheduledAt string `json:"scheduled_at"`
	FinalizedAt string `json:"finalized_at,omitempty"`
	Result      string `json:"result,omitempty"`
	Why         string `json:"why,omitempty"`
	LastError   string `json:"last_error,omitempty"`
}

var reminderColumns = []column[reminderView]{
	{"ID", func(v reminderView) string { return strconv.FormatInt(v.ID, 10) }},
	{"SERIAL", func(v reminderView) string { return v.Serial }},
	{"STAGE", func(v reminderView) string { return v.Stage }},
	{"DUE (KST)", func(v reminderView) string { return kstTime(v.ScheduledAt) }},
	{"STATE", func(v reminderView) string {
		if v.Result != "" {
			return v.Result
		}
		return v.JobState
	}},
	{"ATTEMPTS", func(v reminderView) string { return fmt.Sprintf("%d/%d", v.Attempt, v.MaxAttempts) }},
	{"LAST ERROR / WHY", func(v reminderView) string {
		if v.Why != "" {
			return v.Why
		}
		return v.LastError
	}},
}

func viewOfReminder(r *signetv1.Reminder) reminderView {
	v := reminderView{ID: r.GetId(), Serial: cli.NormalSerial(r.GetSerial()), Stage: r.GetStage(), JobState: r.GetJobState(),
		Attempt: r.GetAttempt(), MaxAttempts: r.GetMaxAttempts(), ScheduledAt: cli.TSString(r.GetScheduledAt()),
		Result: r.GetResult(), Why: r.GetWhy(), LastError: r.GetLastError()}
	if r.GetFinalizedAt() != nil {
		v.FinalizedAt = cli.TSString(r.GetFinalizedAt())
	}
	return v
}

func runAdminReminders(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("reminders", "[--state pending|failed|delivered] [--serial HEX] [--limit N] [--all] | --retry ID [--comment TEXT]\n\n--retry needs an operator certificate: --cert F --key F.")
	var state, serial, comment string
	var retry int64
	var page pageFlags
	fs.StringVar(&state, "state", "", "`state`: pending (scheduled, due or waiting to retry), failed (gave up) or delivered (sent, or skipped)")
	fs.StringVar(&serial, "serial", "", "only this certificate's reminders (`hex`)")
	fs.Int64Var(&retry, "retry", 0, "make reminder `id` due again at once (operator)")
	fs.StringVar(&comment, "comment", "", "with --retry: why, for the audit log (`text`)")
	page.register(fs, "reminders")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	if retry != 0 {
		if retry < 0 {
			return cli.UsageErr(fs, "--retry takes the reminder's id as the list shows it")
		}
		return x.retryReminder(ctx, retry, strings.TrimSpace(comment))
	}
	switch state {
	case "", "pending", "failed", "delivered":
	default:
		return cli.UsageErr(fs, "--state %q: use pending, failed or delivered", state)
	}
	req := &signetv1.ListRemindersRequest{State: state}
	var err error
	if serial != "" {
		if req.Serial, err = cli.CheckSerial(serial); err != nil {
			return cli.UsageErr(fs, "%v", err)
		}
	}
	if req.PageSize, err = pageSize(page.limit); err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	rs, next, err := pages(ctx, page.all, page.token, func(ctx context.Context, token string) ([]*signetv1.Reminder, string, error) {
		req.PageToken = token
		resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ListRemindersResponse, error) {
			return c.admin.ListReminders(ctx, req)
		})
		return resp.GetReminders(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return x.callError("ListReminders", err)
	}
	views := make([]reminderView, 0, len(rs))
	for _, r := range rs {
		views = append(views, viewOfReminder(r))
	}
	err = x.print(views,
		func(w io.Writer) error { return writeCSV(w, views) },
		func(w io.Writer) error {
			if err := writeTable(w, reminderColumns, views); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "%d reminders\n", len(views))
			return err
		})
	x.morePages("reminders", next)
	return err
}

// retryReminder is sent once, never retried by the CLI: a second retry of
// a delivered reminder would send it again.
func (x *adminEnv) retryReminder(ctx context.Context, id int64, comment string) error {
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.RetryReminderResponse, error) {
		return c.admin.RetryReminder(ctx, &signetv1.RetryReminderRequest{Id: id, Comment: comment})
	})
	if err != nil {
		return x.callError("RetryReminder", err)
	}
	v := viewOfReminder(resp.GetReminder())
	return x.print(v,
		func(w io.Writer) error { return writeCSV(w, []reminderView{v}) },
		func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "reminder %d (%s, %s) is due again at once (%s)\n", v.ID, v.Serial, v.Stage, v.JobState)
			return err
		})
}
