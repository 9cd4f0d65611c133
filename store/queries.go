package store

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/internal/kst"
)

// The audit read side (AdminService): search, history, event listing and
// statistics. Every list is keyset-paginated in a fixed order, so a page
// costs the same at page 1 and page 10,000 and a listing neither repeats
// nor skips rows while new ones are written. Migration 0005 holds the
// indexes each query kind relies on; bench/auditq measures them at
// 1,000,000 certificates and 5,000,000 events.

// Page sizes of SearchCertificates and ListAuditEvents.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// HistoryEventLimit caps the events CertificateHistory returns (the oldest
// ones); ListAuditEvents by serial pages through the rest.
const HistoryEventLimit = 10000

// Errors of the audit queries, for the handlers to map to INVALID_ARGUMENT.
var (
	ErrBadPageToken = errors.New("store: page token is malformed or belongs to another listing")
	ErrBadFilter    = errors.New("store: bad filter")
)

// Effective status. The certificates table keeps 'active' (or
// 'suspended') on a certificate whose notAfter has passed until ca marks it
// 'expired' (ExpireLive, when the subject issues again). Auditors must see
// what relying parties see, so every audit query reports and filters by
// the effective status:
//
//	active     status 'active' and now < notAfter
//	suspended  status 'suspended' and now < notAfter
//	revoked    status 'revoked', before or after notAfter: a revocation
//	           stays the fact worth reporting
//	expired    status 'expired', or 'active'/'suspended' with notAfter <= now
//
// The Status field of a returned Certificate is the stored one;
// ca.StatusAt gives the one above, and is its definition: the SQL here
// mirrors it for filtering, and TestSearch_EffectiveStatusAgreesWithCa
// (package ca) checks that the two agree.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
)

// subjectNameExpr extracts the subscriber's name from an NPKI subject DN,
// "CN=홍길동()0008812345…,OU=…": the CN's value up to the "()" before the
// RA number. It must match the expression of index
// certificates_subject_name in migration 0005 character for character, or
// the index is not used.
const subjectNameExpr = `split_part(split_part(subject_dn, '()', 1), 'CN=', 2)`

// CertFilter selects certificates. Zero fields do not filter; the others
// combine with AND. Times are instants; ranges are half open [From, To).
type CertFilter struct {
	Serial     string // lower-case hex, as stored
	SubjectRef string
	// SubjectName matches the name in the subject DN exactly (NFC, as
	// evidence.NormalizeName leaves it).
	SubjectName string
	Status      string // effective status: active, suspended, revoked or expired
	Profile     string
	IssuedFrom  time.Time // created_at
	IssuedTo    time.Time
	ExpiresFrom time.Time // not_after
	ExpiresTo   time.Time
	// ExpiringWithinDays selects effectively active certificates whose
	// notAfter is in (now, now + N days].
	ExpiringWithinDays int
	// Now is the instant for the effective status and the expiring window;
	// zero means time.Now().
	Now       time.Time
	PageSize  int // default DefaultPageSize, at most MaxPageSize
	PageToken string
}

// SearchCertificates returns one page of the certificates f selects, newest
// first by (created_at, serial), and the token of the next page ("" after
// the last).
func (db *DB) SearchCertificates(ctx context.Context, f CertFilter) ([]*Certificate, string, error) {
	q, args, size, err := searchQuery(f)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := query(ctx, db.pool, q, args...)
	if err != nil {
		return nil, "", err
	}
	certs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Certificate, error) { return scanCertificate(r) })
	if err != nil {
		return nil, "", err
	}
	certs, next := onePage(certs, size, func(last *Certificate) string {
		return certCursor{createdAt: last.CreatedAt, serial: last.Serial}.token()
	})
	return certs, next, nil
}

// onePage trims the extra row a page query asks for (LIMIT size+1) and
// makes the next page's token from the last row kept; "" on the last page.
func onePage[T any](rows []T, size int, token func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, token(rows[size-1])
}

