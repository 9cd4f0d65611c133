// Package revcheck asks another CA for the live revocation status of one of
// its certificates: OCSP first, the CRL distribution point when OCSP is
// absent or fails. Every answer must be signed for the issuer and current,
// and is cached no longer than the answer itself says it is valid, so a
// registration or a login sees a revocation as soon as the CA publishes it.
package revcheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
	"golang.org/x/sync/singleflight"
)

// Status is a certificate's status at its CA.
type Status string

const (
	Good    Status = "good"
	Revoked Status = "revoked"
	// Unknown is an OCSP responder saying it does not know the
	// certificate; a CRL cannot say that.
	Unknown Status = "unknown"
)

// Result is the status and where it came from.
type Result struct {
	Status     Status
	RevokedAt  time.Time
	Reason     int    // RFC 5280 CRLReason code when revoked
	Source     string // "ocsp" or "crl"
	URL        string
	ThisUpdate time.Time
	NextUpdate time.Time
}

// Options tune a Checker; the zero value is usable.
type Options struct {
	Client     *http.Client     // nil: a client of its own
	Timeout    time.Duration    // per fetch; 0: DefaultTimeout
	Now        func() time.Time // nil: time.Now
	MaxEntries int              // cached answers; 0: DefaultMaxEntries
}

const (
	DefaultTimeout    = 5 * time.Second
	DefaultMaxEntries = 10000
	// noNextUpdateTTL bounds the caching of an answer that names no
	// nextUpdate: RFC 5019 2.2.4 reads it as "newer information is always
	// available".
	noNextUpdateTTL = 5 * time.Minute
	// maxSkew is how far a CA's clock may run ahead of ours before its
	// thisUpdate reads as forged or broken.
	maxSkew = 5 * time.Minute
	// A single-certificate OCSP response is a few kilobytes even with a
	// delegated responder certificate; a national CA's full CRL runs to
	// megabytes.
	maxOCSPBody = 64 << 10
	maxCRLBody  = 32 << 20
)

var (
	// ErrUnreachable: the CA's responder could not be reached, answered
	// with an HTTP or OCSP error, or sent something that is not a usable
	// answer. Callers report it as "try again later", naming the CA.
	ErrUnreachable = errors.New("status source unreachable")
	// ErrNoStatusSource: the certificate names no http(s) OCSP responder
	// and no http(s) CRL distribution point.
	ErrNoStatusSource = errors.New("revcheck: certificate names no OCSP responder or CRL distribution point")
	// ErrUntrusted: an answer arrived but is not signed for the issuer or
	// is not current. Errors that match it also match ErrUnreachable, since
	// for the caller the status is just as unavailable.
	ErrUntrusted = errors.New("untrusted status response")
)

// FetchError is the failure of one status source.
type FetchError struct {
	Source string // "ocsp" or "crl"
	URL    string
	Err    error
}

func (e *FetchError) Error() string { return e.Source + " " + e.URL + ": " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

type untrusted string

func (u untrusted) Error() string        { return ErrUntrusted.Error() + ": " + string(u) }
func (u untrusted) Is(target error) bool { return target == ErrUntrusted || target == ErrUnreachable }

func untrustedf(format string, a ...any) error { return untrusted(fmt.Sprintf(format, a...)) }

func unreachablef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnreachable, fmt.Sprintf(format, a...))
}

// allFailed lists every source tried, so the caller's message names each
// URL and what went wrong there.
type allFailed []error

func (e allFailed) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e allFailed) Unwrap() []error { return e }

// Checker fetches and caches statuses; it is safe for concurrent use.
type Checker struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
	cache   *lru
	flight  singleflight.Group
}

