package admin

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/width"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The admin views are what `signet admin` prints. Their JSON names are a
// contract for scripts, as cli.CertView's are, and the CSV columns are the
// same fields in the same order (csvHeader): a tool reads either and finds
// the same names. Times are RFC 3339 UTC in JSON and CSV; the tables for
// people show them in KST, the zone in which certificates expire.

// adminCertView is a certificate with the record an auditor needs.
type adminCertView struct {
	Serial           string `json:"serial"`
	Status           string `json:"status"`
	Profile          string `json:"profile"`
	NotAfter         string `json:"not_after"`
	Subject          string `json:"subject"`
	SubjectRef       string `json:"subject_ref"`
	Operation        string `json:"operation"`
	CreatedAt        string `json:"created_at"`
	NotBefore        string `json:"not_before"`
	RevocationReason string `json:"revocation_reason"`
	RevokedAt        string `json:"revoked_at"`
	ReplacedSerial   string `json:"replaced_serial"`
	ReplacedBy       string `json:"replaced_by"`
	RequestID        string `json:"request_id"`
	Bank             string `json:"bank"`
	PhoneMasked      string `json:"phone_masked"`
	AccountMasked    string `json:"account_masked"`
}

// adminCertOf reads the certificate part as the subscriber commands do
// (cli.ViewOf: serial spelling, status names, a reason only where it means
// something) and adds the record.
func adminCertOf(a *signetv1.AdminCertificate) adminCertView {
	v := cli.ViewOf(a.GetCertificate(), nil, "")
	return adminCertView{
		Serial: v.Serial, Status: v.Status, Profile: v.Profile, NotAfter: v.NotAfter, Subject: v.Subject,
		SubjectRef: a.GetSubjectRef(), Operation: a.GetOperation(), CreatedAt: cli.TSString(a.GetCreatedAt()),
		NotBefore: v.NotBefore, RevocationReason: v.RevocationReason, RevokedAt: v.RevokedAt,
		ReplacedSerial: v.ReplacedSerial, ReplacedBy: v.ReplacedBy, RequestID: a.GetRequestId(),
		Bank: a.GetBank(), PhoneMasked: a.GetPhoneMasked(), AccountMasked: a.GetAccountMasked(),
	}
}

func adminCertsOf(cs []*signetv1.AdminCertificate) []adminCertView {
	out := make([]adminCertView, 0, len(cs))
	for _, c := range cs {
		out = append(out, adminCertOf(c))
	}
	return out
}