// searchQuery builds the SQL of one page. A filter that is a disjunction
// (effective status expired: stored 'expired', or live past notAfter)
// becomes one ordered, limited branch per disjunct, merged by UNION ALL: a
// single OR would defeat the ordered index scans and make PostgreSQL sort
// every matching row.
func searchQuery(f CertFilter) (string, []any, int, error) {
	size, err := pageSize(f.PageSize)
	if err != nil {
		return "", nil, 0, err
	}
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	b := &sqlArgs{}
	var conds []string
	add := func(format string, v any) { conds = append(conds, fmt.Sprintf(format, b.add(v))) }
	if f.Serial != "" {
		add("serial = %s", f.Serial)
	}
	if f.SubjectRef != "" {
		add("subject_ref = %s", f.SubjectRef)
	}
	if f.SubjectName != "" {
		add(subjectNameExpr+" = %s", f.SubjectName)
	}
	if f.Profile != "" {
		add("profile = %s", f.Profile)
	}
	if !f.IssuedFrom.IsZero() {
		add("created_at >= %s", f.IssuedFrom)
	}
	if !f.IssuedTo.IsZero() {
		add("created_at < %s", f.IssuedTo)
	}
	if !f.ExpiresFrom.IsZero() {
		add("not_after >= %s", f.ExpiresFrom)
	}
	if !f.ExpiresTo.IsZero() {
		add("not_after < %s", f.ExpiresTo)
	}
	if f.ExpiringWithinDays < 0 {
		return "", nil, 0, fmt.Errorf("%w: expiring within %d days", ErrBadFilter, f.ExpiringWithinDays)
	}
	if f.ExpiringWithinDays > 0 {
		conds = append(conds, fmt.Sprintf("status = 'active' AND not_after > %s AND not_after <= %s",
			b.add(now), b.add(now.AddDate(0, 0, f.ExpiringWithinDays))))
	}
	if f.PageToken != "" {
		c, err := parseCertCursor(f.PageToken)
		if err != nil {
			return "", nil, 0, err
		}
		conds = append(conds, fmt.Sprintf("(created_at, serial) < (%s, %s)", b.add(c.createdAt), b.add(c.serial)))
	}
	// Each branch is the common conditions plus its part of the status.
	branches := [][]string{nil}
	switch f.Status {
	case "":
	case StatusActive, StatusSuspended:
		branches[0] = []string{fmt.Sprintf("status = '%s' AND not_after > %s", f.Status, b.add(now))}
	case StatusRevoked:
		branches[0] = []string{"status = 'revoked'"}
	case StatusExpired:
		n := b.add(now)
		branches = [][]string{
			{"status = 'expired'"},
			{"status = 'active' AND not_after <= " + n},
			{"status = 'suspended' AND not_after <= " + n},
		}
	default:
		return "", nil, 0, fmt.Errorf("%w: status %q (want active, suspended, revoked or expired)", ErrBadFilter, f.Status)
	}
	// notAfter runs about one validity period behind created_at, so rows
	// with an upper bound on notAfter sit deep in (created_at, serial)
	// order, where an ordered scan would reach them only after passing
	// everything newer; the planner cannot know that and would pick it. Such
	// a branch is fenced: its rows are collected first (from
	// certificates_not_after_all, index only), then the page is sorted out
	// of them. It costs in proportion to the rows in the window.
	fence := f.ExpiringWithinDays > 0 || !f.ExpiresTo.IsZero()
	limit := b.add(size + 1)
	const order = ` ORDER BY created_at DESC, serial DESC`
	parts := make([]string, len(branches))
	for i, br := range branches {
		w := where(append(append([]string(nil), conds...), br...))
		if fence {
			// OFFSET 0 keeps the planner from ordering the inner scan.
			// Read newest notAfter first: created_at then arrives nearly
			// in descending order and the top-N sort rejects most rows at
			// once.
			parts[i] = `(SELECT serial, created_at FROM (SELECT serial, created_at FROM certificates` + w +
				` ORDER BY not_after DESC OFFSET 0) AS fenced` + order + ` LIMIT ` + limit + `)`
		} else {
			parts[i] = `(SELECT serial, created_at FROM certificates` + w + order + ` LIMIT ` + limit + `)`
		}
	}
	// The page's serials first (often from an index alone), then its rows.
	page := parts[0]
	if len(parts) > 1 {
		page = `SELECT serial FROM (` + strings.Join(parts, " UNION ALL ") + `) AS branches` + order + ` LIMIT ` + limit
	} else {
		page = `SELECT serial FROM ` + page + ` AS page`
	}
	return `SELECT ` + certificateColumns + ` FROM certificates WHERE serial IN (` + page + `)` + order,
		b.args, size, nil
}

