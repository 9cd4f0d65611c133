// Package ocsp is Signet's OCSP responder (RFC 6960) in the lightweight
// profile of RFC 5019: every answer is a pre-signed response held in a
// bounded cache, signed by a short-lived delegated responder key that the
// CA certifies at start and again on rotation, and re-signed before it
// lapses or at once when the certificate's status changes.
//
// The model is cfssl's responder: an http.Handler over a small source of
// certificate status, here store.DB.CertificateStatus.
package ocsp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
)

// Defaults for Options.
const (
	DefaultResponseValidity = 24 * time.Hour
	DefaultSignerValidity   = 7 * 24 * time.Hour
	DefaultCacheSize        = 1_000_000
	DefaultCheckInterval    = time.Minute
)

// maxUnknownValidity bounds the life of an "unknown" answer. A serial that
// is unknown now can only become known if a certificate with it is issued
// later, which random 159-bit serials make all but impossible; still, a
// client or CDN holding a stale "unknown" for a day would be hard to
// explain, so it is kept short.
const maxUnknownValidity = time.Hour

const statusUnknown = xocsp.Unknown

// refreshBatch is how many serials the refresher reads in one query.
const refreshBatch = 500

// Options tune the responder. The zero value gives the defaults.
type Options struct {
	// ResponseValidity is nextUpdate - thisUpdate of every response for a
	// known certificate (RFC 5019 section 2.2.4 requires nextUpdate).
	// Default 24h. It must not exceed SignerValidity/3, so that a response
	// never outlives the certificate of the key that signed it.
	ResponseValidity time.Duration
	// RefreshBefore is how long before nextUpdate a cached response is
	// re-signed. Default ResponseValidity/4.
	RefreshBefore time.Duration
	// SignerValidity is the life of each delegated signing certificate.
	// Default 7 days; a new key and certificate replace it after 2/3.
	SignerValidity time.Duration
	// CacheSize bounds the number of cached responses (one per serial and
	// CertID hash algorithm). Default 1,000,000; another tenth of it is
	// allowed for "unknown" answers. An entry takes about 0.9 KB of heap,
	// so a full default cache needs about 1 GB.
	CacheSize int
	// CheckInterval is how often Run looks for responses to refresh and
	// for a signer to rotate. Default one minute; it must be shorter than
	// RefreshBefore.
	CheckInterval time.Duration
	// Now is the clock; tests move it. Default time.Now.
	Now func() time.Time
	// Log receives rotation, refresh and error reports. Default
	// slog.Default().
	Log *slog.Logger
	// Observer is told each answer, each cache lookup and the refresh
	// backlog (package metrics); nil: nobody.
	Observer Observer
}

// Observer receives the responder's counts. status is one of good,
// revoked, unknown, malformed, unauthorized, tryLater and internalError
// (RFC 6960 section 2.3 and 4.2.1).
type Observer interface {
	Answered(status string)
	CacheLookup(hit bool)
	// Backlog is the number of cached responses due for re-signing that
	// are not re-signed yet.
	Backlog(n int)
}

type noObserver struct{}

func (noObserver) Answered(string)  {}
func (noObserver) CacheLookup(bool) {}
func (noObserver) Backlog(int)      {}

