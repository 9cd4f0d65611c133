package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/store"
)

// checkSigner verifies what RFC 6960 section 4.2.2.2 asks of a delegated
// responder certificate, the way a relying party would: it chains to the
// root through the issuer, is issued directly by the issuer, and carries
// id-kp-OCSPSigning and id-pkix-ocsp-nocheck.
func checkSigner(t *testing.T, e *env, c *x509.Certificate) {
	t.Helper()
	if c == nil {
		t.Fatal("response carries no responder certificate")
	}
	if err := c.CheckSignatureFrom(e.signer.Issuer()); err != nil {
		t.Fatalf("responder certificate not signed by the issuer: %v", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(e.root)
	inter.AddCert(e.signer.Issuer())
	if _, err := c.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: e.clock.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
	}); err != nil {
		t.Fatalf("responder certificate does not chain to the root for OCSP signing: %v", err)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
		t.Errorf("EKU = %v, want only OCSPSigning", c.ExtKeyUsage)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want digitalSignature only", c.KeyUsage)
	}
	if c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v, want an end entity", c.IsCA, c.BasicConstraintsValid)
	}
	nocheck := false
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidOCSPNoCheck) {
			nocheck = bytes.Equal(ext.Value, []byte{0x05, 0x00}) && !ext.Critical
		}
	}
	if !nocheck {
		t.Error("no id-pkix-ocsp-nocheck extension with a NULL value")
	}
	if n := len(c.SerialNumber.Bytes()); n < 18 || n > 20 || c.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %x: want a positive 20-byte random serial", c.SerialNumber)
	}
	if want := e.signer.Issuer().Subject.CommonName + " OCSP Responder"; c.Subject.CommonName != want {
		t.Errorf("CN = %q, want %q", c.Subject.CommonName, want)
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("responder key is %T, want ECDSA P-256", c.PublicKey)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != DefaultSignerValidity {
		t.Errorf("validity %v, want %v", got, DefaultSignerValidity)
	}
}

func TestGoClient_Statuses(t *testing.T) {
	e := newEnv(t, envConfig{})
	active := e.issueLeaf(t)
	revoked := e.issueLeaf(t)
	held := e.issueLeaf(t)
	expired := e.issueLeaf(t)
	unknown := e.makeLeaf(t)
	revokedAt := e.clock.Now().Add(-time.Minute).Truncate(time.Second)
	e.revoke(t, revoked, revokedAt, crlreason.Superseded)
	e.suspend(t, held, revokedAt)
	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx *store.Tx) error {
		serials, err := tx.ExpireLive(ctx, "sr_"+expired.serial, "personal-banking", expired.cert.NotAfter.Add(time.Second))
		if err == nil && len(serials) != 1 {
			err = errors.New("the leaf did not expire")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		t.Run(h.String(), func(t *testing.T) {
			r := e.status(t, active, h)
			if r.Status != xocsp.Good {
				t.Errorf("active: status %d, want good", r.Status)
			}
			if r.IssuerHash != h {
				t.Errorf("CertID hash %v, want the request's %v", r.IssuerHash, h)
			}
			if !r.ThisUpdate.Equal(e.clock.Now().Truncate(time.Second)) || r.NextUpdate.Sub(r.ThisUpdate) != DefaultResponseValidity {
				t.Errorf("thisUpdate %v nextUpdate %v, want now and now+24h", r.ThisUpdate, r.NextUpdate)
			}
			checkSigner(t, e, r.Certificate)

			r = e.status(t, revoked, h)
			if r.Status != xocsp.Revoked || !r.RevokedAt.Equal(revokedAt) || r.RevocationReason != xocsp.Superseded {
				t.Errorf("revoked: status %d at %v reason %d, want revoked at %v superseded", r.Status, r.RevokedAt, r.RevocationReason, revokedAt)
			}
			r = e.status(t, held, h)
			if r.Status != xocsp.Revoked || !r.RevokedAt.Equal(revokedAt) || r.RevocationReason != xocsp.CertificateHold {
				t.Errorf("suspended: status %d at %v reason %d, want revoked certificateHold", r.Status, r.RevokedAt, r.RevocationReason)
			}
			if r = e.status(t, expired, h); r.Status != xocsp.Good {
				t.Errorf("expired, never revoked: status %d, want good", r.Status)
			}
			r = e.status(t, unknown, h)
			if r.Status != xocsp.Unknown {
				t.Errorf("unrecorded serial: status %d, want unknown", r.Status)
			}
			if r.NextUpdate.Sub(r.ThisUpdate) != maxUnknownValidity {
				t.Errorf("unknown answer valid for %v, want %v", r.NextUpdate.Sub(r.ThisUpdate), maxUnknownValidity)
			}
		})
	}
}

