package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The auditor's commands: reads, each audited by the server with the
// caller as actor. None is retried: a read that failed is simply asked
// again by the person, and each attempt is on the record anyway.

// pageFlags are --limit, --all and --page-token of the listings.
type pageFlags struct {
	limit int
	all   bool
	token string
}

func (p *pageFlags) register(fs *flag.FlagSet, what string) {
	fs.IntVar(&p.limit, "limit", 0, "`number` of "+what+" per page (default: the server's page size)")
	fs.BoolVar(&p.all, "all", false, "fetch every page, not only the first")
	fs.StringVar(&p.token, "page-token", "", "continue after a previous page (the `token` signet printed)")
}

// certsFlags are the filters of `signet admin certs`.
type certsFlags struct {
	serial                       string
	subject                      subjectFlags
	subjectName, status, profile string
	issuedSince, issuedUntil     string
	expiresSince, expiresUntil   string
	expiringWithin               string
	page                         pageFlags
}

func (f *certsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.serial, "serial", "", "certificate `serial` in hex")
	fs.StringVar(&f.subject.ci, "ci", "", "the subject's `CI` (88 characters); the server matches its subject_ref")
	fs.StringVar(&f.subject.name, "name", "", "the subject's `name`, with --birth (servers with the dev providers only)")
	fs.StringVar(&f.subject.birth, "birth", "", "the subject's birth `date` YYYYMMDD, with --name")
	fs.StringVar(&f.subjectName, "subject-name", "", "the `name` in the subject DN (CN=<name>()...)")
	fs.StringVar(&f.status, "status", "", "`status`: active, suspended, revoked or expired")
	fs.StringVar(&f.profile, "profile", "", "`profile`, e.g. personal-banking")
	fs.StringVar(&f.issuedSince, "issued-since", "", "issued at or after this `date` (YYYY-MM-DD in KST, or RFC 3339)")
	fs.StringVar(&f.issuedUntil, "issued-until", "", "issued before the end of this `date` (YYYY-MM-DD in KST), or before an RFC 3339 time")
	fs.StringVar(&f.expiresSince, "expires-since", "", "notAfter at or after this `date`")
	fs.StringVar(&f.expiresUntil, "expires-until", "", "notAfter before the end of this `date`")
	fs.StringVar(&f.expiringWithin, "expiring-within", "", "active certificates whose notAfter falls within this `span`: days such as 30d, or a Go duration in whole days such as 720h")
	f.page.register(fs, "certificates")
}

// request checks the filters and builds the search.
func (f *certsFlags) request() (*signetv1.SearchCertificatesRequest, error) {
	req := &signetv1.SearchCertificatesRequest{Profile: strings.TrimSpace(f.profile), SubjectName: strings.TrimSpace(f.subjectName)}
	var err error
	if f.serial != "" {
		if req.Serial, err = cli.CheckSerial(f.serial); err != nil {
			return nil, err
		}
	}
	if err := f.subject.validate(); err != nil {
		return nil, err
	}
	req.Ci, req.Name, req.Birth = f.subject.ci, f.subject.name, f.subject.birth
	if f.status != "" {
		if req.Status, err = parseStatus(f.status); err != nil {
			return nil, err
		}
	}
	if req.Issued, err = timeRange("issued-since", f.issuedSince, "issued-until", f.issuedUntil); err != nil {
		return nil, err
	}
	if req.Expires, err = timeRange("expires-since", f.expiresSince, "expires-until", f.expiresUntil); err != nil {
		return nil, err
	}
	if f.expiringWithin != "" {
		if req.ExpiringWithinDays, err = parseWholeDays(f.expiringWithin); err != nil {
			return nil, fmt.Errorf("--expiring-within: %v", err)
		}
		if f.status != "" && f.status != "active" {
			return nil, fmt.Errorf("--expiring-within finds active certificates: it cannot be combined with --status %s", f.status)
		}
	}
	if req.PageSize, err = pageSize(f.page.limit); err != nil {
		return nil, err
	}
	return req, nil
}

func runAdminCerts(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("certs", "[--serial HEX] [--ci CI | --name N --birth YYYYMMDD] [--subject-name N] [--status S] [--profile P]\n"+
		"         [--issued-since D] [--issued-until D] [--expires-since D] [--expires-until D] [--expiring-within 30d] [--limit N] [--all]")
	var f certsFlags
	f.register(fs)
	if err := x.parse(fs, args); err != nil {
		return err
	}
	req, err := f.request()
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	certs, next, err := pages(ctx, f.page.all, f.page.token, func(ctx context.Context, token string) ([]*signetv1.AdminCertificate, string, error) {
		req.PageToken = token
		resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.SearchCertificatesResponse, error) {
			return c.admin.SearchCertificates(ctx, req)
		})
		return resp.GetCertificates(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return x.callError("SearchCertificates", err)
	}
	views := adminCertsOf(certs)
	err = x.print(views,
		func(w io.Writer) error { return writeCSV(w, views) },
		func(w io.Writer) error { return writeTable(w, certColumns, views) })
	x.morePages("certificates", next)
	return err
}

