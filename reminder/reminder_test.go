package reminder_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func TestPlan(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	year := now.AddDate(1, 0, 0)
	got := reminder.Plan(year, now)
	want := []reminder.Planned{{"30d", year.Add(-30 * 24 * time.Hour)}, {"7d", year.Add(-7 * 24 * time.Hour)}, {"1d", year.Add(-24 * time.Hour)}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("one year: %v, want %v", got, want)
	}
	// A 40h demo certificate: 30d and 7d are past; 7d goes at once, 1d at its time.
	short := now.Add(40 * time.Hour)
	got = reminder.Plan(short, now)
	if len(got) != 2 || got[0].Stage != "7d" || !got[0].At.IsZero() || got[1].Stage != "1d" || !got[1].At.Equal(short.Add(-24*time.Hour)) {
		t.Fatalf("40h: %v", got)
	}
	// Inside the last day: only 1d, at once.
	got = reminder.Plan(now.Add(time.Hour), now)
	if len(got) != 1 || got[0].Stage != "1d" || !got[0].At.IsZero() {
		t.Fatalf("1h: %v", got)
	}
	if got := reminder.Plan(now, now); got != nil {
		t.Fatalf("expired: %v", got)
	}
}

func TestSignAndVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`{"id":"x"}`)
	now := time.Now()
	h := reminder.Sign(secret, body, now)
	if err := reminder.Verify(secret, h, body, now, reminder.Tolerance); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other body":   reminder.Verify(secret, h, []byte(`{"id":"y"}`), now, reminder.Tolerance),
		"other secret": reminder.Verify([]byte("fedcba9876543210fedcba9876543210"), h, body, now, reminder.Tolerance),
		"replayed":     reminder.Verify(secret, h, body, now.Add(10*time.Minute), reminder.Tolerance),
		"garbage":      reminder.Verify(secret, "v1=zz", body, now, reminder.Tolerance),
	} {
		if !errors.Is(err, reminder.ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

// env is a migrated database with one issuer, a receiver and its channel.
type env struct {
	t      *testing.T
	db     *store.DB
	url    string
	secret []byte
	recv   *receiver
	now    time.Time
}

// receiver is an RA's webhook endpoint: it verifies every signature and
// counts deliveries per event id; fail answers 500 to the first n.
type receiver struct {
	mu       sync.Mutex
	secret   []byte
	fail     int
	requests int
	ok       map[string]int
	bodies   map[string]reminder.Body
	bad      []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err := reminder.Verify(r.secret, req.Header.Get(reminder.SignatureHeader), body, time.Now(), reminder.Tolerance); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	var b reminder.Body
	if err := json.Unmarshal(body, &b); err != nil || b.ID != req.Header.Get(reminder.EventIDHeader) {
		r.bad = append(r.bad, "body or event id: "+string(body))
	}
	r.ok[b.ID]++
	r.bodies[b.ID] = b
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) delivered() (map[string]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.ok {
		out[k] = v
	}
	return out, append([]string(nil), r.bad...)
}

func newEnv(t *testing.T) *env {
	db, url := storetest.Open(t)
	if err := db.UpsertIssuer(context.Background(), "iss", "CN=test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := []byte(hex.EncodeToString(secret))
	recv := &receiver{secret: s, ok: map[string]int{}, bodies: map[string]reminder.Body{}}
	return &env{t: t, db: db, url: url, secret: s, recv: recv, now: time.Now().UTC()}
}

// service builds a Service on the env's database whose every channel is
// the receiver at url.
func (e *env) service(url, id string) *reminder.Service {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "secret")
	if err := os.WriteFile(path, append(e.secret, '\n'), 0o600); err != nil {
		e.t.Fatal(err)
	}
	ch, err := reminder.LoadChannels(map[string]reminder.ChannelConfig{reminder.Default: {WebhookURL: url, SecretFile: path}})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := reminder.New(e.db, reminder.Options{Channels: ch, Now: func() time.Time { return e.now }, ID: id,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// certificate inserts an active certificate that expires after validity,
// scheduling its reminders in the same transaction through the store's
// hook, as a delivery does.
func (e *env) certificate(validity time.Duration) *store.Certificate {
	e.t.Helper()
	var b [16]byte
	_, _ = rand.Read(b[:])
	spki := sha256.Sum256(b[:])
	c := &store.Certificate{Serial: hex.EncodeToString(b[:]), SubjectRef: "ref-" + hex.EncodeToString(b[:4]),
		Profile: "personal-banking", SubjectDN: "CN=test", NotBefore: e.now, NotAfter: e.now.Add(validity),
		SPKISHA256: spki[:], KeyType: "ECDSA-P256", DER: []byte{1}, IssuerID: "iss", Operation: "issue",
		RequestID: hex.EncodeToString(b[:]), Bank: "004", CreatedAt: e.now}
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		if err := tx.InsertCertificate(context.Background(), c); err != nil {
			return err
		}
		return scheduleHook(e.db).Schedule(context.Background(), tx.PgxTx(), c)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

var hooks sync.Map

func scheduleHook(db *store.DB) store.Reminders {
	r, _ := hooks.Load(db)
	return r.(store.Reminders)
}

type job struct {
	Serial, Stage, State string
	ScheduledAt          time.Time
	Attempt              int
}

func (e *env) jobs(serial string) []job {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT args->>'serial', args->>'stage', state::text, scheduled_at, attempt
		FROM river_job WHERE args->>'serial' = $1 ORDER BY scheduled_at`, serial)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (job, error) {
		var j job
		err := r.Scan(&j.Serial, &j.Stage, &j.State, &j.ScheduledAt, &j.Attempt)
		return j, err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) auditCount(action, serial string) int {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = $1 AND ($2 = '' OR serial = $2)`,
		action, serial).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) use(s *reminder.Service) {
	e.db.SetReminders(s)
	hooks.Store(e.db, s)
}

func run(t *testing.T, s *reminder.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSchedule_ThreeStagesVoidedByRevocationAndRollback(t *testing.T) {
	e := newEnv(t)
	e.use(e.service("http://127.0.0.1:1/unused", ""))
	c := e.certificate(365 * 24 * time.Hour)
	jobs := e.jobs(c.Serial)
	if len(jobs) != 3 {
		t.Fatalf("jobs %v, want 3", jobs)
	}
	for i, st := range reminder.Stages {
		want := c.NotAfter.Add(-st.Before)
		if jobs[i].Stage != st.Name || jobs[i].State != "scheduled" || jobs[i].ScheduledAt.Sub(want).Abs() > time.Millisecond {
			t.Errorf("job %d: %+v, want stage %s scheduled at %s", i, jobs[i], st.Name, want)
		}
	}
	// Scheduling again (a replica retrying, a restart) adds nothing.
	if err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		return scheduleHook(e.db).Schedule(context.Background(), tx.PgxTx(), c)
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.jobs(c.Serial)); n != 3 {
		t.Fatalf("after a second schedule: %d jobs, want 3", n)
	}
	// A revocation that rolls back keeps them; one that commits voids them.
	boom := errors.New("rolled back")
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		if err := tx.Revoke(context.Background(), c.Serial, e.now, 1, ""); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || len(e.jobs(c.Serial)) != 3 {
		t.Fatalf("rolled-back revocation: %v, %d jobs", err, len(e.jobs(c.Serial)))
	}
	if err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.Revoke(context.Background(), c.Serial, e.now, 1, "")
	}); err != nil {
		t.Fatal(err)
	}
	if jobs := e.jobs(c.Serial); len(jobs) != 0 {
		t.Fatalf("after revocation: %v", jobs)
	}
	// A certificate whose insert rolls back leaves no job.
	var serial string
	err = e.db.InTx(context.Background(), func(tx *store.Tx) error {
		c2 := *c
		c2.Serial, c2.SPKISHA256 = "abcdef", []byte("other key")
		serial = c2.Serial
		if err := tx.InsertCertificate(context.Background(), &c2); err != nil {
			return err
		}
		if err := scheduleHook(e.db).Schedule(context.Background(), tx.PgxTx(), &c2); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || len(e.jobs(serial)) != 0 {
		t.Fatalf("rolled-back delivery left jobs: %v", e.jobs(serial))
	}
}

func TestWorker_DeliversSignedAndRetriesA500(t *testing.T) {
	e := newEnv(t)
	e.recv.fail = 1
	srv := httptest.NewServer(e.recv)
	defer srv.Close()
	s := e.service(srv.URL+"/hook", "")
	e.use(s)
	// 3 days left: 30d and 7d are past, so 7d is sent at once and 1d waits.
	c := e.certificate(72 * time.Hour)
	run(t, s)
	id := reminder.EventID(c.Serial, "7d")
	waitFor(t, "the 7d reminder", func() bool { d, _ := e.recv.delivered(); return d[id] == 1 })
	waitFor(t, "its audit event", func() bool { return e.auditCount("reminder-delivered", c.Serial) == 1 })
	d, bad := e.recv.delivered()
	if len(bad) != 0 || len(d) != 1 {
		t.Fatalf("delivered %v, refused %v", d, bad)
	}
	b := e.recv.bodies[id]
	if b.Serial != c.Serial || b.Stage != "7d" || b.SubjectRef != c.SubjectRef || b.Profile != c.Profile ||
		!b.NotAfter.Equal(c.NotAfter.Truncate(time.Microsecond)) || b.Type != reminder.EventType || b.Status != "active" {
		t.Fatalf("body %+v for %+v", b, c)
	}
	if e.recv.requests != 2 {
		t.Fatalf("%d requests, want a 500 and then a 204", e.recv.requests)
	}
	jobs := e.jobs(c.Serial)
	if len(jobs) != 2 || jobs[0].Stage != "7d" || jobs[0].State != "completed" || jobs[0].Attempt != 2 || jobs[1].State != "scheduled" {
		t.Fatalf("jobs %+v", jobs)
	}
	// Raw body check: nothing personal is sent.
	raw, _ := json.Marshal(b)
	var fields map[string]any
	_ = json.Unmarshal(raw, &fields)
	for k := range fields {
		switch k {
		case "id", "type", "stage", "serial", "subject_ref", "profile", "not_after", "status":
		default:
			t.Errorf("unexpected body field %q", k)
		}
	}
}

func TestWorker_SkipsACertificateNoLongerLive(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.recv)
	defer srv.Close()
	s := e.service(srv.URL, "")
	e.use(s)
	c := e.certificate(72 * time.Hour)
	// Expired by Signet's clock before the worker gets to it.
	e.now = e.now.Add(73 * time.Hour)
	run(t, s)
	waitFor(t, "the skip", func() bool { return e.auditCount("reminder-skipped", c.Serial) == 1 })
	if d, _ := e.recv.delivered(); len(d) != 0 {
		t.Fatalf("delivered %v to an expired certificate", d)
	}
}

// Two replicas: two River clients on one database, both working. Every
// reminder is delivered and recorded exactly once.
func TestWorker_TwoReplicasDeliverEachReminderOnce(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.recv)
	defer srv.Close()
	a, b := e.service(srv.URL, "replica-a"), e.service(srv.URL, "replica-b")
	e.use(a)
	const n = 30
	var serials []string
	for range n {
		serials = append(serials, e.certificate(72*time.Hour).Serial)
	}
	run(t, a)
	run(t, b)
	waitFor(t, "every reminder", func() bool { d, _ := e.recv.delivered(); return len(d) == n })
	waitFor(t, "every audit event", func() bool { return e.auditCount("reminder-delivered", "") == n })
	time.Sleep(2 * time.Second) // room for a duplicate to show
	d, bad := e.recv.delivered()
	for _, s := range serials {
		if got := d[reminder.EventID(s, "7d")]; got != 1 {
			t.Errorf("%s delivered %d times", s, got)
		}
	}
	if len(bad) != 0 || e.auditCount("reminder-delivered", "") != n {
		t.Fatalf("refused %v; %d audit events", bad, e.auditCount("reminder-delivered", ""))
	}
	// Both replicas worked: River spreads jobs over clients.
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var workers int
	if err := conn.QueryRow(context.Background(), `SELECT count(DISTINCT attempted_by[1]) FROM river_job WHERE state = 'completed'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reminders worked by %d replicas", n, workers)
}

// BenchmarkScheduleInTx is what reminders add to a delivery: an explicit
// transaction (BEGIN, COMMIT) around River's insert of three jobs.
func BenchmarkScheduleInTx(b *testing.B) {
	db, _ := storetest.Open(b)
	s, err := reminder.New(db, reminder.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		c := &store.Certificate{Serial: fmt.Sprintf("%x", i+1), NotAfter: now.AddDate(1, 0, 0), CreatedAt: now}
		if err := pgx.BeginFunc(context.Background(), db.Pool(), func(tx pgx.Tx) error {
			return s.Schedule(context.Background(), tx, c)
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/delivery")
}