// The ASN.1 of an OCSPRequest, RFC 6960 section 4.1.1, to build requests
// that golang.org/x/crypto/ocsp cannot.
type ocspRequest struct {
	TBSRequest        tbsRequest
	OptionalSignature asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type tbsRequest struct {
	Version           int           `asn1:"explicit,tag:0,default:0,optional"`
	RequestorName     asn1.RawValue `asn1:"explicit,tag:1,optional"`
	RequestList       []singleRequest
	RequestExtensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type singleRequest struct {
	ReqCert struct {
		HashAlgorithm  pkix.AlgorithmIdentifier
		IssuerNameHash []byte
		IssuerKeyHash  []byte
		SerialNumber   *big.Int
	}
	SingleRequestExtensions []pkix.Extension `asn1:"explicit,tag:0,optional"`
}

func TestGoClient_UnauthorizedAndMalformed(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)

	// A certificate of a CA this responder does not serve.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Other CA"},
		NotBefore: e.clock.Now().Add(-time.Hour), NotAfter: e.clock.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	otherCA, _ := x509.ParseCertificate(caDER)
	foreign, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: l.cert.SerialNumber}, otherCA, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Same name, other key: the issuer is identified by both hashes.
	sameName := *e.signer.Issuer()
	sameName.RawSubjectPublicKeyInfo = otherCA.RawSubjectPublicKeyInfo
	impostor, err := xocsp.CreateRequest(l.cert, &sameName, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Two requests in one: RFC 5019 section 2.1.1 allows one.
	good := e.request(t, l, crypto.SHA1)
	var one ocspRequest
	if _, err := asn1.Unmarshal(good, &one); err != nil {
		t.Fatal(err)
	}
	two := one
	two.TBSRequest.RequestList = append(two.TBSRequest.RequestList, one.TBSRequest.RequestList[0])
	twoDER, err := asn1.Marshal(two)
	if err != nil {
		t.Fatal(err)
	}
	md5 := one
	md5.TBSRequest.RequestList = []singleRequest{one.TBSRequest.RequestList[0]}
	md5.TBSRequest.RequestList[0].ReqCert.HashAlgorithm.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	md5DER, _ := asn1.Marshal(md5)

	for _, c := range []struct {
		name string
		body []byte
		want xocsp.ResponseStatus
	}{
		{"foreign issuer", foreign, xocsp.Unauthorized},
		{"issuer name with another key", impostor, xocsp.Unauthorized},
		{"garbage", []byte("not DER"), xocsp.Malformed},
		{"empty", nil, xocsp.Malformed},
		{"trailing data", append(append([]byte{}, good...), 0), xocsp.Malformed},
		{"two requests", twoDER, xocsp.Malformed},
		{"MD5 CertID", md5DER, xocsp.Malformed},
		{"oversized", append(append([]byte{}, good...), make([]byte, maxRequestSize)...), xocsp.Malformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			hr, body := e.post(t, c.body)
			if hr.StatusCode != http.StatusOK || hr.Header.Get("Content-Type") != responseType {
				t.Fatalf("%s, Content-Type %q", hr.Status, hr.Header.Get("Content-Type"))
			}
			_, err := xocsp.ParseResponse(body, nil)
			var re xocsp.ResponseError
			if !errors.As(err, &re) || re.Status != c.want {
				t.Fatalf("err = %v, want ResponseError %v", err, c.want)
			}
		})
	}

	for _, p := range []string{"/ocsp", "/ocsp/", "/ocsp/!!!notbase64", "/ocsp/" + base64.StdEncoding.EncodeToString([]byte("junk"))} {
		hr, body := e.get(t, p, nil)
		if _, err := xocsp.ParseResponse(body, nil); hr.StatusCode != http.StatusOK || !errors.Is(err, xocsp.ResponseError{Status: xocsp.Malformed}) {
			t.Errorf("GET %s: %s, err = %v, want malformedRequest", p, hr.Status, err)
		}
		if hr.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store on an error answer", p, hr.Header.Get("Cache-Control"))
		}
	}

	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
		req, _ := http.NewRequest(m, e.srv.URL+"/ocsp", bytes.NewReader(good))
		hr, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		hr.Body.Close()
		if hr.StatusCode != http.StatusMethodNotAllowed || hr.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s: %s Allow %q, want 405 with Allow: GET, POST", m, hr.Status, hr.Header.Get("Allow"))
		}
	}

	// Serials no conforming CA issues (RFC 5280 section 4.1.2.2) are
	// unknown without a database read, and not cached.
	for _, s := range []*big.Int{big.NewInt(0), big.NewInt(-5), new(big.Int).Lsh(big.NewInt(1), 200)} {
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: s}, e.signer.Issuer(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, body := e.post(t, der)
		r, err := xocsp.ParseResponse(body, e.signer.Issuer())
		if err != nil || r.Status != xocsp.Unknown || r.SerialNumber.Cmp(s) != 0 {
			t.Errorf("serial %v: %v %+v, want unknown", s, err, r)
		}
	}
	if _, unknown := e.r.cache.len(); unknown != 0 {
		t.Errorf("%d out-of-range serials cached, want none", unknown)
	}
}