// historyFlags name one chain: by any of its serials, or by subject and
// profile.
type historyFlags struct {
	serial, profile string
	subject         subjectFlags
}

func (f *historyFlags) request() (*signetv1.GetCertificateHistoryRequest, error) {
	if err := f.subject.validate(); err != nil {
		return nil, err
	}
	f.profile = strings.TrimSpace(f.profile)
	switch {
	case f.serial != "" && f.subject.given():
		return nil, errors.New("give --serial, or the subject (--ci, or --name with --birth) with --profile, not both")
	case f.serial != "":
		if f.profile != "" {
			return nil, errors.New("--profile goes with the subject flags: a serial names its chain by itself")
		}
		serial, err := cli.CheckSerial(f.serial)
		if err != nil {
			return nil, err
		}
		return &signetv1.GetCertificateHistoryRequest{Serial: serial}, nil
	case f.subject.given():
		if f.profile == "" {
			return nil, errors.New("--profile is required with the subject flags: a subject has one chain per profile")
		}
		return &signetv1.GetCertificateHistoryRequest{Ci: f.subject.ci, Name: f.subject.name, Birth: f.subject.birth, Profile: f.profile}, nil
	}
	return nil, errors.New("give --serial HEX (any certificate of the chain), or --ci (or --name with --birth) with --profile")
}

func runAdminHistory(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("history", "--serial HEX | (--ci CI | --name N --birth YYYYMMDD) --profile P")
	var f historyFlags
	fs.StringVar(&f.serial, "serial", "", "`serial` in hex of any certificate of the chain")
	fs.StringVar(&f.subject.ci, "ci", "", "the subject's `CI` (88 characters), with --profile")
	fs.StringVar(&f.subject.name, "name", "", "the subject's `name`, with --birth and --profile (servers with the dev providers only)")
	fs.StringVar(&f.subject.birth, "birth", "", "the subject's birth `date` YYYYMMDD, with --name")
	fs.StringVar(&f.profile, "profile", "", "the chain's `profile`, with the subject flags")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	req, err := f.request()
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.GetCertificateHistoryResponse, error) {
		return c.admin.GetCertificateHistory(ctx, req)
	})
	if err != nil {
		return x.callError("GetCertificateHistory", err)
	}
	h := historyView{Certificates: adminCertsOf(resp.GetCertificates()), Events: eventsOf(resp.GetEvents())}
	return x.print(h,
		func(w io.Writer) error {
			return writeCSVSections(w, sectionOf("certificate", h.Certificates), sectionOf("event", h.Events))
		},
		func(w io.Writer) error { return printHistoryTable(w, h) })
}

// eventsFlags are the filters of `signet admin events`.
type eventsFlags struct {
	since, from, to                   string
	actor, action, serial, subjectRef string
	outcome, reason                   string
	page                              pageFlags
}

func (f *eventsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.since, "since", "", "events of the last `span`: days such as 7d, or a Go duration such as 24h")
	fs.StringVar(&f.from, "from", "", "events at or after this `date` (YYYY-MM-DD in KST, or RFC 3339)")
	fs.StringVar(&f.to, "to", "", "events before the end of this `date` (YYYY-MM-DD in KST), or before an RFC 3339 time")
	fs.StringVar(&f.actor, "actor", "", "`actor`, e.g. operator:lee.operator")
	fs.StringVar(&f.action, "action", "", "`action`, e.g. revoke or admin:SearchCertificates")
	fs.StringVar(&f.serial, "serial", "", "certificate `serial` in hex")
	fs.StringVar(&f.subjectRef, "subject-ref", "", "`subject_ref` in full (sr1_ and 64 hex digits, from --json or --csv)")
	fs.StringVar(&f.outcome, "outcome", "", "`outcome`: ok or refused")
	fs.StringVar(&f.reason, "reason", "", "refusal `reason`, e.g. evidence_replayed")
	f.page.register(fs, "events")
}

func (f *eventsFlags) request(now time.Time) (*signetv1.ListAuditEventsRequest, error) {
	req := &signetv1.ListAuditEventsRequest{Actor: strings.TrimSpace(f.actor), Action: strings.TrimSpace(f.action),
		Reason: strings.TrimSpace(f.reason)}
	var err error
	switch {
	case f.since != "" && (f.from != "" || f.to != ""):
		return nil, errors.New("give --since, or --from and --to, not both")
	case f.since != "":
		d, err := parseSpan(f.since)
		if err != nil {
			return nil, fmt.Errorf("--since: %v", err)
		}
		req.At = &signetv1.TimeRange{From: timestamppb.New(now.Add(-d))}
	default:
		if req.At, err = timeRange("from", f.from, "to", f.to); err != nil {
			return nil, err
		}
	}
	if f.serial != "" {
		if req.Serial, err = cli.CheckSerial(f.serial); err != nil {
			return nil, err
		}
	}
	if f.subjectRef != "" {
		if err := checkSubjectRef(f.subjectRef); err != nil {
			return nil, err
		}
		req.SubjectRef = f.subjectRef
	}
	switch f.outcome {
	case "", "ok", "refused":
		req.Outcome = f.outcome
	default:
		return nil, fmt.Errorf("--outcome %q: use ok or refused", f.outcome)
	}
	if req.PageSize, err = pageSize(f.page.limit); err != nil {
		return nil, err
	}
	return req, nil
}

