package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// scrape reads GET /metrics over real HTTP, as Prometheus does.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	resp, err := http.Get("http://" + h.http + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		h.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the series name{labels} of fams (0 when absent): a counter's,
// a gauge's, or a histogram's sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func TestMetrics_IssuanceRefusalAndRevocationMoveTheirSeries(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	issueRPC := map[string]string{"grpc_method": "IssueCertificate", "grpc_code": "OK"}
	before := h.scrape()

	c, key := h.issue(p, banking)
	// A second live certificate for the same person and profile is refused.
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	_, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{
		RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	reason := errorReason(t, err)
	h.revokeByProof(c, key)

	after := h.scrape()
	moved := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if d := value(after, name, labels) - value(before, name, labels); d != want {
			t.Errorf("%s%v moved by %v, want %v", name, labels, d, want)
		}
	}
	moved("signet_certificate_requests_total", map[string]string{"action": "issue", "profile": banking, "outcome": "ok"}, 1)
	moved("signet_certificate_requests_total", map[string]string{"action": "issue", "outcome": "refused"}, 1)
	moved("signet_certificate_requests_total", map[string]string{"action": "revoke", "profile": banking, "outcome": "ok"}, 1)
	moved("signet_refusals_total", map[string]string{"reason": reason}, 1)
	moved("signet_ca_signing_seconds", map[string]string{"outcome": "ok"}, 1)
	moved("grpc_server_handled_total", issueRPC, 1)
	moved("grpc_server_handling_seconds", map[string]string{"grpc_method": "IssueCertificate"}, 2) // the issuance and the refusal
	moved("grpc_server_handled_total", map[string]string{"grpc_method": "RevokeCertificate", "grpc_code": "OK"}, 1)
	if value(after, "signet_db_transaction_seconds", map[string]string{"outcome": "commit"}) == 0 {
		t.Error("no committed transaction was timed")
	}
	if value(after, "signet_db_up", nil) != 1 {
		t.Error("signet_db_up is not 1")
	}
	if value(after, "signet_db_pool_max_connections", nil) == 0 {
		t.Error("signet_db_pool_max_connections is missing")
	}
	for _, task := range []string{"crl", "audit_sealer", "hourly_jobs"} {
		if _, ok := seriesOf(after, "signet_leader", map[string]string{"task": task}); !ok {
			t.Errorf("no signet_leader{task=%q}", task)
		}
	}

	// No label carries a serial, a subject or a request id.
	for name, f := range after {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v := l.GetValue(); strings.Contains(v, c.Serial) || strings.Contains(v, p.Name) {
					t.Errorf("%s has label %s=%q: a serial or a name", name, l.GetName(), v)
				}
			}
		}
	}
}

// TestMetrics_ReportTheCRLAndTheSealer checks the series read from the
// database at scrape time once a CRL exists and the sealer has run.
func TestMetrics_ReportTheCRLAndTheSealer(t *testing.T) {
	h := newHarness(t)
	h.issue(evidencetest.DefaultPerson(), banking)
	if _, err := h.built.CRL.Generate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The replica's own jobs (its first CRL, the ledger's events) may
	// still write an event or two after a seal: seal until a scrape finds
	// nothing left, for a few seconds at most.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := h.sealer.SealOnce(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.sealer.Checkpoint(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if fams = h.scrape(); value(fams, "signet_audit_unsealed_events", nil) == 0 || time.Now().After(deadline) {
			break
		}
	}
	h.clock.Advance(time.Minute)
	fams = h.scrape()
	if got := value(fams, "signet_crl_age_seconds", nil); got < 60 || got > 61 {
		t.Errorf("signet_crl_age_seconds = %v, want 60 (the clock moved a minute)", got)
	}
	if value(fams, "signet_crl_bytes", nil) == 0 || value(fams, "signet_crl_number", nil) == 0 {
		t.Error("the CRL's size or number is missing")
	}
	if value(fams, "signet_crl_generation_seconds", map[string]string{"outcome": "ok"}) == 0 {
		t.Error("the CRL generation was not timed")
	}
	if got := value(fams, "signet_audit_unsealed_events", nil); got != 0 {
		t.Errorf("signet_audit_unsealed_events = %v after sealing, want 0", got)
	}
	if _, ok := seriesOf(fams, "signet_audit_checkpoint_age_seconds", nil); !ok {
		t.Error("signet_audit_checkpoint_age_seconds is missing after a checkpoint")
	}
	if got := value(fams, "signet_crl_interval_seconds", nil); got != 3600 {
		t.Errorf("signet_crl_interval_seconds = %v, want 3600", got)
	}
}

func seriesOf(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

func errorReason(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("the second issuance was not refused")
	}
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	t.Fatal(errors.New("the refusal has no ErrorInfo: " + err.Error()))
	return ""
}