// Requests with a nonce, a requestor name and a signature are answered
// like plain ones: the extensions cannot be echoed in a pre-signed
// response and RFC 5019 section 2.1.2 lets responders ignore signatures.
func TestRequestExtrasIgnored(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)
	var req ocspRequest
	if _, err := asn1.Unmarshal(e.request(t, l, crypto.SHA256), &req); err != nil {
		t.Fatal(err)
	}
	nonce, _ := asn1.Marshal([]byte("0123456789abcdef"))
	req.TBSRequest.RequestExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}, Value: nonce}}
	req.TBSRequest.RequestList[0].SingleRequestExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}
	name, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte("rp@example.kr")}) // rfc822Name
	req.TBSRequest.RequestorName = asn1.RawValue{FullBytes: append([]byte{0xa1, byte(len(name))}, name...)}
	sig, _ := asn1.Marshal(struct {
		Alg pkix.AlgorithmIdentifier
		Sig asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}, asn1.BitString{Bytes: []byte{1, 2, 3}, BitLength: 24}})
	req.OptionalSignature = asn1.RawValue{FullBytes: append([]byte{0xa0, byte(len(sig))}, sig...)}
	der, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	_, body := e.post(t, der)
	r, err := xocsp.ParseResponseForCert(body, l.cert, e.signer.Issuer())
	if err != nil || r.Status != xocsp.Good || r.IssuerHash != crypto.SHA256 {
		t.Fatalf("%v %+v, want good with a SHA-256 CertID", err, r)
	}
	if len(r.Extensions) != 0 {
		t.Errorf("response carries extensions %v; a pre-signed response echoes none", r.Extensions)
	}
}

// FuzzParseRequest checks that no input makes the parser panic and that
// it agrees with golang.org/x/crypto/ocsp on the CertID of valid requests.
func FuzzParseRequest(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	issuer := &x509.Certificate{RawSubject: []byte{0x30, 0}, RawSubjectPublicKeyInfo: spki}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(0x1234567)}, issuer, &xocsp.RequestOptions{Hash: h})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		got, err := parseRequest(der)
		if err != nil {
			return
		}
		want, werr := xocsp.ParseRequest(der)
		if werr != nil {
			return // x/crypto refuses signed requests; we ignore the signature
		}
		if hashes[got.alg].hash != want.HashAlgorithm || got.serial.Cmp(want.SerialNumber) != 0 ||
			!bytes.Equal(got.issuerNameHash, want.IssuerNameHash) || !bytes.Equal(got.issuerKeyHash, want.IssuerKeyHash) {
			t.Fatalf("parsed %+v, x/crypto %+v", got, want)
		}
	})
}

