package store_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/internal/kst"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// fixtureCert is what a test inserts; the oracle functions below decide
// from it which rows a query must return, in which order.
type fixtureCert struct {
	serial, subjectRef, profile, status, name, dn string
	created, notAfter                             time.Time
}

func randSerial() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	b[0] = b[0]&0x7f | 0x10
	return hex.EncodeToString(b[:])
}

// insertCerts writes certificates with full control over status and times,
// which the life cycle API (rightly) does not give.
func insertCerts(t testing.TB, u string, certs []fixtureCert) {
	t.Helper()
	if err := tryInsertCerts(u, certs); err != nil {
		t.Fatal(err)
	}
}

func tryInsertCerts(u string, certs []fixtureCert) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO issuers (id, subject, der) VALUES ('iss', 'CN=Test', '\x30') ON CONFLICT DO NOTHING`); err != nil {
		return err
	}
	rows := make([][]any, len(certs))
	for i, c := range certs {
		var revokedAt, reason any
		switch c.status {
		case "revoked":
			revokedAt, reason = c.created.Add(time.Hour), int16(1)
		case "suspended":
			revokedAt, reason = c.created.Add(time.Hour), int16(6)
		}
		spki := make([]byte, 32)
		_, _ = rand.Read(spki)
		rows[i] = []any{c.serial, c.subjectRef, c.profile, c.status, c.dn, c.created, c.notAfter, spki, "rsa2048",
			[]byte{0x30}, "iss", "issue", revokedAt, reason, "req-" + c.serial, c.created, c.created}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"certificates"}, []string{"serial", "subject_ref", "profile", "status",
		"subject_dn", "not_before", "not_after", "spki_sha256", "key_type", "der", "issuer_id", "operation", "revoked_at",
		"revocation_reason", "request_id", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	return err
}

var (
	testNames    = []string{"홍길동", "김민준", "이서연", "박지훈", "최수아"}
	testProfiles = []string{"personal-banking", "personal-general", "corporate-banking", "corporate-general"}
)

// randomCerts makes n certificates spread over two years before now, with
// every status, lapsed live ones, shared subjects and names, and runs of
// equal created_at so that the serial tie-break is exercised.
func randomCerts(r *mrand.Rand, now time.Time, n int) []fixtureCert {
	live := map[string]bool{}
	var out []fixtureCert
	var last time.Time
	for i := range n {
		created := now.Add(-time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		if i > 0 && r.IntN(8) == 0 {
			created = last // same instant as the previous one
		}
		last = created
		c := fixtureCert{
			serial:     randSerial(),
			subjectRef: fmt.Sprintf("sr1_subject%03d", r.IntN(60)),
			profile:    testProfiles[r.IntN(len(testProfiles))],
			status:     []string{"active", "active", "active", "suspended", "revoked", "expired"}[r.IntN(6)],
			name:       testNames[r.IntN(len(testNames))],
			created:    created,
			notAfter:   created.Add(time.Duration(1+r.IntN(420)) * 24 * time.Hour),
		}
		if c.status == "active" || c.status == "suspended" {
			k := c.subjectRef + "|" + c.profile
			if live[k] {
				c.status = "revoked"
			}
			live[k] = true
		}
		c.dn = "CN=" + c.name + "()00004" + fmt.Sprintf("%015d", r.Int64N(1e15)) + ",OU=KB,OU=personal4IB,O=Signet,C=KR"
		if i%50 == 7 {
			// A template that puts CN last must still be found by name.
			c.dn = "C=KR,O=Signet,OU=personal4IB,OU=KB,CN=" + c.name + "()0000412345"
		}
		out = append(out, c)
	}
	return out
}

func effective(c fixtureCert, now time.Time) string {
	if (c.status == "active" || c.status == "suspended") && !now.Before(c.notAfter) {
		return "expired"
	}
	return c.status
}

func newestFirst(a, b fixtureCert) int {
	return cmp.Or(b.created.Compare(a.created), strings.Compare(b.serial, a.serial))
}

// searchAll follows the page tokens to the end.
func searchAll(t *testing.T, db *store.DB, f store.CertFilter) []*store.Certificate {
	t.Helper()
	var all []*store.Certificate
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		certs, next, err := db.SearchCertificates(context.Background(), f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if len(certs) > max(f.PageSize, 0) && f.PageSize > 0 {
			t.Fatalf("page of %d rows, page size %d", len(certs), f.PageSize)
		}
		all = append(all, certs...)
		if next == "" {
			return all
		}
		f.PageToken = next
	}
}

func TestSearchCertificates_EachFilterAndCombination(t *testing.T) {
	db, u := storetest.Open(t)
	now := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC)
	r := mrand.New(mrand.NewPCG(1, 2))
	certs := randomCerts(r, now, 400)
	insertCerts(t, u, certs)
	slices.SortFunc(certs, newestFirst)

	pick := certs[123]
	day := 24 * time.Hour
	cases := []struct {
		name  string
		f     store.CertFilter
		match func(fixtureCert) bool
	}{
		{"none", store.CertFilter{}, func(fixtureCert) bool { return true }},
		{"serial", store.CertFilter{Serial: pick.serial}, func(c fixtureCert) bool { return c.serial == pick.serial }},
		{"subject", store.CertFilter{SubjectRef: "sr1_subject007"}, func(c fixtureCert) bool { return c.subjectRef == "sr1_subject007" }},
		{"name", store.CertFilter{SubjectName: "김민준"}, func(c fixtureCert) bool { return c.name == "김민준" }},
		{"name unknown", store.CertFilter{SubjectName: "김"}, func(fixtureCert) bool { return false }},
		{"profile", store.CertFilter{Profile: "corporate-general"}, func(c fixtureCert) bool { return c.profile == "corporate-general" }},
		{"issued between", store.CertFilter{IssuedFrom: now.Add(-300 * day), IssuedTo: now.Add(-100 * day)}, func(c fixtureCert) bool {
			return !c.created.Before(now.Add(-300*day)) && c.created.Before(now.Add(-100*day))
		}},
		{"issued from", store.CertFilter{IssuedFrom: now.Add(-30 * day)}, func(c fixtureCert) bool { return !c.created.Before(now.Add(-30 * day)) }},
		{"expires between", store.CertFilter{ExpiresFrom: now, ExpiresTo: now.Add(90 * day)}, func(c fixtureCert) bool {
			return !c.notAfter.Before(now) && c.notAfter.Before(now.Add(90*day))
		}},
		{"expires before", store.CertFilter{ExpiresTo: now.Add(-200 * day)}, func(c fixtureCert) bool { return c.notAfter.Before(now.Add(-200 * day)) }},
		{"expiring within 30 days", store.CertFilter{ExpiringWithinDays: 30}, func(c fixtureCert) bool {
			return c.status == "active" && c.notAfter.After(now) && !c.notAfter.After(now.Add(30*day))
		}},
		{"expiring within 30 days, profile", store.CertFilter{ExpiringWithinDays: 30, Profile: "personal-banking"}, func(c fixtureCert) bool {
			return c.profile == "personal-banking" && c.status == "active" && c.notAfter.After(now) && !c.notAfter.After(now.Add(30*day))
		}},
		{"status and profile", store.CertFilter{Status: "suspended", Profile: "personal-general"}, func(c fixtureCert) bool {
			return effective(c, now) == "suspended" && c.profile == "personal-general"
		}},
		{"name and status", store.CertFilter{SubjectName: "홍길동", Status: "revoked"}, func(c fixtureCert) bool {
			return c.name == "홍길동" && c.status == "revoked"
		}},
		{"expired, profile, expires before (fenced branches)", store.CertFilter{Status: "expired", Profile: "personal-banking", ExpiresTo: now.Add(-10 * day)},
			func(c fixtureCert) bool {
				return effective(c, now) == "expired" && c.profile == "personal-banking" && c.notAfter.Before(now.Add(-10*day))
			}},
		{"subject, profile, issued from", store.CertFilter{SubjectRef: pick.subjectRef, Profile: pick.profile, IssuedFrom: pick.created.Add(-300 * day)},
			func(c fixtureCert) bool {
				return c.subjectRef == pick.subjectRef && c.profile == pick.profile && !c.created.Before(pick.created.Add(-300*day))
			}},
	}
	for _, st := range []string{"active", "suspended", "revoked", "expired"} {
		cases = append(cases, struct {
			name  string
			f     store.CertFilter
			match func(fixtureCert) bool
		}{"status " + st, store.CertFilter{Status: st}, func(c fixtureCert) bool { return effective(c, now) == st }})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, c := range certs {
				if tc.match(c) {
					want = append(want, c.serial)
				}
			}
			for _, size := range []int{0, 7} {
				f := tc.f
				f.Now, f.PageSize = now, size
				var got []string
				for _, c := range searchAll(t, db, f) {
					got = append(got, c.Serial)
					if st := rowEffective(c, now); f.Status != "" && st != f.Status {
						t.Errorf("%s: effective status %s, filter %s", c.Serial, st, f.Status)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("page size %d: got %d rows, want %d (newest first)\ngot  %v\nwant %v", size, len(got), len(want), got, want)
				}
			}
			if len(want) == 0 && tc.name != "name unknown" {
				t.Errorf("case %q matches no fixture row: it tests nothing", tc.name)
			}
			t.Logf("%d rows", len(want))
		})
	}
}

func TestSearchCertificates_RefusesBadInput(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	_, next, err := db.ListAuditEvents(ctx, store.EventFilter{})
	if err != nil || next != "" {
		t.Fatalf("empty log: next %q, err %v", next, err)
	}
	for _, f := range []store.CertFilter{
		{Status: "valid"},
		{PageSize: -1},
		{ExpiringWithinDays: -3},
		{PageToken: "not base64!"},
		{PageToken: "ZTF8MTIz"}, // an events token ("e1|123")
	} {
		_, _, err := db.SearchCertificates(ctx, f)
		if !errors.Is(err, store.ErrBadFilter) && !errors.Is(err, store.ErrBadPageToken) {
			t.Errorf("%+v: err = %v, want ErrBadFilter or ErrBadPageToken", f, err)
		}
	}
	if _, _, err := db.ListAuditEvents(ctx, store.EventFilter{Outcome: "maybe"}); !errors.Is(err, store.ErrBadFilter) {
		t.Errorf("outcome maybe: err = %v", err)
	}
	if _, _, err := db.ListAuditEvents(ctx, store.EventFilter{PageToken: "YzF8MXwyYQ"}); !errors.Is(err, store.ErrBadPageToken) {
		t.Errorf("certificate token for events: err = %v", err)
	}
	if _, _, err := db.CertificateHistory(ctx, store.HistoryKey{SubjectRef: "sr1_x"}); !errors.Is(err, store.ErrBadFilter) {
		t.Errorf("history without profile: err = %v", err)
	}
	if _, _, err := db.CertificateHistory(ctx, store.HistoryKey{Serial: "abc"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("history of unknown serial: err = %v", err)
	}
	// A page size over the maximum is lowered, not refused.
	if _, _, err := db.SearchCertificates(ctx, store.CertFilter{PageSize: 50000}); err != nil {
		t.Errorf("page size 50000: %v", err)
	}
}

// While pages are read, new certificates and events keep arriving (newest
// first, as issuance writes them). Every row that existed before the
// first page must come exactly once, in order.
func TestPagination_StableAndCompleteWhileRowsAreInserted(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := mrand.New(mrand.NewPCG(3, 4))
	before := randomCerts(r, now, 300)
	insertCerts(t, u, before)
	var beforeIDs []int64
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 300 {
			ev := &store.AuditEvent{At: now.Add(-time.Duration(300-i) * time.Minute), Actor: "signet", Action: "issue", Outcome: "ok"}
			if err := tx.AppendAudit(ctx, ev); err != nil {
				return err
			}
			beforeIDs = append(beforeIDs, ev.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	inserted := 0
	go func() {
		defer wg.Done()
		r := mrand.New(mrand.NewPCG(5, 6))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := randomCerts(r, time.Now(), 1)[0]
			c.created, c.status, c.subjectRef = time.Now().UTC().Truncate(time.Microsecond), "revoked", fmt.Sprintf("sr1_new%d", i)
			if err := tryInsertCerts(u, []fixtureCert{c}); err != nil {
				t.Error(err)
				return
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				return tx.AppendAudit(ctx, &store.AuditEvent{At: time.Now(), Actor: "signet", Action: "renew", Outcome: "ok"})
			}); err != nil {
				t.Error(err)
				return
			}
			inserted++
		}
	}()

	seen := map[string]int{}
	var prev *store.Certificate
	f := store.CertFilter{PageSize: 11}
	for {
		certs, next, err := db.SearchCertificates(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			seen[c.Serial]++
			if prev != nil && (c.CreatedAt.After(prev.CreatedAt) || c.CreatedAt.Equal(prev.CreatedAt) && c.Serial >= prev.Serial) {
				t.Fatalf("order broken: %s (%s) after %s (%s)", c.Serial, c.CreatedAt, prev.Serial, prev.CreatedAt)
			}
			prev = c
		}
		time.Sleep(2 * time.Millisecond) // let the writer in between pages
		if next == "" {
			break
		}
		f.PageToken = next
	}
	seenEvents := map[int64]int{}
	ef := store.EventFilter{PageSize: 13}
	var last *store.AuditEvent
	for {
		events, next, err := db.ListAuditEvents(ctx, ef)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			seenEvents[ev.ID]++
			if last != nil && cmp.Or(ev.At.Compare(last.At), cmp.Compare(ev.ID, last.ID)) >= 0 {
				t.Fatalf("event order broken: %d (%s) after %d (%s)", ev.ID, ev.At, last.ID, last.At)
			}
			last = ev
		}
		time.Sleep(2 * time.Millisecond)
		if next == "" {
			break
		}
		ef.PageToken = next
	}
	close(stop)
	wg.Wait()
	if inserted == 0 {
		t.Fatal("the writer inserted nothing while pages were read")
	}
	for _, c := range before {
		if seen[c.serial] != 1 {
			t.Errorf("certificate %s seen %d times, want once", c.serial, seen[c.serial])
		}
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("certificate %s seen %d times", s, n)
		}
	}
	for _, id := range beforeIDs {
		if seenEvents[id] != 1 {
			t.Errorf("event %d seen %d times, want once", id, seenEvents[id])
		}
	}
	t.Logf("%d rows inserted while paging", inserted)
}

// A chain built through the life cycle API: issue, renew, reissue, revoke.
func TestCertificateHistory_ChainOldestFirst(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	const ref, profile = "sr1_chain", "personal-banking"
	t0 := time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC)
	mk := func(serial, op, replaces string, at time.Time) *store.Certificate {
		return &store.Certificate{Serial: serial, SubjectRef: ref, Profile: profile, SubjectDN: "CN=홍길동()0000400000000000000001,OU=KB",
			NotBefore: at, NotAfter: t0.AddDate(1, 0, 0), SPKISHA256: []byte(serial), KeyType: "rsa2048", DER: []byte{1},
			IssuerID: "iss", Operation: op, Replaces: replaces, RequestID: "req-" + serial, CreatedAt: at}
	}
	step := func(at time.Time, fn func(tx *store.Tx) error, events ...*store.AuditEvent) {
		t.Helper()
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			for _, ev := range events {
				ev.At = at
				if err := tx.AppendAudit(ctx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	noop := func(*store.Tx) error { return nil }
	ev := func(action, outcome, serial, subject, prof string) *store.AuditEvent {
		return &store.AuditEvent{Actor: "subscriber@198.51.100.4", Action: action, Outcome: outcome, Serial: serial, SubjectRef: subject, Profile: prof}
	}
	// A refused issue before any certificate: names the subject only.
	step(t0.Add(-time.Hour), noop, ev("issue", "refused", "", ref, profile))
	step(t0, func(tx *store.Tx) error { return tx.InsertCertificate(ctx, mk("a1", "issue", "", t0)) }, ev("issue", "ok", "a1", ref, profile))
	t1 := t0.AddDate(0, 11, 5)
	step(t1, func(tx *store.Tx) error {
		if err := tx.Revoke(ctx, "a1", t1, 4, "b2"); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, mk("b2", "renew", "a1", t1))
	}, ev("renew", "ok", "b2", ref, profile))
	// Noise: another profile of the same subject, and another subject.
	step(t1.Add(time.Minute), func(tx *store.Tx) error {
		c := mk("99", "issue", "", t1.Add(time.Minute))
		c.Profile = "personal-general"
		return tx.InsertCertificate(ctx, c)
	}, ev("issue", "ok", "99", ref, "personal-general"), ev("issue", "refused", "", ref, "personal-general"),
		ev("issue", "refused", "", "sr1_other", profile))
	t2 := t1.AddDate(0, 0, 20)
	step(t2, func(tx *store.Tx) error {
		if err := tx.Revoke(ctx, "b2", t2, 4, "c3"); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, mk("c3", "reissue", "b2", t2))
	}, ev("reissue", "ok", "c3", ref, profile))
	// An auditor read names the serial only.
	step(t2.Add(time.Hour), noop, &store.AuditEvent{Actor: "auditor:kim", Action: "admin:GetCertificateHistory", Outcome: "ok", Serial: "b2"})
	t3 := t2.AddDate(0, 0, 3)
	step(t3, func(tx *store.Tx) error { return tx.Revoke(ctx, "c3", t3, 1, "") }, ev("revoke", "ok", "c3", ref, profile))

	wantCerts := []string{"a1", "b2", "c3"}
	wantEvents := []string{"issue/refused/", "issue/ok/a1", "renew/ok/b2", "reissue/ok/c3", "admin:GetCertificateHistory/ok/b2", "revoke/ok/c3"}
	for _, key := range []store.HistoryKey{{Serial: "b2"}, {Serial: "c3"}, {SubjectRef: ref, Profile: profile}} {
		certs, events, err := db.CertificateHistory(ctx, key)
		if err != nil {
			t.Fatalf("%+v: %v", key, err)
		}
		var gotCerts, gotEvents []string
		for _, c := range certs {
			gotCerts = append(gotCerts, c.Serial)
		}
		for i, e := range events {
			gotEvents = append(gotEvents, e.Action+"/"+e.Outcome+"/"+e.Serial)
			if i > 0 && e.ID <= events[i-1].ID {
				t.Errorf("events not oldest first")
			}
		}
		if !slices.Equal(gotCerts, wantCerts) || !slices.Equal(gotEvents, wantEvents) {
			t.Errorf("%+v:\ncerts  %v, want %v\nevents %v\nwant   %v", key, gotCerts, wantCerts, gotEvents, wantEvents)
		}
		if certs[1].Replaces != "a1" || certs[1].ReplacedBy != "c3" || certs[2].RevocationReason == nil || *certs[2].RevocationReason != 1 {
			t.Errorf("chain links: %+v", certs)
		}
	}
}

type fixtureEvent struct {
	id                                                 int64
	at                                                 time.Time
	actor, action, outcome, reason, serial, subjectRef string
}

func TestListAuditEvents_EachFilterAndCombination(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(7, 8))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []fixtureEvent
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 500 {
			e := &store.AuditEvent{
				At:         base.Add(time.Duration(i)*time.Hour + time.Duration(r.IntN(90))*time.Minute), // ids and times mostly, not strictly, together
				Actor:      []string{"signet", "subscriber@198.51.100.4", "auditor:kim", "operator:lee"}[r.IntN(4)],
				Action:     []string{"issue", "renew", "revoke", "admin:SearchCertificates"}[r.IntN(4)],
				Outcome:    "ok",
				Serial:     []string{"", "aa01", "bb02", "cc03"}[r.IntN(4)],
				SubjectRef: []string{"", "sr1_a", "sr1_b"}[r.IntN(3)],
			}
			if r.IntN(4) == 0 {
				e.Outcome, e.Code, e.Reason = "refused", "precondition", []string{"already_active", "bad_proof"}[r.IntN(2)]
			}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
			evs = append(evs, fixtureEvent{e.ID, e.At, e.Actor, e.Action, e.Outcome, e.Reason, e.Serial, e.SubjectRef})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first by (at, id).
	slices.SortFunc(evs, func(a, b fixtureEvent) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.id, a.id)) })

	from, to := base.Add(100*time.Hour), base.Add(250*time.Hour)
	in := func(e fixtureEvent) bool { return !e.at.Before(from) && e.at.Before(to) }
	cases := []struct {
		name  string
		f     store.EventFilter
		match func(fixtureEvent) bool
	}{
		{"none", store.EventFilter{}, func(fixtureEvent) bool { return true }},
		{"actor", store.EventFilter{Actor: "auditor:kim"}, func(e fixtureEvent) bool { return e.actor == "auditor:kim" }},
		{"action", store.EventFilter{Action: "renew"}, func(e fixtureEvent) bool { return e.action == "renew" }},
		{"serial", store.EventFilter{Serial: "bb02"}, func(e fixtureEvent) bool { return e.serial == "bb02" }},
		{"subject", store.EventFilter{SubjectRef: "sr1_a"}, func(e fixtureEvent) bool { return e.subjectRef == "sr1_a" }},
		{"outcome", store.EventFilter{Outcome: "refused"}, func(e fixtureEvent) bool { return e.outcome == "refused" }},
		{"reason", store.EventFilter{Reason: "bad_proof"}, func(e fixtureEvent) bool { return e.reason == "bad_proof" }},
		{"time range", store.EventFilter{From: from, To: to}, in},
		{"from only", store.EventFilter{From: to}, func(e fixtureEvent) bool { return !e.at.Before(to) }},
		{"actor, action, time range", store.EventFilter{Actor: "signet", Action: "issue", From: from, To: to}, func(e fixtureEvent) bool {
			return e.actor == "signet" && e.action == "issue" && in(e)
		}},
		{"serial, outcome", store.EventFilter{Serial: "aa01", Outcome: "ok"}, func(e fixtureEvent) bool { return e.serial == "aa01" && e.outcome == "ok" }},
		{"subject, reason", store.EventFilter{SubjectRef: "sr1_b", Reason: "already_active"}, func(e fixtureEvent) bool {
			return e.subjectRef == "sr1_b" && e.reason == "already_active"
		}},
	}
	check := func(t *testing.T, f store.EventFilter, match func(fixtureEvent) bool) {
		t.Helper()
		var want, got []int64
		for _, e := range evs {
			if match(e) {
				want = append(want, e.id)
			}
		}
		if len(want) == 0 {
			t.Fatal("the case matches no fixture event: it tests nothing")
		}
		for _, size := range []int{0, 9} {
			f.PageSize, f.PageToken = size, ""
			got = got[:0]
			for {
				page, next, err := db.ListAuditEvents(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.ID)
				}
				if next == "" {
					break
				}
				f.PageToken = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("page size %d: got %v\nwant %v", size, got, want)
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.f, tc.match) })
	}

	// A window far behind many newer events: the answers stay the same,
	// and the page comes from an ordered index range, with no sort.
	t.Run("window behind many newer events", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO audit_events (at, actor, action, outcome)
			SELECT $1::timestamptz + g * interval '1 second', 'bulk', 'issue', 'ok' FROM generate_series(1, 10050) g`,
			base.Add(600*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `ANALYZE audit_events`); err != nil {
			t.Fatal(err)
		}
		var plans []string
		ectx := store.WithExplain(ctx, func(sql, plan string) { plans = append(plans, plan) })
		if _, _, err := db.ListAuditEvents(ectx, store.EventFilter{From: from, To: to}); err != nil {
			t.Fatal(err)
		}
		if len(plans) != 1 || !strings.Contains(plans[0], "Index Only Scan Backward using audit_events_at_id") || strings.Contains(plans[0], "top-N") {
			t.Errorf("the window's page was sorted, not read in index order:\n%s", strings.Join(plans, "\n"))
		}
		for _, tc := range cases {
			if !tc.f.To.IsZero() {
				check(t, tc.f, tc.match)
			}
		}
		head := store.EventFilter{From: base.Add(600 * time.Hour), PageSize: 1000}
		var got []int64
		for {
			page, next, err := db.ListAuditEvents(ctx, head)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			if next == "" {
				break
			}
			head.PageToken = next
		}
		rows, err := conn.Query(ctx, `SELECT id FROM audit_events WHERE at >= $1 ORDER BY at DESC, id DESC`, head.From)
		if err != nil {
			t.Fatal(err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 10000 || !slices.Equal(got, want) {
			t.Errorf("head window: %d events, want %d", len(got), len(want))
		}
	})
}