// HistoryKey names one chain: any serial of it, or a subject and profile.
type HistoryKey struct {
	Serial     string
	SubjectRef string
	Profile    string
}

// CertificateHistory returns every certificate of one subject and profile,
// oldest first (issue -> renew -> reissue -> revoke, and any new issue
// after an end), and the audit events that name one of those certificates
// or the subject for that profile (refused attempts before a certificate
// existed), oldest first, at most HistoryEventLimit. Both are read from one
// snapshot. An unknown serial is ErrNotFound.
func (db *DB) CertificateHistory(ctx context.Context, k HistoryKey) ([]*Certificate, []*AuditEvent, error) {
	if k.Serial == "" && (k.SubjectRef == "" || k.Profile == "") {
		return nil, nil, fmt.Errorf("%w: history needs a serial, or a subject and a profile", ErrBadFilter)
	}
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var certs []*Certificate
	var events []*AuditEvent
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		ref, profile := k.SubjectRef, k.Profile
		if k.Serial != "" {
			rows, err := query(ctx, tx, `SELECT subject_ref, profile FROM certificates WHERE serial = $1`, k.Serial)
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, []any{&ref, &profile}, func() error { return nil }); err != nil {
				return err
			}
			if ref == "" {
				return ErrNotFound
			}
		}
		rows, err := query(ctx, tx, `SELECT `+certificateColumns+` FROM certificates
			WHERE subject_ref = $1 AND profile = $2 ORDER BY created_at, serial`, ref, profile)
		if err != nil {
			return err
		}
		certs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Certificate, error) { return scanCertificate(r) })
		if err != nil {
			return err
		}
		serials := make([]string, len(certs))
		for i, c := range certs {
			serials[i] = c.Serial
		}
		// Events without a serial name the subject: they belong here when
		// they are about this profile or about no profile in particular.
		rows, err = query(ctx, tx, `SELECT `+auditColumns+` FROM audit_events
			WHERE serial = ANY($1)
			   OR (subject_ref = $2 AND serial IS NULL AND (profile = $3 OR profile IS NULL))
			ORDER BY at, id LIMIT $4`, serials, ref, profile, HistoryEventLimit)
		if err != nil {
			return err
		}
		events, err = collectEvents(rows)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return certs, events, nil
}

// EventFilter selects audit events. Zero fields do not filter; the others
// combine with AND.
type EventFilter struct {
	Actor      string // e.g. "signet", "subscriber@198.51.100.4", "auditor:kim"
	Action     string // e.g. issue, renew, revoke, admin:SearchCertificates
	Serial     string
	SubjectRef string
	Outcome    string // ok or refused
	Reason     string // the refusal reason, e.g. already_active
	From, To   time.Time
	PageSize   int // default DefaultPageSize, at most MaxPageSize
	PageToken  string
}

// ListAuditEvents returns one page of the events f selects, newest first
// by (at, id), and the token of the next page ("" after the last). Every
// filter has an index that ends in (at, id) (migration 0007), so a page is
// one short ordered index range whatever the filters, window or depth.
// Ties on at, as within one transaction, are broken by id.
func (db *DB) ListAuditEvents(ctx context.Context, f EventFilter) ([]*AuditEvent, string, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	q, args, size, err := eventsQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := query(ctx, db.pool, q, args...)
	if err != nil {
		return nil, "", err
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, "", err
	}
	events, next := onePage(events, size, func(last *AuditEvent) string { return eventCursor{at: last.At, id: last.ID}.token() })
	return events, next, nil
}

