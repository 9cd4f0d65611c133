package ocsp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"
)

// fuzzEnv is one responder over a real database with one issued leaf,
// shared by a fuzz target's inputs.
func fuzzEnv(f *testing.F) (*env, [][]byte) {
	e := newEnv(f, envConfig{})
	l := e.issueLeaf(f)
	var reqs [][]byte
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		reqs = append(reqs, e.request(f, l, h))
	}
	return e, reqs
}

// checkAnswer is what every OCSP answer must be, whatever was asked: 200
// with an OCSP response that x/crypto parses, either a status for the
// serial that was asked about (the request round-trips) or one of the
// error responses a bad request deserves (malformed, unauthorized), never
// internalError or tryLater while the database is up.
func checkAnswer(t *testing.T, e *env, rec *httptest.ResponseRecorder, der []byte) {
	t.Helper()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != responseType {
		t.Fatalf("answer %d %q, want 200 %s", rec.Code, rec.Header().Get("Content-Type"), responseType)
	}
	resp, err := xocsp.ParseResponse(rec.Body.Bytes(), e.signer.Issuer())
	var rerr xocsp.ResponseError
	switch {
	case errors.As(err, &rerr):
		if rerr.Status != xocsp.Malformed && rerr.Status != xocsp.Unauthorized {
			t.Fatalf("error response %v to a request, want malformed or unauthorized", rerr.Status)
		}
		if _, perr := parseRequest(der); perr == nil && rerr.Status == xocsp.Malformed {
			t.Fatalf("a request that parses was answered malformed")
		}
	case err != nil:
		t.Fatalf("answer does not parse or verify: %v", err)
	default:
		req, perr := parseRequest(der)
		if perr != nil {
			t.Fatalf("a request that does not parse got a status: %v", perr)
		}
		if resp.SerialNumber.Cmp(req.serial) != 0 {
			t.Fatalf("asked about serial %x, answered about %x", req.serial, resp.SerialNumber)
		}
	}
}

// FuzzOCSPPost sends arbitrary bodies to POST /ocsp.
func FuzzOCSPPost(f *testing.F) {
	e, reqs := fuzzEnv(f)
	for _, r := range reqs {
		f.Add(r)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		e.r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(body)))
		if len(body) > maxRequestSize {
			return
		}
		checkAnswer(t, e, rec, body)
	})
}

// FuzzOCSPGet sends arbitrary paths to GET /ocsp/..., as net/http hands
// them over after undoing the percent-encoding.
func FuzzOCSPGet(f *testing.F) {
	e, reqs := fuzzEnv(f)
	for _, r := range reqs {
		f.Add(base64.StdEncoding.EncodeToString(r))
		f.Add(base64.RawURLEncoding.EncodeToString(r))
	}
	f.Add("MAA=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		req := httptest.NewRequest(http.MethodGet, "/ocsp/x", nil)
		req.URL.Path = "/ocsp/" + s
		rec := httptest.NewRecorder()
		e.r.Handler().ServeHTTP(rec, req)
		der, err := decodeGET(req.URL.Path)
		if err != nil {
			der = nil // answered malformed: checkAnswer sees no request
		}
		checkAnswer(t, e, rec, der)
	})
}
