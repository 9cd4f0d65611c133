package server_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

const reminderSecret = "4f2b7d0c9e1a6b3f8d5c2e7a0b9f4d1c6e3a8b5f2d7c0e9a4b1f6d3c8e5a2b7f"

// raEndpoint is an RA channel's webhook: it checks every signature and
// answers 500 while down is set.
type raEndpoint struct {
	mu       sync.Mutex
	down     bool
	bad      int
	received map[string]reminder.Body
}

func (r *raEndpoint) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := reminder.Verify([]byte(reminderSecret), req.Header.Get(reminder.SignatureHeader), body, time.Now(), reminder.Tolerance); err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.down {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	r.received[req.Header.Get(reminder.EventIDHeader)] = reminder.Body{}
	w.WriteHeader(http.StatusOK)
}

func (r *raEndpoint) got(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.received[id]
	return ok
}

func (r *raEndpoint) setDown(v bool) {
	r.mu.Lock()
	r.down = v
	r.mu.Unlock()
}

// newReminderHarness is a server whose every RA channel is ep, and whose
// personal-general profile lasts 72 hours, so that its 7-day reminder is
// due at issue.
func newReminderHarness(t testing.TB, ep *raEndpoint) *harness {
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	writeFile(t, secret, []byte(reminderSecret+"\n"))
	return newHarnessWith(t, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ClientRate: -1, SubjectMax: -1}
		c.RAChannels = map[string]reminder.ChannelConfig{reminder.Default: {WebhookURL: srv.URL + "/signet", SecretFile: secret}}
		c.Profiles = ca.DefaultProfiles()
		for _, p := range c.Profiles {
			if p.Name == "personal-general" {
				v, err := ca.ParseValidity("72h")
				if err != nil {
					t.Fatal(err)
				}
				p.Validity = v
			}
		}
	})
}

type jobRow struct {
	stage, state string
	at           time.Time
}

