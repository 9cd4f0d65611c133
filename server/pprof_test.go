package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/signet-ca/signet/ca/adminca"
)

// getProfile asks the profiling listener for its index with cert (none if
// nil) and returns the HTTP status, or 0 if the TLS handshake failed.
func (h *harness) getProfile(cert *tls.Certificate) int {
	h.t.Helper()
	tc := &tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + h.pprof + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestPprof_OperatorsOnly(t *testing.T) {
	h := newHarness(t)
	if got := h.getProfile(nil); got != 0 {
		t.Errorf("without a client certificate: HTTP %d, want a refused handshake", got)
	}
	if got := h.getProfile(h.staff(adminca.RoleAuditor, "kim.auditor")); got != http.StatusForbidden {
		t.Errorf("auditor: HTTP %d, want 403", got)
	}
	if got := h.getProfile(h.staff(adminca.RoleOperator, "lee.operator")); got != http.StatusOK {
		t.Errorf("operator: HTTP %d, want 200", got)
	}
	var actors []string
	rows, err := h.pool.Query(ctx(t), `SELECT actor || ' ' || outcome FROM audit_events WHERE action = 'admin:pprof' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		actors = append(actors, s)
	}
	want := []string{"auditor:kim.auditor refused", "operator:lee.operator ok"}
	if len(actors) != len(want) || actors[0] != want[0] || actors[1] != want[1] {
		t.Errorf("audited %q, want %q", actors, want)
	}
}