func TestStats_CountsByEffectiveStatusAndOperationsPerKSTDay(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	day := 24 * time.Hour
	mk := func(profile, status string, notAfter time.Time) fixtureCert {
		return fixtureCert{serial: randSerial(), subjectRef: "sr1_" + randSerial(), profile: profile, status: status,
			dn: "CN=x()1", created: now.Add(-400 * day), notAfter: notAfter}
	}
	insertCerts(t, u, []fixtureCert{
		mk("personal-banking", "active", now.Add(day)),
		mk("personal-banking", "active", now.Add(2*day)),
		mk("personal-banking", "active", now.Add(-day)), // lapsed: expired
		mk("personal-banking", "suspended", now.Add(-day)),
		mk("personal-banking", "expired", now.Add(-day)),
		mk("personal-banking", "revoked", now.Add(-day)), // revoked stays revoked
		mk("corporate-general", "suspended", now.Add(day)),
		mk("corporate-general", "revoked", now.Add(day)),
	})
	kstDay := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, kst.Zone) }
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range []struct {
			at              time.Time
			action, outcome string
		}{
			{kstDay(2026, 1, 1, 0), "issue", "ok"},
			{kstDay(2026, 1, 1, 23), "issue", "ok"},
			{kstDay(2026, 1, 1, 12), "issue", "refused"}, // not counted
			{kstDay(2026, 1, 1, 12), "suspend", "ok"},    // not an operation counted
			{kstDay(2026, 1, 2, 8), "renew", "ok"},       // 2026-01-01T23:00Z
			{kstDay(2026, 1, 2, 9), "reissue", "ok"},     // 2026-01-02T00:00Z
			{kstDay(2026, 1, 4, 10), "revoke", "ok"},     // day 3 has none
			{kstDay(2026, 1, 5, 0), "issue", "ok"},       // outside [from, to)
			{kstDay(2025, 12, 31, 23), "issue", "ok"},    // outside
			{kstDay(2026, 1, 4, 11), "admin:SearchCertificates", "ok"},
		} {
			if err := tx.AppendAudit(ctx, &store.AuditEvent{At: e.at, Actor: "signet", Action: e.action, Outcome: e.outcome}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	counts, days, err := db.Stats(ctx, time.Time{}, kstDay(2026, 1, 1, 0), kstDay(2026, 1, 5, 0))
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := []store.StatusCount{
		{Profile: "corporate-general", Status: "revoked", Count: 1},
		{Profile: "corporate-general", Status: "suspended", Count: 1},
		{Profile: "personal-banking", Status: "active", Count: 2},
		{Profile: "personal-banking", Status: "expired", Count: 3},
		{Profile: "personal-banking", Status: "revoked", Count: 1},
	}
	if !slices.Equal(counts, wantCounts) {
		t.Errorf("counts %+v\nwant   %+v", counts, wantCounts)
	}
	wantDays := []store.DayCount{
		{Day: "2026-01-01", Issued: 2},
		{Day: "2026-01-02", Renewed: 1, Reissued: 1},
		{Day: "2026-01-03"},
		{Day: "2026-01-04", Revoked: 1},
	}
	if !slices.Equal(days, wantDays) {
		t.Errorf("days %+v\nwant %+v", days, wantDays)
	}
	// Open ends: only days with operations.
	_, days, err = db.Stats(ctx, time.Time{}, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 5 || days[0].Day != "2025-12-31" || days[4].Day != "2026-01-05" {
		t.Errorf("open range: %+v", days)
	}
}

// rowEffective is ca.StatusAt for a returned row (store cannot import ca;
// ca's TestSearch_EffectiveStatusAgreesWithCa checks the real one).
func rowEffective(c *store.Certificate, now time.Time) string {
	if (c.Status == "active" || c.Status == "suspended") && !now.Before(c.NotAfter) {
		return "expired"
	}
	return c.Status
}