func TestGET_CachingHeadersAndEncodings(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)

	// Find requests whose standard base64 holds '+' and "//": those are
	// the characters that URL handling mangles.
	var plus, slashes []byte
	for i := 0; i < 5000 && (plus == nil || slashes == nil); i++ {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			der := e.request(t, l, h)
			s := base64.StdEncoding.EncodeToString(der)
			if plus == nil && strings.Contains(s, "+") {
				plus = der
			}
			if slashes == nil && strings.Contains(s, "//") {
				slashes = der
			}
		}
		if plus == nil || slashes == nil {
			l = e.issueLeaf(t)
		}
	}
	if plus == nil || slashes == nil {
		t.Fatal("no request with '+' and '//' in its base64")
	}

	std := func(der []byte) string { return base64.StdEncoding.EncodeToString(der) }
	for _, c := range []struct {
		name, path string
		der        []byte
	}{
		{"RFC 5019 URL-encoded standard base64", getPath(plus), plus},
		{"raw '+' and '/'", "/ocsp/" + std(plus), plus},
		{"'+' form-encoded as a space", "/ocsp/" + strings.ReplaceAll(std(plus), "+", "%20"), plus},
		{"URL-safe alphabet, unpadded", "/ocsp/" + base64.RawURLEncoding.EncodeToString(plus), plus},
		{"standard, unpadded", "/ocsp/" + strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(plus), "/", "%2F"), plus},
		{"'//' percent-encoded", getPath(slashes), slashes},
		{"raw '//'", "/ocsp/" + std(slashes), slashes},
	} {
		t.Run(c.name, func(t *testing.T) {
			hr, body := e.get(t, c.path, nil)
			if hr.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", c.path, hr.Status)
			}
			r, err := xocsp.ParseResponse(body, e.signer.Issuer())
			if err != nil {
				t.Fatalf("GET %s: %v", c.path, err)
			}
			if r.Status != xocsp.Good {
				t.Fatalf("status %d, want good", r.Status)
			}
			checkCacheHeaders(t, e, hr, body, r)
		})
	}

	// A raw "//" reaches the handler intact only if no ServeMux cleans the
	// path first (see the package report): served directly it works.
	direct := httptest.NewServer(e.r.Handler())
	defer direct.Close()
	hr, body := getURL(t, direct.URL+"/ocsp/"+std(slashes), nil)
	if r, err := xocsp.ParseResponse(body, e.signer.Issuer()); hr.StatusCode != http.StatusOK || err != nil || r.Status != xocsp.Good {
		t.Errorf("raw '//' on the bare handler: %s %v", hr.Status, err)
	}

	// Revalidation by ETag (RFC 5019 section 6.2).
	hr, _ = e.get(t, getPath(plus), nil)
	etag := hr.Header.Get("ETag")
	hr, body = e.get(t, getPath(plus), http.Header{"If-None-Match": {etag}})
	if hr.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match %s: %s with %d bytes, want 304 and no body", etag, hr.Status, len(body))
	}
	hr, _ = e.get(t, getPath(plus), http.Header{"If-None-Match": {`"other"`}})
	if hr.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match other: %s, want 200", hr.Status)
	}

	// POST answers are not HTTP-cacheable and carry no cache headers.
	hr, _ = e.post(t, plus)
	if hr.Header.Get("Cache-Control") != "" || hr.Header.Get("ETag") != "" {
		t.Errorf("POST carries cache headers: %v", hr.Header)
	}
}

func checkCacheHeaders(t *testing.T, e *env, hr *http.Response, body []byte, r *xocsp.Response) {
	t.Helper()
	h := hr.Header
	if h.Get("Content-Type") != responseType {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err != nil || !lm.Equal(r.ThisUpdate) {
		t.Errorf("Last-Modified %q, want thisUpdate %v", h.Get("Last-Modified"), r.ThisUpdate)
	}
	if ex, err := http.ParseTime(h.Get("Expires")); err != nil || !ex.Equal(r.NextUpdate) {
		t.Errorf("Expires %q, want nextUpdate %v", h.Get("Expires"), r.NextUpdate)
	}
	sum := sha256.Sum256(body)
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; h.Get("ETag") != want {
		t.Errorf("ETag %q, want %q", h.Get("ETag"), want)
	}
	maxAge := int(r.NextUpdate.Sub(e.clock.Now()).Seconds())
	if want := "max-age=" + strconv.Itoa(maxAge) + ", public, no-transform, must-revalidate"; h.Get("Cache-Control") != want {
		t.Errorf("Cache-Control %q, want %q", h.Get("Cache-Control"), want)
	}
}

func TestRevocationVisibleAtOnce(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)
	before := e.status(t, l, crypto.SHA1)
	e.status(t, l, crypto.SHA256)
	if before.Status != xocsp.Good {
		t.Fatalf("status %d, want good", before.Status)
	}
	// The cache now holds "good" for a day; the notification must end it.
	e.revoke(t, l, e.clock.Now(), crlreason.KeyCompromise)
	r, took := e.waitStatus(t, l, xocsp.Revoked)
	t.Logf("revocation served %v after commit", took)
	if r.RevocationReason != xocsp.KeyCompromise {
		t.Errorf("reason %d, want keyCompromise", r.RevocationReason)
	}
	if r256 := e.status(t, l, crypto.SHA256); r256.Status != xocsp.Revoked {
		t.Errorf("SHA-256 CertID still %d after the revocation", r256.Status)
	}
	// Resumption from a hold is announced the same way.
	h := e.issueLeaf(t)
	e.status(t, h, crypto.SHA1)
	e.suspend(t, h, e.clock.Now())
	e.waitStatus(t, h, xocsp.Revoked)
	e.resume(t, h, e.clock.Now())
	e.waitStatus(t, h, xocsp.Good)
}