func eventsQuery(f EventFilter) (string, []any, int, error) {
	size, err := pageSize(f.PageSize)
	if err != nil {
		return "", nil, 0, err
	}
	if f.Outcome != "" && f.Outcome != "ok" && f.Outcome != "refused" {
		return "", nil, 0, fmt.Errorf("%w: outcome %q (want ok or refused)", ErrBadFilter, f.Outcome)
	}
	b := &sqlArgs{}
	conds := filterConds(b, []struct{ col, v string }{
		{"actor", f.Actor}, {"action", f.Action}, {"serial", f.Serial}, {"subject_ref", f.SubjectRef},
		{"outcome", f.Outcome}, {"reason", f.Reason},
	}, "at", f.From, f.To)
	if f.PageToken != "" {
		c, err := parseEventCursor(f.PageToken)
		if err != nil {
			return "", nil, 0, err
		}
		conds = append(conds, "(at, id) < ("+b.add(c.at)+", "+b.add(c.id)+")")
	}
	// The page's ids first (from an index alone where the filters allow),
	// then its rows.
	page := `SELECT id FROM audit_events` + where(conds) + ` ORDER BY at DESC, id DESC LIMIT ` + b.add(size+1)
	return `SELECT ` + auditColumns + ` FROM audit_events WHERE id IN (` + page + `) ORDER BY at DESC, id DESC`, b.args, size, nil
}

// StatusCount is the number of certificates of a profile in one effective status.
type StatusCount struct {
	Profile string
	Status  string
	Count   int64
}

// DayCount is the successful life cycle operations of one day in KST.
type DayCount struct {
	Day                                string // YYYY-MM-DD, Korea Standard Time
	Issued, Renewed, Reissued, Revoked int64
}

