package admin

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// parseInstant reads a date YYYY-MM-DD (a day in KST) or an RFC 3339 time.
// A date that ends a range means the end of that day, so that
// --issued-until 2026-03-31 includes the 31st: ranges are half open.
func parseInstant(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, kst.Zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date YYYY-MM-DD nor an RFC 3339 time such as 2026-03-01T09:00:00+09:00", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// timeRange reads a pair of range flags; nil when neither is given.
func timeRange(fromFlag, from, toFlag, to string) (*signetv1.TimeRange, error) {
	if from == "" && to == "" {
		return nil, nil
	}
	var r signetv1.TimeRange
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = parseInstant(from, false); err != nil {
			return nil, fmt.Errorf("--%s: %v", fromFlag, err)
		}
		r.From = timestamppb.New(f)
	}
	if to != "" {
		if t, err = parseInstant(to, true); err != nil {
			return nil, fmt.Errorf("--%s: %v", toFlag, err)
		}
		r.To = timestamppb.New(t)
	}
	if from != "" && to != "" && !f.Before(t) {
		return nil, fmt.Errorf("--%s %s is not before --%s %s: nothing falls in between", fromFlag, from, toFlag, to)
	}
	return &r, nil
}

// maxSpanDays bounds the day count of a span, far below where
// time.Duration would overflow (about 292 years).
const maxSpanDays = 100 * 366

// parseSpan reads a length of time: days with a d suffix (30d), a Go
// duration (36h, 90m), or both (1d12h). It must be positive.
func parseSpan(s string) (time.Duration, error) {
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q: give a positive length of time, such as 30d or 24h", s)
	}
	bad := fmt.Errorf("%q is not a length of time: give days such as 30d, or a Go duration such as 36h or 90m", s)
	rest := s
	var days int64
	i := strings.IndexByte(s, 'd')
	if i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || !allDigits(s[:i]) {
			return 0, bad
		}
		if n > maxSpanDays {
			return 0, fmt.Errorf("%q is more than %d days", s, maxSpanDays)
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if i < 0 || rest != "" {
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, bad
		}
	}
	total := time.Duration(days)*24*time.Hour + d
	if total <= 0 {
		return 0, fmt.Errorf("%q: give a positive length of time, such as 30d or 24h", s)
	}
	return total, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// parseWholeDays reads a span for a field that the server counts in whole
// days (expiring_within_days).
func parseWholeDays(s string) (int32, error) {
	d, err := parseSpan(s)
	if err != nil {
		return 0, err
	}
	const day = 24 * time.Hour
	if d%day != 0 {
		return 0, fmt.Errorf("%q: the server counts whole days: give e.g. %dd", s, int64((d+day-1)/day))
	}
	return int32(d / day), nil
}

// pageSize checks --limit: 0 leaves the page size to the server.
func pageSize(n int) (int32, error) {
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("--limit %d: give a positive number of records per page", n)
	}
	return int32(n), nil
}

// parseStatus reads a certificate status by the name the CLI prints.
func parseStatus(name string) (signetv1.CertificateStatus, error) {
	for s, n := range cli.StatusNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("--status %q: use active, suspended, revoked or expired", name)
}

// subjectFlags name a subject as the server can find it: by CI, or by name
// and birth date (the simulated CI of dev providers).
type subjectFlags struct {
	ci, name, birth string
}

func (s *subjectFlags) given() bool { return s.ci != "" || s.name != "" || s.birth != "" }

// validate normalizes and checks the subject flags with the identity
// providers' own rules, so that a typo is not an empty search.
func (s *subjectFlags) validate() error {
	s.ci = strings.TrimSpace(s.ci)
	s.name = evidence.NormalizeName(s.name)
	s.birth = strings.TrimSpace(s.birth)
	switch {
	case s.ci != "" && (s.name != "" || s.birth != ""):
		return errors.New("give --ci or --name with --birth, not both")
	case s.ci != "":
		if err := evidence.ValidCI(s.ci); err != nil {
			return fmt.Errorf("--ci: %v", err)
		}
	case s.name != "" || s.birth != "":
		if s.name == "" || s.birth == "" {
			return errors.New("--name and --birth go together: the subject is found by both")
		}
		if err := evidence.ValidName(s.name); err != nil {
			return fmt.Errorf("--name: %v", err)
		}
		if err := evidence.ValidBirth(s.birth); err != nil {
			return fmt.Errorf("--birth: %v", err)
		}
	}
	return nil
}

// operatorReasons are the reasons an operator may give: every RFC 5280
// revocation reason. certificateHold and removeFromCRL are suspension and
// resumption, which have their own commands (ca.Revoke refuses them).
func operatorReasons() []string {
	var names []string
	for _, c := range append(crlreason.SubscriberCodes(), crlreason.CACompromise, crlreason.AACompromise) {
		names = append(names, crlreason.Name(c))
	}
	return names
}

// parseOperatorReason reads the reason of an operator's revocation.
func parseOperatorReason(name string) (signetv1.RevocationReason, error) {
	list := strings.Join(operatorReasons(), ", ")
	if name == "" {
		return 0, fmt.Errorf("--reason is required: one of %s", list)
	}
	code, err := crlreason.Parse(name)
	if err != nil {
		for c := 0; c <= crlreason.AACompromise; c++ {
			if n := crlreason.Name(c); strings.EqualFold(n, name) {
				return 0, fmt.Errorf("--reason %q: reason names are case-sensitive, did you mean %s?", name, n)
			}
		}
		return 0, fmt.Errorf("--reason %q is not an RFC 5280 reason: use one of %s", name, list)
	}
	switch code {
	case crlreason.CertificateHold:
		return 0, errors.New("--reason certificateHold is a suspension: use `signet admin suspend`")
	case crlreason.RemoveFromCRL:
		return 0, errors.New("--reason removeFromCRL lifts a hold: use `signet admin resume`")
	}
	return signetv1.RevocationReason(code), nil
}