// A notification sent while the listener is disconnected is lost; the
// responder must not keep serving what it cached before.
func TestListenerReconnect_FlushesCache(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)
	if r := e.status(t, l, crypto.SHA1); r.Status != xocsp.Good {
		t.Fatal("not good")
	}
	ctx := context.Background()
	// The change whose notification is lost: no NotifyStatus.
	if err := e.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.Revoke(ctx, l.serial, e.clock.Now(), crlreason.KeyCompromise, "")
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.status(t, l, crypto.SHA1); r.Status != xocsp.Good {
		t.Fatal("cache not in use: the test would prove nothing")
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d sessions, %v", n, err)
	}
	_, took := e.waitStatus(t, l, xocsp.Revoked)
	t.Logf("served the database's state %v after the listener's session was killed", took)
}

// A status read just before a revocation commits must not be cached after
// the revocation's notification has dropped the entry.
func TestCache_FillRacingInvalidation(t *testing.T) {
	c := newCache(10, 10)
	k := cacheKey{serial: "ab", alg: 0}
	now := time.Now()
	good := &response{status: xocsp.Good, nextUpdate: now.Add(time.Hour), refreshAt: now.Add(time.Minute)}
	_, f, leader, epoch := c.lookup(k, now)
	if !leader {
		t.Fatal("first lookup is not the leader")
	}
	_, f2, leader2, _ := c.lookup(k, now)
	if leader2 || f2 != f {
		t.Fatal("a second lookup during the fill does not join it")
	}
	c.invalidate("ab")
	c.finish(k, f, good, nil, epoch)
	if <-f.done; f.resp != good {
		t.Fatal("waiter did not get the fill's answer")
	}
	if n, _ := c.len(); n != 0 {
		t.Fatal("a fill that raced an invalidation was cached")
	}
	resp, _, leader, epoch := c.lookup(k, now)
	if resp != nil || !leader {
		t.Fatal("after invalidation a new fill should start")
	}
	_, f, _, _ = c.lookup(k, now) // joined
	c.finish(k, f, good, nil, epoch)
	if resp, _, _, _ := c.lookup(k, now); resp != good {
		t.Fatal("an undisturbed fill was not cached")
	}
	if resp, _, _, _ := c.lookup(k, now.Add(time.Hour)); resp != nil {
		t.Fatal("a response past nextUpdate was served")
	}
}

func TestCache_Bounded(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{CacheSize: 3}})
	var leaves []*leaf
	for range 5 {
		l := e.issueLeaf(t)
		leaves = append(leaves, l)
		e.status(t, l, crypto.SHA1)
	}
	for range 5 {
		e.status(t, e.makeLeaf(t), crypto.SHA1)
	}
	// Each shard evicts its own least recently used entry, so the bound
	// holds overall though fewer may be kept when serials share a shard.
	known, unknown := e.r.cache.len()
	if known < 1 || known > 3 || unknown > 1 {
		t.Fatalf("cache holds %d known and %d unknown, want 1..3 and at most 1 (CacheSize 3, a tenth for unknown)", known, unknown)
	}
	// An evicted serial is filled again.
	for _, l := range leaves {
		if r := e.status(t, l, crypto.SHA1); r.Status != xocsp.Good {
			t.Fatalf("status %d after eviction, want good", r.Status)
		}
	}
}

