package crl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/signet-ca/signet/store"
)

// maxAge caps Cache-Control max-age: the leader regenerates at least every
// hour, so a relying party (or a CDN) must not keep one much longer than
// that even when nextUpdate is a day away.
const maxAge = 3600

// recheck is how long a cached CRL is served before the handler asks the
// database whether a newer number exists.
const recheck = time.Second

// issuerIDPattern bounds what an issuer id in a URL may look like (Signer
// ids are 16 hex digits), so that junk never reaches the database.
var issuerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Handler serves GET (and HEAD) /crl/<issuer-id>.crl with the latest CRL
// stored for that issuer, as application/pkix-crl (RFC 5280 4.2.1.13 and
// RFC 2585 section 4.2 for the media type). Mount it at "GET /crl/".
//
// Each replica keeps the latest CRL of each issuer in memory and asks the
// database for the latest number at most once per second, so every
// replica serves a newly generated CRL within a second of its commit.
func Handler(db *store.DB) http.Handler {
	return &handler{db: db, now: time.Now, recheck: recheck, byIssuer: map[string]*cached{}}
}

type handler struct {
	db      *store.DB
	now     func() time.Time
	recheck time.Duration

	mu sync.Mutex
	// byIssuer only gains an entry once a CRL was found, so requests for
	// made-up issuer ids cannot grow it.
	byIssuer map[string]*cached
}

type cached struct {
	// mu also makes concurrent requests for one issuer share one database
	// read when the cache is due for a check.
	mu      sync.Mutex
	crl     *store.CRL
	checked time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: CRLs are fetched with GET", http.StatusMethodNotAllowed)
		return
	}
	id, ok := issuerFromPath(r.URL.Path)
	if !ok {
		http.Error(w, "not found: CRLs are published at /crl/<issuer-id>.crl", http.StatusNotFound)
		return
	}
	c, err := h.latest(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, fmt.Sprintf("no CRL is published for issuer %s", id), http.StatusNotFound)
		return
	}
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "CRL temporarily unavailable: try again shortly", http.StatusServiceUnavailable)
		return
	}

	hd := w.Header()
	hd.Set("Content-Type", "application/pkix-crl")
	// A CRL is public and signed; no-transform keeps proxies from
	// re-encoding it. max-age runs to nextUpdate (RFC 5280 5.1.2.5) but
	// never past the hourly regeneration.
	secs := int(c.NextUpdate.Sub(h.now()) / time.Second)
	secs = max(0, min(secs, maxAge))
	hd.Set("Cache-Control", fmt.Sprintf("public, max-age=%d, no-transform", secs))
	hd.Set("Expires", c.NextUpdate.UTC().Format(http.TimeFormat))
	// The CRL number identifies the content: a new CRL always has a new,
	// higher number (RFC 5280 5.2.3).
	hd.Set("ETag", fmt.Sprintf(`"%d"`, c.Number))
	// ServeContent sets Last-Modified from thisUpdate and answers
	// If-None-Match (and If-Modified-Since) with 304 Not Modified.
	http.ServeContent(w, r, "", c.ThisUpdate, bytes.NewReader(c.DER))
}

// issuerFromPath takes the issuer id out of "/crl/<issuer-id>.crl".
func issuerFromPath(p string) (string, bool) {
	name, ok := strings.CutPrefix(p, "/crl/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(name, ".crl")
	if !ok || !issuerIDPattern.MatchString(id) {
		return "", false
	}
	return id, true
}

// latest returns the issuer's latest stored CRL, from memory when it was
// confirmed within the last recheck interval.
func (h *handler) latest(ctx context.Context, id string) (*store.CRL, error) {
	h.mu.Lock()
	e := h.byIssuer[id]
	h.mu.Unlock()
	if e == nil {
		c, err := h.db.LatestCRL(ctx, id)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if e = h.byIssuer[id]; e == nil {
			e = &cached{crl: c, checked: h.now()}
			h.byIssuer[id] = e
			return c, nil
		}
		// Another request cached it meanwhile; fall through to the
		// cached entry, which keeps whichever number is higher.
		e.mu.Lock()
		if c.Number > e.crl.Number {
			e.crl = c
		}
		c = e.crl
		e.mu.Unlock()
		return c, nil
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := h.now()
	if now.Sub(e.checked) < h.recheck {
		return e.crl, nil
	}
	// Whatever happens below, the next check waits another interval: a
	// database outage must not turn every request into a failing query,
	// and the cached CRL is signed and valid until its nextUpdate anyway.
	e.checked = now
	n, err := h.db.LatestCRLNumber(ctx, id)
	if err != nil || n <= e.crl.Number {
		return e.crl, nil
	}
	c, err := h.db.LatestCRL(ctx, id)
	if err == nil && c.Number > e.crl.Number {
		e.crl = c
	}
	return e.crl, nil
}