// checkSubjectRef catches the shortened form that tables show.
func checkSubjectRef(ref string) error {
	h, ok := strings.CutPrefix(ref, evidence.SubjectRefPrefix)
	if _, err := hex.DecodeString(h); !ok || err != nil || len(h) != 64 {
		return fmt.Errorf("--subject-ref %q is not a whole subject_ref (%s and 64 hex digits): tables shorten it, copy it from --json or --csv", ref, evidence.SubjectRefPrefix)
	}
	return nil
}

func runAdminEvents(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("events", "[--since 24h | --from D --to D] [--actor A] [--action A] [--serial HEX] [--subject-ref R]\n"+
		"         [--outcome ok|refused] [--reason R] [--limit N] [--all]")
	var f eventsFlags
	f.register(fs)
	if err := x.parse(fs, args); err != nil {
		return err
	}
	req, err := f.request(time.Now())
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	events, next, err := pages(ctx, f.page.all, f.page.token, func(ctx context.Context, token string) ([]*signetv1.AuditEvent, string, error) {
		req.PageToken = token
		resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.ListAuditEventsResponse, error) {
			return c.admin.ListAuditEvents(ctx, req)
		})
		return resp.GetEvents(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return x.callError("ListAuditEvents", err)
	}
	views := eventsOf(events)
	err = x.print(views,
		func(w io.Writer) error { return writeCSV(w, views) },
		func(w io.Writer) error { return writeTable(w, eventColumns, views) })
	x.morePages("events", next)
	return err
}

// maxStatsDays bounds --days to ten years of daily rows.
const maxStatsDays = 3660

// statsRange is the last days days in KST, today included, as the
// half-open range the server takes and as the first and last day.
func statsRange(days int, now time.Time) (r *signetv1.TimeRange, first, last string) {
	y, m, d := now.In(kst.Zone).Date()
	tomorrow := time.Date(y, m, d+1, 0, 0, 0, 0, kst.Zone)
	from := tomorrow.AddDate(0, 0, -days)
	return &signetv1.TimeRange{From: timestamppb.New(from), To: timestamppb.New(tomorrow)},
		from.Format(time.DateOnly), tomorrow.AddDate(0, 0, -1).Format(time.DateOnly)
}

func runAdminStats(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("stats", "[--days 30]")
	var days int
	fs.IntVar(&days, "days", 30, "`number` of days back from today (KST), today included")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	if days < 1 || days > maxStatsDays {
		return cli.UsageErr(fs, "--days %d: give 1 to %d", days, maxStatsDays)
	}
	r, first, last := statsRange(days, time.Now())
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.GetStatsResponse, error) {
		return c.admin.GetStats(ctx, &signetv1.GetStatsRequest{Days: r})
	})
	if err != nil {
		return x.callError("GetStats", err)
	}
	s := statsOf(resp, first, last)
	return x.print(s,
		func(w io.Writer) error {
			return writeCSVSections(w, sectionOf("count", s.Counts), sectionOf("day", s.Days))
		},
		func(w io.Writer) error { return printStatsTable(w, s) })
}

func runAdminVerifyLog(ctx context.Context, x *adminEnv, args []string) error {
	fs := x.flagSet("verify-log", "[--from-seq N] [--to-seq N]")
	var from, to int64
	fs.Int64Var(&from, "from-seq", 0, "first chain `position` to check (default: the start)")
	fs.Int64Var(&to, "to-seq", 0, "last chain `position` to check (default: the end)")
	if err := x.parse(fs, args); err != nil {
		return err
	}
	switch {
	case from < 0 || to < 0:
		return cli.UsageErr(fs, "--from-seq and --to-seq are chain positions: give 1 or more (0 means the start or the end)")
	case to > 0 && from > to:
		return cli.UsageErr(fs, "--from-seq %d is after --to-seq %d", from, to)
	}
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.VerifyAuditLogResponse, error) {
		return c.admin.VerifyAuditLog(ctx, &signetv1.VerifyAuditLogRequest{FromSeq: from, ToSeq: to})
	})
	if err != nil {
		return x.callError("VerifyAuditLog", err)
	}
	v := verifyOf(resp)
	if err := x.print(v,
		func(w io.Writer) error { return writeCSV(w, []verifyView{v}) },
		func(w io.Writer) error { return printVerifyTable(w, v) }); err != nil {
		return err
	}
	if !v.OK {
		return fmt.Errorf("the audit log is broken at seq %d (event id %d): %s", v.FirstBrokenSeq, v.FirstBrokenEventID, v.Problem)
	}
	return nil
}