// New returns a Checker with o's settings.
func New(o Options) *Checker {
	c := &Checker{client: o.Client, timeout: o.Timeout, now: o.Now}
	if c.client == nil {
		c.client = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	c.cache = newLRU(o.MaxEntries)
	return c
}

// Check returns cert's status at its CA. issuer is the certificate that
// signed cert, already verified by the caller against its trust list:
// answers are trusted only when signed by it or by its delegated OCSP
// responder. The caller also checks cert's validity period first: CAs
// drop expired certificates from their CRLs, so a CRL says "good" for any
// expired one.
func (c *Checker) Check(ctx context.Context, cert, issuer *x509.Certificate) (Result, error) {
	if !bytes.Equal(cert.RawIssuer, issuer.RawSubject) {
		return Result{}, fmt.Errorf("revcheck: %q is not the issuer of a certificate issued by %q", issuer.Subject, cert.Issuer)
	}
	ocspURLs, crlURLs := httpURLs(cert.OCSPServer), httpURLs(cert.CRLDistributionPoints)
	if len(ocspURLs) == 0 && len(crlURLs) == 0 {
		if len(cert.OCSPServer)+len(cert.CRLDistributionPoints) > 0 {
			return Result{}, fmt.Errorf("%w over http (it names only %s)", ErrNoStatusSource, strings.Join(slices.Concat(cert.OCSPServer, cert.CRLDistributionPoints), ", "))
		}
		return Result{}, ErrNoStatusSource
	}
	id := issuerID(issuer)
	var failed allFailed
	for _, u := range ocspURLs {
		key := "ocsp\x00" + u + "\x00" + id + "\x00" + cert.SerialNumber.Text(16)
		e, err := c.cached(ctx, key, func(ctx context.Context) (*entry, error) { return c.fetchOCSP(ctx, u, cert, issuer) })
		if err == nil {
			return e.result, nil
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		failed = append(failed, &FetchError{Source: "ocsp", URL: u, Err: err})
	}
	for _, u := range crlURLs {
		key := "crl\x00" + u + "\x00" + id
		e, err := c.cached(ctx, key, func(ctx context.Context) (*entry, error) { return c.fetchCRL(ctx, u, issuer) })
		if err == nil {
			return e.crl.status(cert), nil
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		failed = append(failed, &FetchError{Source: "crl", URL: u, Err: err})
	}
	return Result{}, fmt.Errorf("revcheck: no status for serial %x from %s: %w", cert.SerialNumber, issuer.Subject.CommonName, failed)
}

// httpURLs drops the ldap:// distribution points that NPKI certificates
// also carry: only HTTP is spoken here.
func httpURLs(in []string) []string {
	var out []string
	for _, s := range in {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			out = append(out, s)
		}
	}
	return out
}

// issuerID keys the cache by the whole issuer certificate, so two CAs
// that share a URL (or a re-keyed intermediate) never share answers.
func issuerID(issuer *x509.Certificate) string {
	h := sha256.Sum256(issuer.Raw)
	return string(h[:])
}

// cached returns the live cache entry for key or fetches it, once for all
// concurrent callers. The fetch runs on its own timeout, detached from the
// first caller's cancellation, so that one impatient caller does not fail
// the others waiting on the same fetch.
func (c *Checker) cached(ctx context.Context, key string, fetch func(context.Context) (*entry, error)) (*entry, error) {
	if e := c.cache.get(key, c.now()); e != nil {
		return e, nil
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		if e := c.cache.get(key, c.now()); e != nil {
			return e, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		e, err := fetch(fctx)
		if err != nil {
			return nil, err
		}
		e.key = key
		c.cache.put(e)
		return e, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*entry), nil
	}
}

// checkTimes refuses an answer that is not current: one dated ahead of
// our clock (beyond skew) is broken or forged, one past its nextUpdate may
// hide a later revocation.
func checkTimes(now, thisUpdate, nextUpdate time.Time) error {
	if thisUpdate.After(now.Add(maxSkew)) {
		return untrustedf("thisUpdate %s is in the future", thisUpdate.UTC().Format(time.RFC3339))
	}
	if !nextUpdate.IsZero() && !now.Before(nextUpdate) {
		return untrustedf("stale: nextUpdate %s has passed", nextUpdate.UTC().Format(time.RFC3339))
	}
	if !nextUpdate.IsZero() && nextUpdate.Before(thisUpdate) {
		return untrustedf("nextUpdate is before thisUpdate")
	}
	return nil
}

// expiry is how long an answer may be reused: until its nextUpdate, and
// briefly when it has none.
func expiry(now, nextUpdate time.Time) time.Time {
	if nextUpdate.IsZero() {
		return now.Add(noNextUpdateTTL)
	}
	return nextUpdate
}

func (c *Checker) fetchOCSP(ctx context.Context, u string, cert, issuer *x509.Certificate) (*entry, error) {
	// SHA-1 CertIDs are what RFC 5019 responders index by, and x/crypto's
	// default.
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("revcheck: OCSP request: %w", err)
	}
	body, err := c.fetch(ctx, http.MethodPost, u, req, maxOCSPBody)
	if err != nil {
		return nil, err
	}
	// The signature is checked below rather than by x/crypto, which
	// neither accepts the issuer's own certificate embedded in the
	// response nor checks a delegated responder's extended key usage.
	resp, err := ocsp.ParseResponseForCert(body, cert, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, unreachablef("responder answered %q", re.Status.String())
		}
		return nil, unreachablef("malformed OCSP response: %v", err)
	}
	now := c.now()
	if err := checkResponder(resp, issuer, now); err != nil {
		return nil, err
	}
	if resp.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		return nil, untrustedf("response is about serial %x, not %x", resp.SerialNumber, cert.SerialNumber)
	}
	if err := checkTimes(now, resp.ThisUpdate, resp.NextUpdate); err != nil {
		return nil, err
	}
	r := Result{Source: "ocsp", URL: u, ThisUpdate: resp.ThisUpdate, NextUpdate: resp.NextUpdate}
	switch resp.Status {
	case ocsp.Good:
		r.Status = Good
	case ocsp.Revoked:
		r.Status, r.RevokedAt, r.Reason = Revoked, resp.RevokedAt, resp.RevocationReason
	default:
		r.Status = Unknown
	}
	return &entry{expires: expiry(now, resp.NextUpdate), result: r}, nil
}