func TestRotation_MovedClock(t *testing.T) {
	e := newEnv(t, envConfig{noRun: true})
	ctx := context.Background()
	l := e.issueLeaf(t)
	first := e.status(t, l, crypto.SHA1)
	checkSigner(t, e, first.Certificate)

	// Not yet 2/3 into the signer's life: no rotation.
	e.clock.Advance(4 * 24 * time.Hour)
	e.r.maintain(ctx)
	if got := e.r.current.Load().cert; !got.Equal(first.Certificate) {
		t.Fatal("signer rotated before 2/3 of its life")
	}

	e.clock.Advance(16 * time.Hour) // 4d16h > 2/3 of 7 days minus the backdate
	e.r.maintain(ctx)
	// The response cached (re-signed at 4d) is not due yet and stays
	// signed by the old key, whose certificate outlives it.
	kept := e.status(t, l, crypto.SHA1)
	if !kept.Certificate.Equal(first.Certificate) || kept.NextUpdate.After(first.Certificate.NotAfter) {
		t.Fatalf("cached response: signer changed or it outlives the old signer (%v > %v)", kept.NextUpdate, first.Certificate.NotAfter)
	}
	// New responses are signed by the new key.
	second := e.status(t, e.issueLeaf(t), crypto.SHA1)
	if second.Certificate.Equal(first.Certificate) {
		t.Fatal("signer not rotated after 2/3 of its life")
	}
	if second.Certificate.SerialNumber.Cmp(first.Certificate.SerialNumber) == 0 ||
		second.Certificate.PublicKey.(*ecdsa.PublicKey).Equal(first.Certificate.PublicKey) {
		t.Fatal("rotation kept the serial or the key")
	}
	checkSigner(t, e, second.Certificate)
	if second.NextUpdate.After(second.Certificate.NotAfter) {
		t.Error("response outlives its signer")
	}
	// The previous signer's last responses stay verifiable: its
	// certificate outlives them.
	if first.Certificate.NotAfter.Before(e.clock.Now().Add(DefaultResponseValidity)) {
		t.Errorf("old signer expires %v, before responses it may have just signed (%v)", first.Certificate.NotAfter, e.clock.Now().Add(DefaultResponseValidity))
	}
}

func TestRefresh_MovedClock(t *testing.T) {
	e := newEnv(t, envConfig{noRun: true})
	ctx := context.Background()
	l := e.issueLeaf(t)
	r1 := e.status(t, l, crypto.SHA1)

	// Revoke without a notification, as if the listener had been
	// reconnecting: only the refresh can notice.
	if err := e.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.Revoke(ctx, l.serial, e.clock.Now(), crlreason.CessationOfOperation, "")
	}); err != nil {
		t.Fatal(err)
	}

	// Before refreshAt (nextUpdate - RefreshBefore = thisUpdate + 18h) the
	// pre-signed response is served unchanged.
	e.clock.Advance(17 * time.Hour)
	e.r.maintain(ctx)
	if r := e.status(t, l, crypto.SHA1); !bytes.Equal(r.Raw, r1.Raw) {
		t.Fatal("response re-signed before its refresh time")
	}

	e.clock.Advance(2 * time.Hour) // 19h: due, 5h before nextUpdate
	e.r.maintain(ctx)
	r2 := e.status(t, l, crypto.SHA1)
	if !r2.ThisUpdate.Equal(e.clock.Now().Truncate(time.Second)) || !r2.ThisUpdate.Before(r1.NextUpdate) {
		t.Fatalf("refreshed thisUpdate %v, want now (%v), before the old nextUpdate %v", r2.ThisUpdate, e.clock.Now(), r1.NextUpdate)
	}
	if r2.Status != xocsp.Revoked || r2.RevocationReason != xocsp.CessationOfOperation {
		t.Fatalf("refresh served status %d reason %d, want the database's revocation", r2.Status, r2.RevocationReason)
	}
	// It came from the cache: a request now returns the refreshed bytes.
	if r := e.status(t, l, crypto.SHA1); !bytes.Equal(r.Raw, r2.Raw) {
		t.Fatal("refreshed response not cached")
	}

	// Lapsed entries (the refresher never ran) are not served.
	e.clock.Advance(DefaultResponseValidity + time.Minute)
	if r := e.status(t, l, crypto.SHA1); !r.ThisUpdate.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("served a response with thisUpdate %v nextUpdate %v at %v", r.ThisUpdate, r.NextUpdate, e.clock.Now())
	}
}

