package ocsp

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	xocsp "golang.org/x/crypto/ocsp"
)

// maxRequestSize bounds a POST body. A single-certificate request is about
// 100 bytes, with a nonce or a signature a few hundred.
const maxRequestSize = 10 << 10

const (
	requestType  = "application/ocsp-request"
	responseType = "application/ocsp-response"
)

// Handler serves OCSP over HTTP as RFC 6960 appendix A.1 and RFC 5019
// section 5 describe:
//
//	GET  /ocsp/<url-encoded base64 of the DER request>
//	POST /ocsp   (body: the DER request, application/ocsp-request)
//
// Route "/ocsp" and "/ocsp/..." to it ahead of any http.ServeMux: a
// ServeMux cleans a "//" inside raw base64 and answers with a redirect to a
// path that no longer decodes. Every OCSP answer, error answers
// included, is HTTP 200 with an application/ocsp-response body: the OCSP
// status inside tells the client what went wrong, and clients such as
// openssl discard bodies of other HTTP statuses.
func (r *Responder) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

func (r *Responder) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	switch req.Method {
	case http.MethodGet:
		var err error
		if der, err = decodeGET(req.URL.Path); err != nil {
			r.opts.Observer.Answered("malformed")
			writeError(w, xocsp.MalformedRequestErrorResponse)
			return
		}
	case http.MethodPost:
		// The Content-Type is not checked: RFC 6960 appendix A.1 has the
		// client send application/ocsp-request, but a DER body that parses
		// is a request whatever the header says.
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxRequestSize))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				r.opts.Observer.Answered("malformed")
				writeError(w, xocsp.MalformedRequestErrorResponse)
			}
			// Otherwise the client went away mid-body: nobody to answer.
			return
		}
		der = body
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "OCSP takes GET /ocsp/<base64 request> or POST /ocsp", http.StatusMethodNotAllowed)
		return
	}
	resp, errBody := r.respond(req.Context(), der)
	if resp == nil {
		writeError(w, errBody)
		return
	}
	h := w.Header()
	h.Set("Content-Type", responseType)
	if req.Method == http.MethodGet {
		// RFC 5019 section 6.2: these let HTTP caches and CDNs hold the
		// response exactly as long as it is valid. Only GET responses
		// are cacheable in HTTP; POST answers carry none.
		maxAge := int64(resp.nextUpdate.Sub(r.now()).Seconds())
		h.Set("Last-Modified", resp.lastModified)
		h.Set("Expires", resp.expires)
		h.Set("Cache-Control", "max-age="+strconv.FormatInt(max(maxAge, 0), 10)+", public, no-transform, must-revalidate")
		h.Set("ETag", resp.etag)
		if etagMatch(req.Header.Get("If-None-Match"), resp.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.head)+len(resp.tail)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(resp.head); err == nil {
		_, _ = w.Write(resp.tail)
	}
}

func writeError(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", responseType)
	// Error answers (malformed, unauthorized, tryLater) are unsigned and
	// say nothing about any certificate; a cache must not keep them (RFC
	// 5019 section 6.2 wants such headers on non-authoritative answers and
	// forbids them on authoritative ones).
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// decodeGET takes the request out of a GET path. RFC 5019 section 5 has
// clients base64-encode the DER and then URL-encode it; in practice some
// send '/' and '+' raw, some use the URL-safe alphabet, some drop the
// padding, and some form-encode '+' as a space. net/http has already
// undone the percent-encoding in URL.Path.
func decodeGET(path string) ([]byte, error) {
	// Every DER OCSPRequest starts with 0x30 (SEQUENCE), so its base64
	// starts with 'M' and cannot be confused with the "ocsp" prefix.
	s := strings.TrimPrefix(path, "/ocsp")
	s = strings.TrimPrefix(s, "/")
	s = strings.ReplaceAll(s, " ", "+")
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errMalformed
	}
	if der, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return der, nil
	}
	if der, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return der, nil
	}
	return nil, errMalformed
}

// etagMatch implements the If-None-Match comparison for our strong ETags.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == etag {
			return true
		}
	}
	return false
}