func (o *Options) setDefaults() error {
	if o.ResponseValidity == 0 {
		o.ResponseValidity = DefaultResponseValidity
	}
	if o.RefreshBefore == 0 {
		o.RefreshBefore = o.ResponseValidity / 4
	}
	if o.SignerValidity == 0 {
		o.SignerValidity = DefaultSignerValidity
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = min(DefaultCheckInterval, o.RefreshBefore/2)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	switch {
	case o.ResponseValidity < 0 || o.RefreshBefore < 0 || o.SignerValidity < 0 || o.CacheSize < 0 || o.CheckInterval < 0:
		return errors.New("ocsp: durations and cache size must not be negative")
	case o.RefreshBefore >= o.ResponseValidity:
		return fmt.Errorf("ocsp: RefreshBefore %v must be shorter than ResponseValidity %v", o.RefreshBefore, o.ResponseValidity)
	case o.CheckInterval >= o.RefreshBefore:
		return fmt.Errorf("ocsp: CheckInterval %v must be shorter than RefreshBefore %v, or responses lapse before they are re-signed", o.CheckInterval, o.RefreshBefore)
	case o.ResponseValidity > o.SignerValidity/3:
		// The signer rotates at 2/3 of its life, so the last responses it
		// signs must fit into the last third.
		return fmt.Errorf("ocsp: ResponseValidity %v exceeds SignerValidity/3 (%v): responses would outlive their signer's certificate", o.ResponseValidity, o.SignerValidity/3)
	}
	return nil
}

// Responder answers OCSP requests for the one CA that signer holds.
type Responder struct {
	db   *store.DB
	ca   CA
	opts Options
	now  func() time.Time
	log  *slog.Logger

	issuer  *issuerHashes
	current atomic.Pointer[delegate]
	cache   *cache

	ready     chan struct{}
	readyOnce sync.Once
}

// CA is what the responder needs of the CA it answers for: its certificate
// and a delegated signing key (signer.Delegates).
type CA interface {
	Issuer() *x509.Certificate
	ID() string
	Get(ctx context.Context, kind signer.Kind, now time.Time, validity time.Duration, shape func(*x509.Certificate)) (*signer.Delegate, error)
}

// New gets a delegated signing key from the CA, so that the responder can
// answer as soon as it is mounted. Run must be started for status
// changes, refresh and rotation.
func New(ctx context.Context, db *store.DB, signer CA, opts Options) (*Responder, error) {
	if db == nil || signer == nil {
		return nil, errors.New("ocsp: a database and a signer are required")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ih, err := newIssuerHashes(signer.Issuer())
	if err != nil {
		return nil, fmt.Errorf("ocsp: issuer key: %w", err)
	}
	r := &Responder{
		db: db, ca: signer, opts: opts, now: opts.Now, log: opts.Log,
		issuer: ih,
		cache:  newCache(opts.CacheSize, max(1, opts.CacheSize/10)),
		ready:  make(chan struct{}),
	}
	d, err := r.newDelegate(ctx)
	if err != nil {
		return nil, err
	}
	r.current.Store(d)
	r.log.InfoContext(ctx, "ocsp responder certificate in use", "serial", d.cert.SerialNumber.Text(16),
		"not_after", d.cert.NotAfter, "issuer", signer.ID())
	return r, nil
}

// Ready is closed once Run listens for status changes: from then on a
// committed change is served on the next request. A readiness check should
// wait for it; until then cached answers are not dropped on changes (they
// are all dropped when the listener starts).
func (r *Responder) Ready() <-chan struct{} { return r.ready }

// Run keeps the responder current until ctx ends: it drops the cached
// response of every serial announced on store.StatusChannel (so that a
// revocation is served on the next request), re-signs responses before
// their nextUpdate, and rotates the delegated signer. Call it once.
func (r *Responder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		r.db.Listen(ctx, store.StatusChannel, r.listening, r.statusChanged)
	})
	t := time.NewTicker(r.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			r.maintain(ctx)
		}
	}
}

// listening runs each time the LISTEN session is (re)established. Any
// notification sent while there was none is lost, so every cached response
// may be stale: all are dropped and filled again on demand. On the first
// connection this covers requests answered between New and Run.
func (r *Responder) listening() {
	known, unknown := r.cache.flush()
	first := false
	r.readyOnce.Do(func() { first = true; close(r.ready) })
	if !first {
		r.log.Warn("ocsp: status listener reconnected; cached responses dropped, since changes meanwhile were not heard",
			"dropped", known+unknown)
	}
}

// statusChanged handles one notification. The payload is the serial in
// the table's form; it is normalised in case a writer sends upper case.
func (r *Responder) statusChanged(serial string) {
	serial = strings.ToLower(strings.TrimSpace(serial))
	r.cache.invalidate(serial)
	r.log.Debug("ocsp response dropped after status change", "serial", serial)
}

// maintain is one pass of the background work.
func (r *Responder) maintain(ctx context.Context) {
	r.rotate(ctx)
	r.refresh(ctx)
}

// rotate replaces the delegated signer once 2/3 of its life has passed. If
// the CA cannot sign, the old key keeps signing (responses are clamped to
// its certificate's notAfter) and the next pass tries again.
func (r *Responder) rotate(ctx context.Context) {
	old := r.current.Load()
	if r.now().Before(old.rotateAt) {
		return
	}
	d, err := r.newDelegate(ctx)
	if err != nil {
		r.log.ErrorContext(ctx, "ocsp responder certificate rotation failed; the old one stays in use",
			"err", err, "old_not_after", old.cert.NotAfter)
		return
	}
	r.current.Store(d)
	// Cached responses signed by the old key stay valid: its certificate
	// outlives them by construction (ResponseValidity ≤ SignerValidity/3).
	r.log.InfoContext(ctx, "ocsp responder certificate rotated", "serial", d.cert.SerialNumber.Text(16),
		"not_after", d.cert.NotAfter, "old_serial", old.cert.SerialNumber.Text(16))
}