// Run's own loop refreshes and rotates when the clock moves.
func TestRun_RefreshesAndRotates(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{CheckInterval: 10 * time.Millisecond}})
	l := e.issueLeaf(t)
	r1 := e.status(t, l, crypto.SHA1)

	// Due (past thisUpdate + 18h) but not lapsed: only the refresher
	// replaces the cached response.
	e.clock.Advance(19 * time.Hour)
	poll(t, "Run did not refresh the response", func() bool {
		return e.status(t, l, crypto.SHA1).ThisUpdate.After(r1.ThisUpdate)
	})

	e.clock.Advance(4 * 24 * time.Hour) // 5d19h: past 2/3 of the signer's life
	poll(t, "Run did not rotate the signer", func() bool {
		return !e.r.current.Load().cert.Equal(r1.Certificate)
	})
	// New answers come from the new key. (The cached one for l may still
	// carry the old key, if a refresh pass ran just before the rotation:
	// that is valid, the old certificate outlives it.)
	r2 := e.status(t, e.issueLeaf(t), crypto.SHA1)
	if r2.Certificate.Equal(r1.Certificate) {
		t.Fatal("response still signed by the old signer")
	}
	checkSigner(t, e, r2.Certificate)
	if r := e.status(t, l, crypto.SHA1); r.NextUpdate.After(r.Certificate.NotAfter) {
		t.Fatalf("cached response outlives its signer: %v > %v", r.NextUpdate, r.Certificate.NotAfter)
	}
}

func poll(t *testing.T, msg string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg + " within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Many clients during a revocation: no data race, no stale "good" cached
// after the notification (run with -race).
func TestConcurrentRequestsDuringRevocation(t *testing.T) {
	e := newEnv(t, envConfig{})
	l := e.issueLeaf(t)
	reqs := [][]byte{e.request(t, l, crypto.SHA1), e.request(t, l, crypto.SHA256)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h := e.r.Handler()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, getPath(reqs[i%2]), nil)
				h.ServeHTTP(rec, req)
				if _, err := xocsp.ParseResponse(rec.Body.Bytes(), e.signer.Issuer()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	e.revoke(t, l, e.clock.Now(), crlreason.KeyCompromise)
	e.waitStatus(t, l, xocsp.Revoked)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, der := range reqs {
		rec := httptest.NewRecorder()
		e.r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, getPath(der), nil))
		r, err := xocsp.ParseResponse(rec.Body.Bytes(), e.signer.Issuer())
		if err != nil || r.Status != xocsp.Revoked {
			t.Fatalf("after the revocation: %v status %d, want revoked", err, r.Status)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"refresh not before validity", Options{ResponseValidity: time.Hour, RefreshBefore: time.Hour}, false},
		{"response outlives signer", Options{ResponseValidity: 3 * 24 * time.Hour}, false},
		{"short signer, long responses", Options{SignerValidity: 24 * time.Hour}, false},
		{"short signer, short responses", Options{SignerValidity: 24 * time.Hour, ResponseValidity: 8 * time.Hour}, true},
		{"check slower than refresh", Options{RefreshBefore: time.Minute, CheckInterval: time.Hour}, false},
		{"negative", Options{CacheSize: -1}, false},
	} {
		o := c.o
		err := o.setDefaults()
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
	o := Options{}
	_ = o.setDefaults()
	if o.ResponseValidity != 24*time.Hour || o.RefreshBefore != 6*time.Hour || o.SignerValidity != 7*24*time.Hour ||
		o.CacheSize != 1_000_000 || o.CheckInterval != time.Minute {
		t.Errorf("defaults %+v", o)
	}
}

// Cached responses share the responder certificate's bytes instead of
// holding a copy each, and are served whole.
func TestCachedResponseSharesSignerCertificate(t *testing.T) {
	e := newEnv(t, envConfig{noRun: true})
	l := e.issueLeaf(t)
	der := e.request(t, l, crypto.SHA1)
	_, body := e.post(t, der)
	resp, _, _, _ := e.r.cache.lookup(cacheKey{serial: l.serial, alg: 0}, e.clock.Now())
	if resp == nil {
		t.Fatal("not cached")
	}
	d := e.r.current.Load()
	if len(resp.tail) == 0 || &resp.tail[0] != &d.cert.Raw[0] {
		t.Fatal("cached response holds its own copy of the responder certificate")
	}
	if !bytes.Equal(append(append([]byte{}, resp.head...), resp.tail...), body) {
		t.Fatal("served bytes differ from head+tail")
	}
	if _, err := xocsp.ParseResponseForCert(body, l.cert, e.signer.Issuer()); err != nil {
		t.Fatal(err)
	}
}