// eventView is one audit event.
type eventView struct {
	ID         int64  `json:"id"`
	At         string `json:"at"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	Outcome    string `json:"outcome"`
	Code       string `json:"code"`
	Reason     string `json:"reason"`
	Serial     string `json:"serial"`
	SubjectRef string `json:"subject_ref"`
	Profile    string `json:"profile"`
	RequestID  string `json:"request_id"`
	// Details is the event's JSON object as it is, not a string holding it.
	Details json.RawMessage `json:"details"`
}

func eventsOf(es []*signetv1.AuditEvent) []eventView {
	out := make([]eventView, 0, len(es))
	for _, e := range es {
		v := eventView{ID: e.GetId(), At: cli.TSString(e.GetAt()), Actor: e.GetActor(), Action: e.GetAction(),
			Outcome: e.GetOutcome(), Code: e.GetCode(), Reason: e.GetReason(), SubjectRef: e.GetSubjectRef(),
			Profile: e.GetProfile(), RequestID: e.GetRequestId()}
		if e.GetSerial() != "" {
			v.Serial = cli.NormalSerial(e.GetSerial())
		}
		if d := e.GetDetails(); d != "" {
			if json.Valid([]byte(d)) {
				v.Details = json.RawMessage(d)
			} else {
				v.Details, _ = json.Marshal(d) // keep what the server sent, as a string
			}
		}
		out = append(out, v)
	}
	return out
}

// historyView is one certificate chain, oldest first, and its events.
type historyView struct {
	Certificates []adminCertView `json:"certificates"`
	Events       []eventView     `json:"events"`
}

type statusCountView struct {
	Profile string `json:"profile"`
	Status  string `json:"status"`
	Count   int64  `json:"count"`
}

type dayCountView struct {
	Day      string `json:"day"`
	Issued   int64  `json:"issued"`
	Renewed  int64  `json:"renewed"`
	Reissued int64  `json:"reissued"`
	Revoked  int64  `json:"revoked"`
}

// statsView is GetStats: From and To are the days asked for (KST dates,
// both included).
type statsView struct {
	From   string            `json:"from"`
	To     string            `json:"to"`
	Counts []statusCountView `json:"counts"`
	Days   []dayCountView    `json:"days"`
}

func statsOf(r *signetv1.GetStatsResponse, from, to string) statsView {
	v := statsView{From: from, To: to, Counts: []statusCountView{}, Days: []dayCountView{}}
	for _, c := range r.GetCounts() {
		st, ok := cli.StatusNames[c.GetStatus()]
		if !ok {
			st = cli.StatusUnknown
		}
		v.Counts = append(v.Counts, statusCountView{Profile: c.GetProfile(), Status: st, Count: c.GetCount()})
	}
	for _, d := range r.GetDays() {
		v.Days = append(v.Days, dayCountView{Day: d.GetDay(), Issued: d.GetIssued(), Renewed: d.GetRenewed(),
			Reissued: d.GetReissued(), Revoked: d.GetRevoked()})
	}
	sort.SliceStable(v.Days, func(i, j int) bool { return v.Days[i].Day < v.Days[j].Day })
	return v
}

// verifyView is VerifyAuditLog's answer.
type verifyView struct {
	OK                 bool   `json:"ok"`
	Checked            int64  `json:"checked"`
	FirstBrokenSeq     int64  `json:"first_broken_seq"`
	FirstBrokenEventID int64  `json:"first_broken_event_id"`
	Problem            string `json:"problem"`
	CheckpointSeq      int64  `json:"checkpoint_seq"`
	CheckpointAt       string `json:"checkpoint_at"`
}

func verifyOf(r *signetv1.VerifyAuditLogResponse) verifyView {
	return verifyView{OK: r.GetOk(), Checked: r.GetChecked(), FirstBrokenSeq: r.GetFirstBrokenSeq(),
		FirstBrokenEventID: r.GetFirstBrokenEventId(), Problem: r.GetProblem(),
		CheckpointSeq: r.GetCheckpointSeq(), CheckpointAt: cli.TSString(r.GetCheckpointAt())}
}

// print writes v as JSON, or as CSV or a table by the given functions.
func (x *adminEnv) print(v any, csvOut, tableOut func(io.Writer) error) error {
	switch {
	case x.G.JSON:
		return cli.WriteJSON(x.Stdout, v)
	case x.flags.csv:
		return csvOut(x.Stdout)
	}
	return tableOut(x.Stdout)
}

// column is one column of a table for people.
type column[T any] struct {
	head string
	cell func(T) string
}

// writeTable prints rows under cols as a table for people.
func writeTable[T any](w io.Writer, cols []column[T], rows []T) error {
	var t textTable
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.head
	}
	t.row(heads...)
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.cell(r)
		}
		t.row(cells...)
	}
	return t.write(w)
}

var certColumns = []column[adminCertView]{
	{"SERIAL", func(v adminCertView) string { return v.Serial }},
	{"STATUS", func(v adminCertView) string { return withReason(v.Status, v.RevocationReason) }},
	{"PROFILE", func(v adminCertView) string { return v.Profile }},
	{"NOT AFTER (KST)", func(v adminCertView) string { return kstTime(v.NotAfter) }},
	{"SUBJECT", func(v adminCertView) string { return v.Subject }},
	{"SUBJECT REF", func(v adminCertView) string { return shortRef(v.SubjectRef) }},
	{"OPERATION", func(v adminCertView) string { return v.Operation }},
	{"CREATED (KST)", func(v adminCertView) string { return kstTime(v.CreatedAt) }},
}

var eventColumns = []column[eventView]{
	{"ID", func(v eventView) string { return strconv.FormatInt(v.ID, 10) }},
	{"AT (KST)", func(v eventView) string { return kstTime(v.At) }},
	{"ACTOR", func(v eventView) string { return v.Actor }},
	{"ACTION", func(v eventView) string { return v.Action }},
	{"OUTCOME", func(v eventView) string { return v.Outcome }},
	{"CODE/REASON", func(v eventView) string { return joinNonEmpty("/", v.Code, v.Reason) }},
	{"SERIAL", func(v eventView) string { return v.Serial }},
}

var dayColumns = []column[dayCountView]{
	{"DAY (KST)", func(v dayCountView) string { return v.Day }},
	{"ISSUED", func(v dayCountView) string { return strconv.FormatInt(v.Issued, 10) }},
	{"RENEWED", func(v dayCountView) string { return strconv.FormatInt(v.Renewed, 10) }},
	{"REISSUED", func(v dayCountView) string { return strconv.FormatInt(v.Reissued, 10) }},
	{"REVOKED", func(v dayCountView) string { return strconv.FormatInt(v.Revoked, 10) }},
}

func printHistoryTable(w io.Writer, h historyView) error {
	fmt.Fprintf(w, "CERTIFICATES, OLDEST FIRST (%d)\n", len(h.Certificates))
	if err := writeTable(w, certColumns, h.Certificates); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEVENTS (%d)\n", len(h.Events))
	return writeTable(w, eventColumns, h.Events)
}

// printStatsTable pivots the counts to one row per profile and adds the
// totals, which is how people compare them.
func printStatsTable(w io.Writer, s statsView) error {
	statuses := []string{"active", "suspended", "revoked", "expired"}
	byProfile := map[string]map[string]int64{}
	for _, c := range s.Counts {
		if byProfile[c.Profile] == nil {
			byProfile[c.Profile] = map[string]int64{}
		}
		byProfile[c.Profile][c.Status] += c.Count
		if !slices.Contains(statuses, c.Status) {
			statuses = append(statuses, c.Status)
		}
	}
	profiles := make([]string, 0, len(byProfile))
	for p := range byProfile {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)

	var t textTable
	t.row(append(append([]string{"PROFILE"}, upper(statuses)...), "TOTAL")...)
	totals := make([]int64, len(statuses)+1)
	for _, p := range profiles {
		cells, sum := []string{p}, int64(0)
		for i, st := range statuses {
			n := byProfile[p][st]
			cells, sum, totals[i] = append(cells, strconv.FormatInt(n, 10)), sum+n, totals[i]+n
		}
		totals[len(statuses)] += sum
		t.row(append(cells, strconv.FormatInt(sum, 10))...)
	}
	t.row(append([]string{"all"}, formatInts(totals)...)...)
	fmt.Fprintln(w, "CERTIFICATES BY PROFILE AND STATUS")
	if err := t.write(w); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nPER DAY, %s TO %s\n", s.From, s.To)
	var sum dayCountView
	for _, d := range s.Days {
		sum.Issued, sum.Renewed, sum.Reissued, sum.Revoked = sum.Issued+d.Issued, sum.Renewed+d.Renewed, sum.Reissued+d.Reissued, sum.Revoked+d.Revoked
	}
	sum.Day = "total"
	return writeTable(w, dayColumns, append(slices.Clone(s.Days), sum))
}

func printVerifyTable(w io.Writer, v verifyView) error {
	var t textTable
	if v.OK {
		t.row("audit log:", "OK")
	} else {
		t.row("audit log:", "BROKEN")
		t.row("first broken seq:", fmt.Sprintf("%d (event id %d)", v.FirstBrokenSeq, v.FirstBrokenEventID))
		t.row("problem:", v.Problem)
	}
	t.row("checked:", fmt.Sprintf("%d events", v.Checked))
	if v.CheckpointSeq > 0 {
		t.row("newest checkpoint:", fmt.Sprintf("seq %d at %s KST", v.CheckpointSeq, kstTime(v.CheckpointAt)))
	} else {
		t.row("newest checkpoint:", "none covers this range yet")
	}
	return t.write(w)
}

func withReason(status, reason string) string {
	if reason == "" {
		return status
	}
	return status + " (" + reason + ")"
}

// shortRef shortens a subject_ref (sr1_ and 64 hex digits) for a table:
// twelve characters tell subjects apart at a glance; JSON and CSV carry it
// whole for --subject-ref.
func shortRef(ref string) string {
	const keep = 12
	if len(ref) <= keep+1 {
		return ref
	}
	return ref[:keep] + "…"
}

// kstTime shows an RFC 3339 time in KST, to the second.
func kstTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(kst.Zone).Format(time.DateTime)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func upper(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToUpper(s)
	}
	return out
}

func formatInts(ns []int64) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.FormatInt(n, 10)
	}
	return out
}

// textTable lays out cells in columns two spaces apart. Unlike
// text/tabwriter it measures cells in terminal columns, so that Hangul
// names (two columns per syllable) keep the columns after them in line.
type textTable struct {
	rows [][]string
}

func (t *textTable) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *textTable) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(tableCell(c)))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			c = tableCell(c)
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tableCell keeps a cell on one line: an empty value shows as "-", and
// control characters (a tab or newline in a comment) as spaces.
func tableCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a combining mark adds nothing
		case width.LookupRune(r).Kind() == width.EastAsianWide, width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// csvHeader and csvRow write a view struct as CSV: one column per JSON
// field, in the order the struct declares them.
func csvHeader(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		names = append(names, jsonName(t.Field(i)))
	}
	return names
}

func csvRow(v reflect.Value) []string {
	cells := make([]string, v.NumField())
	for i := range cells {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			cells[i] = f.String()
		case reflect.Int, reflect.Int32, reflect.Int64:
			cells[i] = strconv.FormatInt(f.Int(), 10)
		case reflect.Bool:
			cells[i] = strconv.FormatBool(f.Bool())
		case reflect.Slice: // json.RawMessage
			cells[i] = string(f.Bytes())
		default:
			panic(fmt.Sprintf("csvRow: field %s of kind %s", v.Type().Field(i).Name, f.Kind()))
		}
	}
	return cells
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// writeCSV writes rows with a header row.
func writeCSV[T any](w io.Writer, rows []T) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader(reflect.TypeFor[T]()))
	for _, r := range rows {
		_ = cw.Write(csvRow(reflect.ValueOf(r)))
	}
	cw.Flush()
	return cw.Error()
}

// csvSection is one kind of record in a CSV that holds two (history:
// certificates and events; stats: counts and days).
type csvSection struct {
	record string
	header []string
	rows   [][]string
}

func sectionOf[T any](record string, rows []T) csvSection {
	s := csvSection{record: record, header: csvHeader(reflect.TypeFor[T]())}
	for _, r := range rows {
		s.rows = append(s.rows, csvRow(reflect.ValueOf(r)))
	}
	return s
}

// writeCSVSections writes one valid CSV for several kinds of record: the
// first column, record, names the kind, and the header is the union of
// the kinds' columns (a field both have, such as serial, is one column).
func writeCSVSections(w io.Writer, sections ...csvSection) error {
	header := []string{"record"}
	index := map[string]int{}
	for _, s := range sections {
		for _, h := range s.header {
			if _, ok := index[h]; !ok {
				index[h] = len(header)
				header = append(header, h)
			}
		}
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	for _, s := range sections {
		for _, r := range s.rows {
			out := make([]string, len(header))
			out[0] = s.record
			for i, c := range r {
				out[index[s.header[i]]] = c
			}
			_ = cw.Write(out)
		}
	}
	cw.Flush()
	return cw.Error()
}