// refresh re-signs the cached responses whose refreshAt has come, reading
// the status again rather than trusting the cache, as a second line of
// defence behind the listener.
func (r *Responder) refresh(ctx context.Context) {
	due := r.cache.due(r.now())
	left := len(due)
	r.opts.Observer.Backlog(left)
	defer func() { r.opts.Observer.Backlog(left) }()
	for start := 0; start < len(due) && ctx.Err() == nil; start += refreshBatch {
		batch := due[start:min(start+refreshBatch, len(due))]
		serials := make([]string, 0, len(batch))
		for _, it := range batch {
			serials = append(serials, it.key.serial)
		}
		statuses, err := r.db.CertificateStatuses(ctx, serials)
		if err != nil {
			// The responses stay served until their nextUpdate; after
			// that a request re-reads the database itself.
			r.log.ErrorContext(ctx, "ocsp refresh: read statuses", "err", err, "count", len(serials))
			continue
		}
		for _, it := range batch {
			st := r.ours(statuses[it.key.serial])
			if st == nil {
				// Gone or not ours after all: answer "unknown" when asked.
				r.cache.drop(it.key, it.epoch)
				left--
				continue
			}
			serial, ok := new(big.Int).SetString(it.key.serial, 16)
			if !ok {
				r.cache.drop(it.key, it.epoch)
				left--
				continue
			}
			resp, err := r.sign(serial, it.key.alg, st)
			if err != nil {
				r.log.ErrorContext(ctx, "ocsp refresh: sign", "err", err, "serial", it.key.serial)
				continue
			}
			r.cache.replace(it.key, resp, it.epoch)
			left--
		}
	}
	if len(due) > 0 {
		r.log.DebugContext(ctx, "ocsp responses refreshed", "count", len(due))
	}
}

// ours returns st if the certificate was issued by this responder's CA.
// The certificates table may hold certificates of an earlier CA key; a
// request naming our issuer with such a serial asks about a certificate
// that our issuer never issued.
func (r *Responder) ours(st *store.CertStatus) *store.CertStatus {
	if st == nil || st.IssuerID != r.ca.ID() {
		return nil
	}
	return st
}

// errSign marks failures that retrying will not fix (internalError), as
// opposed to a database that may come back (tryLater).
var errSign = errors.New("ocsp: sign")

// respond turns a DER request into either a successful response or one of
// the fixed error responses of RFC 6960 section 4.2.1.
func (r *Responder) respond(ctx context.Context, der []byte) (*response, []byte) {
	req, err := parseRequest(der)
	if err != nil {
		r.opts.Observer.Answered("malformed")
		return nil, xocsp.MalformedRequestErrorResponse
	}
	if !r.issuer.match(req) {
		// RFC 6960 section 2.3 / RFC 5019 section 2.2.3: "unauthorized"
		// is the answer for a CA this responder does not serve.
		r.opts.Observer.Answered("unauthorized")
		return nil, xocsp.UnauthorizedErrorResponse
	}
	resp, err := r.lookup(ctx, req)
	switch {
	case err == nil:
		r.opts.Observer.Answered(statusNames[resp.status])
		return resp, nil
	case errors.Is(err, errSign):
		r.opts.Observer.Answered("internalError")
		return nil, xocsp.InternalErrorErrorResponse
	default:
		// The database did not answer (or the client left): the status
		// may be available again shortly.
		r.opts.Observer.Answered("tryLater")
		return nil, xocsp.TryLaterErrorResponse
	}
}

// statusNames are the certificate statuses of RFC 6960 section 2.2, by
// golang.org/x/crypto/ocsp's numbers.
var statusNames = map[int]string{xocsp.Good: "good", xocsp.Revoked: "revoked", xocsp.Unknown: "unknown"}

