package admin

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// adminNoServer gets an admin command as far as its input checks: the
// trust anchor and the staff certificate are missing, so a command that
// went on to dial would end with exit 1, not 2.
func adminNoServer(t *testing.T, args ...string) []string {
	missing := t.TempDir() + "/missing.pem"
	return append([]string{"--ca-file", missing, "admin", "--admin-server", "127.0.0.1:1", "--cert", missing}, args...)
}

const testCI = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw=="

func TestAdmin_RefusesBadInputBeforeContactingServer(t *testing.T) {
	shortRef := "sr1_0123456789ab…"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "signet admin: a command is required"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"json and csv", []string{"certs", "--json", "--csv"}, "give --json or --csv, not both"},
		{"empty cert", []string{"stats", "--cert", ""}, "--cert is required"},
		{"positional argument", []string{"stats", "extra"}, `unexpected argument "extra"`},

		{"certs bad serial", []string{"certs", "--serial", "12g4"}, `--serial "12g4" is not a certificate serial in hex`},
		{"certs name without birth", []string{"certs", "--name", "홍길동"}, "--name and --birth go together"},
		{"certs bad birth", []string{"certs", "--name", "홍길동", "--birth", "19900230"}, "--birth: birth date is not a real date"},
		{"certs bad ci", []string{"certs", "--ci", "abc"}, "--ci: CI must be 88 characters of base64"},
		{"certs ci and name", []string{"certs", "--ci", testCI, "--name", "홍길동", "--birth", "19900101"}, "give --ci or --name with --birth, not both"},
		{"certs unknown status", []string{"certs", "--status", "valid"}, `--status "valid": use active, suspended, revoked or expired`},
		{"certs bad date", []string{"certs", "--issued-since", "2026/03/01"}, `--issued-since: "2026/03/01" is neither a date YYYY-MM-DD nor an RFC 3339 time`},
		{"certs empty range", []string{"certs", "--expires-since", "2026-04-01", "--expires-until", "2026-03-01"}, "--expires-since 2026-04-01 is not before --expires-until 2026-03-01"},
		{"certs fractional days", []string{"certs", "--expiring-within", "1.5d"}, `--expiring-within: "1.5d" is not a length of time`},
		{"certs part of a day", []string{"certs", "--expiring-within", "36h"}, `--expiring-within: "36h": the server counts whole days: give e.g. 2d`},
		{"certs expiring revoked", []string{"certs", "--expiring-within", "30d", "--status", "revoked"}, "--expiring-within finds active certificates"},
		{"certs negative limit", []string{"certs", "--limit", "-1"}, "--limit -1: give a positive number"},

		{"reminders unknown state", []string{"reminders", "--state", "lost"}, `--state "lost": use pending, failed or delivered`},
		{"reminders bad serial", []string{"reminders", "--serial", "xyz"}, `--serial "xyz" is not a certificate serial in hex`},
		{"reminders negative retry", []string{"reminders", "--retry", "-3"}, "--retry takes the reminder's id as the list shows it"},

		{"history needs a target", []string{"history"}, "give --serial HEX (any certificate of the chain)"},
		{"history serial and subject", []string{"history", "--serial", "7", "--ci", testCI}, "give --serial, or the subject"},
		{"history serial with profile", []string{"history", "--serial", "7", "--profile", "personal-banking"}, "--profile goes with the subject flags"},
		{"history subject without profile", []string{"history", "--name", "홍길동", "--birth", "19900101"}, "--profile is required with the subject flags"},

		{"events since and from", []string{"events", "--since", "24h", "--from", "2026-03-01"}, "give --since, or --from and --to, not both"},
		{"events bad since", []string{"events", "--since", "yesterday"}, `--since: "yesterday" is not a length of time`},
		{"events negative since", []string{"events", "--since", "-24h"}, `--since: "-24h": give a positive length of time`},
		{"events bad outcome", []string{"events", "--outcome", "failed"}, `--outcome "failed": use ok or refused`},
		{"events shortened subject ref", []string{"events", "--subject-ref", shortRef}, "is not a whole subject_ref (sr1_ and 64 hex digits): tables shorten it"},

		{"stats no days", []string{"stats", "--days", "0"}, "--days 0: give 1 to 3660"},
		{"verify-log reversed", []string{"verify-log", "--from-seq", "5", "--to-seq", "2"}, "--from-seq 5 is after --to-seq 2"},
		{"verify-log negative", []string{"verify-log", "--from-seq", "-1"}, "--from-seq and --to-seq are chain positions"},

		{"revoke needs serial", []string{"revoke", "--reason", "keyCompromise", "--comment", "c"}, "--serial is required"},
		{"revoke needs reason", []string{"revoke", "--serial", "7", "--comment", "c"}, "--reason is required: one of keyCompromise"},
		{"revoke hold is suspend", []string{"revoke", "--serial", "7", "--reason", "certificateHold", "--comment", "c"}, "use `signet admin suspend`"},
		{"revoke removeFromCRL is resume", []string{"revoke", "--serial", "7", "--reason", "removeFromCRL", "--comment", "c"}, "use `signet admin resume`"},
		{"revoke reason case", []string{"revoke", "--serial", "7", "--reason", "cacompromise", "--comment", "c"}, "did you mean cACompromise?"},
		{"revoke needs comment", []string{"revoke", "--serial", "7", "--reason", "keyCompromise"}, "--comment is required"},
		{"suspend blank comment", []string{"suspend", "--serial", "7", "--comment", "  "}, "--comment is required"},
		{"resume bad serial", []string{"resume", "--serial", "0", "--comment", "c"}, `--serial "0" is not a certificate serial`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, adminNoServer(t, tt.args...)...)
			if code != cli.ExitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if !strings.Contains(stderr, "Usage: signet") {
				t.Errorf("stderr has no usage:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestAdmin_ValidInputReachesTheStaffCertificate(t *testing.T) {
	// Everything checks out, so the command gets as far as the staff
	// certificate, which is missing: exit 1 with what to do.
	root, _ := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	ca := writePEMFile(t, t.TempDir(), "root.pem", "CERTIFICATE", root.Raw)
	code, _, stderr := runCLI(t, "--ca-file", ca, "admin", "--cert", "/nonexistent/me.pem", "certs",
		"--status", "active", "--expiring-within", "30d", "--issued-since", "2026-01-01", "--all")
	if code != cli.ExitFail || !strings.Contains(stderr, "reading the staff certificate (--cert /nonexistent/me.pem, --key /nonexistent/me_key.pem)") ||
		!strings.Contains(stderr, "signetd admin-cert --role auditor|operator") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestAdmin_Help(t *testing.T) {
	for _, args := range [][]string{{"admin", "help"}, {"admin", "-h"}, {"admin", "certs", "-h"}, {"admin", "revoke", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != cli.ExitOK || !strings.Contains(stdout+stderr, "Usage: signet") {
			t.Errorf("%v: exit %d, output:\n%s%s", args, code, stdout, stderr)
		}
	}
	_, stdout, _ := runCLI(t, "admin", "help")
	for _, c := range adminCommands {
		if !strings.Contains(stdout, "  "+c.name+" ") {
			t.Errorf("admin help does not list %s:\n%s", c.name, stdout)
		}
	}
}

func TestParseSpan(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "1d": 24 * time.Hour, "1d12h": 36 * time.Hour,
		"24h": 24 * time.Hour, "90m": 90 * time.Minute, "0d30m": 30 * time.Minute,
	}
	for in, want := range good {
		if got, err := parseSpan(in); err != nil || got != want {
			t.Errorf("parseSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "0d", "0s", "-1d", "+1d", "1.5d", "30 d", "30days", "-5h", "1d-5h", "1d+5h", "yesterday", "100000d"} {
		if got, err := parseSpan(bad); err == nil {
			t.Errorf("parseSpan(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseWholeDays(t *testing.T) {
	for in, want := range map[string]int32{"30d": 30, "720h": 30, "1d24h": 2} {
		if got, err := parseWholeDays(in); err != nil || got != want {
			t.Errorf("parseWholeDays(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseWholeDays("36h"); err == nil || !strings.Contains(err.Error(), "give e.g. 2d") {
		t.Errorf("parseWholeDays(36h) = %v, want a hint of 2d", err)
	}
}

func TestParseInstant_DatesAreWholeDaysInKST(t *testing.T) {
	tests := []struct {
		in   string
		end  bool
		want time.Time
	}{
		{"2026-03-01", false, time.Date(2026, 2, 28, 15, 0, 0, 0, time.UTC)},
		{"2026-03-31", true, time.Date(2026, 3, 31, 15, 0, 0, 0, time.UTC)}, // through the 31st, KST
		{"2026-03-01T09:00:00+09:00", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-03-01T09:00:00Z", true, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, // a time is exact
	}
	for _, tt := range tests {
		got, err := parseInstant(tt.in, tt.end)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseInstant(%q, %v) = %v, %v; want %v", tt.in, tt.end, got, err, tt.want)
		}
	}
}

func TestCertsFlags_Request(t *testing.T) {
	f := certsFlags{serial: "0x00AB", subject: subjectFlags{name: " 홍길동 ", birth: "19900101"}, subjectName: "홍길동",
		status: "active", profile: "personal-banking", issuedSince: "2026-03-01", issuedUntil: "2026-03-31",
		expiresUntil: "2027-01-01T00:00:00Z", expiringWithin: "30d", page: pageFlags{limit: 50}}
	got, err := f.request()
	if err != nil {
		t.Fatal(err)
	}
	want := &signetv1.SearchCertificatesRequest{
		Serial: "ab", Name: "홍길동", Birth: "19900101", SubjectName: "홍길동",
		Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE, Profile: "personal-banking",
		Issued: &signetv1.TimeRange{From: timestamppb.New(time.Date(2026, 2, 28, 15, 0, 0, 0, time.UTC)),
			To: timestamppb.New(time.Date(2026, 3, 31, 15, 0, 0, 0, time.UTC))},
		Expires:            &signetv1.TimeRange{To: timestamppb.New(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))},
		ExpiringWithinDays: 30, PageSize: 50,
	}
	if !proto.Equal(got, want) {
		t.Errorf("request =\n%v\nwant\n%v", got, want)
	}
}

func TestEventsFlags_Request(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ref := "sr1_" + strings.Repeat("ab", 32)
	f := eventsFlags{since: "24h", actor: "operator:lee", action: "revoke", serial: "0A:BC", subjectRef: ref, outcome: "refused",
		reason: "bad_reason", page: pageFlags{limit: 10}}
	got, err := f.request(now)
	if err != nil {
		t.Fatal(err)
	}
	want := &signetv1.ListAuditEventsRequest{Actor: "operator:lee", Action: "revoke", Serial: "abc", SubjectRef: ref,
		Outcome: "refused", Reason: "bad_reason", PageSize: 10,
		At: &signetv1.TimeRange{From: timestamppb.New(now.Add(-24 * time.Hour))}}
	if !proto.Equal(got, want) {
		t.Errorf("request =\n%v\nwant\n%v", got, want)
	}
}

func TestStatsRange_CountsDaysInKSTWithToday(t *testing.T) {
	// 16:00 UTC on 4 March is already 5 March in Korea.
	r, first, last := statsRange(30, time.Date(2026, 3, 4, 16, 0, 0, 0, time.UTC))
	if first != "2026-02-04" || last != "2026-03-05" {
		t.Errorf("days %s to %s, want 2026-02-04 to 2026-03-05", first, last)
	}
	if from, to := r.From.AsTime(), r.To.AsTime(); !from.Equal(time.Date(2026, 2, 3, 15, 0, 0, 0, time.UTC)) ||
		!to.Equal(time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("range [%v, %v), want [2026-02-04, 2026-03-06) KST", from, to)
	}
}

// sampleCerts are two records as SearchCertificates returns them.
func sampleCerts() []*signetv1.AdminCertificate {
	ts := func(s string) *timestamppb.Timestamp {
		t, _ := time.Parse(time.RFC3339, s)
		return timestamppb.New(t)
	}
	return []*signetv1.AdminCertificate{
		{Certificate: &signetv1.Certificate{Serial: "0abc", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED,
			Profile: "personal-banking", Subject: "CN=홍길동()0880012345678901,OU=KB,OU=personal4IB,O=Signet,C=KR",
			NotBefore: ts("2026-01-02T03:04:05Z"), NotAfter: ts("2027-01-02T14:59:59Z"),
			RevocationReason: signetv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE, RevokedAt: ts("2026-03-04T05:06:07Z")},
			SubjectRef: "sr1_" + strings.Repeat("0123456789abcdef", 4), PhoneMasked: "010****5678", AccountMasked: "1234******1234",
			Bank: "004", Operation: "issue", RequestId: "r-1", CreatedAt: ts("2026-01-02T03:04:05Z")},
		{Certificate: &signetv1.Certificate{Serial: "de", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE,
			Profile: "personal-general", Subject: "CN=Kim()0880012345678902,OU=KB,OU=personal4IB,O=Signet,C=KR",
			NotAfter: ts("2027-03-01T14:59:59Z"), Replaces: "0abc"},
			SubjectRef: "sr1_" + strings.Repeat("fedcba9876543210", 4), Operation: "reissue", CreatedAt: ts("2026-03-04T05:06:08Z")},
	}
}

func TestWriteTable_CertsInKSTWithShortRefsAndAlignedHangul(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, certColumns, adminCertsOf(sampleCerts())); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"SERIAL  STATUS                   PROFILE           NOT AFTER (KST)      SUBJECT",
		"abc     revoked (keyCompromise)  personal-banking  2027-01-02 23:59:59  CN=홍길동()0880012345678901,OU=KB,OU=personal4IB,O=Signet,C=KR  sr1_01234567…  issue      2026-01-02 12:04:05",
		"de      active                   personal-general  2027-03-01 23:59:59  CN=Kim()0880012345678902,OU=KB,OU=personal4IB,O=Signet,C=KR     sr1_fedcba98…  reissue    2026-03-04 14:06:08",
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], want[0]) || lines[1] != want[1] || lines[2] != want[2] {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
	// The column after SUBJECT starts at the same terminal column in every
	// line, although 홍길동 takes six columns for three characters.
	at := func(line, cell string) int { return displayWidth(line[:strings.Index(line, cell)]) }
	if h, r1, r2 := at(lines[0], "SUBJECT REF"), at(lines[1], "sr1_0"), at(lines[2], "sr1_f"); h != r1 || r1 != r2 {
		t.Errorf("SUBJECT REF at columns %d, %d, %d", h, r1, r2)
	}
}

func TestWriteCSV_NamesTheJSONFieldsInOrder(t *testing.T) {
	views := adminCertsOf(sampleCerts())
	var b bytes.Buffer
	if err := writeCSV(&b, views); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want a header and 2", len(rows))
	}
	if got, want := rows[0], jsonKeys(t, views[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("CSV header %q\nJSON keys  %q", got, want)
	}
	wantFirst := []string{"abc", "revoked", "personal-banking", "2027-01-02T14:59:59Z",
		"CN=홍길동()0880012345678901,OU=KB,OU=personal4IB,O=Signet,C=KR", "sr1_" + strings.Repeat("0123456789abcdef", 4), "issue",
		"2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z", "keyCompromise", "2026-03-04T05:06:07Z", "", "", "r-1", "004",
		"010****5678", "1234******1234"}
	if !reflect.DeepEqual(rows[1], wantFirst) {
		t.Errorf("first row\n%q\nwant\n%q", rows[1], wantFirst)
	}
	if rows[2][11] != "abc" || rows[2][9] != "" { // replaced_serial; no reason for an active certificate
		t.Errorf("second row %q", rows[2])
	}
	// The cli.CertView of the operator actions follows the same rule.
	if got, want := csvHeader(reflect.TypeFor[cli.CertView]()), jsonKeys(t, cli.CertView{RevokedAt: "x", Error: "x", Subject: "x", ReplacedSerial: "x", ReplacedBy: "x"}); !reflect.DeepEqual(got, want) {
		t.Errorf("certView CSV header %q, JSON keys %q", got, want)
	}
}

// jsonKeys lists the keys of v's JSON object in order.
func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestEventsOf_DetailsStayJSON(t *testing.T) {
	vs := eventsOf([]*signetv1.AuditEvent{
		{Id: 7, Serial: "00AB", Details: `{"comment":"court order","role":"operator"}`},
		{Id: 8, Details: "not json"},
		{Id: 9},
	})
	b, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"serial":"ab"`, `"details":{"comment":"court order","role":"operator"}`, `"details":"not json"`, `"details":null`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s does not contain %s", b, want)
		}
	}
}

func TestWriteCSVSections_OneHeaderForBothKinds(t *testing.T) {
	h := historyView{Certificates: adminCertsOf(sampleCerts()[:1]),
		Events: eventsOf([]*signetv1.AuditEvent{{Id: 7, Actor: "operator:lee", Action: "revoke", Outcome: "ok", Serial: "abc",
			Details: `{"comment":"a, \"quoted\" comment"}`}})}
	var b bytes.Buffer
	if err := writeCSVSections(&b, sectionOf("certificate", h.Certificates), sectionOf("event", h.Events)); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll() // fails on rows of unequal length
	if err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		if _, dup := col[h]; dup {
			t.Errorf("column %s twice", h)
		}
		col[h] = i
	}
	if len(rows) != 3 || rows[1][0] != "certificate" || rows[2][0] != "event" {
		t.Fatalf("rows %q", rows)
	}
	if rows[1][col["serial"]] != "abc" || rows[2][col["serial"]] != "abc" || rows[2][col["actor"]] != "operator:lee" ||
		rows[1][col["actor"]] != "" || rows[2][col["details"]] != `{"comment":"a, \"quoted\" comment"}` {
		t.Errorf("rows %q", rows)
	}
}

func TestPrintStatsTable_PivotsAndTotals(t *testing.T) {
	resp := &signetv1.GetStatsResponse{
		Counts: []*signetv1.StatusCount{
			{Profile: "personal-banking", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE, Count: 10},
			{Profile: "personal-banking", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED, Count: 3},
			{Profile: "corporate-general", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED, Count: 1},
		},
		Days: []*signetv1.DayCount{{Day: "2026-03-05", Issued: 4, Revoked: 1}, {Day: "2026-03-04", Issued: 2, Renewed: 1, Reissued: 1}},
	}
	var b bytes.Buffer
	if err := printStatsTable(&b, statsOf(resp, "2026-02-04", "2026-03-05")); err != nil {
		t.Fatal(err)
	}
	want := `CERTIFICATES BY PROFILE AND STATUS
PROFILE            ACTIVE  SUSPENDED  REVOKED  EXPIRED  TOTAL
corporate-general  0       1          0        0        1
personal-banking   10      0          3        0        13
all                10      1          3        0        14

PER DAY, 2026-02-04 TO 2026-03-05
DAY (KST)   ISSUED  RENEWED  REISSUED  REVOKED
2026-03-04  2       1        1         0
2026-03-05  4       0        0         1
total       6       1        1         1
`
	if b.String() != want {
		t.Errorf("stats table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestShortRef(t *testing.T) {
	for in, want := range map[string]string{"": "", "sr1_abc": "sr1_abc", "sr1_0123456789abcdef": "sr1_01234567…"} {
		if got := shortRef(in); got != want {
			t.Errorf("shortRef(%q) = %q, want %q", in, got, want)
		}
	}
}