// Stats returns the certificates per profile and effective status as of
// now (zero: time.Now()), and the issue, renew, reissue and revoke events
// that succeeded in [from, to), per KST day, oldest first. A zero from or to leaves that end
// open. Days without operations are included when both ends are set.
// Revocations count the explicit ones (holder, operator, lapsed hold), not
// the supersession that a renew or reissue implies. The counts are exact
// and come from the counters of migration 0006, so their cost grows with
// the number of days and groups, not of certificates and events.
func (db *DB) Stats(ctx context.Context, now, from, to time.Time) ([]StatusCount, []DayCount, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	if now.IsZero() {
		now = time.Now()
	}
	counts, err := db.statusCounts(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	days, err := db.dayCounts(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	return counts, days, nil
}

// kstDayExpr is the KST midnight that starts t's day; migration 0006's
// triggers group by the same expression.
func kstDayExpr(t string) string { return "date_bin('1 day', " + t + ", '2000-01-01 00:00:00+09')" }

// kstMidnight returns the KST midnight at or before t.
func kstMidnight(t time.Time) time.Time {
	k := t.In(kst.Zone)
	return time.Date(k.Year(), k.Month(), k.Day(), 0, 0, 0, 0, kst.Zone)
}

func (db *DB) statusCounts(ctx context.Context, now time.Time) ([]StatusCount, error) {
	// The counters group by stored status and notAfter's day. Active and
	// suspended certificates whose day ended before today have lapsed and
	// count as expired; of today's, the lapsed ones are counted from the
	// certificates themselves (a day's worth at most, index only). One
	// statement, so that the two parts see one snapshot.
	today := kstMidnight(now)
	rows, err := query(ctx, db.pool, `SELECT profile, status, sum(n)::bigint,
			coalesce(sum(n) FILTER (WHERE expires_day < $1), 0)::bigint
		FROM (SELECT profile, status, expires_day, n FROM certificate_counts
			UNION ALL SELECT profile, status, expires_day, n FROM certificate_count_deltas) c
		GROUP BY profile, status
		UNION ALL
		SELECT profile, status, 0, count(*) FROM certificates
		WHERE not_after >= $1 AND not_after <= $2 AND status IN ('active', 'suspended')
		GROUP BY profile, status`, today, now)
	if err != nil {
		return nil, err
	}
	type key struct{ profile, status string }
	sums := map[key]int64{}
	var profile, status string
	var n, lapsed int64
	_, err = pgx.ForEachRow(rows, []any{&profile, &status, &n, &lapsed}, func() error {
		if status == StatusActive || status == StatusSuspended {
			sums[key{profile, StatusExpired}] += lapsed
			n -= lapsed
		}
		sums[key{profile, status}] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]StatusCount, 0, len(sums))
	for k, n := range sums {
		if n > 0 {
			out = append(out, StatusCount{Profile: k.profile, Status: k.status, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b StatusCount) int {
		return cmp.Or(cmp.Compare(a.Profile, b.Profile), cmp.Compare(a.Status, b.Status))
	})
	return out, nil
}

func (db *DB) dayCounts(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	// Whole KST days of [from, to) come from the counters; the partial
	// days at either end, if any, from the events themselves (a day's
	// worth at most, from an index that starts with at or ends in it).
	b := &sqlArgs{}
	wholeFrom, wholeTo := from, to
	if !from.IsZero() {
		if wholeFrom = kstMidnight(from); wholeFrom.Before(from) {
			wholeFrom = wholeFrom.AddDate(0, 0, 1)
		}
	}
	if !to.IsZero() {
		wholeTo = kstMidnight(to)
	}
	var parts, whole, partial []string
	if !from.IsZero() && !to.IsZero() && !wholeFrom.Before(wholeTo) {
		if from.Before(to) {
			partial = append(partial, "at >= "+b.add(from)+" AND at < "+b.add(to))
		}
	} else {
		if !from.IsZero() {
			whole = append(whole, "day >= "+b.add(wholeFrom))
			if from.Before(wholeFrom) {
				partial = append(partial, "at >= "+b.add(from)+" AND at < "+b.add(wholeFrom))
			}
		}
		if !to.IsZero() {
			whole = append(whole, "day < "+b.add(wholeTo))
			if wholeTo.Before(to) {
				partial = append(partial, "at >= "+b.add(wholeTo)+" AND at < "+b.add(to))
			}
		}
		parts = append(parts,
			`SELECT day, action, n FROM operation_counts`+where(whole),
			`SELECT day, action, n FROM operation_count_deltas`+where(whole))
	}
	if len(partial) > 0 {
		parts = append(parts, `SELECT `+kstDayExpr("at")+` AS day, action, 1 AS n FROM audit_events
			WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke') AND ((`+strings.Join(partial, ") OR (")+`))`)
	}
	if len(parts) == 0 {
		return nil, nil // an empty range
	}
	// One statement: the counters and the events are read in one snapshot,
	// so a concurrent fold is either wholly seen or not at all.
	rows, err := query(ctx, db.pool, `SELECT day, action, sum(n)::bigint FROM (`+strings.Join(parts, "\n\t\tUNION ALL ")+`) c
		GROUP BY day, action`, b.args...)
	if err != nil {
		return nil, err
	}
	byDay := map[string]*DayCount{}
	var day time.Time
	var action string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&day, &action, &n}, func() error {
		d := day.In(kst.Zone).Format("2006-01-02")
		dc := byDay[d]
		if dc == nil {
			dc = &DayCount{Day: d}
			byDay[d] = dc
		}
		switch action {
		case "issue":
			dc.Issued = n
		case "renew":
			dc.Renewed = n
		case "reissue":
			dc.Reissued = n
		case "revoke":
			dc.Revoked = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	days := make([]DayCount, 0, len(byDay))
	for _, dc := range byDay {
		days = append(days, *dc)
	}
	slices.SortFunc(days, func(a, b DayCount) int { return strings.Compare(a.Day, b.Day) })
	if !from.IsZero() && !to.IsZero() {
		days = fillDays(days, from, to)
	}
	return days, nil
}

// fillDays adds the days of [from, to) that had no operations.
func fillDays(days []DayCount, from, to time.Time) []DayCount {
	first := kstMidnight(from)
	if n := to.Sub(first).Hours() / 24; n > 20000 {
		return days // not a range a dashboard draws
	}
	out := make([]DayCount, 0, len(days))
	i := 0
	for d := first; d.Before(to); d = d.AddDate(0, 0, 1) {
		day := d.Format("2006-01-02")
		if i < len(days) && days[i].Day == day {
			out = append(out, days[i])
			i++
			continue
		}
		out = append(out, DayCount{Day: day})
	}
	return append(out, days[i:]...)
}

const auditColumns = `id, at, actor, action, outcome, code, reason, coalesce(serial, ''), coalesce(subject_ref, ''),
	coalesce(profile, ''), coalesce(request_id, ''), details`

func collectEvents(rows pgx.Rows) ([]*AuditEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*AuditEvent, error) {
		var ev AuditEvent
		var details []byte
		if err := r.Scan(&ev.ID, &ev.At, &ev.Actor, &ev.Action, &ev.Outcome, &ev.Code, &ev.Reason,
			&ev.Serial, &ev.SubjectRef, &ev.Profile, &ev.RequestID, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &ev.Details); err != nil {
			return nil, err
		}
		return &ev, nil
	})
}

// WithExplain returns a context under which the audit queries
// (SearchCertificates, CertificateHistory, ListAuditEvents, Stats) first
// run each of their statements under EXPLAIN (ANALYZE, BUFFERS) and hand
// the statement and its plan to fn. For benchmarks and investigations: it
// doubles the work.
func WithExplain(ctx context.Context, fn func(sql, plan string)) context.Context {
	return context.WithValue(ctx, explainKey{}, fn)
}

type explainKey struct{}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// query runs sql on q, explaining it first under WithExplain.
func query(ctx context.Context, q querier, sql string, args ...any) (pgx.Rows, error) {
	if fn, ok := ctx.Value(explainKey{}).(func(sql, plan string)); ok {
		rows, err := q.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
		if err != nil {
			return nil, err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		fn(sql, strings.Join(lines, "\n"))
	}
	return q.Query(ctx, sql, args...)
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: page size %d", ErrBadFilter, n)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// sqlArgs numbers query parameters as conditions are added.
type sqlArgs struct{ args []any }

func (s *sqlArgs) add(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// Page tokens are opaque to callers: base64url of a kind tag and the last
// row's sort key. The tag keeps a token of one listing out of the other.
type certCursor struct {
	createdAt time.Time
	serial    string
}

func (c certCursor) token() string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte("c1|" + strconv.FormatInt(c.createdAt.UnixMicro(), 10) + "|" + c.serial))
}

func parseCertCursor(tok string) (certCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return certCursor{}, ErrBadPageToken
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != "c1" || !isLowerHex(parts[2]) {
		return certCursor{}, ErrBadPageToken
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return certCursor{}, ErrBadPageToken
	}
	return certCursor{createdAt: time.UnixMicro(us), serial: parts[2]}, nil
}

type eventCursor struct {
	at time.Time
	id int64
}

func (c eventCursor) token() string { return c.tokenAs("e2") }

// tokenAs encodes the cursor of a listing ordered by (time, id) under the
// listing's tag: events ("e2") and the signature ledger ("s1").
func (c eventCursor) tokenAs(tag string) string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte(tag + "|" + strconv.FormatInt(c.at.UnixMicro(), 10) + "|" + strconv.FormatInt(c.id, 10)))
}

// parseEventCursor refuses e1 tokens too: they held an id alone, from
// when events were listed in id order.
func parseEventCursor(tok string) (eventCursor, error) { return parseCursorAs("e2", tok) }

// parseCursorAs reads a (time, id) cursor of the listing tagged tag.
func parseCursorAs(tag, tok string) (eventCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return eventCursor{}, ErrBadPageToken
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != tag {
		return eventCursor{}, ErrBadPageToken
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return eventCursor{}, ErrBadPageToken
	}
	return eventCursor{at: time.UnixMicro(us), id: id}, nil
}

// filterConds are the conditions of a listing: equality for each non-empty
// value, then the half-open window [from, to) on the time column.
func filterConds(b *sqlArgs, eq []struct{ col, v string }, timeCol string, from, to time.Time) []string {
	var conds []string
	for _, c := range eq {
		if c.v != "" {
			conds = append(conds, c.col+" = "+b.add(c.v))
		}
	}
	if !from.IsZero() {
		conds = append(conds, timeCol+" >= "+b.add(from))
	}
	if !to.IsZero() {
		conds = append(conds, timeCol+" < "+b.add(to))
	}
	return conds
}

func isLowerHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}