func (h *harness) reminderJobs(serial string) []jobRow {
	h.t.Helper()
	rows, err := h.pool.Query(ctx(h.t), `SELECT args->>'stage', state::text, scheduled_at FROM river_job
		WHERE args->>'serial' = $1 ORDER BY scheduled_at`, serial)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []jobRow
	for rows.Next() {
		var j jobRow
		if err := rows.Scan(&j.stage, &j.state, &j.at); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

func TestReminders_ScheduledAtIssueVoidedByRenewalAndRevocation(t *testing.T) {
	h := newReminderHarness(t, &raEndpoint{received: map[string]reminder.Body{}})
	old, key := h.issue(evidencetest.DefaultPerson(), banking)
	notAfter := old.NotAfter.AsTime()
	jobs := h.reminderJobs(old.Serial)
	if len(jobs) != 3 {
		t.Fatalf("after issue: %v, want three reminders", jobs)
	}
	for i, st := range reminder.Stages {
		if jobs[i].stage != st.Name || jobs[i].state != "scheduled" || !jobs[i].at.Equal(notAfter.Add(-st.Before)) {
			t.Errorf("reminder %d: %+v, want %s at %s", i, jobs[i], st.Name, notAfter.Add(-st.Before))
		}
	}

	// Renewal 10 days before expiry: the old certificate's reminders go in
	// the renewal's transaction, the new one gets its three.
	h.clock.Set(notAfter.Add(-10 * 24 * time.Hour))
	resp, _, err := h.renew(old, key)
	if err != nil {
		t.Fatal(err)
	}
	if jobs := h.reminderJobs(old.Serial); len(jobs) != 0 {
		t.Errorf("renewed certificate still has reminders: %v", jobs)
	}
	if jobs := h.reminderJobs(resp.Certificate.Serial); len(jobs) != 3 || jobs[0].at.Before(h.clock.Now()) {
		t.Errorf("renewed certificate's reminders: %v", jobs)
	}

	// Reissue after a lost key: the same, and the new one keeps the notAfter.
	p := evidencetest.DefaultPerson()
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
	key2 := newKey(t)
	re, err := h.client.ReissueCertificate(ctx(t), &signetv1.ReissueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e.EnrollmentId, Csr: csrFor(t, key2), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	if err != nil {
		t.Fatal(err)
	}
	if jobs := h.reminderJobs(resp.Certificate.Serial); len(jobs) != 0 {
		t.Errorf("reissued-from certificate still has reminders: %v", jobs)
	}
	renewed := re.Certificate
	if jobs := h.reminderJobs(renewed.Serial); len(jobs) != 3 || !jobs[2].at.Equal(resp.Certificate.NotAfter.AsTime().Add(-24*time.Hour)) {
		t.Errorf("reissued certificate's reminders: %v", jobs)
	}

	// Suspension keeps them: a suspended certificate still expires.
	if _, err := h.client.SuspendCertificate(ctx(t), &signetv1.SuspendCertificateRequest{RequestId: uuid.NewString(), Serial: renewed.Serial,
		Authorization: &signetv1.SuspendCertificateRequest_Proof{Proof: h.proofFor(renewed, key2, ca.MethodSuspend, "suspend")}}); err != nil {
		t.Fatal(err)
	}
	if jobs := h.reminderJobs(renewed.Serial); len(jobs) != 3 {
		t.Errorf("suspended certificate's reminders: %v, want all three kept", jobs)
	}

	// Revocation (by an operator here) voids them.
	op := h.adminClient(h.staff(adminca.RoleOperator, "lee.operator"))
	if _, err := op.AdminRevokeCertificate(ctx(t), &signetv1.AdminRevokeCertificateRequest{RequestId: uuid.NewString(), Serial: renewed.Serial,
		Reason: signetv1.RevocationReason_REVOCATION_REASON_PRIVILEGE_WITHDRAWN, Comment: "test"}); err != nil {
		t.Fatal(err)
	}
	if jobs := h.reminderJobs(renewed.Serial); len(jobs) != 0 {
		t.Errorf("revoked certificate still has reminders: %v", jobs)
	}
}

func TestReminders_DeliveredListedAndRetriedByAnOperator(t *testing.T) {
	ep := &raEndpoint{received: map[string]reminder.Body{}, down: true}
	h := newReminderHarness(t, ep)
	c, _ := h.issue(evidencetest.DefaultPerson(), "personal-general")
	id := reminder.EventID(c.Serial, "7d")
	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "kim.auditor"))
	operator := h.adminClient(h.staff(adminca.RoleOperator, "lee.operator"))

	// The RA is down: the 7-day reminder waits to be retried.
	var pending *signetv1.Reminder
	waitUntil(t, "a failed attempt", func() bool {
		resp, err := auditor.ListReminders(ctx(t), &signetv1.ListRemindersRequest{State: "pending", Serial: c.Serial})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Reminders {
			if r.Stage == "7d" && r.LastError != "" {
				pending = r
				return true
			}
		}
		return false
	})
	if _, err := auditor.RetryReminder(ctx(t), &signetv1.RetryReminderRequest{Id: pending.Id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor retry: %v, want PermissionDenied", err)
	}
	if _, err := operator.RetryReminder(ctx(t), &signetv1.RetryReminderRequest{Id: 1 << 40}); status.Code(err) != codes.NotFound {
		t.Fatalf("retry of an unknown reminder: %v, want NotFound", err)
	}
	if _, err := auditor.ListReminders(ctx(t), &signetv1.ListRemindersRequest{State: "lost"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad state filter: %v, want InvalidArgument", err)
	}

	// Back up, and an operator retries at once instead of waiting for the backoff.
	ep.setDown(false)
	if _, err := operator.RetryReminder(ctx(t), &signetv1.RetryReminderRequest{Id: pending.Id, Comment: "RA back up"}); err != nil {
		t.Fatalf("operator retry: %v", err)
	}
	waitUntil(t, "the delivery", func() bool { return ep.got(id) })
	waitUntil(t, "the delivered listing", func() bool {
		resp, err := auditor.ListReminders(ctx(t), &signetv1.ListRemindersRequest{State: "delivered"})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Reminders) == 1 && resp.Reminders[0].Id == pending.Id && resp.Reminders[0].Result == "delivered"
	})
	var retries, delivered int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FILTER (WHERE action = 'reminder-retry' AND actor = 'operator:lee.operator'),
		count(*) FILTER (WHERE action = 'reminder-delivered') FROM audit_events WHERE serial = $1`, c.Serial).Scan(&retries, &delivered); err != nil {
		t.Fatal(err)
	}
	if retries != 1 || delivered != 1 {
		t.Fatalf("audit: %d retries, %d deliveries; want 1 and 1", retries, delivered)
	}
	// The attempts are counted for the alerts (signet_reminders_total).
	fams := h.scrape()
	if n := value(fams, "signet_reminders_total", map[string]string{"outcome": "delivered"}); n != 1 {
		t.Errorf("signet_reminders_total{outcome=delivered} = %v, want 1", n)
	}
	if n := value(fams, "signet_reminders_total", map[string]string{"outcome": "retried"}); n < 1 {
		t.Errorf("signet_reminders_total{outcome=retried} = %v, want the failed attempts", n)
	}
	// The 1-day reminder still waits for its time; the list pages.
	resp, err := auditor.ListReminders(ctx(t), &signetv1.ListRemindersRequest{PageSize: 1})
	if err != nil || len(resp.Reminders) != 1 || resp.NextPageToken == "" {
		t.Fatalf("first page: %v %v", resp, err)
	}
	resp2, err := auditor.ListReminders(ctx(t), &signetv1.ListRemindersRequest{PageSize: 1, PageToken: resp.NextPageToken})
	if err != nil || len(resp2.Reminders) != 1 || resp2.Reminders[0].Id >= resp.Reminders[0].Id {
		t.Fatalf("second page: %v %v", resp2, err)
	}
	if ep.bad != 0 {
		t.Fatalf("%d webhooks with a bad signature", ep.bad)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// River runs as the service role of README "Database roles": it inserts,
// locks and finishes jobs, but cannot rewrite River's migration record, and
// the start's check that the role cannot alter the audit tables holds.
func TestReminders_RiverRunsAsTheLeastPrivilegedServiceRole(t *testing.T) {
	ep := &raEndpoint{received: map[string]reminder.Body{}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	dbURL := storetest.NewDatabase(t)
	svcURL := serviceRole(t, dbURL)
	cfg := productionConfig(t, svcURL, dbURL)
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	writeFile(t, secret, []byte(reminderSecret))
	cfg.RAChannels = map[string]reminder.ChannelConfig{"004": {WebhookURL: srv.URL, SecretFile: secret}}
	b, err := server.Build(context.Background(), cfg, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Build as the service role: %v", err)
	}
	defer b.Close()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Reminders.Run(runCtx) }()
	defer func() { stop(); <-done }()

	now := time.Now().UTC()
	spki := sha256.Sum256([]byte(uuid.NewString()))
	c := &store.Certificate{Serial: "0abc", SubjectRef: "ref", Profile: "personal-banking", SubjectDN: "CN=x",
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), SPKISHA256: spki[:], KeyType: "ECDSA-P256", DER: []byte{1},
		IssuerID: b.Authority.Signer().ID(), Operation: "issue", RequestID: uuid.NewString(), Bank: "004", CreatedAt: now}
	if err := b.DB.InTx(context.Background(), func(tx *store.Tx) error {
		if err := tx.InsertCertificate(context.Background(), c); err != nil {
			return err
		}
		return b.Reminders.Schedule(context.Background(), tx.PgxTx(), c)
	}); err != nil {
		t.Fatalf("schedule as the service role: %v", err)
	}
	waitUntil(t, "delivery as the service role", func() bool { return ep.got(reminder.EventID(c.Serial, "7d")) })

	svc, err := pgx.Connect(context.Background(), svcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	if _, err := svc.Exec(context.Background(), `DELETE FROM river_migration`); err == nil {
		t.Fatal("the service role rewrote River's migration record")
	}
}

// Deliveries that lose a race roll back after signing (the certificate is
// recorded undelivered): their reminders roll back with them, and only the
// certificates clients received have reminders.
func TestReminders_RolledBackDeliveriesLeaveNoReminders(t *testing.T) {
	h := newReminderHarness(t, &raEndpoint{received: map[string]reminder.Body{}})
	p := evidencetest.DefaultPerson()
	const n = 8
	reqs := make([]*signetv1.IssueCertificateRequest, n)
	for i := range reqs {
		e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
		reqs[i] = &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId,
			Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)}
	}
	var wg sync.WaitGroup
	serials := make([]string, n)
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.client.IssueCertificate(ctx(t), r)
			if err == nil {
				serials[i] = resp.Certificate.Serial
			} else if status.Code(err) != codes.AlreadyExists {
				t.Errorf("issue %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	var won []string
	for _, s := range serials {
		if s != "" {
			won = append(won, s)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d issues won, want 1", len(won))
	}
	var undelivered, orphans, jobs int
	if err := h.pool.QueryRow(ctx(t), `SELECT
		(SELECT count(*) FROM signatures WHERE state = 'undelivered'),
		(SELECT count(*) FROM river_job j WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = j.args->>'serial')),
		(SELECT count(*) FROM river_job WHERE args->>'serial' = $1)`, won[0]).Scan(&undelivered, &orphans, &jobs); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || jobs != 3 {
		t.Fatalf("%d reminders of certificates never delivered, %d of the winner; want 0 and 3", orphans, jobs)
	}
	t.Logf("%d issues raced: 1 delivered, %d signed but rolled back at delivery, no reminder left for them", n, undelivered)
}

// BenchmarkIssueWithReminders is issuance with reminders off (one implicit
// transaction for the delivery) and on (an explicit one that also inserts
// three River jobs). Alternate the runs (README "Expiry reminders").
func BenchmarkIssueWithReminders(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			var h *harness
			if on {
				h = newReminderHarness(b, &raEndpoint{received: map[string]reminder.Body{}})
			} else {
				h = newHarness(b)
			}
			b.ResetTimer()
			issueInParallel(b, h)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}
