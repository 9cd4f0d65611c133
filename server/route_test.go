package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// An OCSP GET whose base64 holds "//" must reach the responder as sent: a
// ServeMux would clean the path and redirect to one that no longer decodes.
func TestRouteSendsOCSPPastServeMux(t *testing.T) {
	var got []string
	s := &Server{mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { got = append(got, "healthz") })
	s.MountOCSP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.URL.Path) }))

	for _, c := range []struct{ path, want string }{
		{"/ocsp/MHEw//3vQA+AhQY==", "/ocsp/MHEw//3vQA+AhQY=="},
		{"/ocsp", "/ocsp"},
		{"/healthz", "healthz"},
	} {
		got = nil
		rec := httptest.NewRecorder()
		s.route(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != http.StatusOK || len(got) != 1 || got[0] != c.want {
			t.Errorf("GET %s: status %d, handled as %q; want 200 by %q", c.path, rec.Code, got, c.want)
		}
	}
}