// checkResponder accepts an OCSP response signed by the issuer itself or
// by a responder certificate the issuer delegated OCSP signing to (RFC
// 6960 4.2.2.2).
func checkResponder(resp *ocsp.Response, issuer *x509.Certificate, now time.Time) error {
	rc := resp.Certificate
	if rc == nil || rc.Equal(issuer) {
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return untrustedf("signature does not verify with %s's key: %v", issuer.Subject.CommonName, err)
		}
		return nil
	}
	// x/crypto verified the response's signature with rc; what is left is
	// whether rc speaks for the issuer.
	if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) {
		return untrustedf("responder certificate %q is not issued by %q", rc.Subject, issuer.Subject)
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return untrustedf("responder certificate %q is not signed by %q: %v", rc.Subject, issuer.Subject, err)
	}
	ocspSigning := false
	for _, eku := range rc.ExtKeyUsage {
		ocspSigning = ocspSigning || eku == x509.ExtKeyUsageOCSPSigning
	}
	if !ocspSigning {
		return untrustedf("responder certificate %q lacks id-kp-OCSPSigning", rc.Subject)
	}
	if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
		return untrustedf("responder certificate %q is outside its validity", rc.Subject)
	}
	return nil
}

func (c *Checker) fetchCRL(ctx context.Context, u string, issuer *x509.Certificate) (*entry, error) {
	body, err := c.fetch(ctx, http.MethodGet, u, nil, maxCRLBody)
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		return nil, unreachablef("malformed CRL: %v", err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, untrustedf("CRL issued by %q, not %q", crl.Issuer, issuer.Subject)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, untrustedf("CRL signature does not verify with %s's key: %v", issuer.Subject.CommonName, err)
	}
	now := c.now()
	if err := checkTimes(now, crl.ThisUpdate, crl.NextUpdate); err != nil {
		return nil, err
	}
	l := &crlList{url: u, thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate,
		revoked: make(map[string]x509.RevocationListEntry, len(crl.RevokedCertificateEntries))}
	for _, e := range crl.RevokedCertificateEntries {
		l.revoked[e.SerialNumber.Text(16)] = e
	}
	return &entry{expires: expiry(now, crl.NextUpdate), crl: l}, nil
}

type crlList struct {
	url                    string
	thisUpdate, nextUpdate time.Time
	revoked                map[string]x509.RevocationListEntry // by hex serial
}

func (l *crlList) status(cert *x509.Certificate) Result {
	r := Result{Status: Good, Source: "crl", URL: l.url, ThisUpdate: l.thisUpdate, NextUpdate: l.nextUpdate}
	if e, ok := l.revoked[cert.SerialNumber.Text(16)]; ok {
		r.Status, r.RevokedAt, r.Reason = Revoked, e.RevocationTime, e.ReasonCode
	}
	return r
}

// fetch makes one HTTP exchange with a CA; anything but a 200 with a body
// under limit counts as the CA being unreachable.
func (c *Checker) fetch(ctx context.Context, method, u string, body []byte, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, unreachablef("%v", err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/ocsp-request")
		req.Header.Set("Accept", "application/ocsp-response")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, unreachablef("no answer within %s", c.timeout)
		}
		return nil, unreachablef("%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, unreachablef("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, unreachablef("no answer within %s", c.timeout)
		}
		return nil, unreachablef("reading the answer: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, unreachablef("answer larger than %d bytes", limit)
	}
	return b, nil
}