// lookup serves from the cache, filling it on a miss.
func (r *Responder) lookup(ctx context.Context, req *request) (*response, error) {
	if !serialInRange(req.serial) {
		// No conforming CA issued it, so it is unknown without asking the
		// database; not cached, so that such requests cannot fill the cache.
		resp, err := r.sign(req.serial, req.alg, nil)
		if err != nil {
			r.log.ErrorContext(ctx, "ocsp: cannot sign a response", "err", err)
		}
		return resp, err
	}
	k := cacheKey{serial: req.serial.Text(16), alg: req.alg}
	resp, f, leader, epoch := r.cache.lookup(k, r.now())
	r.opts.Observer.CacheLookup(resp != nil)
	if resp != nil {
		return resp, nil
	}
	if !leader {
		select {
		case <-f.done:
			return f.resp, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// The fill outlives the leader's request if that client goes away:
	// the others waiting on the flight still need the answer.
	resp, err := r.fill(context.WithoutCancel(ctx), k, req.serial)
	if err != nil {
		// Logged once per fill, not once per waiting request.
		r.log.ErrorContext(ctx, "ocsp: cannot answer", "serial", k.serial, "err", err)
	}
	r.cache.finish(k, f, resp, err, epoch)
	return resp, err
}

func (r *Responder) fill(ctx context.Context, k cacheKey, serial *big.Int) (*response, error) {
	st, err := r.db.CertificateStatus(ctx, k.serial)
	if errors.Is(err, store.ErrNotFound) {
		st, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.sign(serial, k.alg, r.ours(st))
}

// sign makes one response with the current delegated key. st nil means
// the certificate is unknown to this responder.
func (r *Responder) sign(serial *big.Int, alg int, st *store.CertStatus) (*response, error) {
	d := r.current.Load()
	thisUpdate := r.now().UTC().Truncate(time.Second) // GeneralizedTime has whole seconds
	validity, refreshBefore := r.opts.ResponseValidity, r.opts.RefreshBefore
	tmpl := xocsp.Response{
		SerialNumber: serial,
		ThisUpdate:   thisUpdate,
		IssuerHash:   hashes[alg].hash,
		// The delegated signer's certificate goes with every response
		// (RFC 5019 section 2.2.2: a delegated responder's certificate MUST
		// be in BasicOCSPResponse.certs); clients have no other way to it.
		Certificate: d.cert,
	}
	switch {
	case st == nil:
		tmpl.Status = xocsp.Unknown
		validity = min(validity, maxUnknownValidity)
		refreshBefore = min(refreshBefore, validity/4)
	case st.Status == "active" || st.Status == "expired":
		// An expired certificate that was never revoked is reported as
		// good, as cfssl and Boulder do: the row says what happened to it,
		// and RFC 6960 section 2.2 does not require the responder to
		// stop answering at notAfter.
		tmpl.Status = xocsp.Good
	case (st.Status == "revoked" || st.Status == "suspended") && st.RevokedAt != nil:
		// RFC 6960 section 2.2: "revoked" covers a temporary revocation too,
		// whose reason is certificateHold (RFC 5280 section 5.3.1); lifting
		// the hold makes it good again.
		tmpl.Status = xocsp.Revoked
		tmpl.RevokedAt = st.RevokedAt.UTC()
		tmpl.RevocationReason, _ = crlreason.ForStatus(st.Status, st.RevocationReason)
	default:
		return nil, fmt.Errorf("%w: certificate %s has status %q with revoked_at %v: refusing to guess", errSign, st.Serial, st.Status, st.RevokedAt)
	}
	nextUpdate := thisUpdate.Add(validity)
	if nextUpdate.After(d.cert.NotAfter) {
		// Only if rotation keeps failing: a response must not claim to be
		// valid longer than the certificate that vouches for its key.
		nextUpdate = d.cert.NotAfter
	}
	if !nextUpdate.After(thisUpdate) {
		return nil, fmt.Errorf("%w: responder certificate %s expired at %v and could not be replaced", errSign, d.cert.SerialNumber.Text(16), d.cert.NotAfter)
	}
	tmpl.NextUpdate = nextUpdate
	// CreateResponse sets producedAt from time.Now, to the minute, not from
	// the injected clock; clients check thisUpdate and nextUpdate.
	der, err := xocsp.CreateResponse(r.ca.Issuer(), d.cert, tmpl, d.key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSign, err)
	}
	sum := sha256.Sum256(der)
	head, tail := der, []byte(nil)
	if bytes.HasSuffix(der, d.cert.Raw) {
		head, tail = bytes.Clone(der[:len(der)-len(d.cert.Raw)]), d.cert.Raw
	}
	return &response{
		head:         head,
		tail:         tail,
		status:       tmpl.Status,
		thisUpdate:   thisUpdate,
		nextUpdate:   nextUpdate,
		refreshAt:    nextUpdate.Add(-refreshBefore),
		etag:         `"` + hex.EncodeToString(sum[:]) + `"`,
		lastModified: thisUpdate.Format(http.TimeFormat),
		expires:      nextUpdate.Format(http.TimeFormat),
	}, nil
}
